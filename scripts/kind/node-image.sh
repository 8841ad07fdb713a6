#!/usr/bin/env bash
# The kind node image, assembled offline: `kind build node-image` would `ctr content fetch`
# etcd, CoreDNS and pause from registry.k8s.io, which is not reachable here. So this follows
# its steps (sigs.k8s.io/kind pkg/build/nodeimage/buildcontext.go) with local images:
#   1. lakehouse/kind-base:<KIND_VERSION> from infra/kind/base.Dockerfile (kind's base files
#      from its Go module, Debian's systemd/containerd/runc/CNI plugins);
#   2. the control-plane images from infra/kind/components.Dockerfile, tagged with exactly the
#      names `kubeadm config images list` prints;
#   3. a build container from the base: kubeadm/kubelet/kubectl to /usr/bin, /kind/version, the
#      images imported into its containerd (namespace k8s.io, not unpacked), then committed.
# Cached: skipped when the node image exists with the same inputs label (REBUILD_NODE=1 forces).
source "$(dirname "$0")/common.sh"
require_docker

base="${BASE_IMAGE:-$LOCAL_BASE_IMAGE}"
"$DOCKER_BIN" image inspect "$base" >/dev/null 2>&1 \
  || die "base image $base is missing" "run: make images-base"
for b in kubeadm kubelet kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy; do
  [ -x "$K8S_BIN_DIR/$b" ] || die "$b $KUBERNETES_VERSION is not built ($K8S_BIN_DIR)" "run: scripts/kind/binaries.sh (make kind-up does)"
done
for b in etcd coredns crictl; do
  [ -x "$ADDON_BIN_DIR/$b" ] || die "$b is not built ($ADDON_BIN_DIR)" "run: scripts/kind/binaries.sh (make kind-up does)"
done

kind_files="$(go_module_dir sigs.k8s.io/kind "$KIND_VERSION")/images/base/files"
k8s_src="$(go_module_dir k8s.io/kubernetes "$KUBERNETES_VERSION")"

# Everything that shapes the node image, hashed: a change to any of it rebuilds.
inputs=$( { grep -E '^(KIND|KUBERNETES|ETCD|COREDNS|PAUSE|CRICTL|DEBIAN)_' "$REPO_ROOT/config/versions.env";
            cat "$REPO_ROOT"/infra/kind/*.Dockerfile "$REPO_ROOT"/infra/kind/node/* "$0"; } | sha256sum | cut -c1-16)
if [ "${REBUILD_NODE:-0}" != 1 ] && [ "$("$DOCKER_BIN" image inspect -f '{{ index .Config.Labels "lakehouse.kind.inputs" }}' "$KIND_NODE_IMAGE" 2>/dev/null)" = "$inputs" ]; then
  info "node image $KIND_NODE_IMAGE is up to date (inputs $inputs; REBUILD_NODE=1 rebuilds)"
  exit 0
fi

ctx="$REPO_ROOT/build/kind-context"
rm -rf "$ctx" && mkdir -p "$ctx/bin"
cp -r "$kind_files" "$ctx/kind-files" && chmod -R u+w "$ctx/kind-files"
cp -r "$REPO_ROOT/infra/kind/node" "$ctx/node"
for b in kube-apiserver kube-controller-manager kube-scheduler kube-proxy; do cp -l "$K8S_BIN_DIR/$b" "$ctx/bin/" 2>/dev/null || cp "$K8S_BIN_DIR/$b" "$ctx/bin/"; done
for b in etcd coredns; do cp -l "$ADDON_BIN_DIR/$b" "$ctx/bin/" 2>/dev/null || cp "$ADDON_BIN_DIR/$b" "$ctx/bin/"; done
cp "$k8s_src/build/pause/linux/pause.c" "$ctx/pause.c"

progress="${BUILD_PROGRESS:-plain}"
step "Building the kind base image $KIND_BASE_IMAGE (Debian bookworm + kind $KIND_VERSION's base files)"
"$DOCKER_BIN" build --progress "$progress" -f "$REPO_ROOT/infra/kind/base.Dockerfile" \
  --build-arg "BASE_IMAGE=$base" -t "$KIND_BASE_IMAGE" "$ctx" >"$ctx/build-base.log" 2>&1 \
  || { tail -30 "$ctx/build-base.log" >&2; die "building $KIND_BASE_IMAGE failed (log: $ctx/build-base.log)" \
       "see the output above (apt in the build uses this host's Debian mirror)"; }

# The names kubeadm will ask containerd for: take them from kubeadm itself.
mapfile -t required < <("$K8S_BIN_DIR/kubeadm" config images list --kubernetes-version "$KUBERNETES_VERSION" 2>/dev/null)
[ ${#required[@]} -ge 6 ] || die "kubeadm config images list printed nothing useful" "check $K8S_BIN_DIR/kubeadm"
declare -A target_of=()
for ref in "${required[@]}"; do
  name=${ref%:*}; name=${name##*/}
  case "$name" in
    kube-apiserver|kube-controller-manager|kube-scheduler|kube-proxy|etcd|coredns|pause) target_of[$ref]=$name ;;
    *) die "kubeadm asks for an image this build does not make: $ref" "add a target for it to infra/kind/components.Dockerfile" ;;
  esac
done
info "kubeadm $KUBERNETES_VERSION asks for: ${required[*]}"
for ref in "${required[@]}"; do
  want=${ref##*:}
  case "${target_of[$ref]}" in
    etcd) [ "$want" = "$ETCD_IMAGE_TAG" ] || die "kubeadm wants etcd $want, versions.env builds $ETCD_IMAGE_TAG" "set ETCD_VERSION/ETCD_IMAGE_TAG in config/versions.env" ;;
    coredns) [ "$want" = "$COREDNS_VERSION" ] || die "kubeadm wants CoreDNS $want, versions.env builds $COREDNS_VERSION" "set COREDNS_VERSION in config/versions.env" ;;
    pause) [ "$want" = "$PAUSE_IMAGE_TAG" ] || die "kubeadm wants pause $want, versions.env builds $PAUSE_IMAGE_TAG" "set PAUSE_IMAGE_TAG in config/versions.env" ;;
  esac
done

images=()
for ref in "${required[@]}"; do
  target=${target_of[$ref]}
  step "Building $ref (target $target)"
  "$DOCKER_BIN" build --progress "$progress" -f "$REPO_ROOT/infra/kind/components.Dockerfile" --target "$target" \
    --build-arg "BASE_IMAGE=$base" --build-arg "PAUSE_IMAGE_TAG=$PAUSE_IMAGE_TAG" -t "$ref" "$ctx" >"$ctx/build-$target.log" 2>&1 \
    || { tail -30 "$ctx/build-$target.log" >&2; die "building $ref failed (log: $ctx/build-$target.log)" "see the build output above"; }
  images+=("$ref")
done

step "Saving the ${#images[@]} control-plane images for the node's containerd"
"$DOCKER_BIN" save -o "$ctx/images.tar" "${images[@]}"

cid=""
cleanup() { [ -n "$cid" ] && "$DOCKER_BIN" rm -f -v "$cid" >/dev/null 2>&1 || true; }
trap cleanup EXIT
step "Assembling the node image in a build container from $KIND_BASE_IMAGE"
cid=$("$DOCKER_BIN" run -d --entrypoint=sleep --security-opt seccomp=unconfined "$KIND_BASE_IMAGE" infinity)
nexec() { "$DOCKER_BIN" exec "$cid" "$@"; }
for b in kubeadm kubelet kubectl; do
  "$DOCKER_BIN" cp "$K8S_BIN_DIR/$b" "$cid:/usr/bin/$b"
  nexec chown root:root "/usr/bin/$b"; nexec chmod 0755 "/usr/bin/$b"
done
"$DOCKER_BIN" cp "$ADDON_BIN_DIR/crictl" "$cid:/usr/local/bin/crictl"
nexec bash -c "echo '$KUBERNETES_VERSION' > /kind/version"
# The sandbox image must be one the node has: the pause kubeadm asks for.
nexec sed -i "s|sandbox_image = .*|sandbox_image = \"registry.k8s.io/pause:$PAUSE_IMAGE_TAG\"|" /etc/containerd/config.toml
nexec bash -c 'nohup containerd >/var/log/containerd-build.log 2>&1 &'
for i in $(seq 1 30); do nexec ctr version >/dev/null 2>&1 && break; sleep 1; done
nexec ctr version >/dev/null 2>&1 || { nexec cat /var/log/containerd-build.log >&2; die "containerd did not start in the build container" "see its log above"; }
info "importing into containerd (namespace k8s.io, pinned, not unpacked)"
"$DOCKER_BIN" exec -i "$cid" ctr --namespace=k8s.io images import --label=io.cri-containerd.pinned=pinned \
  --all-platforms --no-unpack --digests - <"$ctx/images.tar" >/dev/null \
  || die "ctr images import failed" "see the output above"
have=$(nexec ctr --namespace=k8s.io images list -q)
for ref in "${required[@]}"; do
  grep -qx "$ref" <<<"$have" || die "the node's containerd lacks $ref after the import" "check $ctx/images.tar"
done
nexec pkill containerd || true
for i in $(seq 1 20); do nexec pgrep -x containerd >/dev/null 2>&1 || break; sleep 1; done
nexec rm -f /var/log/containerd-build.log

step "Committing $KIND_NODE_IMAGE"
"$DOCKER_BIN" commit \
  --change 'ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]' \
  --change 'ENV HTTP_PROXY="" HTTPS_PROXY="" NO_PROXY=""' \
  --change "LABEL lakehouse.kind.inputs=$inputs" \
  "$cid" "$KIND_NODE_IMAGE" >/dev/null
rm -f "$ctx/images.tar"
info "node image $KIND_NODE_IMAGE: $("$DOCKER_BIN" image inspect -f '{{.Size}}' "$KIND_NODE_IMAGE" | awk '{printf "%.0f MB", $1/1e6}')"
