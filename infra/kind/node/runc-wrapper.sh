#!/bin/sh
# runc wrapper inside the kind node (infra/kind/base.Dockerfile): removes CAP_SYS_RESOURCE from
# the OCI bundle's config.json (create/run) and from the --process file (exec), then runs
# Debian's runc with the same arguments. Privileged pods (kube-proxy) ask for every
# capability; the node's bounding set lacks this one on these machines.
strip() { # file, jq path of the process object in it ("" for the file itself)
  [ -f "$1" ] || return 0
  tmp="$1.lakehouse.$$"
  caps="${2}.capabilities"
  jq "if $caps then $caps |= with_entries(.value |= (if type == \"array\" then map(select(. != \"CAP_SYS_RESOURCE\")) else . end)) else . end" "$1" >"$tmp" \
    && mv "$tmp" "$1" || rm -f "$tmp"
}
bundle="" process="" create=false prev=""
for a in "$@"; do
  case "$prev" in
    --bundle|-b) bundle=$a ;;
    --process|-p) process=$a ;;
  esac
  case "$a" in
    --bundle=*) bundle=${a#--bundle=} ;;
    --process=*) process=${a#--process=} ;;
    create|run) create=true ;;
  esac
  prev=$a
done
if $create && [ -z "$bundle" ]; then bundle=$(pwd); fi
[ -n "$bundle" ] && strip "$bundle/config.json" .process
[ -n "$process" ] && strip "$process" ""
exec "${REAL_RUNC:-/usr/sbin/runc}" "$@"
