# The identity the Cloud Run service and the migration job run as. Without it Cloud Run would
# use the Compute Engine default account, which often holds Editor on the whole project.
resource "google_service_account" "run" {
  project      = var.project_id
  account_id   = "ballsy-run-sa"
  display_name = "Ballsy runtime (Cloud Run)"
  description  = "Runs the Ballsy Cloud Run service and migration job: connects to its Cloud SQL instance, reads its two secrets, calls Vertex AI predictions when gemini_backend = vertex."

  depends_on = [time_sleep.services_ready]
}

# The /cloudsql volume connects as this account (cloudsql.instances.connect and .get). Cloud
# SQL has no per-instance IAM resource, so the grant is on the project, narrowed by an IAM
# condition to this deployment's instance: the form of Google's Cloud SQL "Use IAM Conditions"
# page for connecting to specific instances. The instance name comes from the variable, not the
# resource, so the grant does not wait for the 10-15 minutes of instance creation.
resource "google_project_iam_member" "run_cloudsql_client" {
  project = var.project_id
  role    = "roles/cloudsql.client"
  member  = google_service_account.run.member

  condition {
    title       = "only-${var.db_instance_name}"
    description = "Connect only to the Ballsy Cloud SQL instance."
    expression  = "resource.name == 'projects/${var.project_id}/instances/${var.db_instance_name}' && resource.type == 'sqladmin.googleapis.com/Instance'"
  }
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

# Vertex AI: the app authenticates with this account's token from the metadata server instead
# of an API key, and only calls generateContent and streamGenerateContent on Google's
# publisher models. Both need exactly aiplatform.endpoints.predict ("Make prompt requests" on
# the Vertex AI generative AI access-control page); roles/aiplatform.user would also let the
# service create, change and delete datasets, endpoints, models and jobs in the project.
#
# The role exists whatever gemini_backend is, and only the grant follows the backend: a
# deleted custom role can be restored only for 7 days and its id stays blocked for up to 37, so
# deleting it on a switch away from Vertex could make switching back fail. The random suffix
# gives a re-created deployment a fresh id for the same reason.
resource "random_id" "vertex_role" {
  byte_length = 2
}

resource "google_project_iam_custom_role" "vertex_predict" {
  project     = var.project_id
  role_id     = "${replace(var.service_name, "-", "_")}_vertex_predict_${random_id.vertex_role.hex}"
  title       = "Ballsy Gemini caller"
  description = "Vertex AI predictions (Gemini generateContent) only; granted to the Ballsy runtime account when gemini_backend = vertex."
  permissions = ["aiplatform.endpoints.predict"]

  depends_on = [time_sleep.services_ready]
}

resource "google_project_iam_member" "run_vertex_predict" {
  count = var.gemini_backend == "vertex" ? 1 : 0

  project = var.project_id
  role    = google_project_iam_custom_role.vertex_predict.name
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

  # Wait again when switching to Vertex AI adds the prediction grant.
  triggers = {
    gemini_backend = var.gemini_backend
  }

  depends_on = [
    google_project_iam_member.run_cloudsql_client,
    google_secret_manager_secret_iam_member.run_database_url,
    google_secret_manager_secret_iam_member.run_gemini_api_key,
    google_project_iam_member.run_vertex_predict,
  ]
}
