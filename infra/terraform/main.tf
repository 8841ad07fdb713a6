# The platform on one kube context: a namespace, the Secret lakehouse-secrets (secrets.tf),
# then the kustomize overlay k8s/overlays/<overlay> applied with this deploy's settings
# (kustomize.tf).

provider "kubernetes" {
  config_path      = local.kubeconfig_path
  config_context   = var.kube_context
  load_config_file = true
}

locals {
  repo_root       = abspath("${path.module}/../..")
  kubeconfig_path = pathexpand(var.kubeconfig_path)

  # IMAGE_TAG from the one versions file, unless the caller chose a tag.
  versions_env = file("${local.repo_root}/config/versions.env")
  image_tag    = coalesce(var.image_tag, regex("(?m)^IMAGE_TAG=(\\S+)$", local.versions_env)[0])

  labels = {
    "app.kubernetes.io/part-of"    = "lakehouse"
    "app.kubernetes.io/managed-by" = "terraform"
  }
}

# Pod Security `restricted`, enforced: every pod of the platform passes it, the ones made at run
# time too (flow runs, Spark drivers and executors; tests/static/test_pod_security.py).
resource "kubernetes_namespace" "lakehouse" {
  metadata {
    name = var.namespace
    labels = merge(local.labels, {
      "pod-security.kubernetes.io/enforce" = "restricted"
      "pod-security.kubernetes.io/warn"    = "restricted"
      "pod-security.kubernetes.io/audit"   = "restricted"
    })
  }
}
