#!/usr/bin/env bash
# `make kind-up`: a one-node kind cluster named $KIND_CLUSTER_NAME (context kind-<name>) from
# the locally built node image, with the platform images loaded. Idempotent: an existing,
# healthy cluster is reused; a missing piece is built first (cached by version).
#   1. Docker Engine with the CAP_SYS_RESOURCE-stripping runtime (make docker-up);
#   2. kind, Kubernetes, etcd, CoreDNS, crictl from their Go modules (binaries.sh);
#   3. the node image (node-image.sh);
#   4. kind create cluster --config infra/kind/cluster.yaml;
#   5. the add-ons stock kind has and this node lacks (infra/kind/addons/): kube-router's
#      firewall controller, so NetworkPolicies are enforced (the bridge CNI enforces none), and
#      local-path-provisioner, so volume claims bind (StorageClass standard);
#   6. kind load docker-image for every image the kind overlay runs (make images builds them).
# Knobs: KIND_CLUSTER_NAME, KIND_NODE_IMAGE, KIND_WAIT (default 5m), SKIP_IMAGE_LOAD=1;
# KIND_STOCK=1 uses the stock kind/kubectl on PATH and kindest/node (CI with network access).
source "$(dirname "$0")/common.sh"

started=$SECONDS
config="$REPO_ROOT/infra/kind/cluster.yaml"
if [ "${KIND_STOCK:-0}" = 1 ]; then
  # A platform team's CI: the stock kind and kubectl on PATH, kind's published node image.
  KIND=$(command -v kind || true)
  [ -n "$KIND" ] || die "KIND_STOCK=1 but no kind on PATH" "install kind $KIND_VERSION (https://kind.sigs.k8s.io/docs/user/quick-start/)"
  command -v kubectl >/dev/null 2>&1 || die "KIND_STOCK=1 but no kubectl on PATH" "install kubectl ${KUBERNETES_VERSION%.*}.x"
  KIND_NODE_IMAGE="${KIND_STOCK_NODE_IMAGE:-kindest/node:$KIND_STOCK_NODE_TAG}"
  config="$REPO_ROOT/infra/kind/cluster-stock.yaml"
  require_docker
else
  "$REPO_ROOT/scripts/images/docker-up.sh"
  require_docker
  "$REPO_ROOT/scripts/images/base.sh"
  "$(dirname "$0")/binaries.sh" all
  "$(dirname "$0")/node-image.sh"
  export PATH="$K8S_BIN_DIR:$PATH"
fi

# kind shells out to `docker`: make it the same CLI the scripts use.
export PATH="$(dirname "$DOCKER_BIN"):$PATH"
context="kind-$KIND_CLUSTER_NAME"

cluster_healthy() {
  "$KIND" get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER_NAME" || return 1
  [ "$("$DOCKER_BIN" inspect -f '{{.State.Running}}' "$KIND_CLUSTER_NAME-control-plane" 2>/dev/null)" = true ] || return 1
  kubectl --context "$context" get --raw /readyz >/dev/null 2>&1
}

if cluster_healthy; then
  node_image=$("$DOCKER_BIN" inspect -f '{{.Config.Image}}' "$KIND_CLUSTER_NAME-control-plane")
  info "cluster $KIND_CLUSTER_NAME is running (node image $node_image); reusing it (make kind-down removes it)"
else
  if "$KIND" get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER_NAME"; then
    step "Cluster $KIND_CLUSTER_NAME exists but does not answer: deleting it"
    "$KIND" delete cluster --name "$KIND_CLUSTER_NAME"
  fi
  step "kind create cluster --name $KIND_CLUSTER_NAME --image $KIND_NODE_IMAGE (a minute or two)"
  "$KIND" create cluster --name "$KIND_CLUSTER_NAME" --image "$KIND_NODE_IMAGE" \
    --config "$config" --wait "${KIND_WAIT:-5m}" \
    || die "kind create cluster failed" "see the output above; the node's logs: $KIND export logs --name $KIND_CLUSTER_NAME /tmp/kind-logs"
fi

step "Waiting for the node and the system pods"
kubectl --context "$context" wait --for=condition=Ready node --all --timeout=180s >/dev/null \
  || die "the node did not become Ready" "kubectl --context $context describe node; $KIND export logs --name $KIND_CLUSTER_NAME /tmp/kind-logs"
kubectl --context "$context" -n kube-system rollout status deployment/coredns --timeout=180s >/dev/null \
  || die "CoreDNS did not become ready" "kubectl --context $context -n kube-system describe pods -l k8s-app=kube-dns"

# load_image REF: kind load docker-image unless the node already holds that image id.
load_image() {
  local ref=$1 id t
  id=$("$DOCKER_BIN" image inspect -f '{{.Id}}' "$ref")
  if "$DOCKER_BIN" exec "$KIND_CLUSTER_NAME-control-plane" crictl inspecti -q "$ref" 2>/dev/null | grep -q "${id#sha256:}"; then
    info "$ref: already in the node"
    return
  fi
  t=$SECONDS
  "$KIND" load docker-image --name "$KIND_CLUSTER_NAME" "$ref" >/dev/null \
    || die "kind load docker-image $ref failed" "see the output above"
  info "$ref: loaded ($((SECONDS - t)) s)"
}

# add_on NAME BINARY IMAGE WHAT READY: build the add-on's image from infra/kind/addons/NAME
# (rebuilt when the binary or Dockerfile changes), load it, apply its manifest with the image
# filled in, and wait for READY (a kube-system or other rollout target "ns/kind/name").
add_on() {
  local name=$1 bin=$2 image=$3 what=$4 ready=$5
  local dir="$REPO_ROOT/infra/kind/addons/$name" inputs ctx
  inputs=$(cat "$bin" "$dir/Dockerfile" | sha256sum | cut -c1-16)
  if [ "$("$DOCKER_BIN" image inspect -f '{{ index .Config.Labels "lakehouse.inputs" }}' "$image" 2>/dev/null)" != "$inputs" ]; then
    step "Building $image"
    ctx="$REPO_ROOT/build/addon-$name"
    rm -rf "$ctx" && mkdir -p "$ctx" && cp "$bin" "$ctx/"
    "$DOCKER_BIN" build --progress plain -f "$dir/Dockerfile" --build-arg "BASE_IMAGE=$LOCAL_BASE_IMAGE" \
      --label "lakehouse.inputs=$inputs" -t "$image" "$ctx" >"$ctx/build.log" 2>&1 \
      || { tail -30 "$ctx/build.log" >&2; die "building $image failed (log: $ctx/build.log)" "see the output above"; }
  fi
  load_image "$image"
  step "$what ($name)"
  sed "s|ADDON_IMAGE|$image|g" "$dir/manifest.yaml" | kubectl --context "$context" apply -f - >/dev/null \
    || die "applying $dir/manifest.yaml failed" "see the output above"
  kubectl --context "$context" -n "${ready%%/*}" rollout status "${ready#*/}" --timeout=180s >/dev/null \
    || die "$name did not become ready" "kubectl --context $context -n ${ready%%/*} logs ${ready#*/}"
}

if [ "${KIND_STOCK:-0}" != 1 ]; then
  # Stock kind brings both itself: kindnetd enforces NetworkPolicies, and StorageClass
  # `standard` is its local-path-provisioner. This cluster's bridge CNI and node have neither.
  add_on kube-router "$KUBE_ROUTER_BIN_DIR/kube-router" "$KUBE_ROUTER_IMAGE" \
    "Enforcing NetworkPolicies: kube-router's firewall controller" kube-system/daemonset/kube-router
  # Without a storage manifest in the node image, kind makes a placeholder `standard` class
  # (provisioner kubernetes.io/host-path, which nothing serves); ours replaces it.
  if [ "$(kubectl --context "$context" get storageclass standard -o 'jsonpath={.provisioner}' 2>/dev/null)" = kubernetes.io/host-path ]; then
    kubectl --context "$context" delete storageclass standard >/dev/null
  fi
  add_on local-path "$LOCAL_PATH_BIN_DIR/local-path-provisioner" "$LOCAL_PATH_IMAGE" \
    "Volumes that outlive their pods: StorageClass standard" local-path-storage/deployment/local-path-provisioner
fi

if [ "${SKIP_IMAGE_LOAD:-0}" != 1 ]; then
  mapfile -t platform_images < <("$(dirname "$0")/overlay-images.sh")
  missing=()
  for ref in "${platform_images[@]}"; do
    "$DOCKER_BIN" image inspect "$ref" >/dev/null 2>&1 || missing+=("$ref")
  done
  [ ${#missing[@]} -eq 0 ] || die "images the kind overlay runs are not built: ${missing[*]}" "run: make images (then make kind-up again)"
  step "Loading ${#platform_images[@]} platform images into the node (kind load docker-image)"
  for ref in "${platform_images[@]}"; do load_image "$ref"; done
fi

info "cluster $KIND_CLUSTER_NAME ready in $((SECONDS - started)) s: kubectl --context $context get pods -A"
info "kind: $KIND   kubectl: $K8S_BIN_DIR/kubectl   node image: $KIND_NODE_IMAGE"
