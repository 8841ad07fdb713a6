# Versions are pinned in config/versions.env (TERRAFORM_VERSION, TF_PROVIDER_*_VERSION);
# tests/static/test_terraform.py fails when this file and that one disagree.
# Providers come from the filesystem mirror that `make setup-deploy` builds from their
# Go modules (docs/terraform.md); hashicorp/random and hashicorp/null are not used
# because the only versions the Go module proxy serves speak plugin protocol 4.
terraform {
  required_version = "~> 1.11.4"

  required_providers {
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "= 1.13.4"
    }
  }

  # State holds the generated passwords: keep it out of git. `make deploy` passes
  # -backend-config=path=... (TF_STATE); a team replaces this block with its remote backend.
  backend "local" {}
}
