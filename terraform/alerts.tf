# Alert policies: each opens an incident in Monitoring > Alerting and notifies the channels below.
# Every policy carries its runbook (documentation), so the person paged knows the next step.

resource "google_monitoring_notification_channel" "email" {
  for_each     = toset(var.alerting.emails)
  display_name = "Piloto alerts: ${each.value}"
  type         = "email"
  labels = {
    email_address = each.value
  }
}

locals {
  notification_channels = concat(
    var.alerting.notification_channels,
    [for channel in google_monitoring_notification_channel.email : channel.id],
  )
}

# Share of a function's requests answered 5xx. For the webhook a 5xx makes the provider retry (and
# Meta disables webhooks that fail for long); for agent_turn it is a turn waiting on a retry.
resource "google_monitoring_alert_policy" "error_rate" {
  for_each     = local.function_specs
  display_name = "Piloto ${each.key}: 5xx above ${var.alerting.error_rate * 100}% of requests"
  combiner     = "OR"
  severity     = "ERROR"

  conditions {
    display_name = "${local.function_names[each.key]} 5xx ratio"
    condition_threshold {
      filter = join(" AND ", [
        "resource.type = \"cloud_run_revision\"",
        "resource.labels.service_name = \"${local.function_names[each.key]}\"",
        "metric.type = \"run.googleapis.com/request_count\"",
        "metric.labels.response_code_class = \"5xx\"",
      ])
      denominator_filter = join(" AND ", [
        "resource.type = \"cloud_run_revision\"",
        "resource.labels.service_name = \"${local.function_names[each.key]}\"",
        "metric.type = \"run.googleapis.com/request_count\"",
      ])
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
      }
      denominator_aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
      }
      comparison      = "COMPARISON_GT"
      threshold_value = var.alerting.error_rate
      duration        = "600s"
      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "3600s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      ${each.key} answers 5xx to more than ${var.alerting.error_rate * 100}% of its requests.
      1. Logs Explorer: `resource.labels.service_name="${local.function_names[each.key]}" severity>=WARNING`.
         `request refused` lines carry `status` and `error` (503 = a dependency is down: Firestore, Cloud
         Tasks, Vertex AI or a provider); `unexpected error` lines carry the stack trace.
      2. 503s heal themselves through retries (providers, Cloud Tasks); a 500 is a bug: roll back by
         redeploying the previous commit (docs/DEPLOY.md).
    EOT
  }

  notification_channels = local.notification_channels
}

# Providers retry slow webhooks, and retries of a slow webhook are the classic source of duplicate
# work; 360dialog asks for a median under 250 ms and < 1 % over 1 s.
resource "google_monitoring_alert_policy" "webhook_latency" {
  for_each     = local.public_functions
  display_name = "Piloto ${each.key}: p95 latency above ${var.alerting.webhook_latency_p95_ms} ms"
  combiner     = "OR"
  severity     = "WARNING"

  conditions {
    display_name = "${local.function_names[each.key]} p95 latency"
    condition_threshold {
      filter = join(" AND ", [
        "resource.type = \"cloud_run_revision\"",
        "resource.labels.service_name = \"${local.function_names[each.key]}\"",
        "metric.type = \"run.googleapis.com/request_latencies\"",
      ])
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_PERCENTILE_95"
      }
      comparison      = "COMPARISON_GT"
      threshold_value = var.alerting.webhook_latency_p95_ms
      duration        = "600s"
      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "3600s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      The webhook's 95th percentile latency is above ${var.alerting.webhook_latency_p95_ms} ms.
      Usual causes: cold starts (raise min_instances in var.function_scaling), Firestore or Cloud Tasks
      latency (Google Cloud status page), or a provider sending very large batches. The webhook never
      calls the model; if it does work proportional to the model, that is a regression.
    EOT
  }

  notification_channels = local.notification_channels
}

# Anything in a dead-letter topic is an event some consumer gave up on (a lead that never reached the
# CRM). It is held by the "<topic>-hold" subscription until an operator handles it.
resource "google_monitoring_alert_policy" "dead_letters" {
  for_each     = local.dead_letter_topics
  display_name = "Piloto: dead letters waiting in ${each.key}"
  combiner     = "OR"
  severity     = "ERROR"

  conditions {
    display_name = "${each.key}-hold backlog"
    condition_threshold {
      filter = join(" AND ", [
        "resource.type = \"pubsub_subscription\"",
        "resource.labels.subscription_id = \"${google_pubsub_subscription.dead_letter_hold[each.key].name}\"",
        "metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\"",
      ])
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
      comparison      = "COMPARISON_GT"
      threshold_value = var.alerting.dead_letter_messages
      duration        = "0s"
      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      Messages are waiting in `${each.key}-hold`: events a consumer failed to process after its maximum
      delivery attempts. Follow docs/DEPLOY.md, "Dead letters": pull and read them, fix the cause
      (CRM credentials, a bug), replay them to the source topic, then acknowledge them.
    EOT
  }

  notification_channels = local.notification_channels
}

# A CRM refusal (401 expired credentials, 400 a field or stage the CRM rejects, an unsafe webhook URL)
# is final: recorded on the event's crm_deliveries document and acknowledged, never retried
# nor dead-lettered. One incident per tenant and CRM, so the runbook names whose configuration to fix.
resource "google_monitoring_alert_policy" "crm_rejections" {
  display_name = "Piloto: a CRM refused domain events"
  combiner     = "OR"
  severity     = "WARNING"

  conditions {
    display_name = "CRM refusals per tenant"
    condition_threshold {
      filter = join(" AND ", [
        "resource.type = \"cloud_run_revision\"",
        "metric.type = \"logging.googleapis.com/user/${google_logging_metric.metric["piloto_crm_rejected"].name}\"",
      ])
      aggregations {
        alignment_period     = "600s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["metric.label.tenant_id", "metric.label.crm"]
      }
      comparison      = "COMPARISON_GT"
      threshold_value = var.alerting.crm_rejections
      duration        = "0s"
      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "86400s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      A CRM refused events of tenant $${metric.label.tenant_id} ($${metric.label.crm}) for good: those leads
      did not reach it and will not be retried. Follow docs/DEPLOY.md, "Connecting a CRM":
      1. Logs Explorer: `jsonPayload.message="CRM refused the event for good; recorded and acknowledged"
         jsonPayload.tenant_id="<tenant>"` (`status` and `reason` say why), or the tenant's
         `crm_deliveries` documents with `state = rejected` (`detail`, `http_status`).
      2. Fix `tenants/<tenant>/integrations/crm` (expired token, a stage or field id the CRM does not know).
      3. Re-send what was refused (docs/DEPLOY.md, "Re-sending events to a CRM").
    EOT
  }

  notification_channels = local.notification_channels

  # A log-based metric is usable in a policy only minutes after its creation (propagation.tf, #11102).
  depends_on = [time_sleep.log_metrics]
}
