variable "kube_context" {
  description = "Name of the kubeconfig context to deploy into (kind's cluster \"lakehouse\" is \"kind-lakehouse\")."
  type        = string

  validation {
    condition     = length(trimspace(var.kube_context)) > 0
    error_message = "kube_context must name a context of the kubeconfig (kubectl config get-contexts)."
  }
}

variable "kubeconfig_path" {
  description = "Path of the kubeconfig file that holds kube_context; ~ is expanded."
  type        = string
  default     = "~/.kube/config"

  validation {
    condition     = length(trimspace(var.kubeconfig_path)) > 0
    error_message = "kubeconfig_path must be a file path, e.g. ~/.kube/config."
  }
}

variable "overlay" {
  description = "Kustomize overlay under k8s/overlays/ to apply: kind (one-node cluster, small sizes), kind-tls (kind with prod's encryption in transit) or prod."
  type        = string
  default     = "kind"

  validation {
    condition     = contains(["kind", "kind-tls", "prod"], var.overlay)
    error_message = "overlay must be \"kind\", \"kind-tls\" or \"prod\" (a directory under k8s/overlays/)."
  }
}

variable "namespace" {
  description = "Namespace that holds the whole platform and the Secret lakehouse-secrets; Terraform creates it."
  type        = string
  default     = "lakehouse"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.namespace))
    error_message = "namespace must be a DNS-1123 label: lower-case letters, digits and '-', at most 63 characters."
  }
}

variable "image_registry" {
  description = "Registry prefix for the lakehouse/* images, e.g. \"registry.example.com/data\"; \"\" keeps the local image names (kind load)."
  type        = string
  default     = ""

  validation {
    condition     = var.image_registry == "" || can(regex("^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)*$", var.image_registry))
    error_message = "image_registry must be \"\" or a host[:port][/path] without a trailing slash, e.g. registry.example.com/data."
  }
}

variable "image_tag" {
  description = "Tag of the lakehouse/* images; null takes IMAGE_TAG from config/versions.env."
  type        = string
  default     = null

  validation {
    condition     = var.image_tag == null ? true : can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag))
    error_message = "image_tag must be a Docker tag: letters, digits, '_', '.', '-', at most 128 characters, not starting with '.' or '-'."
  }
}

variable "sizes" {
  description = "Persistent volume sizes in GiB of the postgres, minio and kafka StatefulSets' volume claim templates; an unset size keeps the overlay's (on kind the local-path volumes ignore sizes, so they matter for prod)."
  type = object({
    postgres_storage_gi = optional(number)
    minio_storage_gi    = optional(number)
    kafka_storage_gi    = optional(number)
  })
  default = {}

  validation {
    condition = alltrue([
      # HCL evaluates both sides of ||: guard null with a conditional.
      for size in values(var.sizes) : size == null ? true : (size >= 1 && size <= 16384 && floor(size) == size)
    ])
    error_message = "every size must be a whole number of GiB between 1 and 16384 (or unset to keep the overlay's)."
  }
}

variable "serving_api_replicas" {
  description = "Replicas of the serving-api Deployment (prod: the floor of its autoscaler, which owns the count); null keeps the overlay's."
  type        = number
  default     = null

  validation {
    condition     = var.serving_api_replicas == null ? true : (var.serving_api_replicas >= 1 && var.serving_api_replicas <= 20 && floor(var.serving_api_replicas) == var.serving_api_replicas)
    error_message = "serving_api_replicas must be a whole number from 1 to 20 (or null to keep the overlay's)."
  }
}

variable "rollout_timeout" {
  description = "How long `kubectl rollout status` waits for each Deployment and StatefulSet after apply, e.g. \"10m\"."
  type        = string
  default     = "10m"

  validation {
    condition     = can(regex("^[0-9]+(s|m|h)$", var.rollout_timeout))
    error_message = "rollout_timeout must be a duration such as 300s, 10m or 1h."
  }
}
