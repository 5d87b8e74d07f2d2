# Meetings on the sellers' Google Calendars (issue 19).
#
# The businesses share their sellers' calendars with one service account, "piloto-calendar" ("Make changes
# to events"; docs/DEPLOY.md). agent_turn and chat_api act as it by impersonation: their own runtime
# accounts may mint its access tokens (Service Account Token Creator on this account only), so no key
# exists anywhere (no secret to store or rotate). Domain-wide delegation is not needed: a shared
# calendar is enough.

resource "google_project_service" "calendar" {
  project = var.project_id
  service = "calendar-json.googleapis.com"
  # Never disabled on destroy, as apis.tf: other things in the project may use it.
  disable_on_destroy = false
}

resource "google_service_account" "calendar" {
  account_id   = "piloto-calendar"
  display_name = "Piloto calendar"
  description  = "The identity businesses share their sellers' Google Calendars with; impersonated by agent_turn and chat_api to read free/busy and write meetings."
}

locals {
  # Functions whose calendar tools act as the calendar account.
  calendar_users = ["agent_turn", "chat_api"]
}

resource "google_service_account_iam_member" "calendar_impersonation" {
  for_each           = toset(local.calendar_users)
  service_account_id = google_service_account.calendar.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:${google_service_account.function[each.key].email}"
}

output "calendar_service_account" {
  description = "Share each seller's Google Calendar with this e-mail (\"Make changes to events\")."
  value       = google_service_account.calendar.email
}
