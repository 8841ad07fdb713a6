#!/usr/bin/env bash
# Render, apply or delete the kustomize overlay k8s/overlays/$OVERLAY with this deploy's
# settings. Terraform calls it from infra/terraform/kustomize.tf (terraform_data + local-exec);
# run by hand it shows exactly what a deploy would apply:
#
#   OVERLAY=kind NAMESPACE=lakehouse scripts/terraform/overlay.sh render
#
# The overlay is rendered with `kubectl kustomize --load-restrictor LoadRestrictionsNone`
# (it reads config/ outside k8s/). A generated wrapper kustomization on top of it sets
#   - the namespace (NAMESPACE),
#   - the image of every lakehouse/* container (IMAGE_REGISTRY prefix; IMAGE_TAG for our own),
#   - the serving-api replicas (SERVING_API_REPLICAS; where a HorizontalPodAutoscaler
#     serving-api exists, its minReplicas instead),
#   - the API-egress NetworkPolicies' peers: the API server's addresses (KUBERNETES_API_CIDRS,
#     else read from KUBE_CONTEXT on apply/delete),
#   - the storage request of the postgres, minio and kafka StatefulSets' volume claim
#     templates (*_STORAGE_GI), through a ConfigMap lakehouse-deploy-settings and
#     kustomize replacements (selected by name, not by list position).
# The Namespace and the Secret lakehouse-secrets belong to Terraform: documents of those
# are dropped from the output. CustomResourceDefinitions are applied first and waited for;
# where the overlay mounts lakehouse-tls-* Secrets (k8s/components/tls), certs.sh makes them;
# Jobs last, recreated on every apply (their pod template is immutable), and waited for.
#
# Settings (environment): OVERLAY, NAMESPACE, IMAGE_REGISTRY (may be empty), IMAGE_TAG
# (default IMAGE_TAG of config/versions.env), SERVING_API_REPLICAS, POSTGRES_STORAGE_GI,
# MINIO_STORAGE_GI, KAFKA_STORAGE_GI; for apply/delete also KUBE_CONTEXT, KUBECONFIG_PATH,
# ROLLOUT_TIMEOUT. K8S_OVERLAYS_DIR (default k8s/overlays) lets tests render a fixture.
# config/versions.env (sourced by common.sh) sets IMAGE_TAG too: keep the caller's.
requested_image_tag="${IMAGE_TAG:-}"
source "$(dirname "$0")/../setup/common.sh"

action="${1:-}"
case "$action" in
  render|apply|delete) ;;
  *) die "usage: $0 render|apply|delete" "see the header of $0 for the settings it reads" ;;
esac

OVERLAY="${OVERLAY:-kind}"
NAMESPACE="${NAMESPACE:-lakehouse}"
IMAGE_REGISTRY="${IMAGE_REGISTRY:-}"
IMAGE_TAG="${requested_image_tag:-$IMAGE_TAG}"
SECRET_NAME="lakehouse-secrets"
need_cmd kubectl "apt-get install -y kubernetes-client (kubectl with kustomize)"

overlays_dir="${K8S_OVERLAYS_DIR:-$REPO_ROOT/k8s/overlays}"
overlay_dir="$overlays_dir/$OVERLAY"
[ -f "$overlay_dir/kustomization.yaml" ] || [ -f "$overlay_dir/kustomization.yml" ] \
  || die "no kustomize overlay at $overlay_dir" "OVERLAY must be one of: $(ls "$overlays_dir" 2>/dev/null | tr '\n' ' ')"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/wrap"

kustomize() { kubectl kustomize --load-restrictor LoadRestrictionsNone "$1"; }

# names_of_kind KIND FILE: metadata.name of every document of that kind (top-level kind:,
# first name: under the top-level metadata:), one a line.
names_of_kind() {
  awk -v kind="$1" '
    function flush() { if (k == kind && n != "") print n; k = ""; n = ""; inmeta = 0 }
    /^---/ { flush(); next }
    /^kind: / { k = $2 }
    /^metadata:/ { inmeta = 1; next }
    /^[^ ]/ { inmeta = 0 }
    inmeta && /^  name: / && n == "" { n = $2 }
    END { flush() }' "$2" | tr -d '"' | sort -u
}

# The API server's addresses for the API-egress NetworkPolicies (*-kubernetes-api-egress): the `kubernetes`
# Service's ClusterIP (before kube-proxy's DNAT) and its endpoints (after it, what most
# policy engines match). KUBERNETES_API_CIDRS (comma-separated CIDRs) overrides; on apply
# they are read from the cluster; a bare render keeps the base's any-address rule.
api_cidrs="${KUBERNETES_API_CIDRS:-}"
if [ -z "$api_cidrs" ] && [ "$action" != render ] && [ -n "${KUBE_CONTEXT:-}" ]; then
  kube_api() { kubectl --kubeconfig "${KUBECONFIG_PATH:-$HOME/.kube/config}" --context "$KUBE_CONTEXT" "$@"; }
  api_ips="$(kube_api -n default get service kubernetes -o jsonpath='{.spec.clusterIP}') $(kube_api -n default get endpointslices \
    -l kubernetes.io/service-name=kubernetes -o jsonpath='{range .items[*].endpoints[*]}{.addresses[*]}{" "}{end}')" \
    || die "could not read the API server's addresses from context $KUBE_CONTEXT" \
      "check that the context answers (kubectl --context $KUBE_CONTEXT -n default get endpointslices), or set KUBERNETES_API_CIDRS"
  for ip in $api_ips; do
    case "$ip" in *:*) api_cidrs="$api_cidrs,$ip/128" ;; *) api_cidrs="$api_cidrs,$ip/32" ;; esac
  done
  api_cidrs="${api_cidrs#,}"
  [ -n "$api_cidrs" ] || die "context $KUBE_CONTEXT reports no address for the kubernetes Service" "set KUBERNETES_API_CIDRS"
fi
[ -n "$api_cidrs" ] && info "API-server egress limited to: $api_cidrs" >&2 \
  || info "API-server egress: any address on 443/6443 (a render without KUBERNETES_API_CIDRS)" >&2

kustomize "$overlay_dir" >"$work/base.yaml" \
  || die "kubectl kustomize could not render $overlay_dir" "fix the overlay; render it alone with: kubectl kustomize --load-restrictor LoadRestrictionsNone $overlay_dir"

# The wrapper kustomization.
{
  echo "apiVersion: kustomize.config.k8s.io/v1beta1"
  echo "kind: Kustomization"
  echo "resources:"
  echo "  - $(realpath --relative-to="$work/wrap" "$overlay_dir")"
  echo "namespace: $NAMESPACE"
  images="$(grep -oE '^[[:space:]-]*image: *"?lakehouse/[a-z0-9._/-]+' "$work/base.yaml" \
            | sed -E 's/.*image: *"?//' | sort -u || true)"
  if [ -n "$images" ]; then
    echo "images:"
    for image in $images; do
      echo "  - name: $image"
      echo "    newName: ${IMAGE_REGISTRY:+$IMAGE_REGISTRY/}$image"
      # Only our deployables carry IMAGE_TAG; the local builds of third-party images
      # (lakehouse/postgres, kafka, minio: infra/images/) keep the upstream version tag.
      if [ -f "$REPO_ROOT/services/${image#lakehouse/}/Dockerfile" ]; then
        echo "    newTag: \"$IMAGE_TAG\""
      fi
    done
  fi
  # Where an autoscaler owns the serving API's replica count (prod), the count is its floor:
  # a fixed spec.replicas would be reset on every deploy, fighting the autoscaler.
  if [ -n "${SERVING_API_REPLICAS:-}" ] && names_of_kind HorizontalPodAutoscaler "$work/base.yaml" | grep -qx serving-api; then
    hpa_max="$(grep -m1 -E '^  maxReplicas: [0-9]+' "$work/base.yaml" | awk '{print $2}')"
    [ "${hpa_max:-0}" -ge "$SERVING_API_REPLICAS" ] || hpa_max="$SERVING_API_REPLICAS"
    patches_emitted=1
    echo "patches:"
    echo "  - target: {kind: HorizontalPodAutoscaler, name: serving-api}"
    echo "    patch: '[{\"op\": \"replace\", \"path\": \"/spec/minReplicas\", \"value\": $SERVING_API_REPLICAS}, {\"op\": \"replace\", \"path\": \"/spec/maxReplicas\", \"value\": $hpa_max}]'"
  elif [ -n "${SERVING_API_REPLICAS:-}" ] && names_of_kind Deployment "$work/base.yaml" | grep -qx serving-api; then
    echo "replicas:"
    echo "  - name: serving-api"
    echo "    count: $SERVING_API_REPLICAS"
  fi
  if [ -n "$api_cidrs" ]; then
    to=""
    for cidr in ${api_cidrs//,/ }; do to="$to{\"ipBlock\": {\"cidr\": \"$cidr\"}}, "; done
    [ -n "${patches_emitted:-}" ] || echo "patches:"
    for policy in $(names_of_kind NetworkPolicy "$work/base.yaml" | grep -E -- '-kubernetes-api-egress$'); do
      echo "  - target: {kind: NetworkPolicy, name: $policy}"
      echo "    patch: '[{\"op\": \"replace\", \"path\": \"/spec/egress/0/to\", \"value\": [${to%, }]}]'"
    done
  fi
  echo "configMapGenerator:"
  echo "  - name: lakehouse-deploy-settings"
  echo "    options: {disableNameSuffixHash: true}"
  echo "    literals:"
  echo "      - overlay=$OVERLAY"
  echo "      - image_tag=$IMAGE_TAG"
  echo "      - image_registry=$IMAGE_REGISTRY"
  statefulsets="$(names_of_kind StatefulSet "$work/base.yaml")"
  sized=()
  for component in postgres minio kafka; do
    var="$(tr '[:lower:]' '[:upper:]' <<<"$component")_STORAGE_GI"
    if [ -n "${!var:-}" ] && grep -qx "$component" <<<"$statefulsets"; then
      echo "      - ${component}_storage=${!var}Gi"
      sized+=("$component")
    fi
  done
  if [ ${#sized[@]} -gt 0 ]; then
    echo "replacements:"
    for component in "${sized[@]}"; do
      echo "  - source: {kind: ConfigMap, name: lakehouse-deploy-settings, fieldPath: data.${component}_storage}"
      echo "    targets:"
      echo "      - select: {kind: StatefulSet, name: $component}"
      echo "        fieldPaths: [spec.volumeClaimTemplates.*.spec.resources.requests.storage]"
    done
  fi
} >"$work/wrap/kustomization.yaml"

kustomize "$work/wrap" >"$work/wrapped.yaml" \
  || die "the deploy settings could not be applied to overlay $OVERLAY" "the generated kustomization was: $(cat "$work/wrap/kustomization.yaml")"

# Split: CRDs first, then the rest, without the objects Terraform owns.
awk -v ns="$NAMESPACE" -v secret="$SECRET_NAME" -v crds="$work/crds.yaml" -v rest="$work/rest.yaml" -v jobs="$work/jobs.yaml" '
  function flush() {
    if (doc == "") return
    if (k == "Namespace" && n == ns) { dropped = dropped " Namespace/" n }
    else if (k == "Secret" && n == secret) { dropped = dropped " Secret/" n }
    else if (k == "CustomResourceDefinition") { printf "---\n%s", doc > crds }
    else if (k == "Job") { printf "---\n%s", doc > jobs }
    else { printf "---\n%s", doc > rest }
    doc = ""; k = ""; n = ""; inmeta = 0
  }
  /^---/ { flush(); next }
  { doc = doc $0 "\n" }
  /^kind: / { k = $2 }
  /^metadata:/ { inmeta = 1; next }
  /^[^ ]/ { inmeta = 0 }
  inmeta && /^  name: / && n == "" { n = $2; gsub(/"/, "", n) }
  END { flush(); if (dropped != "") print "    left to Terraform:" dropped > "/dev/stderr" }' "$work/wrapped.yaml"
touch "$work/crds.yaml" "$work/rest.yaml" "$work/jobs.yaml"

if [ "$action" = "render" ]; then
  cat "$work/crds.yaml" "$work/rest.yaml" "$work/jobs.yaml"
  exit 0
fi

: "${KUBE_CONTEXT:?KUBE_CONTEXT is not set (the kubeconfig context to deploy into)}"
kubectl_() { kubectl --kubeconfig "${KUBECONFIG_PATH:-$HOME/.kube/config}" --context "$KUBE_CONTEXT" "$@"; }

if [ "$action" = "apply" ]; then
  step "Applying overlay $OVERLAY to context $KUBE_CONTEXT, namespace $NAMESPACE (images ${IMAGE_REGISTRY:+$IMAGE_REGISTRY/}lakehouse/*:$IMAGE_TAG)"
  if [ -s "$work/crds.yaml" ]; then
    kubectl_ apply --server-side --field-manager=lakehouse-deploy --force-conflicts -f "$work/crds.yaml"
    kubectl_ wait --for=condition=Established --timeout=120s -f "$work/crds.yaml"
  fi
  # An overlay that mounts the platform's certificates (k8s/components/tls) gets them first:
  # certs.sh makes the CA and every lakehouse-tls-<name> Secret it names, or keeps valid ones.
  mapfile -t tls_names < <(cat "$work/rest.yaml" "$work/jobs.yaml" | grep -o 'secretName: lakehouse-tls-[a-z0-9-]*' \
    | sed 's/.*lakehouse-tls-//' | sort -u)
  if [ ${#tls_names[@]} -gt 0 ]; then
    NAMESPACE="$NAMESPACE" KUBE_CONTEXT="$KUBE_CONTEXT" KUBECONFIG_PATH="${KUBECONFIG_PATH:-}" \
      "$(dirname "$0")/certs.sh" "${tls_names[@]}"
  fi
  [ -s "$work/rest.yaml" ] && kubectl_ apply --server-side --field-manager=lakehouse-deploy --force-conflicts -f "$work/rest.yaml"
  # A Job's pod template is immutable and the init Jobs (schema, buckets, connector,
  # Prefect deployments) are idempotent: run them afresh on every apply.
  if [ -s "$work/jobs.yaml" ]; then
    kubectl_ delete --ignore-not-found --wait=true -f "$work/jobs.yaml"
    kubectl_ apply --server-side --field-manager=lakehouse-deploy --force-conflicts -f "$work/jobs.yaml"
  fi
  for kind in deployment statefulset; do
    for name in $(kubectl_ -n "$NAMESPACE" get "$kind" -o name); do
      # Readiness of some workloads means "has data" (the serving API is ready once the
      # pipeline has published): on a fresh deploy, wait only until their pods run.
      waits_for=$(kubectl_ -n "$NAMESPACE" get "$name" -o jsonpath='{.metadata.annotations.lakehouse\.io/deploy-waits-for}')
      if [ "$waits_for" = started ]; then
        selector=$(kubectl_ -n "$NAMESPACE" get "$name" -o go-template='{{range $k, $v := .spec.selector.matchLabels}}{{$k}}={{$v}},{{end}}')
        info "waiting for $name to start (up to ${ROLLOUT_TIMEOUT:-10m}; it turns ready once data is published)"
        kubectl_ -n "$NAMESPACE" wait pod -l "${selector%,}" --for=jsonpath='{.status.phase}'=Running \
          --timeout="${ROLLOUT_TIMEOUT:-10m}" >/dev/null \
          || die "$name did not start" "kubectl --context $KUBE_CONTEXT -n $NAMESPACE describe $name; and its pods' logs"
        continue
      fi
      info "waiting for $name (up to ${ROLLOUT_TIMEOUT:-10m})"
      kubectl_ -n "$NAMESPACE" rollout status "$name" --timeout="${ROLLOUT_TIMEOUT:-10m}" \
        || die "$name did not become ready" "kubectl --context $KUBE_CONTEXT -n $NAMESPACE describe $name; and its pods' logs"
    done
  done
  if [ -s "$work/jobs.yaml" ]; then
    info "waiting for the Jobs to complete (up to ${ROLLOUT_TIMEOUT:-10m})"
    kubectl_ wait --for=condition=complete --timeout="${ROLLOUT_TIMEOUT:-10m}" -f "$work/jobs.yaml" \
      || die "a Job did not complete" "kubectl --context $KUBE_CONTEXT -n $NAMESPACE get jobs; kubectl logs job/<name>"
  fi
  step "Overlay $OVERLAY applied"
else
  step "Deleting what overlay $OVERLAY applied in context $KUBE_CONTEXT, namespace $NAMESPACE"
  [ -s "$work/jobs.yaml" ] && kubectl_ delete --ignore-not-found --wait=true -f "$work/jobs.yaml"
  [ -s "$work/rest.yaml" ] && kubectl_ delete --ignore-not-found --wait=true -f "$work/rest.yaml"
  [ -s "$work/crds.yaml" ] && kubectl_ delete --ignore-not-found --wait=true -f "$work/crds.yaml"
  step "Overlay $OVERLAY deleted (PersistentVolumeClaims go with the namespace)"
fi
