# Two secrets, read by Cloud Run as environment variables when an instance starts.

# GEMINI_API_KEY: Terraform creates the secret, a person adds the value with
#   gcloud secrets versions add <name> --data-file=-
# so the key never enters Terraform state or the shell history. Cloud Run mounts it only once
# gemini_api_key_ready is true (a revision that references a secret with no version fails).
resource "google_secret_manager_secret" "gemini_api_key" {
  project   = var.project_id
  secret_id = "${var.service_name}-gemini-api-key"
  labels    = var.labels

  replication {
    auto {}
  }

  depends_on = [time_sleep.services_ready]
}

# DATABASE_URL in the form the owner specified for Cloud Run, which the app parses:
#   postgresql+psycopg2://USER:URLENCODED_PASSWORD@/DBNAME?host=/cloudsql/PROJECT:REGION:INSTANCE
# The "+psycopg2" driver suffix is accepted and ignored by the app; the empty host before the
# path and the host= parameter name the unix-socket directory that the Cloud Run Cloud SQL
# volume provides (the driver appends /.s.PGSQL.5432). urlencode() is required: the password
# contains URL-reserved characters on purpose (cloud_sql.tf).
locals {
  database_url = "postgresql+psycopg2://${google_sql_user.app.name}:${urlencode(random_password.db.result)}@/${google_sql_database.main.name}?host=/cloudsql/${google_sql_database_instance.main.connection_name}"
}

resource "google_secret_manager_secret" "database_url" {
  project   = var.project_id
  secret_id = "${var.service_name}-database-url"
  labels    = var.labels

  replication {
    auto {}
  }

  depends_on = [time_sleep.services_ready]
}

# The value is also in Terraform state (as is the password itself): keep the state private.
resource "google_secret_manager_secret_version" "database_url" {
  secret      = google_secret_manager_secret.database_url.id
  secret_data = local.database_url

  # A replaced version (a password rotation) is destroyed, not disabled: Secret Manager bills
  # disabled versions as active, and a disabled one still holds the old password. DELETE is the
  # provider's default, stated so that it cannot silently change. Neither secret sets
  # version_destroy_ttl, which would keep destroyed versions disabled (and billed) for the delay.
  deletion_policy = "DELETE"

  lifecycle {
    # A new value replaces the version. Creating the new one before destroying the old one
    # means "latest" always resolves, so an instance starting mid-apply still gets a URL.
    create_before_destroy = true
  }
}
