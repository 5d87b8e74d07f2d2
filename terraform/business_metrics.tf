# The owner's numbers and the sellers' audits (issue 17): schedules, the audit's bounds, and the
# "Piloto — business" dashboard with a tenant filter. Its log-based metrics (logmetrics.tf, piloto_business_*)
# read the one "business day closed" line per agent and closed day: metrics_rollup seals each day once, so a
# rerun never double counts.

variable "business_metrics" {
  description = <<-EOT
    rollup_schedule: when metrics_rollup recomputes yesterday and today (cron, America/Sao_Paulo).
    digest_schedule: when the owners' weekly digest goes out (cron, America/Sao_Paulo; Monday morning).
    audit_schedule: when conversation_audit looks for quiet conversations a seller handled.
    audit_quiet_hours: a seller's conversation is audited once nobody has written for this long.
    audit_lookback_days: only conversations taken over this recently.
    audit_max_per_run: audits (one model call each) per run at most.
    audit_tier: the routing tier (llm.tiers) whose model scores the rubric.
  EOT
  type = object({
    rollup_schedule     = optional(string, "7 * * * *")
    digest_schedule     = optional(string, "0 8 * * 1")
    audit_schedule      = optional(string, "23 * * * *")
    audit_quiet_hours   = optional(number, 12)
    audit_lookback_days = optional(number, 7)
    audit_max_per_run   = optional(number, 50)
    audit_tier          = optional(string, "standard")
  })
  default = {}

  validation {
    condition     = var.business_metrics.audit_quiet_hours > 0 && var.business_metrics.audit_lookback_days >= 1 && var.business_metrics.audit_max_per_run >= 1
    error_message = "business_metrics: audit_quiet_hours must be positive, audit_lookback_days and audit_max_per_run at least 1."
  }
  validation {
    condition     = contains(["lite", "standard", "advanced"], var.business_metrics.audit_tier)
    error_message = "business_metrics.audit_tier must be one of lite, standard, advanced."
  }
}

locals {
  # The log-based metrics of a closed business day (logmetrics.tf, piloto_business_*), by chart. How agents
  # (and tenants, with no tenant filter) combine: counts and costs add up, medians and ratios are averaged.
  _business_series = {
    new_leads              = { type = "logging.googleapis.com/user/piloto_business_new_leads", reducer = "REDUCE_SUM" }
    leads_qualified        = { type = "logging.googleapis.com/user/piloto_business_leads_qualified", reducer = "REDUCE_SUM" }
    meetings_requested     = { type = "logging.googleapis.com/user/piloto_business_meetings_requested", reducer = "REDUCE_SUM" }
    conversations_answered = { type = "logging.googleapis.com/user/piloto_business_conversations_answered", reducer = "REDUCE_SUM" }
    handoffs               = { type = "logging.googleapis.com/user/piloto_business_handoffs", reducer = "REDUCE_SUM" }
    human_takeovers        = { type = "logging.googleapis.com/user/piloto_business_human_takeovers", reducer = "REDUCE_SUM" }
    first_reply_bot_p50    = { type = "logging.googleapis.com/user/piloto_business_first_reply_bot_p50", reducer = "REDUCE_MEAN" }
    human_response_p50     = { type = "logging.googleapis.com/user/piloto_business_human_response_p50", reducer = "REDUCE_MEAN" }
    model_cost             = { type = "logging.googleapis.com/user/piloto_business_model_cost", reducer = "REDUCE_SUM" }
    cost_per_lead          = { type = "logging.googleapis.com/user/piloto_business_cost_per_lead", reducer = "REDUCE_MEAN" }
  }

  _business_charts = [
    { title = "Funnel per day: new leads → qualified → meetings", series = ["new_leads", "leads_qualified", "meetings_requested"] },
    { title = "Conversations answered, handoffs and human takeovers per day", series = ["conversations_answered", "handoffs", "human_takeovers"] },
    { title = "Median first reply of the bot and of the sellers (s)", series = ["first_reply_bot_p50", "human_response_p50"] },
    { title = "Model cost and cost per lead (USD per day)", series = ["model_cost", "cost_per_lead"] },
  ]
}

resource "google_monitoring_dashboard" "business" {
  dashboard_json = jsonencode({
    displayName = "Piloto — business"
    # A dashboard filter on the metrics' tenant_id label: pick one tenant in the console, or see all.
    dashboardFilters = [{ labelKey = "tenant_id", filterType = "METRIC_LABEL", stringValue = "" }]
    mosaicLayout = {
      columns = 48
      tiles = [for i, chart in local._business_charts : {
        xPos   = (i % 2) * 24
        yPos   = floor(i / 2) * 16
        width  = 24
        height = 16
        widget = {
          title = chart.title
          xyChart = {
            dataSets = [for name in chart.series : {
              plotType       = "STACKED_BAR"
              legendTemplate = name
              targetAxis     = "Y1"
              timeSeriesQuery = {
                timeSeriesFilter = {
                  filter = "metric.type=\"${local._business_series[name].type}\" resource.type=\"cloud_run_revision\""
                  # One point per tenant, agent and day: ALIGN_MEAN turns that distribution into its value.
                  aggregation = {
                    alignmentPeriod    = "86400s"
                    perSeriesAligner   = "ALIGN_MEAN"
                    crossSeriesReducer = local._business_series[name].reducer
                    groupByFields      = []
                  }
                }
              }
            }]
            yAxis = { scale = "LINEAR" }
          }
        }
      }]
    }
  })

  depends_on = [google_logging_metric.metric]
}
