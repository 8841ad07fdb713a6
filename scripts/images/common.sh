# Shared helpers for the image scripts (make docker-up / images-base / images).
# Sourced, never executed. Reuses the setup helpers: step/info/die, versions.env, as_root.
# shellcheck source=../setup/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../setup/common.sh"

IMAGE_PREFIX="${IMAGE_PREFIX:-lakehouse}"
# The Debian base made by images-base (debootstrap + docker import) when no registry is reachable.
LOCAL_BASE_IMAGE="${LOCAL_BASE_IMAGE:-$IMAGE_PREFIX/debian:$DEBIAN_RELEASE}"
# The deployables, in build order; each has services/<name>/Dockerfile.
IMAGES=(spark-jobs kafka-connect connector-config flows serving-api loadgen)
# Where build.sh stages the checksum-verified jars so they are inside the build context.
IMAGE_STAGING="$REPO_ROOT/build/image-context"
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/lakehouse-dockerd.log}"
DOCKER_RUNTIME_NAME=lakehouse-runc
DOCKER_RUNTIME_PATH=/usr/local/libexec/lakehouse-runc

image_ref() { echo "$IMAGE_PREFIX/$1:$IMAGE_TAG"; }

# The docker CLI to use. BuildKit (`RUN --mount`, build secrets) needs either a CLI with
# the buildx plugin or a classic CLI older than 23 (Debian's docker.io 20.10 has BuildKit
# built in). A newer CLI without buildx (e.g. a static docker 28 in /usr/local/bin) cannot
# build with BuildKit at all, so prefer Debian's /usr/bin/docker then.
pick_docker() {
  if [ -n "${DOCKER:-}" ]; then echo "$DOCKER"; return; fi
  local c major
  for c in "$(command -v docker 2>/dev/null || true)" /usr/bin/docker; do
    [ -n "$c" ] && [ -x "$c" ] || continue
    if "$c" buildx version >/dev/null 2>&1; then echo "$c"; return; fi
    major=$("$c" --version 2>/dev/null | sed -n 's/^Docker version \([0-9]*\)\..*/\1/p')
    if [ -n "$major" ] && [ "$major" -lt 23 ]; then echo "$c"; return; fi
  done
  echo ""
}

require_docker() {
  DOCKER_BIN=$(pick_docker)
  [ -n "$DOCKER_BIN" ] || die "no docker CLI that can build with BuildKit was found" \
    "run: make docker-up (installs Debian's docker.io), or set DOCKER=/path/to/docker with buildx"
  "$DOCKER_BIN" info >/dev/null 2>&1 || die "the Docker engine does not answer ($DOCKER_BIN info failed)" \
    "run: make docker-up (starts dockerd; log: $DOCKERD_LOG)"
  export DOCKER_BUILDKIT=1
}

# --build-arg for every pinned version the Dockerfiles use: all of config/versions.env.
version_build_args() {
  local key
  while IFS='=' read -r key _; do
    echo "--build-arg"
    echo "$key=${!key}"
  done < <(grep -E '^[A-Z0-9_]+=' "$REPO_ROOT/config/versions.env")
}
