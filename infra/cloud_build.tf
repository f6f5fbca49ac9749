# What `gcloud builds submit` needs to build and push the image on a brand-new project.
#
# Since 2024, projects that start using Cloud Build run builds as the Compute Engine default
# service account. On a new project that account does not exist until the Compute Engine API is
# enabled, and where an organisation policy strips its Editor role it cannot push images. A
# dedicated build account with exactly the grants below works on every project. Because it is a
# user-specified account, Cloud Build requires an explicit logs location: the build bucket
# holds both the uploaded source and the build log (DEPLOYMENT.md passes it with
# --gcs-source-staging-dir and --gcs-log-dir).

resource "google_service_account" "build" {
  project      = var.project_id
  account_id   = "ballsy-build-sa"
  display_name = "Ballsy image builds (Cloud Build)"
  description  = "Runs `gcloud builds submit`: reads the uploaded source, pushes to the Ballsy Artifact Registry repository, writes build logs."

  depends_on = [time_sleep.services_ready]
}

resource "google_storage_bucket" "build" {
  project  = var.project_id
  name     = "${var.project_id}-ballsy-build"
  location = var.region
  labels   = var.labels

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  # Only build inputs and logs live here: Terraform may delete the bucket with its contents.
  force_destroy = true

  # Source archives and logs are worth nothing after a week; deleting them keeps the bucket
  # inside the free 5 GB. Soft delete would keep billing for deleted objects for 7 more days.
  lifecycle_rule {
    condition {
      age = 7
    }
    action {
      type = "Delete"
    }
  }

  soft_delete_policy {
    retention_duration_seconds = 0
  }

  depends_on = [time_sleep.services_ready]
}

# Read the uploaded source and write the log. For logs in a user-created bucket with a
# user-specified build account, Cloud Build's "Store and manage build logs" page says to grant
# that account Storage Admin (roles/storage.admin). Without what it needs, the submit fails with
# "builder service account does not have access to logs bucket". It is granted on this bucket
# only, which holds nothing but build sources and logs, not on the project.
resource "google_storage_bucket_iam_member" "build_storage_admin" {
  bucket = google_storage_bucket.build.name
  role   = "roles/storage.admin"
  member = google_service_account.build.member
}

# Push to this repository only.
resource "google_artifact_registry_repository_iam_member" "build_writer" {
  project    = var.project_id
  location   = google_artifact_registry_repository.main.location
  repository = google_artifact_registry_repository.main.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.build.member
}

# Build steps' output also goes to Cloud Logging (the console's build page reads it there).
resource "google_project_iam_member" "build_log_writer" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.build.member
}

# IAM grants take a minute or two to reach every Google service. The first-phase apply in
# DEPLOYMENT.md targets this resource, which pulls in the APIs, the repository, the bucket, the
# build account and its grants, and ends after the grants have had time to propagate, so the
# build that follows does not fail on a permission that is not visible yet.
resource "time_sleep" "build_ready" {
  create_duration = "60s"

  depends_on = [
    google_storage_bucket_iam_member.build_storage_admin,
    google_artifact_registry_repository_iam_member.build_writer,
    google_project_iam_member.build_log_writer,
  ]
}
