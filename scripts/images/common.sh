# Shared helpers for the image scripts (make docker-up / images-base / images).
# Sourced, never executed. Reuses the setup helpers: step/info/die, versions.env, as_root.
# shellcheck source=../setup/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../setup/common.sh"

IMAGE_PREFIX="${IMAGE_PREFIX:-lakehouse}"
# The Debian base made by images-base (debootstrap + docker import) when no registry is reachable.
LOCAL_BASE_IMAGE="${LOCAL_BASE_IMAGE:-$IMAGE_PREFIX/debian:$DEBIAN_RELEASE}"
# The deployables, in build order; each has services/<name>/Dockerfile.
IMAGES=(spark-jobs kafka-connect connector-config flows serving-api loadgen)
# Local builds of the third-party images the kind overlay runs (no registry to pull them from);
# each has infra/images/<name>/Dockerfile and is built by third-party.sh. The Prefect server
# needs none: lakehouse/flows holds the same Prefect and runs `prefect server start`.
THIRD_PARTY_IMAGES=(postgres kafka minio)
# Where build.sh stages the checksum-verified jars so they are inside the build context.
IMAGE_STAGING="$REPO_ROOT/build/image-context"
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/lakehouse-dockerd.log}"
DOCKER_RUNTIME_NAME=lakehouse-runc
DOCKER_RUNTIME_PATH=/usr/local/libexec/lakehouse-runc

image_ref() { echo "$IMAGE_PREFIX/$1:$IMAGE_TAG"; }

# lakehouse/<name>:<tag> of a third-party build, tagged by what it contains (as upstream tags
# name the upstream version); k8s/overlays/kind names the same tags (a static test compares).
third_party_ref() {
  case "$1" in
    postgres) echo "$IMAGE_PREFIX/postgres:$POSTGRES_MAJOR-$DEBIAN_RELEASE" ;;
    kafka) echo "$IMAGE_PREFIX/kafka:$KAFKA_VERSION" ;;
    minio) echo "$IMAGE_PREFIX/minio:$MINIO_VERSION" ;;
    *) die "'$1' is not a third-party image" "name one of: ${THIRD_PARTY_IMAGES[*]}" ;;
  esac
}

is_third_party() { printf '%s\n' "${THIRD_PARTY_IMAGES[@]}" | grep -qx -- "$1"; }

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

# The build args every image gets besides the versions: its base, the commit, the source URL.
meta_build_args() {
  local base=$1
  printf '%s\n' --build-arg "BASE_IMAGE=$base" \
    --build-arg "VCS_REF=$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    --build-arg "SOURCE_URL=$(git -C "$REPO_ROOT" remote get-url origin 2>/dev/null || true)"
}

# The base image the Dockerfiles build FROM; the local one must exist (make images-base).
pick_base_image() {
  local base="${BASE_IMAGE:-$LOCAL_BASE_IMAGE}"
  "$DOCKER_BIN" image inspect "$base" >/dev/null 2>&1 || [ "$base" != "$LOCAL_BASE_IMAGE" ] \
    || die "base image $base is missing" "run: make images-base"
  echo "$base"
}

# stage_jar_bundles BUNDLE...: the jars resolved and checksum-verified by scripts/setup/jvm.sh,
# staged into the build context (hard links when on the same file system). The Dockerfiles
# verify them again against config/jvm/<bundle>/jars.sha256.
stage_jar_bundles() {
  local bundle key dir src dst
  "$REPO_ROOT/scripts/setup/jvm.sh"
  declare -A bundle_dirs=()
  while IFS='=' read -r key dir; do bundle_dirs[$key]=$dir; done < <("$REPO_ROOT/scripts/setup/jvm.sh" --paths)
  for bundle in "$@"; do
    src=${bundle_dirs[$(echo "$bundle" | tr 'a-z-' 'A-Z_')_DIR]}
    dst="$IMAGE_STAGING/jars/$bundle"
    rm -rf "$dst" && mkdir -p "$dst"
    cp -l "$src"/*.jar "$dst"/ 2>/dev/null || cp -p "$src"/*.jar "$dst"/
  done
  info "jars of $* staged in ${IMAGE_STAGING#"$REPO_ROOT"/}/jars (from $LAKEHOUSE_STACK_CACHE_DIR/jvm)"
}

# image_size_mb REF: the image's size as `docker images` counts it, in MB.
image_size_mb() { "$DOCKER_BIN" image inspect -f '{{.Size}}' "$1" | awk '{printf "%.0f", $1/1e6}'; }

# Build one image with BuildKit from the repository root as context:
#   docker_build REF DOCKERFILE(relative to the repo) [more `docker build` arguments...]
docker_build() {
  local ref=$1 file=$2
  shift 2
  "$DOCKER_BIN" build --progress="${BUILD_PROGRESS:-auto}" -f "$REPO_ROOT/$file" -t "$ref" "$@" "$REPO_ROOT" \
    || die "building $ref failed ($file)" "read docker's output above; BUILD_PROGRESS=plain shows every step's log"
}
