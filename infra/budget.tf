# Monthly budget with e-mail alerts, only when billing_account_id is set. Alerts go to the
# billing account's administrators and users (the default recipients). A budget never stops
# spending; max_instances and the AI daily limits are what bound the bill.

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
    # Count spend before credits. The default (INCLUDE_ALL_CREDITS) nets free-trial credits
    # against the cost, so the budget would read about $0 and never alert while the $300
    # credit is being used up.
    credit_types_treatment = "EXCLUDE_ALL_CREDITS"
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
