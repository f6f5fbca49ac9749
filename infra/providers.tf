provider "google" {
  project = var.project_id
  region  = var.region
}

# Declared because the owner asked for both providers and so that a beta-only field can be
# adopted with `provider = google-beta` without touching versions.tf. No resource uses it
# today: everything here is GA, which keeps the whole configuration under the offline schema
# check (it skips google-beta resources).
provider "google-beta" {
  project = var.project_id
  region  = var.region
}

# Only the budget uses this alias. The Budgets API rejects calls made with user credentials
# (gcloud application-default login) unless they name a quota project, so this provider sends
# the deployment project as the billing project. Keeping it on its own alias means no other
# resource depends on the quota-project header.
provider "google" {
  alias                 = "billing"
  project               = var.project_id
  region                = var.region
  billing_project       = var.project_id
  user_project_override = true
}
