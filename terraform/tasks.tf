# Cloud Tasks queues. A queue is one entry: the key is the queue id the code uses (Settings defaults
# such as AGENT_TURN_QUEUE=agent-turns; tests/infra checks they exist), `target` the entry point its
# tasks call, `invoker` the account whose OIDC token they carry (serviceaccounts.tf).
# max_concurrent_dispatches: null follows the target's capacity (max_instances x concurrency); a
# number caps it lower (never higher: beyond capacity Cloud Run answers 429).
#
# Retries: Cloud Tasks stops retrying a task only once it has been attempted max_attempts times AND
# max_retry_duration has passed since its first attempt (0s: no time limit). The backoff doubles from
# min_backoff max_doublings times, then grows linearly, capped at max_backoff.
#
# Dispatch deadline: the code sets none on its tasks (shared/adapters/cloud_tasks.py), so Cloud Tasks'
# default for HTTP targets applies, 10 minutes: above every target's timeout (tests/infra checks it),
# so the queue never gives up on an attempt that is still running.
#
# A deleted queue's name cannot be reused for about 7 days: rename with care.
locals {
  queues = {
    "agent-turns" = {
      target  = "agent_turn"
      invoker = "tasks"
      # Spread bursts: many leads writing at once become a steady stream of model calls instead of a
      # spike against the Vertex AI quota. Concurrent dispatches follow agent_turn's capacity.
      max_dispatches_per_second = 20
      max_concurrent_dispatches = null
      # Retries cover a model or provider outage (503), a held lease (409), a crashed instance and a
      # turn waiting for its burst's files (425, up to media.wait_seconds). The first retry comes soon
      # (a 409 clears in seconds); the backoff then grows past the reply lease so a crashed delivery's
      # lease has expired by the later attempts. Retry times: 2, 6, 14, 30, 62, 126, 254, 494, 734 s
      # (10 attempts), then every 240 s until 1800 s have passed: about 15 attempts over ~32 minutes.
      # After that an answer is stale: the lead has moved on, and a human sees the unanswered
      # conversation. Every attempt may re-send a reply whose response was lost (Meta has no
      # idempotency key), so those ~15 attempts also bound duplicates in that rare case (ARCHITECTURE.md).
      # Media: a turn answers 425 while a file of its burst is pending and younger than
      # media.wait_seconds (60 s). If media_processor dies and never wakes it, these retries alone must
      # reach past that bound so the turn still answers (the file shown as "not processed in time"):
      # the retry window must be at least twice media.wait_seconds, leaving as long again for an outage
      # on the answering attempt (precondition below, and tests/infra).
      max_attempts       = 10
      min_backoff        = "2s"
      max_backoff        = "240s"
      max_doublings      = 6
      max_retry_duration = "1800s"
      # Every attempt's outcome in Cloud Logging: a turn that failed for good is visible there (Cloud
      # Tasks has no dead-letter queue).
      log_sampling_ratio = 1.0
    }

    # Media understanding: one task per lead message with a file, named after the message (the webhook
    # creates it; a provider's redelivery finds the name taken).
    "media" = {
      target  = "media_processor"
      invoker = "tasks"
      # Each task downloads a file and usually makes one Gemini call: 20 at once caps Vertex AI use
      # and the parallel downloads from the providers, whatever media_processor's capacity (80).
      max_dispatches_per_second = 10
      max_concurrent_dispatches = 20
      # The same variable as MEDIA_MAX_ATTEMPTS (functions.tf): on what it counts as the last attempt
      # the code records the file as failed and wakes the turn instead of raising.
      max_attempts = var.media.max_attempts
      # Transient failures (a model or provider 503, Firestore) retry fast: 2, 6, 14, 30 s, so a file
      # is usually read within the turn's media.wait_seconds.
      min_backoff   = "2s"
      max_backoff   = "30s"
      max_doublings = 4
      # A crashed delivery (out of memory, killed at its timeout) leaves its lease (media.lease_seconds,
      # 360 s): the next attempts answer 409 until it expires. The window keeps retrying every 30 s past
      # it, so the file is read (or recorded as failed) instead of staying pending forever; at least
      # twice the lease (precondition below). Attempts past max_attempts are final by the code's count.
      max_retry_duration = "900s"
      log_sampling_ratio = 1.0
    }

    # Follow-ups: one task per cadence step, scheduled up to days ahead (business hours, São Paulo) and
    # named after the conversation, the step and the lead's last message, so a redelivered reply or a
    # sweep re-creating it finds the name taken. Every delivery re-checks the conversation first.
    "followups" = {
      target  = "followup_turn"
      invoker = "tasks"
      # Steps of many conversations fall due at the same business-hours boundary (08:00): spread them.
      max_dispatches_per_second = 5
      max_concurrent_dispatches = null
      # A 409 (a turn holds the reply lease) or a model or provider 503: 10, 30, 70, 150, 300 s..., until
      # followups.retry_window_seconds. A nudge retried much later is worse than one skipped: past the
      # window the sweep (followup_sweep) re-schedules it once its grace has passed, re-checking
      # business hours and the 24 h window. At least twice the reply lease (precondition below).
      max_attempts       = 5
      min_backoff        = "10s"
      max_backoff        = "300s"
      max_doublings      = 4
      max_retry_duration = "${var.followups.retry_window_seconds}s"
      log_sampling_ratio = 1.0
    }
  }
}

locals {
  # What each queue's target can serve at once, after var.function_scaling.
  queue_capacity = {
    for name, queue in local.queues : name => local.function_sizing[queue.target].max_instances * local.function_sizing[queue.target].concurrency
  }
  # How long one delivery of a target owns its work (a crashed one keeps it that long).
  target_lease_seconds = {
    agent_turn      = var.agent_turn.reply_lease_seconds
    followup_turn   = var.agent_turn.reply_lease_seconds
    media_processor = var.media.lease_seconds
  }
}

resource "google_cloud_tasks_queue" "queue" {
  for_each = local.queues
  name     = each.key
  location = var.region

  rate_limits {
    max_dispatches_per_second = each.value.max_dispatches_per_second
    # No more in flight than the target can serve at once: beyond that Cloud Run answers 429 and every
    # refused dispatch burns a retry attempt. A queue may cap it lower.
    max_concurrent_dispatches = min(local.queue_capacity[each.key], coalesce(each.value.max_concurrent_dispatches, local.queue_capacity[each.key]))
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

  # Checked here because an operator's variables can break them; tests/infra checks the same on the
  # defaults, computing the whole retry schedule (max_retry_duration alone is a lower bound of it).
  lifecycle {
    # A crashed delivery keeps its lease: retries must go on past it, or its work is never retried.
    precondition {
      condition     = tonumber(trimsuffix(each.value.max_retry_duration, "s")) >= 2 * lookup(local.target_lease_seconds, each.value.target, 0)
      error_message = "A queue's max_retry_duration must be at least twice its target's lease (agent_turn.reply_lease_seconds for agent-turns and followups, media.lease_seconds), or work a crashed delivery leased is never retried."
    }
    # A turn waiting for media must still be retried after the wait ends, or a dead media processor
    # leaves the lead without a reply (see the agent-turns entry).
    precondition {
      condition     = each.value.target != "agent_turn" || tonumber(trimsuffix(each.value.max_retry_duration, "s")) >= 2 * var.media.wait_seconds
      error_message = "The agent-turns queue's max_retry_duration must be at least twice media.wait_seconds, or a turn waiting for a file a dead media processor never reads may never answer."
    }
  }

  depends_on = [google_project_service.api]
}
