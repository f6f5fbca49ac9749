# Provider and Terraform versions.
#
# google and google-beta are pinned to one major version together so that their schemas match.
# 7.45 is the newest release the project's schema research confirmed (2026-08-18), and it carries
# the Cloud Run scaling permadiff fixes (7.13/7.15/7.44) and the Cloud SQL disk_type change
# without replacement (7.44). 8.0.0 was merged upstream in 2026-08 but its release and its
# breaking changes (e.g. secret_data_wo_version becomes a string) have not been checked against
# this configuration yet: move to "~> 8.0" deliberately, after reading the 8.0 upgrade guide
# and running a plan.
#
# `terraform init` writes .terraform.lock.hcl with the exact provider builds it selected. It
# cannot be generated offline, so the first person to run `init` commits it; everyone after
# that gets the same provider builds.
terraform {
  # 1.5 for `check` blocks (warnings that do not stop an apply, see checks.tf). Nothing here
  # needs write-only arguments (1.11).
  required_version = ">= 1.5"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 7.45"
    }
    google-beta = {
      source  = "hashicorp/google-beta"
      version = "~> 7.45"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.7"
    }
    time = {
      source  = "hashicorp/time"
      version = "~> 0.13"
    }
  }

  # State is local by default (infra/terraform.tfstate, ignored by git). It holds the database
  # password and DATABASE_URL, so keep it private; DEPLOYMENT.md shows how to move it to a GCS
  # bucket with `terraform init -migrate-state` once more than one person deploys.
}
