# Pub/Sub: domain events (LeadCreated, LeadQualified... from issue 7) fan out to CRM sync. Cloud Tasks
# carries turns (delays, names, OIDC to one target); Pub/Sub carries facts several consumers may want.
#
# A topic is one entry. `dead_letter` names the topic that receives what exhausts its delivery
# attempts; every dead-letter topic gets a pull subscription that holds the dead letters for an
# operator (docs/DEPLOY.md, "Dead letters") and an alert on its backlog (monitoring.tf).
locals {
  topics = {
    "domain-events" = {
      description = "Versioned domain events, ordering key = contact; consumed by crm_sync (issue 7)."
      dead_letter = "domain-events-dead-letter"
    }
    "domain-events-dead-letter" = {
      description = "Events no consumer could process after the maximum delivery attempts."
      dead_letter = null
    }
  }

  dead_letter_topics = toset([for name, t in local.topics : t.dead_letter if t.dead_letter != null])

  # Pub/Sub's own service agent forwards dead letters; it must publish to the dead-letter topic and,
  # per source subscription, be a subscriber there (granted with that subscription, see below).
  pubsub_service_agent = "serviceAccount:service-${local.project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

resource "google_pubsub_topic" "topic" {
  for_each = local.topics
  name     = each.key

  # Kept after acknowledgement too, so a CRM can be re-synced by seeking a subscription back in time.
  message_retention_duration = var.event_retention

  # Leads' data stays in the chosen region (LGPD for Brazilian businesses).
  message_storage_policy {
    allowed_persistence_regions = [var.region]
  }

  depends_on = [google_project_service.api]
}

resource "google_pubsub_subscription" "dead_letter_hold" {
  for_each = local.dead_letter_topics
  name     = "${each.key}-hold"
  topic    = google_pubsub_topic.topic[each.key].id

  # Nobody consumes this automatically: an operator inspects, fixes and replays (docs/DEPLOY.md).
  ack_deadline_seconds       = 60
  message_retention_duration = var.event_retention
  retain_acked_messages      = true

  # Never expire for inactivity: being idle is what a healthy dead-letter subscription looks like.
  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  for_each = local.dead_letter_topics
  topic    = google_pubsub_topic.topic[each.key].name
  role     = "roles/pubsub.publisher"
  member   = local.pubsub_service_agent
}

# CRM sync (issue 7) consumes "domain-events". Event order per contact matters (LeadCreated before
# LeadQualified), and the subscriptions Eventarc creates for a function's Pub/Sub trigger cannot enable
# message ordering nor carry a dead-letter policy that Terraform owns. The subscription it needs is
# therefore declared here, pushing with OIDC to the private crm_sync function (add a `pubsub` kind to
# local.invoker_kinds in serviceaccounts.tf and its run.invoker grant in iam.tf):
#
# resource "google_pubsub_subscription" "crm_sync" {
#   name                    = "crm-sync"
#   topic                   = google_pubsub_topic.topic["domain-events"].id
#   enable_message_ordering = true
#   ack_deadline_seconds    = 60
#   push_config {
#     push_endpoint = local.function_urls["crm_sync"]
#     oidc_token { service_account_email = google_service_account.invoker["pubsub"].email }
#   }
#   retry_policy {
#     minimum_backoff = "10s"
#     maximum_backoff = "600s"
#   }
#   dead_letter_policy {
#     dead_letter_topic     = google_pubsub_topic.topic["domain-events-dead-letter"].id
#     max_delivery_attempts = 10
#   }
# }
# resource "google_pubsub_subscription_iam_member" "crm_sync_dead_letter" {
#   subscription = google_pubsub_subscription.crm_sync.name
#   role         = "roles/pubsub.subscriber"
#   member       = local.pubsub_service_agent
# }
# (or, if crm_sync keeps a CloudEvent signature and an Eventarc trigger, set its trigger in
# function_specs and attach the dead-letter policy to the trigger's subscription.)
