# Shared helpers for the kind scripts (make kind-up / kind-down / e2e). Sourced, never executed.
# shellcheck source=../images/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../images/common.sh"

# Everything built for the cluster is cached outside the repo, keyed by version, so a fresh
# clone on the same machine reuses it and a second `make kind-up` is quick.
KIND_CACHE="${KIND_CACHE:-$LAKEHOUSE_STACK_CACHE_DIR/kind}"
KIND_BIN_DIR="$KIND_CACHE/bin/kind-$KIND_VERSION"
K8S_BIN_DIR="$KIND_CACHE/bin/kubernetes-$KUBERNETES_VERSION"
ADDON_BIN_DIR="$KIND_CACHE/bin/addons-etcd-$ETCD_VERSION-coredns-$COREDNS_VERSION-crictl-$CRICTL_VERSION"
KIND="$KIND_BIN_DIR/kind"
KUBECTL_BUILT="$K8S_BIN_DIR/kubectl"
KIND_CLUSTER_NAME="${KIND_CLUSTER_NAME:-lakehouse}"
KIND_NODE_IMAGE="${KIND_NODE_IMAGE:-lakehouse/kind-node:$KUBERNETES_VERSION}"
KIND_BASE_IMAGE="${KIND_BASE_IMAGE:-lakehouse/kind-base:$KIND_VERSION}"
KIND_MODULE_DIR() { go env GOMODCACHE | sed "s|\$|/sigs.k8s.io/kind@$KIND_VERSION|"; }

need_go() {
  command -v go >/dev/null 2>&1 || die "the Go toolchain is not installed (kind, Kubernetes, etcd and CoreDNS are built from their Go modules)" \
    "install Go >= 1.24 (https://go.dev/dl or apt-get install -y golang-1.24) and re-run"
}

# Build in a throw-away module so nothing touches the repo; -trimpath keeps binaries
# reproducible and free of this machine's paths.
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=mod -trimpath"
