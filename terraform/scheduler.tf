# Cloud Scheduler: periodic calls to private functions with an OIDC token of the "scheduler" invoker
# account (created, and granted run.invoker on the target, as soon as this map has an entry).
#
# A job is one entry: `target` is the entry point it calls. None exists yet; the first arrives with
# issue 6, when main.py exports followup_sweep:
#
#   "followup-sweep" = {
#     target           = "followup_sweep"
#     schedule         = "*/5 * * * *"        # due follow-ups whose task was lost are found within 5 min
#     time_zone        = "America/Sao_Paulo"
#     path             = "/"
#     body             = {}
#     attempt_deadline = "300s"
#     retry_count      = 0                     # the next run is the retry: the sweep is idempotent
#   }
locals {
  scheduler_jobs = {}
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

  depends_on = [google_project_service.api]
}
