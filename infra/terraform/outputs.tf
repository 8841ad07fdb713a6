# Service names and ports are those of the manifests under k8s/ (base); the static test
# tests/static/test_terraform.py checks them against the rendered overlays.
locals {
  services = {
    postgres      = { service = "postgres", port = 5432, scheme = "postgresql" }
    lakehouse_db  = { service = "lakehouse-db", port = 5432, scheme = "postgresql" }
    kafka         = { service = "kafka", port = 9092, scheme = "kafka" }
    kafka_connect = { service = "kafka-connect", port = 8083, scheme = "http" }
    minio_s3      = { service = "minio", port = 9000, scheme = "http" }
    minio_console = { service = "minio", port = 9001, scheme = "http" }
    prefect       = { service = "prefect-server", port = 4200, scheme = "http" }
    serving_api   = { service = "serving-api", port = 8000, scheme = "http" }
  }
  kubectl = "kubectl --kubeconfig ${local.kubeconfig_path} --context ${var.kube_context} -n ${var.namespace}"
}

output "namespace" {
  description = "Namespace that holds the platform."
  value       = kubernetes_namespace.lakehouse.metadata[0].name
}

output "secret_name" {
  description = "Name of the Secret with every generated credential (keys: secret_keys)."
  value       = kubernetes_secret.lakehouse.metadata[0].name
}

output "secret_keys" {
  description = "Keys of the Secret lakehouse-secrets; read one with: kubectl get secret lakehouse-secrets -o jsonpath='{.data.KEY}' | base64 -d."
  value       = sort(concat(keys(local.generated_secrets), keys(local.fixed_secrets), keys(local.secret_aliases)))
}

output "endpoints" {
  description = "In-cluster addresses of the platform's services (reachable from pods in any namespace)."
  value = {
    for name, s in local.services :
    name => "${s.scheme}://${s.service}.${var.namespace}.svc.cluster.local:${s.port}"
  }
}

output "port_forward_commands" {
  description = "Commands that make the Prefect UI, the serving API and the MinIO console reachable on this machine."
  value = {
    prefect_ui    = "${local.kubectl} port-forward svc/${local.services.prefect.service} 4200:${local.services.prefect.port}   # then http://127.0.0.1:4200"
    serving_api   = "${local.kubectl} port-forward svc/${local.services.serving_api.service} 8000:${local.services.serving_api.port}   # then http://127.0.0.1:8000/docs"
    minio_console = "${local.kubectl} port-forward svc/${local.services.minio_console.service} 9001:${local.services.minio_console.port}   # then http://127.0.0.1:9001 (user MINIO_ROOT_USER)"
  }
}

output "images" {
  description = "Registry prefix and tag the lakehouse/* images were deployed with."
  value = {
    registry = var.image_registry == "" ? "(local images)" : var.image_registry
    tag      = local.image_tag
  }
}
