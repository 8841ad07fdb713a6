#!/usr/bin/env bash
# The Go-built pieces of the local kind cluster, cached by version under $KIND_CACHE/bin:
#  - kind itself (sigs.k8s.io/kind);
#  - Kubernetes (k8s.io/kubernetes): kubeadm, kubelet, kubectl and the four control-plane
#    binaries, version-stamped like an upstream release so kubeadm knows what it is;
#  - etcd and CoreDNS for the node's preloaded images; crictl, which kind runs on the node;
#  - the add-ons (infra/kind/addons/): kube-router, whose firewall controller enforces
#    NetworkPolicies, and local-path-provisioner, which gives volume claims a node directory.
# Cold: ~8 min on 2 cores with an empty Go cache (Kubernetes dominates). Warm: a second.
source "$(dirname "$0")/common.sh"
need_go

build_kind() {
  [ -x "$KIND" ] && { info "kind $KIND_VERSION: cached ($KIND)"; return; }
  step "Building kind $KIND_VERSION from sigs.k8s.io/kind"
  GOBIN="$KIND_BIN_DIR" go install "sigs.k8s.io/kind@$KIND_VERSION" \
    || die "building kind failed" "check that the Go module proxy serves sigs.k8s.io/kind@$KIND_VERSION"
}

# k8s.io/kubernetes points its staging modules at ./staging (excluded from the module zip),
# so a wrapper module requires it and replaces each staging module by its published twin.
# Arguments: the commands to build (default: all seven the node needs).
build_kubernetes() {
  local bins=("$@")
  [ ${#bins[@]} -gt 0 ] || bins=(kubeadm kubelet kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy)
  local missing=0 b
  for b in "${bins[@]}"; do [ -x "$K8S_BIN_DIR/$b" ] || missing=1; done
  [ $missing = 0 ] && { info "Kubernetes $KUBERNETES_VERSION: cached ($K8S_BIN_DIR)"; return; }
  step "Building Kubernetes $KUBERNETES_VERSION from k8s.io/kubernetes (${bins[*]}; ~6 min cold on 2 cores)"
  local work="$KIND_CACHE/src/kubernetes-$KUBERNETES_VERSION"
  mkdir -p "$work" "$K8S_BIN_DIR"
  go_module_dir k8s.io/kubernetes "$KUBERNETES_VERSION" >/dev/null
  local upstream_mod
  upstream_mod="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$KUBERNETES_VERSION.mod"
  {
    echo "module lakehouse.local/kubernetes-build"
    echo
    echo "go 1.24.0"
    echo
    echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
    echo
    echo "replace ("
    sed -n 's|^\t\(k8s.io/[a-z0-9-]*\) => ./staging/src/k8s.io/.*|\t\1 => \1 '"$KUBERNETES_STAGING_VERSION"'|p' "$upstream_mod"
    echo ")"
  } >"$work/go.mod"
  local major minor ldflags pkg
  major=$(echo "$KUBERNETES_VERSION" | sed 's/^v\([0-9]*\)\..*/\1/')
  minor=$(echo "$KUBERNETES_VERSION" | sed 's/^v[0-9]*\.\([0-9]*\)\..*/\1/')
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags="$ldflags -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ldflags="$ldflags -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  for b in "${bins[@]}"; do
    [ -x "$K8S_BIN_DIR/$b" ] && { info "$b: cached"; continue; }
    info "go build k8s.io/kubernetes/cmd/$b ($(date +%T))"
    (cd "$work" && go build -ldflags "$ldflags" -o "$K8S_BIN_DIR/$b.tmp" "k8s.io/kubernetes/cmd/$b") \
      || die "building $b failed" "see the Go error above; the wrapper module is $work/go.mod"
    mv "$K8S_BIN_DIR/$b.tmp" "$K8S_BIN_DIR/$b"
  done
  if [ -x "$K8S_BIN_DIR/kubeadm" ]; then
    "$K8S_BIN_DIR/kubeadm" version -o short | grep -qx "$KUBERNETES_VERSION" \
      || die "kubeadm does not report $KUBERNETES_VERSION (version stamping failed)" "check the -X ldflags in $0"
  fi
}

# etcd's own go.mod has relative replaces, so a two-line main calls etcdmain like etcd's does.
build_addons() {
  mkdir -p "$ADDON_BIN_DIR"
  local work="$KIND_CACHE/src/addons"
  if [ ! -x "$ADDON_BIN_DIR/etcd" ]; then
    step "Building etcd $ETCD_VERSION from go.etcd.io/etcd"
    mkdir -p "$work/etcd"
    cat >"$work/etcd/main.go" <<'GO'
// etcd's server main, built outside etcd's repository (its go.mod uses relative replaces).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
    printf 'module lakehouse.local/etcd\n\ngo 1.24.0\n' >"$work/etcd/go.mod"
    (cd "$work/etcd" && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" && go mod tidy \
      && go build -ldflags "-s -w" -o "$ADDON_BIN_DIR/etcd" .) || die "building etcd failed" "see the Go error above"
  else info "etcd $ETCD_VERSION: cached"; fi
  if [ ! -x "$ADDON_BIN_DIR/coredns" ]; then
    step "Building CoreDNS $COREDNS_VERSION from github.com/coredns/coredns"
    GOBIN="$ADDON_BIN_DIR" go install -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION" \
      || die "building CoreDNS failed" "see the Go error above"
  else info "CoreDNS $COREDNS_VERSION: cached"; fi
  if [ ! -x "$ADDON_BIN_DIR/crictl" ]; then
    step "Building crictl $CRICTL_VERSION from sigs.k8s.io/cri-tools (kind load asks the node with it)"
    # The proxy serves cri-tools' tags but refuses its version list (which `go install pkg@v`
    # reads for deprecations) and the checksum database has no entry for it: a wrapper module
    # requires the exact tag, and only this module skips the checksum database.
    local work="$KIND_CACHE/src/crictl-$CRICTL_VERSION"
    mkdir -p "$work"
    # cri-tools v1.34.0 pins the staging modules at v0.34.0-rc.2, which the checksum database
    # lacks; the released $KUBERNETES_STAGING_VERSION (same API) replaces them.
    {
      printf 'module lakehouse.local/crictl\n\ngo 1.24.0\n\nrequire (\n\tsigs.k8s.io/cri-tools %s\n' "$CRICTL_VERSION"
      for m in api apimachinery client-go cri-api cri-client kubectl kubelet; do
        printf '\tk8s.io/%s %s\n' "$m" "$KUBERNETES_STAGING_VERSION"
      done
      printf ')\n'
    } >"$work/go.mod"
    (cd "$work" && GONOSUMDB=sigs.k8s.io/cri-tools go build \
      -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION" \
      -o "$ADDON_BIN_DIR/crictl" sigs.k8s.io/cri-tools/cmd/crictl) || die "building crictl failed" "see the Go error above"
  else info "crictl $CRICTL_VERSION: cached"; fi
}

# The k3s fork is a drop-in for upstream's module path (its go.mod still says
# github.com/cloudnativelabs/kube-router/v2), so a wrapper module requires upstream's path and
# replaces it by the fork; both are in the checksum database.
build_kube_router() {
  local out="$KUBE_ROUTER_BIN_DIR/kube-router"
  [ -x "$out" ] && { info "kube-router $KUBE_ROUTER_VERSION: cached ($out)"; return; }
  step "Building kube-router $KUBE_ROUTER_VERSION from $KUBE_ROUTER_MODULE (~2 min cold)"
  local work="$KIND_CACHE/src/kube-router-$KUBE_ROUTER_VERSION"
  mkdir -p "$work" "$KUBE_ROUTER_BIN_DIR"
  printf 'module lakehouse.local/kube-router\n\ngo 1.24.0\n\nrequire %s %s\n\nreplace %s => %s %s\n' \
    "$KUBE_ROUTER_UPSTREAM_MODULE" "$KUBE_ROUTER_VERSION" \
    "$KUBE_ROUTER_UPSTREAM_MODULE" "$KUBE_ROUTER_MODULE" "$KUBE_ROUTER_VERSION" >"$work/go.mod"
  (cd "$work" && go build -ldflags "-s -w -X $KUBE_ROUTER_UPSTREAM_MODULE/pkg/version.Version=$KUBE_ROUTER_VERSION" \
    -o "$out.tmp" "$KUBE_ROUTER_UPSTREAM_MODULE/cmd/kube-router") \
    || die "building kube-router failed" "see the Go error above; the wrapper module is $work/go.mod"
  mv "$out.tmp" "$out"
}

build_local_path() {
  local out="$LOCAL_PATH_BIN_DIR/local-path-provisioner"
  [ -x "$out" ] && { info "local-path-provisioner $LOCAL_PATH_PROVISIONER_VERSION: cached ($out)"; return; }
  step "Building local-path-provisioner $LOCAL_PATH_PROVISIONER_VERSION from $LOCAL_PATH_PROVISIONER_MODULE (~1 min cold)"
  local work="$KIND_CACHE/src/local-path-provisioner-$LOCAL_PATH_PROVISIONER_VERSION"
  mkdir -p "$work" "$LOCAL_PATH_BIN_DIR"
  printf 'module lakehouse.local/local-path-provisioner\n\ngo 1.24.0\n\nrequire %s %s\n' \
    "$LOCAL_PATH_PROVISIONER_MODULE" "$LOCAL_PATH_PROVISIONER_VERSION" >"$work/go.mod"
  (cd "$work" && go build -ldflags "-s -w" -o "$out.tmp" "$LOCAL_PATH_PROVISIONER_MODULE") \
    || die "building local-path-provisioner failed" "see the Go error above; the wrapper module is $work/go.mod"
  mv "$out.tmp" "$out"
}

what=${1:-all}
case "$what" in
  kind) build_kind ;;
  kubernetes) build_kubernetes ;;
  kubectl) build_kubernetes kubectl ;;
  addons) build_addons ;;
  kube-router) build_kube_router ;;
  local-path) build_local_path ;;
  all) build_kind; build_kubernetes; build_addons; build_kube_router; build_local_path ;;
  *) die "unknown part '$what'" "use one of: kind kubernetes kubectl addons kube-router local-path all" ;;
esac
