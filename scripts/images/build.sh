#!/usr/bin/env bash
# `make images`: build every image (or those named as arguments) as lakehouse/<name>:$IMAGE_TAG
# with BuildKit and the layer cache, then smoke-run each (scripts/images/smoke.sh).
# Every version in config/versions.env goes in as a --build-arg; the base is $BASE_IMAGE
# (default: the local $LOCAL_BASE_IMAGE from `make images-base`; set BASE_IMAGE=debian:<release>-slim
# where a registry is reachable). The host's CA bundle reaches pip as the build secret `pip-ca`.
# Knobs: BUILD_PROGRESS=auto|plain|tty, NO_SMOKE=1, DOCKER=/path/to/docker.
source "$(dirname "$0")/common.sh"
require_docker

names=("$@")
[ ${#names[@]} -gt 0 ] || names=("${IMAGES[@]}")
for n in "${names[@]}"; do
  [ -f "$REPO_ROOT/services/$n/Dockerfile" ] || die "no Dockerfile for image '$n' (services/$n/Dockerfile)" \
    "name one of: ${IMAGES[*]}"
done

base="${BASE_IMAGE:-$LOCAL_BASE_IMAGE}"
"$DOCKER_BIN" image inspect "$base" >/dev/null 2>&1 || [ "$base" != "$LOCAL_BASE_IMAGE" ] \
  || die "base image $base is missing" "run: make images-base"

# The jars: the same bundles, resolved and checksum-verified by scripts/setup/jvm.sh, staged into
# the build context (hard links when on the same file system). The Dockerfiles verify them again.
if printf '%s\n' "${names[@]}" | grep -qE '^(spark-jobs|kafka-connect)$'; then
  "$REPO_ROOT/scripts/setup/jvm.sh"
  declare -A bundle_dirs=()
  while IFS='=' read -r key dir; do bundle_dirs[$key]=$dir; done < <("$REPO_ROOT/scripts/setup/jvm.sh" --paths)
  for bundle in kafka debezium-postgres spark; do
    src=${bundle_dirs[$(echo "$bundle" | tr 'a-z-' 'A-Z_')_DIR]}
    dst="$IMAGE_STAGING/jars/$bundle"
    rm -rf "$dst" && mkdir -p "$dst"
    cp -l "$src"/*.jar "$dst"/ 2>/dev/null || cp -p "$src"/*.jar "$dst"/
  done
  info "jars staged in ${IMAGE_STAGING#"$REPO_ROOT"/}/jars (from $LAKEHOUSE_STACK_CACHE_DIR/jvm)"
fi

build_args=()
mapfile -t build_args < <(version_build_args)
build_args+=(--build-arg "BASE_IMAGE=$base"
             --build-arg "VCS_REF=$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
             --build-arg "SOURCE_URL=$(git -C "$REPO_ROOT" remote get-url origin 2>/dev/null || true)")
ca="${PIP_CERT:-${SSL_CERT_FILE:-${REQUESTS_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}}}"
secret=()
if [ -s "$ca" ]; then secret=(--secret "id=pip-ca,src=$ca"); else info "no CA bundle found; pip uses its own CAs"; fi

declare -A took=()
total_start=$SECONDS
i=0
for n in "${names[@]}"; do
  i=$((i + 1))
  ref=$(image_ref "$n")
  step "[$i/${#names[@]}] building $ref (services/$n/Dockerfile, base $base)"
  start=$SECONDS
  "$DOCKER_BIN" build --progress="${BUILD_PROGRESS:-auto}" -f "$REPO_ROOT/services/$n/Dockerfile" \
    -t "$ref" "${build_args[@]}" "${secret[@]}" "$REPO_ROOT" \
    || die "building $ref failed (services/$n/Dockerfile)" \
           "read docker's output above; BUILD_PROGRESS=plain shows every step's log"
  took[$n]=$((SECONDS - start))
done

build_s=$((SECONDS - total_start))
smoke_start=$SECONDS
if [ "${NO_SMOKE:-0}" != 1 ]; then
  "$(dirname "$0")/smoke.sh" "${names[@]}"
fi

step "Images: built in $build_s s, smoke-tested in $((SECONDS - smoke_start)) s"
for n in "${names[@]}"; do
  ref=$(image_ref "$n")
  printf '    %-34s %6s MB  build %4s s\n' "$ref" \
    "$("$DOCKER_BIN" image inspect -f '{{.Size}}' "$ref" | awk '{printf "%.0f", $1/1e6}')" "${took[$n]}"
done
