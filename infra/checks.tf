# Warnings shown by plan and apply that do not stop them (`check` blocks, Terraform >= 1.5).
# Settings that would break the deployment are `validation` blocks and preconditions instead.

check "ai_budget_within_free_tier" {
  assert {
    condition     = var.gemini_backend != "developer-api" || var.ai_daily_requests_total <= 500
    error_message = "ai_daily_requests_total = ${var.ai_daily_requests_total} exceeds the Gemini Developer API free tier (500 requests per day per model): beyond it requests fail with 429 (then the fallback model's own quota is used) unless the key's project has paid billing, which trial credits do not cover."
  }
}

check "budget_configured" {
  assert {
    condition     = var.billing_account_id != ""
    error_message = "billing_account_id is empty, so no budget alerts when the bill grows. Set it to the project's billing account (DEPLOYMENT.md step 2: gcloud billing projects describe)."
  }
}

check "gemini_key_mounted" {
  assert {
    condition     = var.gemini_backend != "developer-api" || var.gemini_api_key_ready
    error_message = "GEMINI_API_KEY is not mounted (gemini_api_key_ready = false): the service answers with its offline assistant. Add the key with `gcloud secrets versions add`, then apply with gemini_api_key_ready = true (DEPLOYMENT.md step 3)."
  }
}
