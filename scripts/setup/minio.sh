#!/usr/bin/env bash
# MinIO server built from its Go module at the pinned version, cached by version,
# so it builds once per machine (about 5 minutes on 2 cores).
source "$(dirname "$0")/common.sh"

dest="$LAKEHOUSE_STACK_CACHE_DIR/minio/$MINIO_VERSION"
if [ -x "$dest/minio" ]; then
  info "minio: cached at $dest/minio"
  exit 0
fi
need_cmd go "apt-get install -y golang-go, or install Go >= 1.24 from the Go project"
step "Building MinIO $MINIO_VERSION from $MINIO_MODULE (once per machine, several minutes)"
mkdir -p "$dest.tmp"
GOBIN="$dest.tmp" CGO_ENABLED=0 GOFLAGS=-buildvcs=false go install "$MINIO_MODULE@$MINIO_VERSION" \
  || die "building MinIO failed" "check that the Go module proxy is reachable and Go is >= 1.24 (go version)"
rm -rf "$dest" && mv "$dest.tmp" "$dest"
info "minio: built $dest/minio"
