# The Ballsy server on Cloud Run, its public access, and the migration job.
#
# Terraform is the only deployer: a new image is rolled out by changing image_tag and running
# `terraform apply` (DEPLOYMENT.md), never with `gcloud run deploy`, so state always describes
# what runs and no lifecycle.ignore_changes is needed.

resource "google_cloud_run_v2_service" "main" {
  project     = var.project_id
  name        = var.service_name
  location    = var.region
  description = "Ballsy voice assistant: web page, HTTP API and WebSocket."
  labels      = var.labels
  ingress     = "INGRESS_TRAFFIC_ALL" # a public web app

  # Public either through the allUsers invoker grant below or, where an organisation policy
  # forbids that member, by not checking invoker IAM at all (Cloud Run's "allowing public
  # access" page recommends the latter for domain-restricted sharing).
  invoker_iam_disabled = var.invoker_iam_disabled

  # Terraform-side guard (default true since provider 6.0); set false and apply before destroy.
  deletion_protection = var.deletion_protection

  # template.scaling caps each revision on its own. During a rollout the old revision keeps its
  # instances while the new one starts its own, so together they could run up to twice
  # max_instances, each with a full connection pool, past the database budget checked below.
  # The service-level cap (provider >= 7.0; what Cloud Run's docs recommend for protecting a
  # database) is shared by all revisions in the traffic split. (Cloud Run documents that a
  # sudden spike can exceed either cap for a moment.)
  scaling {
    max_instance_count = var.max_instances
  }

  template {
    service_account = google_service_account.run.email

    # The revision label changes whenever Terraform writes a new DATABASE_URL version (a
    # password rotation), so the apply also rolls out a revision whose instances read it;
    # instances read secrets only when they start.
    labels = merge(var.labels, {
      database-url-version = google_secret_manager_secret_version.database_url.version
    })

    # A WebSocket is one HTTP request, cut when the request timeout expires: 3600 s is Cloud
    # Run's maximum, and the browser client reconnects after it.
    timeout = "3600s"

    # Best-effort stickiness for a browser's requests. Conversation state lives in the database,
    # so this only saves work, it is not needed for correctness.
    session_affinity = true

    # Sizing comes from the variables: 1 vCPU, 512Mi, concurrency 1000, 0-3 instances by
    # default, set from the measurements in bench/RESULTS.md (the owner asked for 2Gi and
    # concurrency 10, which would fill the service at 30 open tabs).
    max_instance_request_concurrency = var.concurrency

    scaling {
      min_instance_count = var.min_instances
      max_instance_count = var.max_instances
    }

    # Cloud Run's Cloud SQL connector: a unix socket per instance under /cloudsql (the only
    # mount path it allows), reached over the instance's public IP with IAM and mutual TLS.
    volumes {
      name = "cloudsql"
      cloud_sql_instance {
        instances = [google_sql_database_instance.main.connection_name]
      }
    }

    containers {
      name  = "ballsy"
      image = local.image
      args  = ["serve"] # the image's default, stated for symmetry with the job's "migrate"

      # Cloud Run sends traffic to this port and injects PORT=8080, which the app reads.
      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = var.cpu
          memory = var.memory
        }
        # Request-based billing: CPU is allocated (and billed) only while a request, including an
        # open WebSocket, is in flight. The app does all its work inside requests (a reply waits
        # for its database commit), and for sporadic traffic this is far cheaper than
        # instance-based billing, which also bills idle instances until they shut down.
        cpu_idle = true
        # Extra CPU during start-up only (billed only then): TLS set-up, the database pool and
        # migrations finish sooner on a cold start.
        startup_cpu_boost = true
      }

      volume_mounts {
        name       = "cloudsql"
        mount_path = "/cloudsql"
      }

      dynamic "env" {
        for_each = local.app_env
        content {
          name  = env.key
          value = env.value
        }
      }

      env {
        name = "DATABASE_URL"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.database_url.secret_id
            version = "latest"
          }
        }
      }

      dynamic "env" {
        for_each = local.mount_gemini_api_key ? ["GEMINI_API_KEY"] : []
        content {
          name = env.value
          value_source {
            secret_key_ref {
              secret  = google_secret_manager_secret.gemini_api_key.secret_id
              version = var.gemini_api_key_version
            }
          }
        }
      }

      # /health answers as soon as the server listens and checks nothing else. /ready checks the
      # database and is never used as a probe: a database blip must not get healthy instances
      # restarted. The start-up budget (40 x 3 s) covers migrations on start.
      startup_probe {
        initial_delay_seconds = 0
        period_seconds        = 3
        timeout_seconds       = 2
        failure_threshold     = 40
        http_get {
          path = "/health"
        }
      }

      liveness_probe {
        period_seconds    = 30
        timeout_seconds   = 5
        failure_threshold = 3
        http_get {
          path = "/health"
        }
      }
    }
  }

  traffic {
    type    = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
    percent = 100
  }

  lifecycle {
    precondition {
      condition     = var.image_tag != null
      error_message = "image_tag is not set: build the image first (DEPLOYMENT.md step 4), which records the tag it pushed in terraform.tfvars."
    }

    precondition {
      condition     = var.min_instances <= var.max_instances
      error_message = "min_instances (${var.min_instances}) must not exceed max_instances (${var.max_instances})."
    }

    # Every instance and the migration job may each open a full pool. Checked at plan time so
    # that scaling up can never exhaust the database's connections at run time; the
    # service-level scaling cap makes max_instances the total over all revisions, including
    # during a rollout.
    precondition {
      condition     = local.db_connections_asked <= local.db_connection_limit
      error_message = "Too many database connections: (max_instances + 1 migration job) x db_max_connections_per_instance = ${local.db_connections_asked}, but ${var.db_tier} allows ${local.db_connection_limit} (its max_connections minus 3 reserved). Lower max_instances or db_max_connections_per_instance, or pick a larger db_tier."
    }
  }

  # Cloud Run rejects a revision whose secrets have no version or are not yet readable by the
  # runtime account, so wait for the DATABASE_URL version and for the IAM grants to propagate.
  depends_on = [
    time_sleep.run_iam_ready,
    google_secret_manager_secret_version.database_url,
  ]
}

# Public endpoint: anyone may invoke the service (the app does its own rate limiting). Uses the
# v2 IAM resource that matches the v2 service. Where domain-restricted sharing
# (constraints/iam.allowedPolicyMemberDomains) rejects allUsers, invoker_iam_disabled makes the
# service public without any IAM grant instead.
resource "google_cloud_run_v2_service_iam_member" "public" {
  count = var.invoker_iam_disabled ? 0 : 1

  project  = var.project_id
  location = google_cloud_run_v2_service.main.location
  name     = google_cloud_run_v2_service.main.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

# `ballsy migrate` with the service's image, account, configuration and database socket:
#   gcloud run jobs execute <name> --region <region> --wait
# migrates Cloud SQL without a proxy on a laptop. The service also migrates when it starts
# (MIGRATE_ON_START); the job is for migrating explicitly, e.g. before rolling out, or when
# that is turned off.
resource "google_cloud_run_v2_job" "migrate" {
  project             = var.project_id
  name                = "${var.service_name}-migrate"
  location            = var.region
  labels              = var.labels
  deletion_protection = var.deletion_protection

  template {
    labels      = var.labels
    task_count  = 1
    parallelism = 1

    template {
      service_account = google_service_account.run.email
      timeout         = "600s"
      max_retries     = 1 # migrations are transactional and idempotent; one retry covers a blip

      volumes {
        name = "cloudsql"
        cloud_sql_instance {
          instances = [google_sql_database_instance.main.connection_name]
        }
      }

      containers {
        name  = "migrate"
        image = local.image
        args  = ["migrate"]

        resources {
          limits = {
            cpu    = "1"
            memory = "512Mi"
          }
        }

        volume_mounts {
          name       = "cloudsql"
          mount_path = "/cloudsql"
        }

        dynamic "env" {
          for_each = local.app_env
          content {
            name  = env.key
            value = env.value
          }
        }

        # Only the database secret: migrating never calls Gemini.
        env {
          name = "DATABASE_URL"
          value_source {
            secret_key_ref {
              secret  = google_secret_manager_secret.database_url.secret_id
              version = "latest"
            }
          }
        }
      }
    }
  }

  lifecycle {
    precondition {
      condition     = var.image_tag != null
      error_message = "image_tag is not set: build the image first (DEPLOYMENT.md step 4), which records the tag it pushed in terraform.tfvars."
    }
  }

  depends_on = [
    time_sleep.run_iam_ready,
    google_secret_manager_secret_version.database_url,
  ]
}
