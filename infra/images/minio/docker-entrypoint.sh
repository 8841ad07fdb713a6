#!/bin/sh
# Entrypoint of lakehouse/minio, as the minio/minio image's: every command but `minio` itself
# is taken as minio's arguments (`args: [server, /data, ...]` in k8s/base/minio/minio.yaml).
# Its switch to MINIO_USERNAME/MINIO_GROUPNAME is left out: the image runs as uid 1000.
set -eu
if [ "${1:-}" != minio ] && [ -n "${1:-}" ]; then
  set -- minio "$@"
fi
exec "$@"
