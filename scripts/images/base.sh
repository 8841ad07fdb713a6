#!/usr/bin/env bash
# `make images-base`: the Debian base image the Dockerfiles build FROM when no registry is
# reachable. `debootstrap --variant=minbase $DEBIAN_RELEASE` from the mirror in this host's
# apt sources, trimmed like debian:*-slim, then `docker import`ed as $LOCAL_BASE_IMAGE.
# Skipped when that image exists; REBUILD_BASE=1 forces a rebuild.
source "$(dirname "$0")/common.sh"
require_docker

if [ -n "${BASE_IMAGE:-}" ] && [ "$BASE_IMAGE" != "$LOCAL_BASE_IMAGE" ]; then
  info "base: BASE_IMAGE=$BASE_IMAGE is used; no local base needed"
  exit 0
fi

if [ "${REBUILD_BASE:-0}" != 1 ] && "$DOCKER_BIN" image inspect "$LOCAL_BASE_IMAGE" >/dev/null 2>&1; then
  info "base: $LOCAL_BASE_IMAGE exists (REBUILD_BASE=1 rebuilds it)"
  exit 0
fi

# The Debian mirror this machine's apt uses (deb822 `URIs:` or one-line `deb` entries).
host_mirror() {
  local suffix=$1
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | sed -n -e 's/^URIs:[[:space:]]*//p' -e 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\).*/\2/p' \
    | tr ' ' '\n' | grep -E "/debian${suffix}/?\$" | head -1 | sed 's:/*$::' || true
}
mirror="${DEBIAN_MIRROR:-$(host_mirror '')}"
security="${DEBIAN_SECURITY_MIRROR:-$(host_mirror '-security')}"
mirror="${mirror:-http://deb.debian.org/debian}"
security="${security:-http://deb.debian.org/debian-security}"

if ! command -v debootstrap >/dev/null 2>&1; then
  step "Installing debootstrap"
  as_root apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends debootstrap >/dev/null \
    || die "apt-get install debootstrap failed" "check the apt sources and re-run: make images-base"
fi

rootfs=$(mktemp -d /var/tmp/lakehouse-rootfs.XXXXXX)
trap 'as_root rm -rf "$rootfs"' EXIT
step "debootstrap --variant=minbase $DEBIAN_RELEASE from $mirror (about 30-60 s)"
as_root debootstrap --variant=minbase "$DEBIAN_RELEASE" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 \
  || { tail -20 "$rootfs.log" >&2; die "debootstrap failed (log: $rootfs.log)" \
       "check that $mirror serves $DEBIAN_RELEASE, or set DEBIAN_MIRROR=<mirror>"; }
rm -f "$rootfs.log"

info "trimming like debian:$DEBIAN_RELEASE-slim (no docs, man pages, locales; apt lists removed)"
as_root tee "$rootfs/etc/apt/sources.list" >/dev/null <<SOURCES
deb $mirror $DEBIAN_RELEASE main
deb $mirror $DEBIAN_RELEASE-updates main
deb $security $DEBIAN_RELEASE-security main
SOURCES
as_root tee "$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" >/dev/null <<'SLIM'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
SLIM
as_root tee "$rootfs/etc/apt/apt.conf.d/docker-slim" >/dev/null <<'APT'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
APT
as_root bash -c "cd '$rootfs' && rm -rf usr/share/doc/* usr/share/man/* usr/share/info/* usr/share/locale/* \
  var/lib/apt/lists/* var/cache/apt/*.bin var/cache/apt/archives/*.deb var/log/* 2>/dev/null; true"

step "docker import -> $LOCAL_BASE_IMAGE"
as_root tar -C "$rootfs" --numeric-owner -c . | "$DOCKER_BIN" import \
  --change 'CMD ["bash"]' --change 'ENV LANG=C.UTF-8' \
  --message "debootstrap --variant=minbase $DEBIAN_RELEASE $mirror" - "$LOCAL_BASE_IMAGE" >/dev/null
info "base: $LOCAL_BASE_IMAGE ($("$DOCKER_BIN" image inspect -f '{{.Size}}' "$LOCAL_BASE_IMAGE" | awk '{printf "%.0f MB", $1/1e6}'))"
