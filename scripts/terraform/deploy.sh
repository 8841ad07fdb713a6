#!/usr/bin/env bash
# `make deploy` / `make destroy`: the guard rails around `terraform apply|destroy`.
#
#   scripts/terraform/deploy.sh apply|destroy [terraform -var flags...]
#
# - OVERLAY=kind or kind-* (small node-local volumes, single replicas, local images) is refused on a context
#   whose nodes are not kind nodes (providerID kind://...): it would replace what runs there.
# - On a context that is not a kind cluster, the plan is shown and applied only after an
#   explicit "yes" at the prompt, or with AUTO_APPROVE=1. Without a terminal and without
#   AUTO_APPROVE=1 nothing is applied.
# - On a kind cluster (throw-away, local) the plan is applied without asking.
#
# Environment: TERRAFORM (the pinned binary), TF_DIR, KUBE_CONTEXT, KUBECONFIG_PATH, OVERLAY,
# AUTO_APPROVE (1: do not ask). Terraform must be initialised (`make deploy` does it first).
source "$(dirname "$0")/../setup/common.sh"

action="${1:-}"
case "$action" in
  apply|destroy) shift ;;
  *) die "usage: $0 apply|destroy [terraform -var flags]" "see the header of $0" ;;
esac
: "${TERRAFORM:?TERRAFORM is not set (the terraform binary; make deploy sets it)}"
: "${TF_DIR:?TF_DIR is not set (the Terraform module directory)}"
: "${KUBE_CONTEXT:?KUBE_CONTEXT is not set (the kubeconfig context to deploy into)}"
OVERLAY="${OVERLAY:-kind}"
AUTO_APPROVE="${AUTO_APPROVE:-0}"
need_cmd kubectl "make setup (it installs kubectl)"

kubectl_() { kubectl --kubeconfig "${KUBECONFIG_PATH:-$HOME/.kube/config}" --context "$KUBE_CONTEXT" "$@"; }

# A kind cluster is one whose every node kind created: providerID kind://<provider>/<cluster>/<node>.
provider_ids="$(kubectl_ get nodes -o jsonpath='{range .items[*]}{.spec.providerID}{"\n"}{end}' 2>&1)" \
  || die "cannot list the nodes of context $KUBE_CONTEXT: $provider_ids" \
    "check KUBE_CONTEXT and KUBECONFIG_PATH (kubectl config get-contexts); for the local cluster: make kind-up"
is_kind=1
[ -n "$provider_ids" ] || is_kind=0
while read -r id; do
  [ -z "$id" ] || [[ "$id" == kind://* ]] || is_kind=0
done <<<"$provider_ids"

if [[ "$OVERLAY" == kind || "$OVERLAY" == kind-* ]] && [ "$is_kind" != 1 ]; then
  die "refusing OVERLAY=$OVERLAY on context $KUBE_CONTEXT, which is not a kind cluster (node providerIDs: $(echo $provider_ids | tr '\n' ' '))" \
    "the kind overlay runs small node-local volumes and single replicas and would replace what runs there; deploy with OVERLAY=prod (docs/deploy.md), or pick a kind context"
fi

plan="$(mktemp -d)/plan"
trap 'rm -rf "$(dirname "$plan")"' EXIT
plan_flags=()
[ "$action" = destroy ] && plan_flags+=(-destroy)
step "Terraform plan ($action) for context $KUBE_CONTEXT, overlay $OVERLAY"
"$TERRAFORM" -chdir="$TF_DIR" plan -input=false "${plan_flags[@]}" -out="$plan" "$@"

if [ "$is_kind" = 1 ]; then
  info "context $KUBE_CONTEXT is a kind cluster: applying without asking"
elif [ "$AUTO_APPROVE" = 1 ]; then
  info "AUTO_APPROVE=1: applying the plan above to context $KUBE_CONTEXT without asking"
elif [ -t 0 ]; then
  printf 'Apply the plan above (%s) to context %s? Only "yes" applies: ' "$action" "$KUBE_CONTEXT"
  read -r answer
  [ "$answer" = yes ] || die "not applied (answer: '${answer}')" "re-run and answer yes, or set AUTO_APPROVE=1"
else
  die "not applied: context $KUBE_CONTEXT is not a kind cluster and there is no terminal to approve the plan above" \
    "review the plan, then re-run with AUTO_APPROVE=1 (make deploy AUTO_APPROVE=1 ...)"
fi
"$TERRAFORM" -chdir="$TF_DIR" apply -input=false "$plan"
