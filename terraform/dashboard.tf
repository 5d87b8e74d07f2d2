# The Cloud Monitoring dashboard an admin opens from the console (Monitoring > Dashboards > Piloto;
# the link is an output). Charts are PromQL over Cloud Run's built-in metrics and the log-based
# metrics of logmetrics.tf: PromQL exposes a distribution's exact _sum and _count, which is what
# totals of tokens and dollars need. tests/infra checks that every log-based metric a chart names exists.
locals {
  _run = "monitored_resource=\"cloud_run_revision\""
  # service_name=~"whatsapp-webhook|agent-turn|..." : every function, present and future.
  _functions_re = "service_name=~\"${join("|", values(local.function_names))}\""
  _webhook      = "service_name=\"${local.function_names["whatsapp_webhook"]}\""
  _queues_re    = "queue_id=~\"${join("|", keys(local.queues))}\""
  _holds_re     = "subscription_id=~\"${join("|", [for t in local.dead_letter_topics : "${t}-hold"])}\""
  _pushes_re    = "subscription_id=~\"${join("|", keys(local.push_subscriptions))}\""

  # Legends use Cloud Monitoring's ${label} template; $${...} keeps Terraform from interpolating it.
  dashboard_readme = <<-EOT
    **Piloto.** Top: the webhook providers call (must answer fast and without 5xx, or providers retry).
    Middle: the conversation flow (messages in, model calls, replies out, human takeovers) and what the
    model costs, per model and per tenant (estimates from `LLM_PRICING`), then domain events on their way
    to the tenants' CRMs. Bottom: health (errors, refused requests, queue depth, dead letters). Logs:
    Logging > Logs Explorer, `jsonPayload.tenant_id="<tenant>"`
    or `jsonPayload.conversation_id="<id>"` follows one conversation. Runbook: docs/DEPLOY.md.
  EOT

  dashboard_charts = [
    {
      title  = "Webhook requests by response class (req/s)"
      y_axis = "req/s"
      queries = [{
        legend = "$${response_code_class}"
        promql = "sum by (response_code_class) (rate(run_googleapis_com:request_count{${local._run},${local._webhook}}[5m]))"
      }]
    },
    {
      title  = "Webhook latency (ms): providers retry slow acks"
      y_axis = "ms"
      queries = [for p in [50, 95, 99] : {
        legend = "p${p}"
        promql = "histogram_quantile(${p / 100}, sum by (le) (rate(run_googleapis_com:request_latencies_bucket{${local._run},${local._webhook}}[5m])))"
      }]
    },
    {
      title  = "Requests by function and response class (req/s)"
      y_axis = "req/s"
      queries = [{
        legend = "$${service_name} $${response_code_class}"
        promql = "sum by (service_name, response_code_class) (rate(run_googleapis_com:request_count{${local._run},${local._functions_re}}[5m]))"
      }]
    },
    {
      title  = "Lead messages in, replies and follow-ups out, human takeovers (per minute)"
      y_axis = "per minute"
      queries = [
        { legend = "lead messages", promql = "sum(rate(logging_googleapis_com:user_piloto_inbound_messages[5m])) * 60" },
        { legend = "replies sent", promql = "sum(rate(logging_googleapis_com:user_piloto_replies_sent[5m])) * 60" },
        { legend = "human takeovers", promql = "sum(rate(logging_googleapis_com:user_piloto_handoffs[5m])) * 60" },
        { legend = "replies rejected", promql = "sum(rate(logging_googleapis_com:user_piloto_replies_rejected[5m])) * 60" },
        { legend = "follow-ups sent", promql = "sum(rate(logging_googleapis_com:user_piloto_followups_sent[5m])) * 60" },
      ]
    },
    {
      title  = "Model calls per minute by model"
      y_axis = "calls/min"
      queries = [{
        legend = "$${model} ($${backend})"
        promql = "sum by (model, backend) (rate(logging_googleapis_com:user_piloto_model_calls[5m])) * 60"
      }]
    },
    {
      title  = "Tokens per hour"
      y_axis = "tokens/h"
      queries = [
        { legend = "prompt", promql = "sum(increase(logging_googleapis_com:user_piloto_model_prompt_tokens_sum[1h]))" },
        { legend = "output", promql = "sum(increase(logging_googleapis_com:user_piloto_model_output_tokens_sum[1h]))" },
        { legend = "thoughts", promql = "sum(increase(logging_googleapis_com:user_piloto_model_thoughts_tokens_sum[1h]))" },
      ]
    },
    {
      title  = "Estimated model cost, USD per hour by model"
      y_axis = "USD/h"
      queries = [{
        legend = "$${model}"
        promql = "sum by (model) (increase(logging_googleapis_com:user_piloto_model_cost_usd_sum[1h]))"
      }]
    },
    {
      title  = "Estimated model cost per tenant, USD over the last 24 h (top 10)"
      y_axis = "USD/24h"
      queries = [{
        legend = "$${tenant_id}"
        promql = "topk(10, sum by (tenant_id) (increase(logging_googleapis_com:user_piloto_model_cost_usd_sum[24h])))"
      }]
    },
    {
      title  = "Model latency (ms)"
      y_axis = "ms"
      queries = [for p in [50, 95] : {
        legend = "p${p} $${model}"
        promql = "histogram_quantile(${p / 100}, sum by (le, model) (rate(logging_googleapis_com:user_piloto_model_latency_ms_bucket[10m])))"
      }]
    },
    {
      title  = "Domain events and CRM sync (per minute)"
      y_axis = "per minute"
      queries = [
        { legend = "events published", promql = "sum(rate(logging_googleapis_com:user_piloto_events_published[5m])) * 60" },
        { legend = "left to the outbox drain", promql = "sum(rate(logging_googleapis_com:user_piloto_events_publish_failed[5m])) * 60" },
        { legend = "delivered to CRMs", promql = "sum(rate(logging_googleapis_com:user_piloto_crm_delivered[5m])) * 60" },
        { legend = "refused by CRMs", promql = "sum(rate(logging_googleapis_com:user_piloto_crm_rejected[5m])) * 60" },
        { legend = "to be redelivered", promql = "sum(rate(logging_googleapis_com:user_piloto_crm_retried[5m])) * 60" },
      ]
    },
    {
      title  = "Domain events waiting for CRM sync (push subscription backlog)"
      y_axis = "messages"
      queries = [{
        legend = "$${subscription_id}"
        promql = "sum by (subscription_id) (pubsub_googleapis_com:subscription_num_undelivered_messages{monitored_resource=\"pubsub_subscription\",${local._pushes_re}})"
      }]
    },
    {
      title  = "Requests refused, by function and status (per minute)"
      y_axis = "per minute"
      queries = [{
        legend = "$${function} $${status} $${error}"
        promql = "sum by (function, status, error) (rate(logging_googleapis_com:user_piloto_requests_refused[5m])) * 60"
      }]
    },
    {
      title  = "Errors logged, by function (per minute)"
      y_axis = "per minute"
      queries = [{
        legend = "$${function}"
        promql = "sum by (function) (rate(logging_googleapis_com:user_piloto_errors[5m])) * 60"
      }]
    },
    {
      title  = "Cloud Tasks queue depth (tasks waiting, incl. scheduled debounce)"
      y_axis = "tasks"
      queries = [{
        legend = "$${queue_id}"
        promql = "sum by (queue_id) (cloudtasks_googleapis_com:queue_depth{monitored_resource=\"cloud_tasks_queue\",${local._queues_re}})"
      }]
    },
    {
      title  = "Dead letters waiting (see docs/DEPLOY.md, Dead letters)"
      y_axis = "messages"
      queries = [{
        legend = "$${subscription_id}"
        promql = "sum by (subscription_id) (pubsub_googleapis_com:subscription_num_undelivered_messages{monitored_resource=\"pubsub_subscription\",${local._holds_re}})"
      }]
    },
    {
      title  = "Instances by function"
      y_axis = "instances"
      queries = [{
        legend = "$${service_name}"
        promql = "sum by (service_name) (run_googleapis_com:container_instance_count{${local._run},${local._functions_re}})"
      }]
    },
  ]

  dashboard_tiles = concat(
    [{
      xPos   = 0
      yPos   = 0
      width  = 48
      height = 8
      widget = { title = "How to read this dashboard", text = { content = local.dashboard_readme, format = "MARKDOWN" } }
    }],
    [for i, chart in local.dashboard_charts : {
      xPos   = (i % 2) * 24
      yPos   = 8 + floor(i / 2) * 16
      width  = 24
      height = 16
      widget = {
        title = chart.title
        xyChart = {
          dataSets = [for q in chart.queries : {
            timeSeriesQuery = { prometheusQuery = q.promql }
            plotType        = "LINE"
            legendTemplate  = q.legend
            targetAxis      = "Y1"
          }]
          yAxis = { label = chart.y_axis, scale = "LINEAR" }
        }
      }
    }],
  )
}

resource "google_monitoring_dashboard" "piloto" {
  dashboard_json = jsonencode({
    displayName  = "Piloto"
    mosaicLayout = { columns = 48, tiles = local.dashboard_tiles }
  })

  depends_on = [google_logging_metric.metric]
}
