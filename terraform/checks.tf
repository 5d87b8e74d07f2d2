# Post-apply checks: warnings in plan/apply output when an assumption of this configuration no longer
# holds, without blocking a deploy.

# Functions call private functions at the URL predicted in main.tf (Cloud Run's deterministic URL).
# If Cloud Run ever stopped serving it (e.g. a service name too long for it), tasks would fail with 404.
data "google_cloud_run_v2_service" "deployed" {
  for_each = local.function_specs
  name     = google_cloudfunctions2_function.function[each.key].name
  location = var.region

  # Read after the functions are (re)deployed, not during a plan that would create them.
  depends_on = [google_cloudfunctions2_function.function]
}

check "function_urls_are_served" {
  assert {
    condition = alltrue([
      for fn, service in data.google_cloud_run_v2_service.deployed : contains(service.urls, local.function_urls[fn])
    ])
    error_message = "A function is not served at the URL main.tf predicts (local.function_urls), which other functions and tasks call. Compare `gcloud run services describe <name> --region ${var.region} --format='value(status.urls)'` with local.function_urls."
  }
}
