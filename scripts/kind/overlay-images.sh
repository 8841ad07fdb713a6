#!/usr/bin/env bash
# Prints every container image the kind overlay runs (one per line), rendered by kustomize:
# containers' images and the LAKEHOUSE_*_IMAGE settings (the Spark driver/executor image),
# so `make kind-up` loads exactly what `make deploy` will start.
source "$(dirname "$0")/common.sh"
kubectl_bin=$(command -v kubectl || true)
[ -x "$KUBECTL_BUILT" ] && kubectl_bin=$KUBECTL_BUILT
[ -n "$kubectl_bin" ] || die "kubectl is missing" "run: make kind-up (builds one) or install kubectl"
"$kubectl_bin" kustomize --load-restrictor LoadRestrictionsNone "$REPO_ROOT/k8s/overlays/${OVERLAY:-kind}" \
  | sed -n -e 's/^[[:space:]]*-\{0,1\}[[:space:]]*image:[[:space:]]*"\{0,1\}\([^"[:space:]]*\)"\{0,1\}.*/\1/p' \
           -e 's/^[[:space:]]*LAKEHOUSE_[A-Z_]*_IMAGE:[[:space:]]*"\{0,1\}\([^"[:space:]]*\)"\{0,1\}.*/\1/p' \
  | grep -v '^$' | sort -u
