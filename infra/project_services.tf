# APIs this deployment calls. Every other resource depends on time_sleep.services_ready, so
# nothing is created before its API answers.
locals {
  project_services = toset([
    "run.googleapis.com",                # Cloud Run service and migration job
    "artifactregistry.googleapis.com",   # Docker repository
    "sqladmin.googleapis.com",           # Cloud SQL, and the /cloudsql connector in Cloud Run
    "secretmanager.googleapis.com",      # GEMINI_API_KEY and DATABASE_URL
    "cloudbuild.googleapis.com",         # `gcloud builds submit` builds the image
    "iam.googleapis.com",                # service accounts
    "logging.googleapis.com",            # Cloud Run writes stdout/stderr here
    "monitoring.googleapis.com",         # Cloud Run and Cloud SQL metrics
    "aiplatform.googleapis.com",         # Gemini on Vertex AI (gemini_backend = "vertex")
    "generativelanguage.googleapis.com", # Gemini Developer API, if the key is created in this project
    "billingbudgets.googleapis.com",     # google_billing_budget (only used when billing_account_id is set)
    "storage.googleapis.com",            # the Cloud Build staging bucket
  ])
}

resource "google_project_service" "enabled" {
  for_each = local.project_services

  project = var.project_id
  service = each.value

  # Destroying this configuration must not switch APIs off for everything else in the project
  # (the provider's default changed to false in 7.0; stated here so it never depends on that).
  disable_on_destroy         = false
  disable_dependent_services = false
}

# Enabling returns before every Google front end accepts calls for the API ("API has not been
# used in project ... or it is disabled" on the first apply). One pause here is cheaper than
# retrying a half-applied first run.
resource "time_sleep" "services_ready" {
  create_duration = "60s"

  depends_on = [google_project_service.enabled]
}
