# Log-based metrics from the JSON lines the functions write (shared/log.py: one object per line, the
# fields of log.log(...) and log.bound(...) at the top level, so Cloud Logging puts them under
# jsonPayload). Each metric is one entry:
#   message   the exact log message it counts (tests/infra checks the code still logs it);
#   severity  alternatively, a minimum severity (ERROR) instead of a message;
#   value     the numeric field a distribution is built from (null: a counter of matching lines);
#   labels    { label = jsonPayload field }, also checked against the fields the code logs;
#   unit      UCUM unit of the value ({annotation} for counted things: {token}, {USD}).
# tenant_id is a label on the cost and token metrics: per-tenant spend is the number a SaaS bills by.
# Keep tenants in the low thousands per metric (Cloud Monitoring caps time series per metric).
locals {
  log_metrics = {
    piloto_model_calls = {
      description = "Model calls (one per agent reply generated)."
      message     = "model call"
      severity    = null
      value       = null
      unit        = "1"
      labels      = { model = "model", backend = "backend", tenant_id = "tenant_id" }
    }
    piloto_model_prompt_tokens = {
      description = "Prompt (input) tokens per model call."
      message     = "model call"
      severity    = null
      value       = "prompt_tokens"
      unit        = "{token}"
      labels      = { model = "model", tenant_id = "tenant_id" }
    }
    piloto_model_output_tokens = {
      description = "Output tokens per model call."
      message     = "model call"
      severity    = null
      value       = "output_tokens"
      unit        = "{token}"
      labels      = { model = "model", tenant_id = "tenant_id" }
    }
    piloto_model_thoughts_tokens = {
      description = "Thinking tokens per model call (billed as output)."
      message     = "model call"
      severity    = null
      value       = "thoughts_tokens"
      unit        = "{token}"
      labels      = { model = "model", tenant_id = "tenant_id" }
    }
    piloto_model_cost_usd = {
      description = "Estimated cost in USD per model call (LLM_PRICING)."
      message     = "model call"
      severity    = null
      value       = "cost_usd"
      unit        = "{USD}"
      labels      = { model = "model", tenant_id = "tenant_id", agent_id = "agent_id" }
    }
    piloto_model_latency_ms = {
      description = "Latency of a model call in milliseconds."
      message     = "model call"
      severity    = null
      value       = "latency_ms"
      unit        = "ms"
      labels      = { model = "model", backend = "backend" }
    }
    piloto_replies_sent = {
      description = "Agent replies accepted by the provider's send API."
      message     = "reply sent"
      severity    = null
      value       = null
      unit        = "1"
      labels      = { provider = "provider", tenant_id = "tenant_id" }
    }
    piloto_inbound_messages = {
      description = "Lead messages stored and scheduled for an agent turn (duplicates excluded)."
      message     = "inbound message stored; agent turn scheduled"
      severity    = null
      value       = null
      unit        = "1"
      labels      = { provider = "provider", kind = "kind", tenant_id = "tenant_id" }
    }
    piloto_handoffs = {
      description = "Human takeovers: a seller wrote on the business phone and the bot paused on that conversation."
      message     = "human seller wrote; bot paused on this conversation"
      severity    = null
      value       = null
      unit        = "1"
      labels      = { provider = "provider", tenant_id = "tenant_id" }
    }
    piloto_replies_rejected = {
      description = "Replies a provider rejected for good (bad token, blocked number...): never delivered."
      message     = "provider rejected the reply for good"
      severity    = null
      value       = null
      unit        = "1"
      labels      = { provider = "provider", status = "status", tenant_id = "tenant_id" }
    }
    piloto_followups_sent = {
      description = "Follow-ups accepted by the provider, by mode (free_form: model-written inside the 24 h window; template: Meta template outside it)."
      message     = "follow-up sent"
      severity    = null
      value       = null
      unit        = "1"
      labels      = { mode = "mode", tenant_id = "tenant_id" }
    }
    piloto_followups_not_sent = {
      description = "Follow-up tasks that sent nothing because the conversation moved on (the lead wrote, a human took over, opt-out, closed)."
      message     = "follow-up not sent"
      severity    = null
      value       = null
      unit        = "1"
      labels      = { reason = "reason" }
    }
    piloto_requests_refused = {
      description = "Requests answered 4xx/5xx by functions/http_errors.py, by status and error class."
      message     = "request refused"
      severity    = null
      value       = null
      unit        = "1"
      labels      = { function = "function", status = "status", error = "error" }
    }
    piloto_events_published = {
      description = "Domain events published to Pub/Sub, by type and by the function that published them (agent_turn or chat_api at emit, outbox_drain later)."
      message     = "event published"
      severity    = null
      value       = null
      unit        = "1"
      labels      = { event_type = "event_type", function = "function" }
    }
    piloto_events_publish_failed = {
      description = "Domain events Pub/Sub did not take in time: left in the outbox for outbox_drain."
      message     = "event not published; the outbox drain will retry it"
      severity    = null
      value       = null
      unit        = "1"
      labels      = { event_type = "event_type", function = "function" }
    }
    piloto_crm_delivered = {
      description = "Domain events delivered to a tenant's CRM (webhook, HubSpot, Pipedrive, RD Station)."
      message     = "event delivered to the CRM"
      severity    = null
      value       = null
      unit        = "1"
      labels      = { crm = "crm", event_type = "event_type", tenant_id = "tenant_id" }
    }
    piloto_crm_rejected = {
      description = "Domain events a CRM refused for good (credentials, validation): recorded on crm_deliveries, never retried."
      message     = "CRM refused the event for good; recorded and acknowledged"
      severity    = null
      value       = null
      unit        = "1"
      labels      = { crm = "crm", status = "status", event_type = "event_type", tenant_id = "tenant_id" }
    }
    piloto_crm_retried = {
      description = "CRM deliveries that failed transiently (CRM 429/5xx/timeout, Firestore, a delivery in progress): Pub/Sub redelivers them."
      message     = "event not delivered yet; Pub/Sub will redeliver it"
      severity    = null
      value       = null
      unit        = "1"
      labels      = { error = "error" }
    }
    piloto_errors = {
      description = "Log lines at ERROR or above, by function (unexpected errors, missing conversations or channels...)."
      message     = null
      severity    = "ERROR"
      value       = null
      unit        = "1"
      labels      = { function = "function" }
    }
    # The owner's numbers (issue 17, business_metrics.tf): one line per agent and closed business day.
    piloto_business_new_leads = {
      description = "New leads of a closed business day (metrics_rollup seals each agent's day once)."
      message     = "business day closed"
      severity    = null
      value       = "new_leads"
      unit        = "1"
      labels      = { tenant_id = "tenant_id", agent_id = "agent_id" }
    }
    piloto_business_leads_qualified = {
      description = "Leads qualified in a closed business day."
      message     = "business day closed"
      severity    = null
      value       = "leads_qualified"
      unit        = "1"
      labels      = { tenant_id = "tenant_id", agent_id = "agent_id" }
    }
    piloto_business_meetings_requested = {
      description = "Meetings requested in a closed business day."
      message     = "business day closed"
      severity    = null
      value       = "meetings_requested"
      unit        = "1"
      labels      = { tenant_id = "tenant_id", agent_id = "agent_id" }
    }
    piloto_business_conversations_answered = {
      description = "Conversations answered in a closed business day."
      message     = "business day closed"
      severity    = null
      value       = "conversations_answered"
      unit        = "1"
      labels      = { tenant_id = "tenant_id", agent_id = "agent_id" }
    }
    piloto_business_handoffs = {
      description = "Handoffs to a human in a closed business day."
      message     = "business day closed"
      severity    = null
      value       = "handoffs"
      unit        = "1"
      labels      = { tenant_id = "tenant_id", agent_id = "agent_id" }
    }
    piloto_business_human_takeovers = {
      description = "Human takeovers in a closed business day."
      message     = "business day closed"
      severity    = null
      value       = "human_takeovers"
      unit        = "1"
      labels      = { tenant_id = "tenant_id", agent_id = "agent_id" }
    }
    piloto_business_first_reply_bot_p50 = {
      description = "Median time to the bot's first reply (s) in a closed business day."
      message     = "business day closed"
      severity    = null
      value       = "first_reply_bot_p50_s"
      unit        = "s"
      labels      = { tenant_id = "tenant_id", agent_id = "agent_id" }
    }
    piloto_business_human_response_p50 = {
      description = "Median seller response time (s) in a closed business day."
      message     = "business day closed"
      severity    = null
      value       = "human_response_p50_s"
      unit        = "s"
      labels      = { tenant_id = "tenant_id", agent_id = "agent_id" }
    }
    piloto_business_model_cost = {
      description = "Model cost (USD) of a closed business day."
      message     = "business day closed"
      severity    = null
      value       = "model_cost_usd"
      unit        = "{USD}"
      labels      = { tenant_id = "tenant_id", agent_id = "agent_id" }
    }
    piloto_business_cost_per_lead = {
      description = "Model cost per new lead (USD) of a closed business day."
      message     = "business day closed"
      severity    = null
      value       = "cost_per_lead_usd"
      unit        = "{USD}"
      labels      = { tenant_id = "tenant_id", agent_id = "agent_id" }
    }
  }

  # Only the functions' services: another Cloud Run service in the project never feeds these metrics.
  log_metric_scope = join(" OR ", [for name in values(local.function_names) : "\"${name}\""])
}

resource "google_logging_metric" "metric" {
  for_each    = local.log_metrics
  name        = each.key
  description = each.value.description
  filter = join(" AND ", compact([
    "resource.type=\"cloud_run_revision\"",
    "resource.labels.service_name=(${local.log_metric_scope})",
    each.value.message == null ? "" : "jsonPayload.message=\"${each.value.message}\"",
    each.value.severity == null ? "" : "severity>=${each.value.severity}",
  ]))

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = each.value.value == null ? "INT64" : "DISTRIBUTION"
    unit         = each.value.unit
    display_name = each.key
    dynamic "labels" {
      for_each = each.value.labels
      content {
        key        = labels.key
        value_type = "STRING"
      }
    }
  }

  label_extractors = { for label, field in each.value.labels : label => "EXTRACT(jsonPayload.${field})" }
  value_extractor  = each.value.value == null ? null : "EXTRACT(jsonPayload.${each.value.value})"

  # 64 buckets growing x1.4 span 1 to ~2e9 (milliseconds, tokens) or, for dollars, a millionth to
  # ~2000 USD. Percentiles come from the buckets; the totals on the dashboard come from the exact
  # sums and counts every distribution also keeps.
  dynamic "bucket_options" {
    for_each = each.value.value == null ? [] : [1]
    content {
      exponential_buckets {
        num_finite_buckets = 64
        growth_factor      = 1.4
        scale              = each.value.unit == "{USD}" ? 0.000001 : 1
      }
    }
  }

  depends_on = [google_project_service.api]
}
