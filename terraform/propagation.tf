# Waits for what Google creates or grants asynchronously, so that a fresh project converges in one
# `terraform apply`. Each wait names the provider issue it works around; the first apply takes longer
# because of them (docs/DEPLOY.md, "Apply"), later applies wait only when what they wait for changes.

# Service agents Google creates on demand. A grant to one that does not exist yet fails ("Service account
# ... does not exist"); google_project_service_identity creates it and returns its e-mail.
# Beta-only in provider 6.x, hence the google-beta provider (providers.tf) for this resource alone.
locals {
  service_agents = {
    # Forwards dead letters (publisher on the dead-letter topic, subscriber on the source
    # subscription) and mints push subscriptions' OIDC tokens (pubsub.tf).
    pubsub = "pubsub.googleapis.com"
    # Creates the Pub/Sub transport of every Eventarc trigger (functions.tf event_trigger, eventarc.tf).
    eventarc = "eventarc.googleapis.com"
  }
}

resource "google_project_service_identity" "agent" {
  provider   = google-beta
  for_each   = local.service_agents
  project    = var.project_id
  service    = each.value
  depends_on = [google_project_service.api]
}

# Google grants the Eventarc service agent its role when the API is enabled, but asynchronously: a
# trigger created right after fails with "Permission denied while using the Eventarc Service Agent ...
# it may take a few minutes" (hashicorp/terraform-provider-google#14584, #25294). Granting the role
# ourselves makes the apply wait on a grant it knows about (a no-op where Google already granted it).
resource "google_project_iam_member" "eventarc_service_agent" {
  #checkov:skip=CKV_GCP_49:Google's own Eventarc service agent given its documented role (roles/eventarc.serviceAgent), not a user impersonating accounts.
  project = var.project_id
  role    = "roles/eventarc.serviceAgent"
  member  = "serviceAccount:${google_project_service_identity.agent["eventarc"].email}"
}

# IAM changes take effect "typically within 2 minutes" and sometimes 7 or more
# (https://cloud.google.com/iam/docs/access-change-propagation). The function deploy checks that the
# runtime account can read its secrets and the build account can push its image, and Eventarc checks its
# agent and Cloud Storage's publisher role when a trigger is created: each of those, right after its
# grant, fails the first apply (#25294). Re-created (another wait) whenever a grant in `triggers` is
# added, so a new function's grants are waited for too; an apply that adds no grant does not wait.
resource "time_sleep" "iam_propagation" {
  create_duration = "120s"

  triggers = {
    grants = sha256(jsonencode(concat(
      [for k, m in google_secret_manager_secret_iam_member.accessor : m.id],
      [for k, m in google_project_iam_member.builder : m.id],
      [google_project_iam_member.builder_source_reader.id],
      [google_artifact_registry_repository_iam_member.builder.id, google_project_iam_member.eventarc_service_agent.id],
      [for k, m in google_project_iam_member.storage_service_agent_publisher : m.id],
      [for k, m in google_project_iam_member.eventarc_receiver : m.id],
    )))
  }
}

# A log-based metric becomes usable in an alert policy only after a while: creating the policy in the
# same apply fails with 404 "Cannot find metric(s) ... it could take up to 10 minutes to become
# available" (hashicorp/terraform-provider-google#11102). Alert policies on log-based metrics wait
# here; the wait overlaps the function builds of a first apply, and repeats only for a new metric.
resource "time_sleep" "log_metrics" {
  create_duration = "600s"

  triggers = {
    metrics = join(",", sort([for m in google_logging_metric.metric : m.name]))
  }
}
