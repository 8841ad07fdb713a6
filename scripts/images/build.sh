#!/usr/bin/env bash
# `make images`: build every image (or those named as arguments) as lakehouse/<name>:$IMAGE_TAG
# with BuildKit and the layer cache, then smoke-run each (scripts/images/smoke.sh). The local
# builds of third-party images (postgres, kafka, minio: $THIRD_PARTY_IMAGES) go to
# scripts/images/third-party.sh first: all of them when no name is given, else those named.
# Every version in config/versions.env goes in as a --build-arg; the base is $BASE_IMAGE
# (default: the local $LOCAL_BASE_IMAGE from `make images-base`; set BASE_IMAGE=debian:<release>-slim
# where a registry is reachable). The host's CA bundle reaches pip as the build secret `pip-ca`.
# Knobs: BUILD_PROGRESS=auto|plain|tty, NO_SMOKE=1, DOCKER=/path/to/docker.
source "$(dirname "$0")/common.sh"
require_docker

names=() third=()
if [ $# -eq 0 ]; then
  names=("${IMAGES[@]}") third=("${THIRD_PARTY_IMAGES[@]}")
fi
for n in "$@"; do
  if is_third_party "$n"; then third+=("$n"); continue; fi
  [ -f "$REPO_ROOT/services/$n/Dockerfile" ] || die "no Dockerfile for image '$n' (services/$n/Dockerfile)" \
    "name one of: ${IMAGES[*]} ${THIRD_PARTY_IMAGES[*]}"
  names+=("$n")
done

if [ ${#third[@]} -gt 0 ]; then
  "$(dirname "$0")/third-party.sh" "${third[@]}"
fi
[ ${#names[@]} -gt 0 ] || exit 0

base=$(pick_base_image) || exit 1

if printf '%s\n' "${names[@]}" | grep -qE '^(spark-jobs|kafka-connect)$'; then
  stage_jar_bundles kafka debezium-postgres spark
fi

build_args=()
mapfile -t build_args < <(version_build_args; meta_build_args "$base")
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
  docker_build "$ref" "services/$n/Dockerfile" "${build_args[@]}" "${secret[@]}"
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
    "$(image_size_mb "$ref")" "${took[$n]}"
done
