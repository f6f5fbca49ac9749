# Cloud SQL for PostgreSQL: the only fixed monthly cost of the deployment (no free tier).

resource "google_sql_database_instance" "main" {
  project          = var.project_id
  name             = var.db_instance_name
  region           = var.region
  database_version = var.database_version

  # Terraform-side guard: a destroy or a replacing change fails until false has been applied.
  deletion_protection = var.deletion_protection

  settings {
    # Always explicit: for PostgreSQL 16+ the API defaults to ENTERPRISE_PLUS, which rejects
    # db-f1-micro ("Invalid Tier") and whose smallest tier costs about $180/month.
    edition           = "ENTERPRISE"
    tier              = var.db_tier
    availability_type = "ZONAL" # REGIONAL (HA) would double the price
    user_labels       = var.labels

    disk_type             = "PD_SSD"
    disk_size             = var.db_disk_size_gb
    disk_autoresize       = true
    disk_autoresize_limit = var.db_disk_autoresize_limit_gb

    # API-side guard: also blocks deletion from the console and gcloud.
    deletion_protection_enabled = var.deletion_protection

    ip_configuration {
      # A public IP with no authorized networks accepts only Cloud SQL connector traffic (IAM-
      # checked, mutual TLS): the Cloud Run /cloudsql volume and cloud-sql-proxy on a laptop.
      # Private IP would need a VPC, Private Service Access and Direct VPC egress for nothing
      # more here.
      ipv4_enabled = true
      # Connectors always use TLS, so refusing unencrypted connections costs nothing.
      # TRUSTED_CLIENT_CERTIFICATE_REQUIRED is not used: that the Cloud Run volume keeps working
      # with it is not documented (see .checkov.yaml).
      ssl_mode = "ENCRYPTED_ONLY"
      # Google's "connect from Cloud Run" page requires the per-instance CA.
      server_ca_mode = "GOOGLE_MANAGED_INTERNAL_CA"
    }

    backup_configuration {
      enabled                        = true
      start_time                     = "09:00" # UTC; 03:00 in us-central1 winter time
      point_in_time_recovery_enabled = var.db_point_in_time_recovery
      transaction_log_retention_days = var.db_point_in_time_recovery ? 7 : null # 7: the ENTERPRISE maximum

      backup_retention_settings {
        retained_backups = 7
        retention_unit   = "COUNT"
      }
    }

    maintenance_window {
      day          = 7  # Sunday
      hour         = 10 # UTC; 04:00 in us-central1 winter time
      update_track = "stable"
    }

    # Free on the ENTERPRISE edition; shows slow queries in the console.
    insights_config {
      query_insights_enabled  = true
      record_application_tags = false
      record_client_address   = false
    }

    # Cheap server logging (errors, lock waits, connections, DDL such as migrations) that makes
    # incidents explainable. Written as static blocks because checkov does not evaluate
    # dynamic ones.
    database_flags {
      name  = "log_checkpoints"
      value = "on"
    }
    database_flags {
      name  = "log_connections"
      value = "on"
    }
    database_flags {
      name  = "log_disconnections"
      value = "on"
    }
    database_flags {
      name  = "log_lock_waits"
      value = "on"
    }
    database_flags {
      name  = "log_min_error_statement"
      value = "error"
    }
    database_flags {
      name  = "log_min_messages"
      value = "warning"
    }
    database_flags {
      name  = "log_temp_files"
      value = "0"
    }
    database_flags {
      name  = "log_min_duration_statement"
      value = "-1"
    }
    database_flags {
      name  = "log_statement"
      value = "ddl"
    }
  }

  lifecycle {
    # Autoresize grows the disk outside Terraform; without this every later plan would try to
    # shrink it back, which Cloud SQL refuses.
    ignore_changes = [settings[0].disk_size]
  }

  depends_on = [time_sleep.services_ready]
}

resource "google_sql_database" "main" {
  project  = var.project_id
  instance = google_sql_database_instance.main.name
  name     = var.db_name

  # Leave the database to the instance's own deletion: dropping it fails while the app is
  # connected, and a teardown deletes the instance anyway.
  deletion_policy = "ABANDON"
}

# 32 characters with URL-reserved characters on purpose: DATABASE_URL must URL-encode the
# password (secrets.tf), and a password that always contains some of @ : / ? # % & + proves on
# every deploy that Terraform's urlencode() and the app's decoding agree.
resource "random_password" "db" {
  length           = 32
  special          = true
  override_special = "@:/?#%&+=!*()[]{}<>-_"
  min_special      = 4
  min_upper        = 2
  min_lower        = 2
  min_numeric      = 2
}

resource "google_sql_user" "app" {
  project  = var.project_id
  instance = google_sql_database_instance.main.name
  name     = var.db_user
  password = random_password.db.result

  # The user owns the app's tables, so PostgreSQL refuses to drop it ("role cannot be dropped
  # because some objects depend on it"); the instance's deletion removes it anyway.
  deletion_policy = "ABANDON"
}
