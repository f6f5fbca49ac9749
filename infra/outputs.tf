# Read with `terraform output` (or `terraform output -raw NAME` in scripts).

output "cloud_run_url" {
  description = "HTTPS URL of the Cloud Run service (the web page, /health, /ready, /api/*, and wss://.../ws/voice/{client_id})."
  value       = google_cloud_run_v2_service.main.uri
}

output "cloud_run_service_name" {
  description = "Cloud Run service name."
  value       = google_cloud_run_v2_service.main.name
}

output "migration_job_name" {
  description = "Cloud Run job that runs `ballsy migrate`: gcloud run jobs execute NAME --region REGION --wait."
  value       = google_cloud_run_v2_job.migrate.name
}

output "region" {
  description = "Region of every regional resource."
  value       = var.region
}

output "artifact_registry_url" {
  description = "Docker repository URL, REGION-docker.pkg.dev/PROJECT/REPO."
  value       = local.artifact_registry_url
}

output "image_url" {
  description = "Image URL without a tag, REGION-docker.pkg.dev/PROJECT/REPO/IMAGE: push to IMAGE_URL:TAG."
  value       = local.image_url
}

output "image" {
  description = "The image the service and the job run, with its tag (image_tag in terraform.tfvars; null before the first build)."
  value       = local.image
}

output "build_service_account" {
  description = "Service account for `gcloud builds submit --service-account` (full resource name)."
  value       = google_service_account.build.id
}

output "build_bucket" {
  description = "Bucket for the build's uploaded source and logs (--gcs-source-staging-dir, --gcs-log-dir)."
  value       = google_storage_bucket.build.name
}

# Named as the owner's request names it.
output "instance_connection_name" {
  description = "Cloud SQL connection name PROJECT:REGION:INSTANCE (for cloud-sql-proxy and /cloudsql/...)."
  value       = google_sql_database_instance.main.connection_name
}

output "database_name" {
  description = "PostgreSQL database name."
  value       = google_sql_database.main.name
}

output "database_user" {
  description = "PostgreSQL user the app connects as."
  value       = google_sql_user.app.name
}

output "database_password" {
  description = "Password of database_user (generated). Shown only with `terraform output -raw database_password`."
  value       = random_password.db.result
  sensitive   = true
}

output "gemini_secret_name" {
  description = "Secret Manager secret id for GEMINI_API_KEY: add the key with `gcloud secrets versions add NAME --data-file=-`."
  value       = google_secret_manager_secret.gemini_api_key.secret_id
}

output "database_url_secret_name" {
  description = "Secret Manager secret id holding DATABASE_URL (written by Terraform)."
  value       = google_secret_manager_secret.database_url.secret_id
}

output "service_account_email" {
  description = "Runtime service account of the Cloud Run service and job."
  value       = google_service_account.run.email
}
