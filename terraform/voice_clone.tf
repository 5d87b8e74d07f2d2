# Cloned voices (issue 18): voice_admin creates an agent's Chirp 3 Instant Custom Voice key from consented
# recordings and keeps it in Secret Manager, one secret per agent named voice-clone--<tenant>--<agent>
# (shared/domain/voice_clone.py, CLONE_SECRET_PREFIX); agent_turn reads it to speak in that voice.
# Instant Custom Voice is allow-listed by Google: the project must be added by Google's sales team first
# (https://cloud.google.com/text-to-speech/docs/chirp3-instant-custom-voice; docs/DEPLOY.md).
#
# IAM choice: project-level grants with an IAM condition on the secret name prefix, rather than per-secret
# grants made by voice_admin at runtime. The secrets do not exist when Terraform runs (an admin creates them
# later), and per-secret grants would need voice_admin to hold setIamPolicy on secrets, a far stronger right
# than the ones below. Secret and version names in conditions use the project number
# (https://cloud.google.com/iam/docs/conditions-resource-attributes#resource-name).

locals {
  voice_clone_secrets = "projects/${local.project_number}/secrets/voice-clone--"
}

variable "voice_admins" {
  description = "IAM members allowed to call voice_admin (clone an agent's voice with the speaker's consent, or revoke it), e.g. group:owners@example.com. Never allUsers or allAuthenticatedUsers."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for m in var.voice_admins : can(regex("^(user|group|serviceAccount|domain|principal|principalSet):.+", m))])
    error_message = "voice_admins entries are IAM members such as group:owners@example.com; allUsers and allAuthenticatedUsers are refused."
  }
}

resource "google_cloud_run_v2_service_iam_member" "voice_admin_invoker" {
  for_each = toset(var.voice_admins)
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.function["voice_admin"].name
  role     = "roles/run.invoker"
  member   = each.value
}

# voice_admin: creates voice-clone secrets, adds versions and disables them (revocation). Creating a secret is
# checked on the project (the new secret has no name to match yet), so the condition also admits the project
# itself: voice_admin can create and list secrets, but read, version and disable only voice-clone ones.
resource "google_project_iam_member" "voice_admin_secrets" {
  project = var.project_id
  role    = "roles/secretmanager.admin"
  member  = "serviceAccount:${google_service_account.function["voice_admin"].email}"

  condition {
    title       = "voice-clone-secrets-only"
    description = "Secrets named voice-clone--* (one per agent), and the project for secrets.create."
    expression = join(" || ", [
      "resource.type == \"cloudresourcemanager.googleapis.com/Project\"",
      "resource.name.startsWith(\"${local.voice_clone_secrets}\")",
    ])
  }
}

# agent_turn: reads the keys, nothing else (secretAccessor = versions.access), and only voice-clone secrets.
resource "google_project_iam_member" "agent_turn_voice_keys" {
  project = var.project_id
  role    = "roles/secretmanager.secretAccessor"
  member  = "serviceAccount:${google_service_account.function["agent_turn"].email}"

  condition {
    title       = "voice-clone-keys-only"
    description = "Read the voice-cloning keys of voice-clone--* secrets only."
    expression  = "resource.name.startsWith(\"${local.voice_clone_secrets}\")"
  }
}

# Twilio voice notes: Twilio downloads the note from a V4 signed URL of its copy under links/ in the media
# bucket (shared/adapters/media_links.py). agent_turn has no key file: it signs through the IAM Credentials
# API's signBlob as itself, which needs Token Creator on its own account
# (https://cloud.google.com/storage/docs/access-control/signing-urls-with-helpers), and the signer must be
# able to read the object, for links/ only (it already creates objects: storage.objectCreator).
resource "google_service_account_iam_member" "agent_turn_signs_media_links" {
  service_account_id = google_service_account.function["agent_turn"].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:${google_service_account.function["agent_turn"].email}"
}

resource "google_storage_bucket_iam_member" "agent_turn_reads_media_links" {
  bucket = google_storage_bucket.bucket["media"].name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.function["agent_turn"].email}"

  condition {
    title       = "media-links-only"
    description = "Voice notes published for providers that download by URL (links/), nothing else."
    expression  = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.bucket["media"].name}/objects/links/\")"
  }
}
