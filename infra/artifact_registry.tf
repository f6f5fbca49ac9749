# Docker repository for the app image. Cloud Run pulls from it in the same region at no cost.
resource "google_artifact_registry_repository" "main" {
  project       = var.project_id
  location      = var.region
  repository_id = var.artifact_registry_repo
  format        = "DOCKER"
  description   = "Ballsy container images, pushed by Cloud Build (DEPLOYMENT.md)."
  labels        = var.labels

  # A tag names one image forever, so image_tag in Terraform state identifies exactly what runs
  # and a rebuild can never change a running revision behind Terraform's back.
  docker_config {
    immutable_tags = true
  }

  # The free tier is 0.5 GB; one image is about 30-40 MB. A KEEP policy only exempts versions
  # from DELETE policies and deletes nothing by itself, so two DELETE policies do the removing
  # and two KEEP policies protect the newest versions (normally including the one to roll back
  # to) and, explicitly, the deployed one. Cleanup runs about once a day.
  cleanup_policy_dry_run = false

  cleanup_policies {
    id     = "delete-untagged"
    action = "DELETE"
    condition {
      tag_state  = "UNTAGGED"
      older_than = "86400s" # 1 day: leftovers of interrupted pushes
    }
  }

  cleanup_policies {
    id     = "delete-older-than-7-days"
    action = "DELETE"
    condition {
      tag_state  = "ANY"
      older_than = "604800s" # 7 days, so a fresh build is never removed before it is deployed
    }
  }

  cleanup_policies {
    id     = "keep-newest"
    action = "KEEP"
    most_recent_versions {
      keep_count = var.artifact_keep_count
    }
  }

  # The image the service and the job run. Being among the newest is not enough: builds that
  # were pushed but not deployed, or a rollback to an older tag, can push it out of the newest
  # versions, and past 7 days the DELETE policy would remove it while Cloud Run still needs it
  # to start instances (a revision keeps pulling its image). Each apply moves this policy to
  # the tag being deployed. No policy before the first build, when there is no image yet.
  dynamic "cleanup_policies" {
    for_each = var.image_tag == null ? [] : [var.image_tag]
    content {
      id     = "keep-deployed"
      action = "KEEP"
      condition {
        tag_state    = "TAGGED"
        tag_prefixes = [cleanup_policies.value]
      }
    }
  }

  depends_on = [time_sleep.services_ready]
}
