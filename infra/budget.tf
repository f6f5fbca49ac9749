# Monthly budget with e-mail alerts. DEPLOYMENT.md step 2 always sets billing_account_id (from
# `gcloud billing projects describe`); leaving it empty skips the budget with a warning
# (checks.tf). Alerts go to the billing account's administrators and users (the default
# recipients). A budget never stops spending; max_instances and the AI daily limits are what
# bound the bill.

data "google_project" "main" {
  count = var.billing_account_id == "" ? 0 : 1

  project_id = var.project_id
}

resource "google_billing_budget" "main" {
  count    = var.billing_account_id == "" ? 0 : 1
  provider = google.billing

  billing_account = var.billing_account_id
  display_name    = "${var.service_name} (${var.project_id}) monthly"

  budget_filter {
    # The Budgets API identifies projects by number.
    projects        = ["projects/${data.google_project.main[0].number}"]
    calendar_period = "MONTH"
    # Spend is the cost that is paid with money or with promotional credit: only FREE_TIER
    # credits (the always-free allowances, e.g. Cloud Run's monthly vCPU-seconds and Cloud
    # Build's minutes) are subtracted. The default, INCLUDE_ALL_CREDITS, also subtracts the $300
    # trial credit (PROMOTION), so the budget would read about $0 and never alert while the
    # credit is used up; EXCLUDE_ALL_CREDITS subtracts nothing and counts free-tier usage, which
    # is never billed, as spend.
    credit_types_treatment = "INCLUDE_SPECIFIED_CREDITS"
    credit_types           = ["FREE_TIER"]
  }

  # No currency_code: the amount is in the billing account's own currency (a mismatch is an
  # API error).
  amount {
    specified_amount {
      units = tostring(var.budget_amount)
    }
  }

  threshold_rules {
    threshold_percent = 0.5
  }
  threshold_rules {
    threshold_percent = 0.9
  }
  threshold_rules {
    threshold_percent = 1.0
  }
  threshold_rules {
    threshold_percent = 1.0
    spend_basis       = "FORECASTED_SPEND"
  }

  depends_on = [time_sleep.services_ready]
}
