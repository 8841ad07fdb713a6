# Shared helpers for the kind scripts (make kind-up / kind-down / e2e). Sourced, never executed.
# shellcheck source=../images/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../images/common.sh"

# Everything built for the cluster is cached outside the repo, keyed by version, so a fresh
# clone on the same machine reuses it and a second `make kind-up` is quick.
KIND_CACHE="${KIND_CACHE:-$LAKEHOUSE_STACK_CACHE_DIR/kind}"
KIND_BIN_DIR="$KIND_CACHE/bin/kind-$KIND_VERSION"
K8S_BIN_DIR="$KIND_CACHE/bin/kubernetes-$KUBERNETES_VERSION"
ADDON_BIN_DIR="$KIND_CACHE/bin/addons-etcd-$ETCD_VERSION-coredns-$COREDNS_VERSION-crictl-$CRICTL_VERSION"
# The cluster add-ons (infra/kind/addons/<name>/): binary directory and image of each.
KUBE_ROUTER_BIN_DIR="$KIND_CACHE/bin/kube-router-$KUBE_ROUTER_VERSION"
KUBE_ROUTER_IMAGE="lakehouse/kube-router:$KUBE_ROUTER_VERSION"
LOCAL_PATH_BIN_DIR="$KIND_CACHE/bin/local-path-provisioner-$LOCAL_PATH_PROVISIONER_VERSION"
LOCAL_PATH_IMAGE="lakehouse/local-path-provisioner:$LOCAL_PATH_PROVISIONER_VERSION"
KIND="$KIND_BIN_DIR/kind"
KUBECTL_BUILT="$K8S_BIN_DIR/kubectl"
KIND_CLUSTER_NAME="${KIND_CLUSTER_NAME:-lakehouse}"
KIND_NODE_IMAGE="${KIND_NODE_IMAGE:-lakehouse/kind-node:$KUBERNETES_VERSION}"
KIND_BASE_IMAGE="${KIND_BASE_IMAGE:-lakehouse/kind-base:$KIND_VERSION}"
# A Go module's source directory, downloaded first when missing: go_module_dir MODULE VERSION
go_module_dir() {
  go mod download "$1@$2" >/dev/null \
    || die "the Go module proxy did not serve $1@$2" "check GOPROXY and the version in config/versions.env"
  echo "$(go env GOMODCACHE)/$1@$2"
}

need_go() {
  command -v go >/dev/null 2>&1 || die "the Go toolchain is not installed (kind, Kubernetes, etcd and CoreDNS are built from their Go modules)" \
    "install Go >= 1.24 (https://go.dev/dl or apt-get install -y golang-1.24) and re-run"
}

# Build in a throw-away module so nothing touches the repo; -trimpath keeps binaries
# reproducible and free of this machine's paths.
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -mod=mod -trimpath"
