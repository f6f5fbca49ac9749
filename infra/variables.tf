# Inputs. Only project_id is required; image_tag is written by the build (DEPLOYMENT.md step 4).
# terraform.tfvars.example lists every variable with a comment.

# ---------------------------------------------------------------------------------------------
# Project and naming
# ---------------------------------------------------------------------------------------------

variable "project_id" {
  description = "Google Cloud project id to deploy into (the id, not the display name or number)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project id: 6-30 characters, lowercase letters, digits and hyphens, starting with a letter (for example \"ballsy-prod-123456\")."
  }
}

variable "region" {
  description = "Region for Cloud Run, Cloud SQL, Artifact Registry and the build bucket. us-central1 is a Tier-1 region (cheapest Cloud Run prices and free tier)."
  type        = string
  default     = "us-central1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a region such as us-central1 (not a zone such as us-central1-a)."
  }
}

variable "service_name" {
  description = "Cloud Run service name; also prefixes the migration job (<name>-migrate) and the secret ids."
  type        = string
  default     = "ballsy"

  validation {
    # Cloud Run allows 49 characters; 40 leaves room for the "-migrate" suffix of the job.
    condition     = can(regex("^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$", var.service_name))
    error_message = "service_name must be 1-40 lowercase letters, digits or hyphens, start with a letter and not end with a hyphen."
  }
}

variable "labels" {
  description = "Labels put on every resource that supports them (for cost reports and filtering)."
  type        = map(string)
  default = {
    app        = "ballsy"
    managed-by = "terraform"
  }

  validation {
    condition = alltrue([
      for k, v in var.labels : can(regex("^[a-z][a-z0-9_-]{0,62}$", k)) && can(regex("^[a-z0-9_-]{0,63}$", v))
    ])
    error_message = "Label keys must start with a lowercase letter; keys and values may contain only lowercase letters, digits, '_' and '-' (at most 63 characters)."
  }
}

variable "deletion_protection" {
  description = "Protects the Cloud SQL instance (in Terraform and in the Cloud SQL API), the Cloud Run service and the migration job from deletion. Set false and apply before `terraform destroy`."
  type        = bool
  default     = true
}

variable "invoker_iam_disabled" {
  description = "Make the service public by turning Cloud Run's invoker IAM check off instead of granting roles/run.invoker to allUsers. Set true where the organisation's domain-restricted sharing policy (constraints/iam.allowedPolicyMemberDomains) rejects allUsers (\"One or more users named in the policy do not belong to a permitted customer\"). Either way anyone can call the service."
  type        = bool
  default     = false
}

# ---------------------------------------------------------------------------------------------
# Container image
# ---------------------------------------------------------------------------------------------

variable "artifact_registry_repo" {
  description = "Artifact Registry Docker repository id."
  type        = string
  default     = "ballsy-backend"

  validation {
    condition     = can(regex("^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", var.artifact_registry_repo))
    error_message = "artifact_registry_repo must be 1-63 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "image_name" {
  description = "Image name inside the repository: REGION-docker.pkg.dev/PROJECT/REPO/IMAGE."
  type        = string
  default     = "ballsy"

  validation {
    condition     = can(regex("^[a-z0-9]+([._-][a-z0-9]+)*$", var.image_name))
    error_message = "image_name must be lowercase letters and digits, optionally separated by '.', '_' or '-'."
  }
}

variable "image_tag" {
  description = "Tag of the image to run: <UTC time>-<git commit> (or the bare commit), as pushed by `gcloud builds submit`. The build step writes it into terraform.tfvars after a successful build (DEPLOYMENT.md step 4), so it never depends on a shell variable. Unset until the first build: the first, targeted apply creates only what the build needs, and the service and the job refuse to plan without it."
  type        = string
  default     = null

  validation {
    # Only the shape DEPLOYMENT.md generates: a placeholder, "latest" (a moving tag never changes
    # the plan) or an empty $TAG from a new shell fails here, at plan time, instead of as a
    # revision that cannot pull its image after the 15 minutes of creating Cloud SQL.
    condition     = var.image_tag == null ? true : length(regexall("^([0-9]{8}t[0-9]{6}z-)?[0-9a-f]{7,40}$", var.image_tag)) > 0
    error_message = "image_tag must be the tag of a pushed build, yyyymmddthhmmssz-<git commit> as DEPLOYMENT.md step 4 writes it into terraform.tfvars, or a bare git commit hash; not a placeholder, \"latest\" or an empty value."
  }
}

variable "artifact_keep_count" {
  description = "How many of the newest image versions the repository's cleanup policy always keeps. About 30-40 MB each; the Artifact Registry free tier is 0.5 GB."
  type        = number
  default     = 5

  validation {
    condition     = var.artifact_keep_count >= 2 && var.artifact_keep_count <= 12 && floor(var.artifact_keep_count) == var.artifact_keep_count
    error_message = "artifact_keep_count must be a whole number from 2 (the running image and one to roll back to) to 12 (about the free 0.5 GB)."
  }
}

# ---------------------------------------------------------------------------------------------
# Cloud Run sizing. The owner's values; revisited with measurements in bench/RESULTS.md.
# ---------------------------------------------------------------------------------------------

variable "cpu" {
  description = "vCPUs per Cloud Run instance. Concurrency above 1 needs at least 1 vCPU."
  type        = string
  default     = "1"

  validation {
    condition     = contains(["1", "2", "4", "6", "8"], var.cpu)
    error_message = "cpu must be one of \"1\", \"2\", \"4\", \"6\" or \"8\" (fractional CPUs force concurrency 1, which one WebSocket per instance cannot afford)."
  }
}

variable "memory" {
  description = "Memory per Cloud Run instance, e.g. 512Mi or 2Gi (1 vCPU allows up to 4Gi). 512Mi: the server idles at about 15 MB, an open WebSocket costs about 8 KiB, and the worst RSS measured under load was 68 MB (bench/RESULTS.md)."
  type        = string
  default     = "512Mi"

  validation {
    condition     = can(regex("^[1-9][0-9]*(Mi|Gi)$", var.memory))
    error_message = "memory must be a whole number with the unit Mi or Gi, e.g. \"512Mi\" or \"2Gi\"."
  }
}

variable "concurrency" {
  description = "Requests one instance serves at once. Every open WebSocket counts as one request for its whole life. 1000 (Cloud Run's maximum): 1000 open sockets cost about 8 MB and 1000 people talking use about 2% of a vCPU (bench/RESULTS.md), and packing sockets into fewer instances lowers the bill."
  type        = number
  default     = 1000

  validation {
    condition     = var.concurrency >= 1 && var.concurrency <= 1000 && floor(var.concurrency) == var.concurrency
    error_message = "concurrency must be a whole number from 1 to 1000 (Cloud Run's limit)."
  }
}

variable "min_instances" {
  description = "Instances kept warm. 0 scales to zero when idle (no Cloud Run cost); each warm instance is billed all month."
  type        = number
  default     = 0

  validation {
    condition     = var.min_instances >= 0 && var.min_instances <= 10 && floor(var.min_instances) == var.min_instances
    error_message = "min_instances must be a whole number from 0 to 10."
  }
}

variable "max_instances" {
  description = "Upper bound on instances of all revisions together (during a rollout the old and the new revision share it): the main cost guard, and bounded by the database's connection limit (see db_max_connections_per_instance)."
  type        = number
  default     = 3

  validation {
    condition     = var.max_instances >= 1 && var.max_instances <= 100 && floor(var.max_instances) == var.max_instances
    error_message = "max_instances must be a whole number from 1 to 100."
  }
}

# ---------------------------------------------------------------------------------------------
# Application settings passed as environment variables
# ---------------------------------------------------------------------------------------------

variable "cors_origins" {
  description = "CORS_ORIGINS: comma-separated exact origins (scheme://host[:port], no path) of other sites allowed to call the API and open the WebSocket. Empty: only the service's own page, which is all the embedded web UI needs."
  type        = string
  default     = ""

  validation {
    condition = alltrue([
      for origin in split(",", var.cors_origins) : can(regex("^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$", trimspace(origin))) if trimspace(origin) != ""
    ])
    error_message = "cors_origins must be empty or a comma-separated list of origins like https://app.example.com or http://localhost:3000: scheme and host (and port) only, no path, no trailing slash, and not \"*\" (which the app only accepts for local development)."
  }
}

variable "log_level" {
  description = "LOG_LEVEL: error, warn, info, debug, trace, or a tracing filter such as ballsy=debug,sqlx=warn."
  type        = string
  default     = "info"

  validation {
    condition     = can(regex("^[A-Za-z0-9_:=,.-]+$", var.log_level))
    error_message = "log_level must be a level (error, warn, info, debug, trace) or a tracing filter such as ballsy=debug,sqlx=warn."
  }
}

variable "ai_daily_requests_per_user" {
  description = "AI_DAILY_REQUESTS_PER_USER: AI questions one user may ask per UTC day (built-in commands stay available beyond it)."
  type        = number
  default     = 100

  validation {
    condition     = var.ai_daily_requests_per_user >= 0 && floor(var.ai_daily_requests_per_user) == var.ai_daily_requests_per_user
    error_message = "ai_daily_requests_per_user must be a whole number, 0 or more."
  }
}

variable "gemini_grounding" {
  description = "GEMINI_GROUNDING: on grounds questions about current events in Google Search (5,000 free queries a month, then billed per query); off never searches."
  type        = string
  default     = "off"

  validation {
    condition     = contains(["on", "off"], var.gemini_grounding)
    error_message = "gemini_grounding must be \"on\" or \"off\"."
  }
}

variable "ai_daily_grounded_total" {
  description = "AI_DAILY_GROUNDED_TOTAL: Google Search queries grounded answers may run per UTC day for the whole service. 150 a day stays within the 5,000 free a month."
  type        = number
  default     = 150

  validation {
    condition     = var.ai_daily_grounded_total >= 0 && floor(var.ai_daily_grounded_total) == var.ai_daily_grounded_total
    error_message = "ai_daily_grounded_total must be a whole number, 0 or more."
  }
}

variable "ai_daily_requests_total" {
  description = "AI_DAILY_REQUESTS_TOTAL: AI questions per UTC day for the whole service. 450 stays under the Developer API free tier's 500 requests per day per model."
  type        = number
  default     = 450

  validation {
    condition     = var.ai_daily_requests_total >= 0 && floor(var.ai_daily_requests_total) == var.ai_daily_requests_total
    error_message = "ai_daily_requests_total must be a whole number, 0 or more."
  }
}

# ---------------------------------------------------------------------------------------------
# Gemini
# ---------------------------------------------------------------------------------------------

variable "gemini_backend" {
  description = "GEMINI_BACKEND: \"developer-api\" (API key from the GEMINI_API_KEY secret; has a free tier, which trial credits cannot pay beyond) or \"vertex\" (Vertex AI with the service account, no key; billed to the project, so trial credits pay)."
  type        = string
  default     = "developer-api"

  validation {
    condition     = contains(["developer-api", "vertex"], var.gemini_backend)
    error_message = "gemini_backend must be \"developer-api\" or \"vertex\"."
  }
}

variable "gemini_model" {
  description = "GEMINI_MODEL: model for open questions."
  type        = string
  default     = "gemini-3.5-flash-lite"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,100}$", var.gemini_model))
    error_message = "gemini_model must be a model id such as gemini-3.5-flash-lite (letters, digits, '.', '_', '-')."
  }
}

variable "gemini_fallback_model" {
  description = "GEMINI_FALLBACK_MODEL: model used when the primary is retired (404) or out of quota (429); its free-tier quota is a separate bucket. Empty disables the fallback."
  type        = string
  default     = "gemini-3.1-flash-lite"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{0,100}$", var.gemini_fallback_model))
    error_message = "gemini_fallback_model must be empty or a model id such as gemini-3.1-flash-lite."
  }
}

variable "gemini_api_key_ready" {
  description = "Set true once the GEMINI_API_KEY secret has a version (`gcloud secrets versions add`). Cloud Run refuses a revision that references a secret with no version, so the key is only mounted when this is true (and gemini_backend is developer-api); until then the app runs its labelled offline assistant."
  type        = bool
  default     = false
}

variable "gemini_api_key_version" {
  description = "Which version of the GEMINI_API_KEY secret to mount: \"latest\", or a version number. Instances read the secret when they start; setting the new number after a key rotation makes `terraform apply` roll every instance onto it at once."
  type        = string
  default     = "latest"

  validation {
    condition     = can(regex("^(latest|[1-9][0-9]*)$", var.gemini_api_key_version))
    error_message = "gemini_api_key_version must be \"latest\" or a version number such as \"2\"."
  }
}

variable "vertex_location" {
  description = "VERTEX_LOCATION: the Vertex AI location Gemini is called in when gemini_backend = vertex. \"global\" (https://aiplatform.googleapis.com) is where new Gemini models are served first and has the highest availability; a region such as us-central1 keeps requests in that region but may lack newer models. Independent of region, which places Cloud Run and Cloud SQL."
  type        = string
  default     = "global"

  validation {
    # The app puts the location into a host name (LOCATION-aiplatform.googleapis.com) and accepts
    # the same set.
    condition     = length(regexall("^(global|[a-z][a-z0-9-]*[0-9])$", var.vertex_location)) > 0
    error_message = "vertex_location must be \"global\" or a region such as us-central1 (not a zone, not a multi-region such as \"us\")."
  }
}

# ---------------------------------------------------------------------------------------------
# Cloud SQL
# ---------------------------------------------------------------------------------------------

variable "db_instance_name" {
  description = "Cloud SQL instance name. A deleted instance's name cannot be reused for about a week, so change this when re-creating soon after a teardown."
  type        = string
  default     = "ballsy-db"

  validation {
    condition     = can(regex("^[a-z]([-a-z0-9]{0,78}[a-z0-9])?$", var.db_instance_name))
    error_message = "db_instance_name must be lowercase letters, digits and hyphens, start with a letter and not end with a hyphen."
  }
}

variable "database_version" {
  description = "Cloud SQL PostgreSQL major version (15 or later)."
  type        = string
  default     = "POSTGRES_17"

  validation {
    condition     = contains(["POSTGRES_15", "POSTGRES_16", "POSTGRES_17", "POSTGRES_18"], var.database_version)
    error_message = "database_version must be POSTGRES_15, POSTGRES_16, POSTGRES_17 or POSTGRES_18."
  }
}

variable "db_tier" {
  description = "Cloud SQL machine tier. db-f1-micro (shared vCPU, 0.6 GB, about 25 connections, no SLA) is the cheapest; db-g1-small has 1.7 GB and about 50 connections."
  type        = string
  default     = "db-f1-micro"

  validation {
    # The instance is pinned to the ENTERPRISE edition, which offers shared-core and custom
    # tiers; db-perf-optimized-* tiers exist only on ENTERPRISE_PLUS (about $180/month).
    condition     = can(regex("^db-(f1-micro|g1-small|custom-[0-9]+-[0-9]+)$", var.db_tier))
    error_message = "db_tier must be db-f1-micro, db-g1-small or db-custom-<vCPUs>-<MiB> (the ENTERPRISE edition's tiers)."
  }
}

variable "db_disk_size_gb" {
  description = "Initial SSD size in GB. 10 (the minimum) rather than the originally requested 20: this app stores a few KB per conversation turn, storage can grow automatically but never shrink, and 10 GB saves $1.70/month (about 15% of the idle bill)."
  type        = number
  default     = 10

  validation {
    condition     = var.db_disk_size_gb >= 10 && floor(var.db_disk_size_gb) == var.db_disk_size_gb
    error_message = "db_disk_size_gb must be a whole number of GB, at least 10 (Cloud SQL's minimum)."
  }
}

variable "db_disk_autoresize_limit_gb" {
  description = "Ceiling for automatic storage growth in GB (0 means unlimited). 20 GB, the owner's original size, caps what a runaway table can cost."
  type        = number
  default     = 20

  validation {
    condition     = var.db_disk_autoresize_limit_gb >= 0 && floor(var.db_disk_autoresize_limit_gb) == var.db_disk_autoresize_limit_gb
    error_message = "db_disk_autoresize_limit_gb must be a whole number of GB (0 for unlimited)."
  }
}

variable "db_point_in_time_recovery" {
  description = "Keep write-ahead logs for point-in-time recovery (7 days) on top of the daily backups. Off by default to keep storage at its minimum; turning it on later restarts the instance."
  type        = bool
  default     = false
}

variable "db_name" {
  description = "PostgreSQL database name."
  type        = string
  default     = "ballsydb"

  validation {
    condition     = can(regex("^[a-z_][a-z0-9_]{0,62}$", var.db_name))
    error_message = "db_name must be a lowercase PostgreSQL identifier (letters, digits, '_'; at most 63 characters)."
  }
}

variable "db_user" {
  description = "PostgreSQL user the app connects as. Its password is generated by Terraform."
  type        = string
  default     = "ballsy"

  validation {
    # Also keeps the user name free of characters that would need URL encoding in DATABASE_URL.
    condition     = can(regex("^[a-z_][a-z0-9_]{0,62}$", var.db_user))
    error_message = "db_user must be a lowercase PostgreSQL identifier (letters, digits, '_'; at most 63 characters)."
  }
}

variable "db_max_connections_per_instance" {
  description = "DATABASE_MAX_CONNECTIONS: pool size of each Cloud Run instance and of the migration job. (max_instances + 1) x this must fit the tier's connection limit minus 3 reserved (db-f1-micro: 25 - 3 = 22); the plan fails otherwise."
  type        = number
  default     = 5

  validation {
    condition     = var.db_max_connections_per_instance >= 1 && var.db_max_connections_per_instance <= 100 && floor(var.db_max_connections_per_instance) == var.db_max_connections_per_instance
    error_message = "db_max_connections_per_instance must be a whole number from 1 to 100."
  }
}

# ---------------------------------------------------------------------------------------------
# Budget
# ---------------------------------------------------------------------------------------------

variable "billing_account_id" {
  description = "Billing account id (XXXXXX-XXXXXX-XXXXXX) of the project, for the monthly budget with e-mail alerts; DEPLOYMENT.md step 2 reads it with `gcloud billing projects describe`. Empty: no budget (plan and apply warn). Needs Billing Account Administrator or Costs Manager on that account."
  type        = string
  default     = ""

  validation {
    condition     = var.billing_account_id == "" || can(regex("^[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}$", var.billing_account_id))
    error_message = "billing_account_id must be empty or a billing account id such as 012345-6789AB-CDEF01 (uppercase hex)."
  }
}

variable "budget_amount" {
  description = "Monthly budget in the billing account's currency. Spend is cost after always-free allowances, before promotional credits such as the free trial. Alerts at 50%, 90% and 100% of actual spend and at 100% of forecast spend; a budget never stops spending."
  type        = number
  default     = 25

  validation {
    condition     = var.budget_amount >= 1 && floor(var.budget_amount) == var.budget_amount
    error_message = "budget_amount must be a whole amount of at least 1."
  }
}
