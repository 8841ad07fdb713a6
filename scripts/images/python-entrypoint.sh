#!/bin/sh
# Entrypoint of the Python images: `lakehouse-entrypoint DEFAULT... -- ARGS...`.
# The Dockerfile fixes DEFAULT (e.g. `prefect`, or `lakehouse-serving-api serve --host 0.0.0.0`);
# the container's arguments follow `--`. When the first argument is itself a program on PATH
# (`prefect flow-run execute` from a Prefect Kubernetes worker, `python -m ...`, `bash`), it
# runs as given; otherwise the arguments go to DEFAULT (`docker run IMAGE --help`).
set -eu
n=0
for a in "$@"; do
  [ "$a" = "--" ] && break
  n=$((n + 1))
done
if [ "$n" -eq "$#" ]; then
  echo "lakehouse-entrypoint: missing '--' after the default command" >&2
  exit 2
fi
# Save DEFAULT, drop it and the `--` from "$@".
i=0
default=""
while [ "$i" -lt "$n" ]; do
  default="$default $(printf '%s' "$1" | sed "s/'/'\\\\''/g; s/^/'/; s/\$/'/")"
  shift
  i=$((i + 1))
done
shift
case "${1:-}" in
  ""|-*) ;;
  */*) exec "$@" ;;
  *) if command -v -- "$1" >/dev/null 2>&1 && [ -x "$(command -v -- "$1")" ]; then exec "$@"; fi ;;
esac
eval "set -- $default \"\$@\""
exec "$@"
