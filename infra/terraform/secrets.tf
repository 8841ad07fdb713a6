# The Secret lakehouse-secrets: every credential of the platform, generated here, never
# committed. The manifests under k8s/ reference exactly this name and these keys, each
# pod only the keys it needs (the serving API only LAKEHOUSE_SERVING_READER_PASSWORD).
#
# Values come from uuid() (128 bits from crypto/rand each, hashicorp/go-uuid) in the built-in
# terraform_data resource, kept after creation by ignore_changes: the random provider is
# not available offline here (docs/terraform.md). They live in the Terraform state, as
# random_password results would; keep the state private. To rotate one value:
#   terraform apply -replace='terraform_data.secret["LAKEHOUSE_SERVING_PASSWORD"]' ...
# (then restart the pods that read it, and change the password in PostgreSQL/MinIO).

locals {
  secret_name = "lakehouse-secrets"

  # key => length of the generated value (hex characters).
  generated_secrets = {
    POSTGRES_SUPERUSER_PASSWORD       = 40 # the source PostgreSQL's superuser
    PLATFORM_DB_SUPERUSER_PASSWORD    = 40 # the platform PostgreSQL's superuser (lakehouse-db)
    PREFECT_DB_PASSWORD               = 40 # Prefect server's database role (lakehouse-db)
    LAKEHOUSE_SOURCE_PASSWORD         = 40 # owner of the shop schema (the OLTP source)
    LAKEHOUSE_SOURCE_CDC_PASSWORD     = 40 # replication role Debezium connects as
    SOURCE_READER_PASSWORD            = 40 # read-only role of the quality checks (flow-run pods)
    LAKEHOUSE_CATALOG_PASSWORD        = 40 # Iceberg JDBC catalog database
    LAKEHOUSE_SERVING_PASSWORD        = 40 # serving store writer (gold-and-serve)
    LAKEHOUSE_SERVING_READER_PASSWORD = 40 # serving store reader (serving API only)
    MINIO_ROOT_PASSWORD               = 40
    LAKEHOUSE_S3_ACCESS_KEY_ID        = 20
    LAKEHOUSE_S3_SECRET_ACCESS_KEY    = 40
    # database-backup's MinIO key: the backup bucket only (k8s/base/backup)
    LAKEHOUSE_BACKUP_ACCESS_KEY_ID     = 20
    LAKEHOUSE_BACKUP_SECRET_ACCESS_KEY = 40
  }

  # Keys with a fixed, non-secret value.
  fixed_secrets = {
    MINIO_ROOT_USER = "lakehouse-admin"
  }

  # Keys made of generated parts.
  composed_secrets = {
    PREFECT_API_AUTH_STRING = "lakehouse:${terraform_data.prefect_api_password.output}"
    # The Prefect server's database (k8s/base/lakehouse-db); hex passwords need no URL quoting.
    PREFECT_API_DATABASE_CONNECTION_URL = "postgresql+asyncpg://prefect:${terraform_data.secret["PREFECT_DB_PASSWORD"].output}@lakehouse-db:5432/prefect"
  }

  # Keys that carry the same value as another key (none today; kept for renames).
  secret_aliases = {}
}

resource "terraform_data" "secret" {
  for_each = local.generated_secrets

  # Two random UUIDs without dashes: 64 hex characters, cut to the wanted length.
  input = sensitive(substr(replace("${uuid()}${uuid()}", "-", ""), 0, each.value))

  lifecycle {
    # uuid() changes on every plan: keep the value generated at creation.
    ignore_changes = [input]
  }
}

# The Prefect API's basic authentication, "user:password" (PREFECT_SERVER_API_AUTH_STRING on the
# server, PREFECT_API_AUTH_STRING on its clients: worker, deploy Job, flow-run pods).
resource "terraform_data" "prefect_api_password" {
  input = sensitive(replace(uuid(), "-", ""))

  lifecycle {
    ignore_changes = [input]
  }
}

resource "kubernetes_secret" "lakehouse" {
  metadata {
    name      = local.secret_name
    namespace = kubernetes_namespace.lakehouse.metadata[0].name
    labels    = local.labels
  }

  type = "Opaque"

  data = merge(
    { for key, generated in terraform_data.secret : key => generated.output },
    local.fixed_secrets,
    local.composed_secrets,
    { for alias, key in local.secret_aliases : alias => terraform_data.secret[key].output },
  )
}
