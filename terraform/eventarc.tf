# Eventarc: more events for an event-driven function than its one event_trigger.
#
# A gen2 function has a single event_trigger (function_specs.trigger, functions.tf). Every further
# event type it handles is an entry of its function_specs.extra_triggers, made here as a
# google_eventarc_trigger whose destination is the function's Cloud Run service. Nothing here names a
# function: a new entry in extra_triggers brings its trigger. Like the function's own trigger, each one
# delivers as the "eventarc" invoker account (serviceaccounts.tf), which iam.tf grants run.invoker on
# the function and roles/eventarc.eventReceiver; Cloud Storage's service agent may publish (iam.tf).
#
# knowledge_ingest is the first user: "finalized" is its own trigger, "deleted" and "archived" (the
# knowledge bucket is versioned) are triggers here.
locals {
  # Keyed by the trigger's name, "<service name>-<last part of the event type>" (for example
  # knowledge-ingest-archived). Two triggers of one function on the same event type would be a
  # duplicate key, which fails the plan instead of silently dropping one.
  eventarc_triggers = merge([
    for fn, spec in local.function_specs : {
      for t in spec.extra_triggers : "${local.function_names[fn]}-${lower(reverse(split(".", t.event_type))[0])}" => {
        function     = fn
        event_type   = t.event_type
        bucket       = try(t.bucket, null)
        pubsub_topic = try(t.pubsub_topic, null)
        retry        = t.retry
      }
    }
  ]...)

  # Whether any function receives Cloud Storage events (its own trigger or an extra one): Cloud
  # Storage's service agent then needs to publish them (iam.tf).
  storage_triggered = anytrue(concat(
    [for fn, spec in local.function_specs : try(spec.trigger.bucket, null) != null],
    [for name, t in local.eventarc_triggers : t.bucket != null],
  ))
}

resource "google_eventarc_trigger" "trigger" {
  for_each        = local.eventarc_triggers
  name            = each.key
  location        = var.region
  service_account = google_service_account.invoker["eventarc"].email

  matching_criteria {
    attribute = "type"
    value     = each.value.event_type
  }

  # Storage events: only this bucket's. The trigger's location must be the bucket's (var.region).
  dynamic "matching_criteria" {
    for_each = each.value.bucket == null ? [] : [each.value.bucket]
    content {
      attribute = "bucket"
      value     = google_storage_bucket.bucket[matching_criteria.value].name
    }
  }

  destination {
    # A gen2 function is a Cloud Run service of the same name; Eventarc posts the CloudEvent to "/",
    # where Functions Framework serves the entry point.
    cloud_run_service {
      service = google_cloudfunctions2_function.function[each.value.function].name
      region  = var.region
    }
  }

  # Pub/Sub events arrive through the topic itself rather than one Eventarc creates.
  dynamic "transport" {
    for_each = each.value.pubsub_topic == null ? [] : [each.value.pubsub_topic]
    content {
      pubsub {
        topic = google_pubsub_topic.topic[transport.value].id
      }
    }
  }

  # No retry_policy block: google_eventarc_trigger has none in the pinned provider (6.50.0; it first
  # appears in 7.14.0), and Terraform refuses an unknown block type even from a dynamic block with an
  # empty for_each. Every trigger here retries as Eventarc does by default
  # (https://cloud.google.com/eventarc/docs/retry-events: Pub/Sub redelivers with a backoff of 10 s
  # to 600 s for the 24 hours Eventarc keeps the message), which is what retry = true means. A handler
  # that must not be retried acknowledges the event itself (2xx) instead; the precondition refuses
  # retry = false rather than silently retrying anyway.
  lifecycle {
    precondition {
      condition     = each.value.retry
      error_message = "extra_triggers retry = false is not supported with google provider 6.x (google_eventarc_trigger has no retry_policy before 7.14.0): every Eventarc trigger retries for 24 hours. Acknowledge non-retryable events in the handler, or use the function's own event_trigger, whose retry_policy can say RETRY_POLICY_DO_NOT_RETRY."
    }
  }

  # Creating a Storage trigger fails until Cloud Storage's service agent may publish; events delivered
  # before the invoker may call the function would be refused and retried.
  depends_on = [
    google_project_service.api,
    time_sleep.iam_propagation,
    google_project_iam_member.storage_service_agent_publisher,
    google_project_iam_member.eventarc_receiver,
    google_cloud_run_v2_service_iam_member.private_invoker,
  ]
}
