# Pub/Sub: domain events (LeadCreated, LeadQualified... from issue 7) fan out to CRM sync. Cloud Tasks
# carries turns (delays, names, OIDC to one target); Pub/Sub carries facts several consumers may want.
#
# A topic is one entry. `dead_letter` names the topic that receives what exhausts its delivery
# attempts; every dead-letter topic gets a pull subscription that holds the dead letters for an
# operator (docs/DEPLOY.md, "Dead letters") and an alert on its backlog (alerts.tf).
# Who publishes is each function's function_specs.publishes (functions.tf; publisher on that topic
# only, iam.tf); who consumes is a push subscription below.
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
  # per source subscription, be a subscriber there (granted with that subscription, see below). Taken
  # from its service identity (propagation.tf), which creates it in a project that never used it.
  pubsub_service_agent = "serviceAccount:${google_project_service_identity.agent["pubsub"].email}"
}

resource "google_pubsub_topic" "topic" {
  #checkov:skip=CKV_GCP_83:Google-managed encryption at rest, in var.region only; CMEK would add a Cloud KMS key to run and rotate, not asked for by the LGPD.
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

# Push subscriptions Terraform owns, keyed by subscription name: `topic`'s messages are pushed, with an
# OIDC token of the "pubsub" invoker account (serviceaccounts.tf; iam.tf grants it run.invoker on the
# target only), to the CloudEvent function `target`. Used instead of a function's Eventarc Pub/Sub
# trigger, whose subscription Eventarc owns: it can enable neither message ordering nor a dead-letter
# policy Terraform manages. Dead letters go to the topic's `dead_letter` topic.
locals {
  push_subscriptions = {
    # CRM sync (issue 7). A contact's events arrive in publish order (the publisher's ordering key is the
    # contact): LeadCreated before LeadQualified, and a failing event holds back only its contact's
    # later ones. crm_sync answers 2xx when an event is handled for good (delivered, refused by the CRM
    # and recorded, not configured, poison) and 503/500 when a retry may help.
    "crm-sync" = {
      topic            = "domain-events"
      target           = "crm_sync"
      message_ordering = true
      # Also the push request's timeout: at least crm_sync's (precondition in functions.tf).
      ack_deadline_seconds = var.crm.ack_deadline_seconds
      # 10 s, roughly doubling up to 600 s: a CRM outage is ridden out for about 40 minutes before the
      # 10th attempt dead-letters the event (an operator replays it, docs/DEPLOY.md). A redelivery while
      # a crashed delivery's lease (crm.lease_seconds) holds answers 503 and spends an attempt too.
      minimum_backoff_seconds = var.crm.minimum_backoff_seconds
      maximum_backoff_seconds = var.crm.maximum_backoff_seconds
      max_delivery_attempts   = var.crm.max_delivery_attempts
    }
  }

  # Pub/Sub's service agent forwards a push subscription's dead letters: it must be a subscriber of
  # that subscription (and a publisher on the dead-letter topic, above).
  dead_lettered_subscriptions = {
    for name, sub in local.push_subscriptions : name => local.topics[sub.topic].dead_letter
    if local.topics[sub.topic].dead_letter != null
  }
}

resource "google_pubsub_subscription" "push" {
  for_each = local.push_subscriptions
  name     = each.key
  topic    = google_pubsub_topic.topic[each.value.topic].id

  enable_message_ordering    = each.value.message_ordering
  ack_deadline_seconds       = each.value.ack_deadline_seconds
  message_retention_duration = var.event_retention

  push_config {
    # Functions Framework turns the push into a CloudEvent and takes the topic (the event's source) from
    # this path: <function URL>/projects/<project>/topics/<topic>.
    push_endpoint = "${local.function_urls[each.value.target]}/projects/${var.project_id}/topics/${google_pubsub_topic.topic[each.value.topic].name}"
    oidc_token {
      service_account_email = google_service_account.invoker["pubsub"].email
      # The service URL, the audience Cloud Run checks (left unset it would be the endpoint, path included).
      audience = local.function_urls[each.value.target]
    }
  }

  retry_policy {
    minimum_backoff = "${each.value.minimum_backoff_seconds}s"
    maximum_backoff = "${each.value.maximum_backoff_seconds}s"
  }

  dynamic "dead_letter_policy" {
    for_each = lookup(local.dead_lettered_subscriptions, each.key, null) == null ? [] : [local.dead_lettered_subscriptions[each.key]]
    content {
      dead_letter_topic     = google_pubsub_topic.topic[dead_letter_policy.value].id
      max_delivery_attempts = each.value.max_delivery_attempts
    }
  }

  # Never expire: a subscription idle for 31 days (a quiet month without new leads) would otherwise be
  # deleted, and every later event lost.
  expiration_policy {
    ttl = ""
  }

  # Pushes made before the invoker may call the function are refused and burn delivery attempts.
  depends_on = [
    google_cloud_run_v2_service_iam_member.private_invoker,
    google_pubsub_topic_iam_member.dead_letter_publisher,
  ]
}

resource "google_pubsub_subscription_iam_member" "dead_letter_subscriber" {
  for_each     = local.dead_lettered_subscriptions
  subscription = google_pubsub_subscription.push[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_service_agent
}

# Pub/Sub's service agent mints the push's OIDC token as the "pubsub" invoker. Projects that enabled
# Pub/Sub after 8 April 2021 grant it what that needs; in an older one it also needs
# roles/iam.serviceAccountTokenCreator, or every push is refused (401/403 in crm_sync's request log).
# In such a project uncomment this grant, on the invoker account only (narrower than the project-wide
# grant Google's guide shows; docs/DEPLOY.md, "Connecting a CRM"):
#
# resource "google_service_account_iam_member" "pubsub_token_creator" {
#   service_account_id = google_service_account.invoker["pubsub"].name
#   role               = "roles/iam.serviceAccountTokenCreator"
#   member             = local.pubsub_service_agent
# }
