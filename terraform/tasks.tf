# Cloud Tasks queues. A queue is one entry: the key is the queue id the code uses (Settings defaults
# such as AGENT_TURN_QUEUE=agent-turns; tests/infra checks they exist), `target` the entry point its
# tasks call, `invoker` the account whose OIDC token they carry (serviceaccounts.tf).
#
# A deleted queue's name cannot be reused for about 7 days: rename with care.
locals {
  queues = {
    "agent-turns" = {
      target  = "agent_turn"
      invoker = "tasks"
      # Spread bursts: many leads writing at once become a steady stream of model calls instead of a
      # spike against the Vertex AI quota. Concurrent dispatches follow agent_turn's capacity below.
      max_dispatches_per_second = 20
      # Retries cover a model or provider outage (503), a held lease (409) and a crashed instance.
      # The first retry comes soon (a 409 clears in seconds); the backoff then grows past the reply
      # lease so a crashed delivery's lease has expired by the later attempts. After 30 minutes an
      # answer is stale: the lead has moved on, and a human sees the unanswered conversation.
      # Every attempt may re-send a reply whose response was lost (Meta has no idempotency key), so
      # the attempt count is also the bound on duplicates in that rare case (ARCHITECTURE.md).
      max_attempts       = 10
      min_backoff        = "2s"
      max_backoff        = "240s"
      max_doublings      = 6
      max_retry_duration = "1800s"
      # Every attempt's outcome in Cloud Logging: a turn that failed for good is visible there (Cloud
      # Tasks has no dead-letter queue).
      log_sampling_ratio = 1.0
    }

    # Issue 4 (media understanding), when main.py exports media_processor:
    # "media" = {
    #   target = "media_processor", invoker = "tasks", max_dispatches_per_second = 10,
    #   max_attempts = 5, min_backoff = "5s", max_backoff = "300s", max_doublings = 4,
    #   max_retry_duration = "3600s", log_sampling_ratio = 1.0
    # }
    # Issue 6 (follow-ups), when main.py exports followup_turn. Tasks are scheduled up to days ahead;
    # a follow-up retried hours late is worse than one skipped, hence the short retry window:
    # "followups" = {
    #   target = "followup_turn", invoker = "tasks", max_dispatches_per_second = 10,
    #   max_attempts = 5, min_backoff = "10s", max_backoff = "300s", max_doublings = 4,
    #   max_retry_duration = "1800s", log_sampling_ratio = 1.0
    # }
  }
}

resource "google_cloud_tasks_queue" "queue" {
  for_each = local.queues
  name     = each.key
  location = var.region

  rate_limits {
    max_dispatches_per_second = each.value.max_dispatches_per_second
    # No more in flight than the target can serve at once: beyond that Cloud Run answers 429 and every
    # refused dispatch burns a retry attempt.
    max_concurrent_dispatches = (
      local.function_sizing[each.value.target].max_instances * local.function_sizing[each.value.target].concurrency
    )
  }

  retry_config {
    max_attempts       = each.value.max_attempts
    min_backoff        = each.value.min_backoff
    max_backoff        = each.value.max_backoff
    max_doublings      = each.value.max_doublings
    max_retry_duration = each.value.max_retry_duration
  }

  stackdriver_logging_config {
    sampling_ratio = each.value.log_sampling_ratio
  }

  depends_on = [google_project_service.api]
}
