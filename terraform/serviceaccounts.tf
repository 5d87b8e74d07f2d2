# Identities. One runtime account per function, so a leaked or buggy function can do only what its own
# roles allow (iam.tf); one account per kind of caller of private functions; one for builds.

resource "google_service_account" "function" {
  for_each     = local.function_specs
  account_id   = "fn-${local.function_names[each.key]}"
  display_name = "Piloto function ${each.key}"
  description  = "Runtime identity of the ${each.key} Cloud Function; its roles are in terraform/iam.tf."
}

locals {
  # Who invokes private functions. Each kind exists only once something uses it: tasks for queues,
  # scheduler for scheduler jobs, eventarc for event triggers, pubsub for push subscriptions. The
  # invoker account signs the OIDC token the function's Cloud Run IAM checks; iam.tf grants it
  # run.invoker on its targets only.
  invoker_kinds = {
    tasks = {
      used        = length(local.queues) > 0
      description = "Signs the OIDC token of Cloud Tasks tasks (agent turns, media reading; later follow-ups)."
    }
    scheduler = {
      used        = length(local.scheduler_jobs) > 0
      description = "Signs the OIDC token of Cloud Scheduler jobs."
    }
    eventarc = {
      used        = anytrue([for spec in local.function_specs : spec.trigger != null || length(spec.extra_triggers) > 0])
      description = "Identity of the Eventarc triggers that deliver events to functions."
    }
    pubsub = {
      used        = length(local.push_subscriptions) > 0
      description = "Signs the OIDC token of Pub/Sub push subscriptions (domain events to crm_sync)."
    }
  }
  invokers = { for kind, v in local.invoker_kinds : kind => v.description if v.used }
}

resource "google_service_account" "invoker" {
  for_each     = local.invokers
  account_id   = "invoker-${each.key}"
  display_name = "Piloto ${each.key} invoker"
  description  = each.value
}

resource "google_service_account" "builder" {
  account_id   = "fn-builder"
  display_name = "Piloto function builder"
  description  = "Cloud Build identity that turns the source archive into the functions' images."
}
