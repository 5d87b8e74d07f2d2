# Cloud Scheduler: periodic calls to private functions with an OIDC token of the "scheduler" invoker
# account (created, and granted run.invoker on the target, as soon as this map has an entry).
#
# A job is one entry: `target` is the entry point it calls (an HTTP function), `path` is appended to its
# URL, `body` is POSTed as JSON. attempt_deadline is at least the target's timeout (precondition below):
# a shorter one records a failure (and retries, if retry_count allows) while the run goes on.
locals {
  scheduler_jobs = {
    # Publishes the domain events the outbox still holds (Pub/Sub failed or was slow at emit time),
    # oldest first. A run is idempotent and bounded (events.drain_max_events, drain_time_budget_seconds):
    # the next run is the retry.
    "outbox-drain" = {
      target           = "outbox_drain"
      schedule         = var.events.drain_schedule
      time_zone        = "America/Sao_Paulo"
      path             = "/"
      body             = {}
      attempt_deadline = "300s" # outbox_drain's timeout
      retry_count      = 0      # the next run is the retry
    }

    # Follow-ups whose task was lost (a failed enqueue after a reply, a task past its retries) are
    # re-scheduled, and cadences with nothing left to send are closed. Idempotent and bounded
    # (followups.sweep_page_size x sweep_max_pages): the next run is the retry.
    "followup-sweep" = {
      target           = "followup_sweep"
      schedule         = var.followups.sweep_schedule
      time_zone        = "America/Sao_Paulo"
      path             = "/"
      body             = {}
      attempt_deadline = "300s" # followup_sweep's timeout
      retry_count      = 0      # the next run is the retry
    }

    # The owner's numbers (issue 17): recomputing is idempotent, so the next run is the retry.
    "metrics-rollup" = {
      target           = "metrics_rollup"
      schedule         = var.business_metrics.rollup_schedule
      time_zone        = "America/Sao_Paulo"
      path             = "/"
      body             = {}
      attempt_deadline = "300s" # metrics_rollup's timeout
      retry_count      = 0
    }
    # Each week's digest is claimed before it is sent, so retries never send it twice.
    "weekly-digest" = {
      target           = "weekly_digest"
      schedule         = var.business_metrics.digest_schedule
      time_zone        = "America/Sao_Paulo"
      path             = "/"
      body             = {}
      attempt_deadline = "540s" # weekly_digest's timeout
      retry_count      = 3      # it answers 503 when a tenant's send failed for a reason worth retrying
    }
    "conversation-audit" = {
      target           = "conversation_audit"
      schedule         = var.business_metrics.audit_schedule
      time_zone        = "America/Sao_Paulo"
      path             = "/"
      body             = {}
      attempt_deadline = "900s" # conversation_audit's timeout
      retry_count      = 0      # audits are never urgent: the next run continues
    }
  }
}

resource "google_cloud_scheduler_job" "job" {
  for_each         = local.scheduler_jobs
  name             = each.key
  region           = var.region
  schedule         = each.value.schedule
  time_zone        = each.value.time_zone
  attempt_deadline = each.value.attempt_deadline

  retry_config {
    retry_count = each.value.retry_count
  }

  http_target {
    http_method = "POST"
    uri         = "${local.function_urls[each.value.target]}${each.value.path}"
    body        = base64encode(jsonencode(each.value.body))
    headers = {
      "Content-Type" = "application/json"
    }
    oidc_token {
      service_account_email = google_service_account.invoker["scheduler"].email
      audience              = local.function_urls[each.value.target]
    }
  }

  lifecycle {
    # Cloud Scheduler takes 15 s to 30 min for an HTTP target.
    precondition {
      condition     = tonumber(trimsuffix(each.value.attempt_deadline, "s")) >= local.function_sizing[each.value.target].timeout_seconds && tonumber(trimsuffix(each.value.attempt_deadline, "s")) <= 1800
      error_message = "A scheduler job's attempt_deadline must be at least its target's timeout_seconds (and at most 1800s), or a run still going is recorded as failed."
    }
  }

  depends_on = [google_project_service.api]
}
