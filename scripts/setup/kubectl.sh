#!/usr/bin/env bash
# kubectl for the static tests (`kubectl kustomize` renders every overlay) and `make deploy`.
# One already on PATH is used as it is; otherwise the kind chain's build of kubectl at the
# pinned KUBERNETES_VERSION (k8s.io/kubernetes, cached; ~4 min cold on 2 cores) is linked
# into /usr/local/bin (as root) or ~/.local/bin.
source "$(dirname "$0")/common.sh"

if command -v kubectl >/dev/null 2>&1 && kubectl kustomize --help >/dev/null 2>&1; then
  info "kubectl: $(command -v kubectl) ($(kubectl version --client 2>/dev/null | head -1))"
  exit 0
fi
step "kubectl is not installed: building kubectl $KUBERNETES_VERSION (once per machine)"
"$REPO_ROOT/scripts/kind/binaries.sh" kubectl
built="${KIND_CACHE:-$LAKEHOUSE_STACK_CACHE_DIR/kind}/bin/kubernetes-$KUBERNETES_VERSION/kubectl"
[ -x "$built" ] || die "kubectl was not built at $built" "see the Go error above"
if [ "$(id -u)" -eq 0 ]; then dest=/usr/local/bin; else dest="$HOME/.local/bin"; fi
mkdir -p "$dest" && ln -sf "$built" "$dest/kubectl"
command -v kubectl >/dev/null 2>&1 || die "kubectl is linked at $dest/kubectl but $dest is not on PATH" \
  "add $dest to PATH"
info "kubectl: linked $dest/kubectl -> $built"
