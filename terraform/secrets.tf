# Secret Manager: platform secrets, exposed to the functions that name them (function_specs.secrets)
# as environment variables. Terraform creates the containers only; the values are added with
# `gcloud secrets versions add` (docs/DEPLOY.md) and so never pass through variables, plan output or
# the state file. A function whose secret has no version yet fails to deploy: DEPLOY.md creates the
# secrets and their first versions before the first full apply.
#
# Tenants' send tokens are not here: they live on each channel's Firestore document so a tenant can be
# onboarded without a deploy (ARCHITECTURE.md).
locals {
  secrets = {
    "meta-app-secret" = {
      description = "Meta app secret: verifies X-Hub-Signature-256 on every Meta webhook POST (META_APP_SECRET)."
    }
    "meta-verify-token" = {
      description = "Token typed in Meta's webhook settings, checked on the GET handshake (META_VERIFY_TOKEN)."
    }
    # Gateway webhook URL keys (ARCHITECTURE.md, "Gateway webhook keys"): each Evolution, Z-API and Twilio channel's
    # URL carries HMAC-SHA256(this, "provider:channel") and is refused before any parsing without it. The senders
    # read it too (Twilio status callbacks are keyed). "-previous" holds the value before a rotation (at first the
    # same value): its keys are still accepted while the providers are re-pointed (docs/DEPLOY.md).
    "webhook-url-key" = {
      description = "Secret the gateways' per-channel webhook URL keys derive from (WEBHOOK_URL_KEY)."
    }
    "webhook-url-key-previous" = {
      description = "The webhook URL key secret before the last rotation, still accepted (WEBHOOK_URL_KEY_PREVIOUS)."
    }
  }

  # (function, env var, secret) for every secret a function reads.
  secret_accessors = merge([
    for fn, spec in local.function_specs : {
      for env, secret in spec.secrets : "${fn}/${secret}" => { function = fn, secret = secret }
    }
  ]...)
}

resource "google_secret_manager_secret" "secret" {
  for_each  = local.secrets
  secret_id = each.key

  annotations = {
    description = each.value.description
  }

  # Replicas in the functions' region only: the same residency as the data the secrets protect.
  replication {
    user_managed {
      replicas {
        location = var.region
      }
    }
  }

  depends_on = [google_project_service.api]
}

resource "google_secret_manager_secret_iam_member" "accessor" {
  for_each  = local.secret_accessors
  secret_id = google_secret_manager_secret.secret[each.value.secret].id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.function[each.value.function].email}"
}
