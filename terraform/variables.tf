# Every knob an operator may turn. Values that are code (entry points, roles, which function reads what)
# live in locals next to the resources; values that are decisions (project, region, model, prices,
# retention, alert thresholds) live here. Secret *values* are never variables: see secrets.tf.

variable "project_id" {
  description = "Google Cloud project that hosts Piloto."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a Google Cloud project id: 6-30 characters, lowercase letters, digits and hyphens."
  }
}

variable "region" {
  description = "Region of the functions, queues, buckets and Pub/Sub storage. Brazilian leads: southamerica-east1 (São Paulo) keeps their data in the country."
  type        = string
  default     = "southamerica-east1"
  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a Google Cloud region such as southamerica-east1."
  }
}

variable "firestore_location" {
  description = "Firestore location id; null means the same as region. A multi-region (nam5, eur3) trades latency from the functions for availability."
  type        = string
  default     = null
}

variable "labels" {
  description = "Extra labels for every labelled resource (cost centre, environment...)."
  type        = map(string)
  default     = {}
}

variable "log_level" {
  description = "LOG_LEVEL of every function."
  type        = string
  default     = "INFO"
  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

variable "llm" {
  description = <<-EOT
    The model the agent answers with. Model ids retire often: they live here, not in code. Defaults are
    current stable Vertex AI models ("Latest available models", docs.cloud.google.com/gemini-enterprise-
    agent-platform/models/model-versions, read 2026-11-29; 2.5 Pro/Flash/Flash-Lite are retired).
    backend: 'vertex' (Gemini on Vertex AI) or 'offline' (deterministic template, costs nothing, says it is offline).
    location: Vertex AI location of the model ('global' or a region where every tier's model is offered).
    timeout_seconds: one model attempt; the turn retries and falls back within its function's timeout.
    tiers: model id per routing tier; greetings/FAQs/summaries go to lite, objections/negotiation to
      advanced (which thinks more). Every tier's model needs a price in llm_pricing.
  EOT
  type = object({
    backend         = optional(string, "vertex")
    model           = optional(string, "gemini-3.5-flash")
    location        = optional(string, "global")
    timeout_seconds = optional(number, 30)
    tiers = optional(map(string), {
      lite     = "gemini-3.5-flash-lite"
      standard = "gemini-3.5-flash"
      advanced = "gemini-3.8-flash"
    })
  })
  default = {}
  validation {
    condition     = contains(["vertex", "offline"], var.llm.backend)
    error_message = "llm.backend must be 'vertex' or 'offline'."
  }
  validation {
    condition     = var.llm.timeout_seconds > 0 && var.llm.timeout_seconds <= 40
    error_message = "llm.timeout_seconds bounds one model attempt; keep it in (0, 40] so several fit agent_turn's timeout."
  }
}

variable "admin_invokers" {
  description = "IAM members allowed to call the admin and testing HTTP functions, chat_api and knowledge_lookup (e.g. group:sales-ops@example.com, serviceAccount:crm@p.iam.gserviceaccount.com). Never allUsers: both spend model tokens and read every tenant's data."
  type        = list(string)
  default     = []
  validation {
    condition     = !contains(var.admin_invokers, "allUsers") && !contains(var.admin_invokers, "allAuthenticatedUsers")
    error_message = "chat_api and knowledge_lookup must stay private: name users, groups or service accounts, never allUsers or allAuthenticatedUsers."
  }
  validation {
    condition     = alltrue([for m in var.admin_invokers : can(regex("^(user|group|serviceAccount|domain|principal|principalSet):.+", m))])
    error_message = "admin_invokers entries are IAM members such as user:ana@example.com, group:ops@example.com or serviceAccount:x@p.iam.gserviceaccount.com."
  }
}

variable "llm_pricing" {
  description = "USD per 1M tokens per model id, for the estimated cost of every call (LLM_PRICING), the embedding model's included: input (text/image/video), cached input, audio input where Vertex prices it apart, output (thinking included). Prices change: check the current Vertex AI price list (ARCHITECTURE.md, 'Models and prices'). functions.tf refuses a tier, chat, media or embedding model without a price, since its calls would have no cost."
  type = map(object({
    input_per_mtok        = number
    output_per_mtok       = number
    cached_input_per_mtok = optional(number)
    audio_input_per_mtok  = optional(number)
  }))
  default = {
    "gemini-3.5-flash-lite" = { input_per_mtok = 0.30, output_per_mtok = 2.50, cached_input_per_mtok = 0.03, audio_input_per_mtok = 0.30 }
    "gemini-3.5-flash"      = { input_per_mtok = 1.50, output_per_mtok = 9.00, cached_input_per_mtok = 0.15 }
    # Introductory price until 2026-12-31; 1.50 input / 7.50 output from 2027-01-01.
    "gemini-3.8-flash" = { input_per_mtok = 0.75, output_per_mtok = 3.75 }
    # The knowledge base's embedding model (knowledge.embedding_model): input tokens only, no output.
    # Check the live Vertex AI price list before relying on it; online and batch prices differ.
    "gemini-embedding-001" = { input_per_mtok = 0.15, output_per_mtok = 0 }
  }
  validation {
    condition     = alltrue([for model, price in var.llm_pricing : price.input_per_mtok >= 0 && price.output_per_mtok >= 0])
    error_message = "llm_pricing prices cannot be negative."
  }
}

variable "knowledge" {
  description = <<-EOT
    Knowledge base (RAG): how documents in the knowledge bucket become searchable passages.
    embedding_backend: 'vertex' (Gemini embeddings on Vertex AI) or 'offline' (lexical hashing, costs nothing).
    embedding_model: Vertex AI embedding model id (gemini-embedding-001 or text-multilingual-embedding-002); give it a price in llm_pricing.
    embedding_dimensions: vector size (output_dimensionality), at most 2048 (Firestore). The vector index (firestore.tf) is built
      for this size: changing it, or the model, needs a new index and a re-index of every document (docs/DEPLOY.md).
    embedding_location: Vertex AI location of the embedding model. Documents' text goes there to be embedded.
    max_distance: cosine distance above which a passage is no confident match (the agent hands off instead); depends on the model.
    chunk_chars, chunk_overlap_chars: passage size and the overlap of consecutive passages of a section (below half a chunk).
    max_object_bytes: larger files are recorded as unsupported without being downloaded.
  EOT
  type = object({
    embedding_backend    = optional(string, "vertex")
    embedding_model      = optional(string, "gemini-embedding-001")
    embedding_dimensions = optional(number, 768)
    embedding_location   = optional(string, "us-central1")
    max_distance         = optional(number, 0.40)
    chunk_chars          = optional(number, 1200)
    chunk_overlap_chars  = optional(number, 200)
    max_object_bytes     = optional(number, 20000000)
  })
  default = {}
  validation {
    condition     = contains(["vertex", "offline"], var.knowledge.embedding_backend)
    error_message = "knowledge.embedding_backend must be 'vertex' or 'offline'."
  }
  validation {
    condition     = var.knowledge.embedding_dimensions == floor(var.knowledge.embedding_dimensions) && var.knowledge.embedding_dimensions >= 8 && var.knowledge.embedding_dimensions <= 2048
    error_message = "knowledge.embedding_dimensions must be a whole number from 8 to 2048 (Firestore vector indexes take at most 2048)."
  }
  validation {
    condition     = var.knowledge.max_distance > 0 && var.knowledge.max_distance <= 2
    error_message = "knowledge.max_distance is a cosine distance in (0, 2]."
  }
  validation {
    condition     = var.knowledge.chunk_chars >= 200 && var.knowledge.chunk_chars <= 8000
    error_message = "knowledge.chunk_chars must be between 200 and 8000."
  }
  validation {
    condition     = var.knowledge.chunk_overlap_chars >= 0 && var.knowledge.chunk_overlap_chars <= 2000 && var.knowledge.chunk_overlap_chars * 2 < var.knowledge.chunk_chars
    error_message = "knowledge.chunk_overlap_chars must be between 0 and 2000 and below half of knowledge.chunk_chars."
  }
  validation {
    condition     = var.knowledge.max_object_bytes >= 1024
    error_message = "knowledge.max_object_bytes must be at least 1024."
  }
}

variable "webhook" {
  description = <<-EOT
    whatsapp_webhook behaviour.
    debounce_seconds: burst window; messages of one lead closer than this get one reply.
    max_body_bytes: larger webhook bodies are refused with 413.
    channel_cache_seconds: how long an instance caches channel and agent documents (an admin's edit shows after at most this).
    max_batch_items: messages + statuses + skipped events one request may carry; more is refused with 413.
    deadline_seconds: past this the webhook answers 503 + Retry-After; keep it below the providers' webhook timeouts.
    call_timeout_seconds: one Firestore or Cloud Tasks call on the webhook path (one attempt, then 503).
    public_url: the webhook's URL as configured at the providers, when it is not the function's own run.app URL
    (a custom domain or a load balancer). Twilio signs the URL it calls (twilio.tf).
    url_key_mode: required (default) refuses a gateway request whose URL has no per-channel key (401); optional,
    only while migrating, lets it fall back to the provider's own credential with a warning (docs/DEPLOY.md).
  EOT
  type = object({
    debounce_seconds      = optional(number, 4)
    max_body_bytes        = optional(number, 1000000)
    channel_cache_seconds = optional(number, 60)
    max_batch_items       = optional(number, 50)
    deadline_seconds      = optional(number, 3)
    call_timeout_seconds  = optional(number, 1.5)
    public_url            = optional(string)
    url_key_mode          = optional(string, "required")
  })
  default = {}
  validation {
    condition     = var.webhook.call_timeout_seconds > 0 && var.webhook.call_timeout_seconds <= var.webhook.deadline_seconds && var.webhook.deadline_seconds <= 30
    error_message = "webhook.call_timeout_seconds must be positive and at most webhook.deadline_seconds, which is at most 30."
  }
  validation {
    condition     = var.webhook.debounce_seconds >= 0 && var.webhook.debounce_seconds <= 60
    error_message = "webhook.debounce_seconds must be between 0 and 60."
  }
  validation {
    condition     = contains(["required", "optional"], var.webhook.url_key_mode)
    error_message = "webhook.url_key_mode must be required or optional."
  }
  validation {
    condition     = var.webhook.max_body_bytes >= 1024
    error_message = "webhook.max_body_bytes must be at least 1024."
  }
}

variable "agent_turn" {
  description = <<-EOT
    agent_turn behaviour.
    reply_lease_seconds: how long one delivery of a turn owns it. It must outlast the function timeout
    (functions.tf), or a slow delivery can lose its lease to a retry and the lead gets two replies.
    reply_max_send_attempts: provider calls per reply at most (a lost answer may still have delivered it); past
    them the reply is marked uncertain and the seller alerted.
  EOT
  type = object({
    reply_lease_seconds     = optional(number, 180)
    reply_max_send_attempts = optional(number, 3)
  })
  default = {}
  validation {
    condition     = var.agent_turn.reply_max_send_attempts >= 1 && var.agent_turn.reply_max_send_attempts <= 10
    error_message = "agent_turn.reply_max_send_attempts must be between 1 and 10."
  }
  validation {
    condition     = var.agent_turn.reply_lease_seconds >= 10
    error_message = "agent_turn.reply_lease_seconds must be at least 10."
  }
}

variable "media" {
  description = <<-EOT
    Media understanding: the leads' voice notes, images and documents, read by media_processor (queue "media", tasks.tf).
    wait_seconds: how long a turn waits for its burst's files to be read before it answers anyway (a file still
      pending is then "could not be processed in time"). The agent-turns queue keeps retrying at least twice as
      long (tasks.tf), so a turn waiting on a dead media processor still ends in a reply.
    max_audio_bytes, max_image_bytes, max_document_bytes, max_video_bytes: per-kind size limits; larger files are
      never downloaded and the lead is told. Files are held in memory and the read ones are sent inline to Gemini,
      base64-encoded (4/3 of the size): raising a limit needs media_processor memory (function_scaling) and a check
      of the model's inline request limit. Videos are kept, not read.
    readable_mime_types: types whose text is extracted; others are stored and marked unsupported. The default is
      every type the code has a reader for (tests/infra checks it against shared/config.py).
    text_max_chars: extracted text kept per file (what a turn puts in the prompt).
    max_attempts: attempts of a media task. One value for both the media queue and MEDIA_MAX_ATTEMPTS: the
      code records a failure instead of retrying on the queue's last attempt, so they must agree.
    lease_seconds: how long one delivery owns a media task; above media_processor's timeout (functions.tf), or
      a retry could read a file a timed-out delivery is still reading.
    model: Gemini model id for transcription, image description and scans; null = llm.model. Give it a price in
      llm_pricing.
  EOT
  type = object({
    wait_seconds       = optional(number, 60)
    max_audio_bytes    = optional(number, 10000000)
    max_image_bytes    = optional(number, 5000000)
    max_document_bytes = optional(number, 15000000)
    max_video_bytes    = optional(number, 16000000)
    readable_mime_types = optional(list(string), [
      "audio/ogg", "audio/mpeg", "audio/mp4", "audio/x-aac", "audio/wav", "audio/webm", "audio/flac",
      "image/jpeg", "image/png", "image/webp", "application/pdf",
      "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "text/plain", "text/csv",
    ])
    text_max_chars = optional(number, 20000)
    max_attempts   = optional(number, 5)
    lease_seconds  = optional(number, 360)
    model          = optional(string)
  })
  default = {}
  validation {
    condition     = var.media.wait_seconds >= 0 && var.media.wait_seconds <= 600
    error_message = "media.wait_seconds must be between 0 and 600 (the code refuses more)."
  }
  validation {
    condition     = alltrue([for limit in [var.media.max_audio_bytes, var.media.max_image_bytes, var.media.max_document_bytes, var.media.max_video_bytes] : limit >= 1024 && limit <= 20000000])
    error_message = "media.max_*_bytes must be between 1024 and 20000000: files are held in memory and sent inline (base64) in one Gemini request."
  }
  validation {
    condition     = length(var.media.readable_mime_types) > 0 && alltrue([for t in var.media.readable_mime_types : can(regex("^[a-z]+/[a-z0-9.+-]+$", t))])
    error_message = "media.readable_mime_types is a non-empty list of lower-case MIME types such as audio/ogg."
  }
  validation {
    condition     = var.media.text_max_chars >= 100 && var.media.text_max_chars <= 200000
    error_message = "media.text_max_chars must be between 100 and 200000."
  }
  validation {
    condition     = var.media.max_attempts == floor(var.media.max_attempts) && var.media.max_attempts >= 1 && var.media.max_attempts <= 20
    error_message = "media.max_attempts must be a whole number from 1 to 20."
  }
  validation {
    condition     = var.media.lease_seconds >= 10 && var.media.lease_seconds <= 3600
    error_message = "media.lease_seconds must be between 10 and 3600."
  }
}

variable "events" {
  description = <<-EOT
    Domain events (LeadCreated, LeadQualified...): the outbox every emitting function writes first, its
    publish to the domain-events topic, and the outbox_drain job that publishes what is left.
    publish_timeout_seconds: longest wait for Pub/Sub per event (EVENT_PUBLISH_TIMEOUT_SECONDS); an event it
      does not take stays in the outbox for the drain, so a Pub/Sub hiccup never fails a turn.
    retention_days: days a published outbox document and a finished CRM delivery record are kept before
      Firestore's TTL deletes them (CRM_RETENTION_DAYS; firestore.tf). They hold leads' data (LGPD).
    drain_schedule: cron (Cloud Scheduler, America/Sao_Paulo) of the outbox-drain job.
    drain_max_events, drain_page_size: events one drain run publishes at most, and read per query (<= 500).
    drain_min_age_seconds: younger events are left to the emit publishing them; at least publish_timeout_seconds.
    drain_time_budget_seconds: a run starts no new page after this; below outbox_drain's timeout (functions.tf).
  EOT
  type = object({
    publish_timeout_seconds   = optional(number, 5)
    retention_days            = optional(number, 30)
    drain_schedule            = optional(string, "*/5 * * * *")
    drain_max_events          = optional(number, 500)
    drain_page_size           = optional(number, 100)
    drain_min_age_seconds     = optional(number, 60)
    drain_time_budget_seconds = optional(number, 240)
  })
  default = {}
  validation {
    condition     = var.events.publish_timeout_seconds > 0 && var.events.publish_timeout_seconds <= 60
    error_message = "events.publish_timeout_seconds must be in (0, 60]: a turn waits that long on Pub/Sub per event."
  }
  validation {
    condition     = var.events.retention_days == floor(var.events.retention_days) && var.events.retention_days >= 1 && var.events.retention_days <= 3650
    error_message = "events.retention_days must be a whole number from 1 to 3650."
  }
  validation {
    condition     = can(regex("^\\S+(\\s+\\S+){4}$", trimspace(var.events.drain_schedule)))
    error_message = "events.drain_schedule is a 5-field cron expression such as */5 * * * *."
  }
  validation {
    condition     = var.events.drain_max_events >= 1 && var.events.drain_page_size >= 1 && var.events.drain_page_size <= 500
    error_message = "events.drain_max_events must be at least 1 and events.drain_page_size from 1 to 500 (the code refuses more)."
  }
  validation {
    condition     = var.events.drain_min_age_seconds >= var.events.publish_timeout_seconds
    error_message = "events.drain_min_age_seconds must be at least events.publish_timeout_seconds, or the drain publishes events an emit is still publishing."
  }
  validation {
    condition     = var.events.drain_time_budget_seconds > 0
    error_message = "events.drain_time_budget_seconds must be positive (and below outbox_drain's timeout, checked in functions.tf)."
  }
}

variable "followups" {
  description = <<-EOT
    Follow-up cadence machinery. The cadence itself (steps, delays, templates, business hours, opt-out words)
    is per agent, in Firestore (tenants/{t}/agents/{a}.followup; ARCHITECTURE.md), so sellers change it
    without a deploy.
    retry_window_seconds: how long the followups queue retries one step (a held reply lease, a model or
      provider outage); at least twice agent_turn.reply_lease_seconds (tasks.tf).
    sweep_schedule: cron (Cloud Scheduler, America/Sao_Paulo) of the followup-sweep job.
    sweep_page_size, sweep_max_pages: due conversations read per query (<= 500) and pages one run reads.
    sweep_grace_seconds: a step due for longer than this without having run is re-scheduled by the sweep
      (FOLLOWUP_SWEEP_GRACE_SECONDS); above the queue's first retries, so a step that is merely being
      retried is not doubled (a double is harmless, each delivery re-checks, but costs a task).
    cadence_defaults: the platform's cadence defaults (FOLLOWUP_DEFAULTS), the same fields as an agent's
      `followup` (README.md, "Follow-up cadence"); an agent's own fields override them one by one, and its
      `steps` replace the default steps whole. Unset fields keep the code's defaults (off, 1 h / 1 day /
      3 days, 09:00-18:00 Monday-Saturday, America/Sao_Paulo). enabled = true turns follow-ups on for every
      agent that does not say otherwise. A value the code refuses stops the functions from starting.
  EOT
  type = object({
    cadence_defaults = optional(object({
      enabled = optional(bool)
      steps = optional(list(object({
        delay_minutes = number
        instruction   = optional(string)
        template = optional(object({
          name     = string
          language = optional(string)
          params   = optional(list(string))
        }))
      })))
      time_zone             = optional(string)
      business_start        = optional(string)
      business_end          = optional(string)
      business_days         = optional(list(number))
      close_after_minutes   = optional(number)
      outside_window_policy = optional(string)
      opt_out_keywords      = optional(list(string))
      opt_out_confirmation  = optional(string)
    }), {})
    retry_window_seconds = optional(number, 1800)
    sweep_schedule       = optional(string, "*/5 * * * *")
    sweep_page_size      = optional(number, 100)
    sweep_max_pages      = optional(number, 10)
    sweep_grace_seconds  = optional(number, 300)
  })
  default = {}
  validation {
    condition     = var.followups.retry_window_seconds == floor(var.followups.retry_window_seconds) && var.followups.retry_window_seconds >= 60
    error_message = "followups.retry_window_seconds must be a whole number of at least 60."
  }
  validation {
    condition     = can(regex("^\\S+(\\s+\\S+){4}$", trimspace(var.followups.sweep_schedule)))
    error_message = "followups.sweep_schedule is a 5-field cron expression such as */5 * * * *."
  }
  validation {
    condition     = var.followups.sweep_page_size >= 1 && var.followups.sweep_page_size <= 500 && var.followups.sweep_max_pages >= 1
    error_message = "followups.sweep_page_size must be from 1 to 500 (the code refuses more) and sweep_max_pages at least 1."
  }
  validation {
    # Not coalesce(policy, ""): coalesce skips null *and* "" and fails the plan when nothing is left,
    # which is exactly the default (unset) policy.
    condition     = var.followups.cadence_defaults.outside_window_policy == null ? true : contains(["skip", "free_form"], var.followups.cadence_defaults.outside_window_policy)
    error_message = "followups.cadence_defaults.outside_window_policy is skip or free_form."
  }
  validation {
    condition = alltrue([for t in compact([var.followups.cadence_defaults.business_start, var.followups.cadence_defaults.business_end]) :
    can(regex("^([01][0-9]|2[0-3]):[0-5][0-9]$", t))])
    error_message = "followups.cadence_defaults.business_start and business_end are HH:MM (24 h)."
  }
  validation {
    condition     = alltrue([for d in coalesce(var.followups.cadence_defaults.business_days, []) : d == floor(d) && d >= 0 && d <= 6])
    error_message = "followups.cadence_defaults.business_days are weekday numbers, 0 = Monday to 6 = Sunday."
  }
  validation {
    condition     = alltrue([for step in coalesce(var.followups.cadence_defaults.steps, []) : step.delay_minutes > 0])
    error_message = "Every step of followups.cadence_defaults waits a positive delay_minutes."
  }
  validation {
    condition     = var.followups.sweep_grace_seconds >= 60
    error_message = "followups.sweep_grace_seconds must be at least 60: a step being retried by its queue would be re-scheduled."
  }
}

variable "crm" {
  description = <<-EOT
    CRM sync: crm_sync, fed by the Pub/Sub push subscription crm-sync on domain-events (pubsub.tf).
    Where a tenant's events go is Firestore configuration (tenants/{t}/integrations/crm, docs/DEPLOY.md).
    timeout_seconds: one CRM HTTP call (CRM_TIMEOUT_SECONDS); a delivery makes up to about five.
    lease_seconds: how long one delivery owns an event (CRM_LEASE_SECONDS). Above crm_sync's timeout
      (functions.tf), or a redelivery can call the CRM for an event a timed-out delivery is still applying.
    config_cache_seconds: per-instance cache of the tenant's CRM document (an edit shows after at most this).
    ack_deadline_seconds: how long Pub/Sub waits for crm_sync's answer to a push (10-600); at least
      crm_sync's timeout, or an event still being delivered is pushed again.
    minimum_backoff_seconds, maximum_backoff_seconds: redelivery backoff after a failure (0-600).
    max_delivery_attempts: deliveries of one event before it goes to domain-events-dead-letter (5-100).
  EOT
  type = object({
    timeout_seconds         = optional(number, 10)
    lease_seconds           = optional(number, 120)
    config_cache_seconds    = optional(number, 60)
    ack_deadline_seconds    = optional(number, 120)
    minimum_backoff_seconds = optional(number, 10)
    maximum_backoff_seconds = optional(number, 600)
    max_delivery_attempts   = optional(number, 10)
  })
  default = {}
  validation {
    condition     = var.crm.timeout_seconds > 0 && var.crm.timeout_seconds <= 30
    error_message = "crm.timeout_seconds must be in (0, 30]: a delivery makes several CRM calls within crm_sync's timeout."
  }
  validation {
    condition     = var.crm.lease_seconds == floor(var.crm.lease_seconds) && var.crm.lease_seconds >= 10 && var.crm.lease_seconds <= 3600
    error_message = "crm.lease_seconds must be a whole number from 10 to 3600."
  }
  validation {
    condition     = var.crm.config_cache_seconds >= 0 && var.crm.config_cache_seconds <= 3600
    error_message = "crm.config_cache_seconds must be between 0 and 3600."
  }
  validation {
    condition     = var.crm.ack_deadline_seconds >= 10 && var.crm.ack_deadline_seconds <= 600
    error_message = "crm.ack_deadline_seconds must be between 10 and 600 (Pub/Sub's limits)."
  }
  validation {
    condition     = var.crm.minimum_backoff_seconds >= 0 && var.crm.minimum_backoff_seconds <= var.crm.maximum_backoff_seconds && var.crm.maximum_backoff_seconds <= 600
    error_message = "crm backoff: 0 <= minimum_backoff_seconds <= maximum_backoff_seconds <= 600 (Pub/Sub's limits)."
  }
  validation {
    condition     = var.crm.max_delivery_attempts == floor(var.crm.max_delivery_attempts) && var.crm.max_delivery_attempts >= 5 && var.crm.max_delivery_attempts <= 100
    error_message = "crm.max_delivery_attempts must be a whole number from 5 to 100 (Pub/Sub's dead-letter limits)."
  }
}

variable "providers_send" {
  description = "Send side of the WhatsApp providers: Meta Graph API version (Meta retires versions about two years after release) and the timeout of one send."
  type = object({
    meta_graph_version       = optional(string, "v21.0")
    provider_timeout_seconds = optional(number, 10)
  })
  default = {}
  validation {
    condition     = can(regex("^v[0-9]+\\.[0-9]+$", var.providers_send.meta_graph_version))
    error_message = "providers_send.meta_graph_version looks like v21.0."
  }
}

variable "function_scaling" {
  description = "Per-function overrides of the sizing in functions.tf, keyed by entry point (e.g. { agent_turn = { max_instances = 50 } }). Unset fields keep the defaults."
  type = map(object({
    memory          = optional(string)
    cpu             = optional(string)
    concurrency     = optional(number)
    timeout_seconds = optional(number)
    min_instances   = optional(number)
    max_instances   = optional(number)
  }))
  default = {}
  validation {
    condition = alltrue([for name, s in var.function_scaling : (
      (s.min_instances == null || s.min_instances >= 0) &&
      (s.max_instances == null || s.max_instances >= 1) &&
      (s.concurrency == null || (s.concurrency >= 1 && s.concurrency <= 1000)) &&
      (s.timeout_seconds == null || (s.timeout_seconds >= 1 && s.timeout_seconds <= 3600))
    )])
    error_message = "function_scaling: min_instances >= 0, max_instances >= 1, concurrency in [1, 1000], timeout_seconds in [1, 3600]."
  }
}

variable "private_function_ingress" {
  description = "Ingress of the private functions. Their gate is IAM (only the invoker service accounts hold run.invoker); ALLOW_INTERNAL_ONLY adds a network fence, since Cloud Run counts Cloud Tasks, Scheduler, Eventarc and Pub/Sub of the same project as internal. Check that in a staging project before switching."
  type        = string
  default     = "ALLOW_ALL"
  validation {
    condition     = contains(["ALLOW_ALL", "ALLOW_INTERNAL_ONLY"], var.private_function_ingress)
    error_message = "private_function_ingress must be ALLOW_ALL or ALLOW_INTERNAL_ONLY."
  }
}

variable "secret_versions" {
  description = "Secret Manager version each secret is read at, keyed by secret id (secrets.tf). Default 'latest': a rotation is a new version plus a new revision (next apply or instance start). Pin a number to make rotations explicit deploys."
  type        = map(string)
  default     = {}
  validation {
    condition     = alltrue([for v in values(var.secret_versions) : can(regex("^(latest|[0-9]+)$", v))])
    error_message = "secret_versions values are 'latest' or a version number."
  }
}

variable "media_retention_days" {
  description = "Days a lead's media (voice notes, images, documents) is kept in the media bucket before it is deleted for good. Privacy (LGPD): keep only as long as the business needs it."
  type        = number
  default     = 90
  validation {
    condition     = var.media_retention_days >= 1 && var.media_retention_days <= 3650
    error_message = "media_retention_days must be between 1 and 3650."
  }
}

variable "knowledge_noncurrent_days" {
  description = "Days an overwritten or deleted knowledge document's old version is kept (a mistaken upload can be restored meanwhile)."
  type        = number
  default     = 30
  validation {
    condition     = var.knowledge_noncurrent_days >= 1
    error_message = "knowledge_noncurrent_days must be at least 1."
  }
}

variable "event_retention" {
  description = "How long Pub/Sub keeps domain events and dead letters (seek/replay window for a CRM re-sync), as a duration like 604800s (max 31 days)."
  type        = string
  default     = "604800s"
  validation {
    condition     = can(regex("^[0-9]+s$", var.event_retention))
    error_message = "event_retention is a duration in seconds, e.g. 604800s."
  }
}

variable "alerting" {
  description = <<-EOT
    Alert policies (alerts.tf).
    emails: addresses that get an email notification channel.
    notification_channels: ids of channels made elsewhere (Slack, PagerDuty...).
    error_rate: fraction of a function's requests answered 5xx over 10 minutes that opens an incident.
    webhook_latency_p95_ms: providers retry slow webhooks (360dialog asks a median <= 250 ms, < 1 % over 1 s).
    dead_letter_messages: dead letters tolerated before an incident (0 = any).
    crm_rejections: events one tenant's CRM may refuse for good within 10 minutes before an incident (0 = any):
      a refusal is not retried, so broken CRM credentials otherwise lose that tenant's leads silently.
  EOT
  type = object({
    emails                 = optional(list(string), [])
    notification_channels  = optional(list(string), [])
    error_rate             = optional(number, 0.05)
    webhook_latency_p95_ms = optional(number, 1000)
    dead_letter_messages   = optional(number, 0)
    crm_rejections         = optional(number, 0)
  })
  default = {}
  validation {
    condition     = var.alerting.error_rate > 0 && var.alerting.error_rate < 1
    error_message = "alerting.error_rate is a fraction in (0, 1)."
  }
  validation {
    condition     = var.alerting.dead_letter_messages >= 0 && var.alerting.crm_rejections >= 0
    error_message = "alerting.dead_letter_messages and alerting.crm_rejections cannot be negative."
  }
}

variable "vertex_in_region" {
  description = "Data residency: true sends every Vertex AI call (chat, media reading, embeddings) to var.region (southamerica-east1 by default) instead of llm.location and knowledge.embedding_location, so prompts, leads' messages, files and documents are processed in that region. Only where the chosen models are offered there: check Vertex AI's data-residency and locations pages for each model id (llm.model, llm.tiers, media.model, knowledge.embedding_model) first; a model a region does not serve answers 404 (docs/DEPLOY.md, \"Data residency\")."
  type        = bool
  default     = false
}
