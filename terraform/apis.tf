# Every API the system uses, enabled by the same apply. Never disabled on destroy: other things in
# the project may use them, and disabling an API deletes resources outside Terraform's view.
locals {
  apis = [
    "aiplatform.googleapis.com",           # Gemini on Vertex AI (agent_turn)
    "artifactregistry.googleapis.com",     # function images
    "cloudbuild.googleapis.com",           # function builds
    "cloudfunctions.googleapis.com",       # the functions
    "cloudresourcemanager.googleapis.com", # project lookups (project number) and IAM
    "cloudscheduler.googleapis.com",       # periodic jobs (scheduler.tf)
    "cloudtasks.googleapis.com",           # agent-turn queue
    "eventarc.googleapis.com",             # event triggers (storage, Pub/Sub)
    "firestore.googleapis.com",            # the database
    "iam.googleapis.com",                  # service accounts
    "iamcredentials.googleapis.com",       # OIDC tokens for tasks and jobs
    "logging.googleapis.com",              # logs and log-based metrics
    "monitoring.googleapis.com",           # dashboard and alerts
    "pubsub.googleapis.com",               # domain events
    "run.googleapis.com",                  # gen2 functions run on Cloud Run
    "secretmanager.googleapis.com",        # provider secrets
    "storage.googleapis.com",              # buckets
    "texttospeech.googleapis.com",         # voice replies (voice.tf)
  ]
}

resource "google_project_service" "api" {
  for_each           = toset(local.apis)
  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}
