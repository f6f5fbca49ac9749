# Ballsy on Google Cloud: one Rust binary on Cloud Run, Cloud SQL for PostgreSQL reached through
# the Cloud Run /cloudsql volume, secrets in Secret Manager, images in Artifact Registry built by
# Cloud Build. Files by concern:
#
#   project_services.tf  APIs, and the pause after enabling them
#   artifact_registry.tf Docker repository with cleanup policies
#   cloud_build.tf       what `gcloud builds submit` needs: a staging bucket and a build account
#   cloud_sql.tf         PostgreSQL instance, database, user and password
#   secrets.tf           GEMINI_API_KEY (value added by a person) and DATABASE_URL (built here)
#   iam.tf               the runtime service account and its grants
#   cloud_run.tf         the service, its public invoker grant, and the migration job
#   budget.tf            optional monthly budget
#   checks.tf            warnings that do not stop an apply
#
# DEPLOYMENT.md gives the commands, in order, from a fresh clone.

locals {
  # REGION-docker.pkg.dev/PROJECT/REPO, and the image without and with its tag (null before the
  # first build; the service and the job refuse to plan then).
  artifact_registry_url = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.main.repository_id}"
  image_url             = "${local.artifact_registry_url}/${var.image_name}"
  image                 = var.image_tag == null ? null : "${local.image_url}:${var.image_tag}"

  # The key is mounted only when the app uses it and a version exists (see gemini_api_key_ready).
  mount_gemini_api_key = var.gemini_backend == "developer-api" && var.gemini_api_key_ready

  # Connection budget of the Cloud SQL tier: PostgreSQL's max_connections as Cloud SQL sets it
  # from the tier's memory, minus the 3 superuser_reserved_connections. Unknown tiers (custom)
  # get 100, the value for 3.75-6 GB. max_instances counts every instance of every revision
  # (the service-level cap in cloud_run.tf), so the budget holds during rollouts too.
  db_connection_limit  = lookup({ "db-f1-micro" = 25, "db-g1-small" = 50 }, var.db_tier, 100) - 3
  db_connections_asked = (var.max_instances + 1) * var.db_max_connections_per_instance

  # Plain environment of the service and the migration job (the same, so that `ballsy migrate`
  # parses exactly the configuration `ballsy serve` runs with). Secrets are added in
  # cloud_run.tf. Deliberately absent:
  #   PORT                  Cloud Run reserves and injects it (8080, the container port in
  #                         cloud_run.tf); setting it makes the API reject the revision.
  #                         The app reads it.
  #   K_SERVICE, K_REVISION set by Cloud Run.
  #   WS_IDLE_TIMEOUT, MAX_UPLOAD_BYTES, MAX_WS_MESSAGE_BYTES and the other tuning variables:
  #                         the app's defaults are the intended production values.
  app_env = {
    CORS_ORIGINS          = var.cors_origins
    TRUST_PROXY           = "true" # the client IP is the X-Forwarded-For entry Cloud Run's front end appends
    LOG_FORMAT            = "json" # one Cloud Logging entry per line on stdout
    LOG_LEVEL             = var.log_level
    GOOGLE_CLOUD_PROJECT  = var.project_id # Vertex AI endpoint, and the trace field of log lines
    GOOGLE_CLOUD_REGION   = var.region     # where the service runs; not where Vertex AI is called
    VERTEX_LOCATION       = var.vertex_location
    GEMINI_BACKEND        = var.gemini_backend
    GEMINI_MODEL          = var.gemini_model
    GEMINI_FALLBACK_MODEL = var.gemini_fallback_model
    # Per-user limits are shared by all instances through the database instead of per process.
    RATE_LIMIT_STORE           = "postgres"
    AI_DAILY_REQUESTS_PER_USER = tostring(var.ai_daily_requests_per_user)
    AI_DAILY_REQUESTS_TOTAL    = tostring(var.ai_daily_requests_total)
    GEMINI_GROUNDING           = var.gemini_grounding
    AI_DAILY_GROUNDED_TOTAL    = tostring(var.ai_daily_grounded_total)
    DATABASE_MAX_CONNECTIONS   = tostring(var.db_max_connections_per_instance)
    # Migrating at start is safe with several instances (PostgreSQL advisory lock); the job in
    # cloud_run.tf does the same on demand.
    MIGRATE_ON_START = "true"
  }
}
