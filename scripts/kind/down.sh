#!/usr/bin/env bash
# `make kind-down`: delete the kind cluster (its node container and volumes). The built
# binaries and images stay cached, so the next `make kind-up` takes a minute or two.
source "$(dirname "$0")/common.sh"
[ -x "$KIND" ] || { info "kind is not built; no cluster to delete"; exit 0; }
export PATH="$(dirname "$(pick_docker)"):$PATH"
if "$KIND" get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER_NAME"; then
  step "kind delete cluster --name $KIND_CLUSTER_NAME"
  "$KIND" delete cluster --name "$KIND_CLUSTER_NAME"
else
  info "no kind cluster named $KIND_CLUSTER_NAME"
fi
