# The kustomize overlay, applied with kubectl through scripts/terraform/overlay.sh.
#
# Why local-exec and not the kubernetes provider's kubernetes_manifest: the only
# hashicorp/kubernetes release the Go module proxy serves here (1.13.4) predates
# kubernetes_manifest; and even with it, one resource per rendered document needs the
# documents known at plan time, CRDs established before their objects are planned, and
# the overlay (written by another team) mapped onto Terraform addresses. kubectl apply of
# the rendered overlay does CRDs first, waits for rollouts, and is what an operator runs by
# hand (`scripts/terraform/overlay.sh render` shows exactly what gets applied).
#
# Two resources, so that a change of the manifests re-applies without deleting anything:
#   overlay_apply     replaced (= kubectl apply again) whenever k8s/, config/ or a setting
#                     changes; it has no destroy action.
#   overlay_teardown  replaced only when the target itself (context, kubeconfig, overlay,
#                     namespace) changes; on destroy it runs kubectl delete on the overlay.
# Objects removed from the overlay are not pruned by apply; delete them by hand (or
# `make destroy` + `make deploy`).

locals {
  overlay_env = {
    OVERLAY        = var.overlay
    NAMESPACE      = kubernetes_namespace.lakehouse.metadata[0].name
    IMAGE_REGISTRY = var.image_registry
    IMAGE_TAG      = local.image_tag
    # "" = keep the overlay's value.
    SERVING_API_REPLICAS = var.serving_api_replicas == null ? "" : tostring(var.serving_api_replicas)
    POSTGRES_STORAGE_GI  = var.sizes.postgres_storage_gi == null ? "" : tostring(var.sizes.postgres_storage_gi)
    MINIO_STORAGE_GI     = var.sizes.minio_storage_gi == null ? "" : tostring(var.sizes.minio_storage_gi)
    KAFKA_STORAGE_GI     = var.sizes.kafka_storage_gi == null ? "" : tostring(var.sizes.kafka_storage_gi)
    KUBE_CONTEXT         = var.kube_context
    KUBECONFIG_PATH      = local.kubeconfig_path
    ROLLOUT_TIMEOUT      = var.rollout_timeout
  }

  overlay_script = "${local.repo_root}/scripts/terraform/overlay.sh"

  # Everything the rendered overlay depends on: the manifests, the configuration they
  # embed (config/ holds the table registry and versions), and the script itself.
  overlay_sources_hash = sha256(join("", concat(
    [for f in sort(fileset("${local.repo_root}/k8s", "**")) : filesha256("${local.repo_root}/k8s/${f}")],
    [for f in sort(fileset("${local.repo_root}/config", "**")) : filesha256("${local.repo_root}/config/${f}")],
    [filesha256(local.overlay_script)],
  )))
}

resource "terraform_data" "overlay_teardown" {
  triggers_replace = {
    kube_context    = var.kube_context
    kubeconfig_path = local.kubeconfig_path
    overlay         = var.overlay
    namespace       = var.namespace
  }

  # Destroy-time provisioners may only read self: keep what delete needs in input.
  input = {
    script = local.overlay_script
    env    = local.overlay_env
  }

  provisioner "local-exec" {
    when        = destroy
    command     = "${self.input.script} delete"
    environment = self.input.env
  }

  depends_on = [kubernetes_secret.lakehouse]
}

resource "terraform_data" "overlay_apply" {
  triggers_replace = {
    sources = local.overlay_sources_hash
    env     = local.overlay_env
  }

  provisioner "local-exec" {
    command     = "${local.overlay_script} apply"
    environment = local.overlay_env
  }

  depends_on = [terraform_data.overlay_teardown, kubernetes_secret.lakehouse]
}
