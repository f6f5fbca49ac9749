# The identity the Cloud Run service and the migration job run as. Without it Cloud Run would
# use the Compute Engine default account, which often holds Editor on the whole project.
resource "google_service_account" "run" {
  project      = var.project_id
  account_id   = "ballsy-run-sa"
  display_name = "Ballsy runtime (Cloud Run)"
  description  = "Runs the Ballsy Cloud Run service and migration job: connects to Cloud SQL, reads its two secrets, calls Vertex AI when gemini_backend = vertex."

  depends_on = [time_sleep.services_ready]
}

# The /cloudsql volume connects as this account (cloudsql.instances.connect and .get). Cloud
# SQL has no per-instance IAM resource, so the grant is on the project, which holds only this
# deployment's instance.
resource "google_project_iam_member" "run_cloudsql_client" {
  project = var.project_id
  role    = "roles/cloudsql.client"
  member  = google_service_account.run.member
}

# Secret access per secret, never project-wide: the app can read these two and nothing else.
resource "google_secret_manager_secret_iam_member" "run_database_url" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.database_url.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.run.member
}

resource "google_secret_manager_secret_iam_member" "run_gemini_api_key" {
  project   = var.project_id
  secret_id = google_secret_manager_secret.gemini_api_key.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.run.member
}

# Vertex AI only: the app then authenticates with this account's token from the metadata
# server instead of an API key.
resource "google_project_iam_member" "run_aiplatform_user" {
  count = var.gemini_backend == "vertex" ? 1 : 0

  project = var.project_id
  role    = "roles/aiplatform.user"
  member  = google_service_account.run.member
}

# Not granted, on purpose:
#   roles/logging.logWriter     the app logs JSON lines to stdout; Cloud Run's own agent ships
#                               stdout/stderr to Cloud Logging without the runtime account
#                               holding any logging role. Needed only for direct Logging API calls.
#   roles/monitoring.metricWriter  no custom metrics are written (no metrics sidecar, no
#                               Monitoring API calls); Cloud Run and Cloud SQL metrics are
#                               collected by the platform.
#   roles/cloudsql.instanceUser only for IAM database authentication; the app uses a password.

# Cloud Run checks the runtime account's access to each referenced secret when it creates a
# revision, and IAM changes take a minute or two to propagate ("Permission denied on secret
# ... for Revision service account"). The service and the job wait for this.
resource "time_sleep" "run_iam_ready" {
  create_duration = "60s"

  # Wait again when switching to Vertex AI adds the aiplatform.user grant.
  triggers = {
    gemini_backend = var.gemini_backend
  }

  depends_on = [
    google_project_iam_member.run_cloudsql_client,
    google_secret_manager_secret_iam_member.run_database_url,
    google_secret_manager_secret_iam_member.run_gemini_api_key,
    google_project_iam_member.run_aiplatform_user,
  ]
}
