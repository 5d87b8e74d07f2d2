# Every Cloud Function (gen2), all built from one source archive (source.tf), each with its own entry
# point, sizing, environment and service account.
#
# Adding a function = one entry in local.function_specs (and its env in local.function_env). The key is
# the entry point in main.py's _ENTRY_POINTS; tests/infra/test_terraform_consistency.py fails until
# both sides agree. Do not add an entry before main.py exports the function: its build would fail.
#
# Fields of a spec:
#   public          true only for a function that authenticates its callers in code (allUsers invoker);
#                   every other function is invoked only by the service accounts of the queues,
#                   scheduler jobs and triggers that target it (iam.tf derives them).
#   memory, cpu, concurrency, timeout_seconds, min_instances, max_instances
#                   sizing; var.function_scaling overrides any of them per function.
#   project_roles   project-level roles of the function's own service account (kept to what has no
#                   finer-grained resource: Firestore, Vertex AI).
#   enqueues        Cloud Tasks queues (tasks.tf) it creates tasks on: enqueuer on those queues only,
#                   plus actAs on the queue's invoker service account to sign the tasks' OIDC token.
#   publishes       Pub/Sub topics (pubsub.tf) it publishes to: publisher on those topics only.
#   bucket_roles    { bucket key (storage.tf) = role } on those buckets only.
#   secrets         { ENV_VAR = secret id (secrets.tf) }: Secret Manager values exposed as env vars.
#   trigger         null for HTTP; for an event function { event_type, pubsub_topic (a topic key),
#                   bucket (a bucket key), retry }: the trigger runs as the "eventarc" invoker account.
#                   Also null for a CloudEvent function fed by a Pub/Sub push subscription that
#                   Terraform owns (pubsub.tf, local.push_subscriptions: ordering, dead letters), which
#                   pushes as the "pubsub" invoker account.
#   extra_triggers  more events for the same function, same shape as trigger. A gen2 function has one
#                   event_trigger; each extra one is a google_eventarc_trigger on the function's
#                   Cloud Run service (eventarc.tf), also as the "eventarc" invoker. [] for none.
locals {
  function_specs = {
    whatsapp_webhook = {
      description = "Public webhook of Meta Cloud API, Evolution API and Z-API: authenticates, stores the message, schedules an agent turn, answers in tens of ms."
      public      = true
      memory      = "512Mi"
      # Concurrency above 1 needs a whole vCPU. The webhook mostly waits on Firestore and Cloud Tasks,
      # so one instance serves many requests and cold starts (which make providers retry) stay rare.
      cpu             = "1"
      concurrency     = 40
      timeout_seconds = 30
      # One warm instance: providers time out slow webhooks and retry them, and a cold start pays the
      # Firestore and Cloud Tasks client set-up. About the price of a small VM; set 0 to save it.
      min_instances = 1
      max_instances = 20
      project_roles = ["roles/datastore.user"]
      # A turn per message, and a media task per message with a file (media_processor reads it).
      enqueues     = ["agent-turns", "media"]
      publishes    = []
      bucket_roles = {}
      secrets = {
        META_APP_SECRET          = "meta-app-secret"
        META_VERIFY_TOKEN        = "meta-verify-token"
        WEBHOOK_URL_KEY          = "webhook-url-key"
        WEBHOOK_URL_KEY_PREVIOUS = "webhook-url-key-previous"
      }
      trigger        = null
      extra_triggers = []
    }

    agent_turn = {
      description = "Private; invoked by Cloud Tasks: one agent turn (debounce check, Gemini call, usage ledger, reply through the provider)."
      public      = false
      memory      = "1Gi"
      cpu         = "1"
      # Each turn waits seconds on the model; several per instance keep instances few. max_instances x
      # concurrency is also the queue's concurrent dispatch cap (tasks.tf), so Vertex AI quota and spend
      # have one ceiling.
      concurrency = 10
      # The turn gets this timeout as TURN_DEADLINE_SECONDS: model attempts (each at most
      # llm.timeout_seconds, retries and fallback tiers included) stop when the time left cannot hold
      # another one plus the holding message, the seller's alert and their writes (2 sends of
      # providers_send.provider_timeout_seconds + 5 s). ARCHITECTURE.md, "One deadline per turn".
      # It must stay below agent_turn.reply_lease_seconds (180 s), or a retry could take the lease of a
      # delivery that is still running (tests/infra checks the order).
      timeout_seconds = 150
      min_instances   = 0
      max_instances   = 20
      project_roles   = ["roles/datastore.user", "roles/aiplatform.user"]
      # After every reply, the first step of the lead's follow-up cadence (restarted by each new reply).
      enqueues = ["followups"]
      # Domain events (LeadCreated at a conversation's first turn, LeadQualified... from the brain's
      # tools): the outbox first, then this topic (shared/services/events.emit).
      publishes = ["domain-events"]
      # Voice replies (voice.tf) keep their audio beside the leads' files.
      bucket_roles   = { media = "roles/storage.objectCreator" }
      secrets        = { WEBHOOK_URL_KEY = "webhook-url-key" } # keyed Twilio status callbacks
      trigger        = null
      extra_triggers = []
    }

    chat_api = {
      description = "Private; POST {tenant_id, user_id, message}: the agent's brain over HTTP, for testing agents and integrations without WhatsApp."
      public      = false
      memory      = "1Gi"
      cpu         = "1"
      concurrency = 10
      # Synchronous: the caller waits for the model, tools included.
      timeout_seconds = 150
      min_instances   = 0
      max_instances   = 5
      project_roles   = ["roles/datastore.user", "roles/aiplatform.user"]
      enqueues        = []
      # The same brain as agent_turn emits the same domain events once the caller gives the lead's phone:
      # such a conversation held through chat_api reaches the tenant's CRM like a WhatsApp one.
      publishes      = ["domain-events"]
      bucket_roles   = {}
      secrets        = { WEBHOOK_URL_KEY = "webhook-url-key" } # keyed Twilio status callbacks
      trigger        = null
      extra_triggers = []
    }

    crm_sync = {
      description = "Private; CloudEvents pushed by the Pub/Sub subscription crm-sync (topic domain-events, ordered per contact): delivers each domain event once to the tenant's CRM (signed webhook, HubSpot, Pipedrive, RD Station CRM)."
      public      = false
      memory      = "512Mi"
      cpu         = "1"
      # Each delivery mostly waits on a CRM's HTTP API.
      concurrency = 10
      # A delivery is up to about five CRM calls of crm.timeout_seconds (10 s) plus Firestore. It must
      # stay below crm.lease_seconds (120 s), or a redelivery can call the CRM for an event a timed-out
      # delivery is still applying, and within the subscription's ack deadline (preconditions below,
      # and tests/infra).
      timeout_seconds = 90
      min_instances   = 0
      # 100 deliveries at once: CRMs rate-limit per account (HubSpot about 100 requests per 10 s), and a
      # 429 is redelivered with backoff anyway. Pub/Sub push slows down by itself when pushes fail.
      max_instances = 10
      project_roles = ["roles/datastore.user"]
      enqueues      = []
      publishes     = []
      bucket_roles  = {}
      # CRM credentials are per tenant, on tenants/{t}/integrations/crm (Firestore), not platform secrets.
      secrets = {}
      # Not an Eventarc trigger: pubsub.tf's push subscription (ordering, Terraform-owned dead letters).
      trigger        = null
      extra_triggers = []
    }

    followup_turn = {
      description = "Private; invoked by Cloud Tasks (queue followups): one follow-up step of a silent lead's cadence. Re-checks the conversation, then sends a model-written nudge inside WhatsApp's 24 h window or the agent's Meta template outside it, and schedules the next step."
      public      = false
      memory      = "1Gi"
      cpu         = "1"
      # Mostly waiting on the model and the provider, like agent_turn.
      concurrency = 10
      # As agent_turn: up to 3 model attempts of llm.timeout_seconds plus one send, about 105 s. It holds
      # the same reply lease (agent_turn.reply_lease_seconds) and must time out before it expires
      # (precondition below, and tests/infra).
      timeout_seconds = 150
      min_instances   = 0
      # Cadences fire spread over business hours; the followups queue caps the rate (tasks.tf).
      max_instances = 5
      project_roles = ["roles/datastore.user", "roles/aiplatform.user"]
      # Schedules the cadence's next step on its own queue.
      enqueues       = ["followups"]
      publishes      = []
      bucket_roles   = {}
      secrets        = { WEBHOOK_URL_KEY = "webhook-url-key" } # keyed Twilio status callbacks
      trigger        = null
      extra_triggers = []
    }

    followup_sweep = {
      description = "Private; Cloud Scheduler (job followup-sweep, every 5 minutes): re-schedules follow-ups whose task was lost (due for longer than followups.sweep_grace_seconds) and closes exhausted cadences, across tenants."
      public      = false
      memory      = "512Mi"
      cpu         = "1"
      # One run at a time: two runs would page the same due conversations (harmless, since every task
      # re-checks the conversation, but wasted work).
      concurrency     = 1
      timeout_seconds = 300
      min_instances   = 0
      max_instances   = 1
      project_roles   = ["roles/datastore.user"]
      # Re-creates lost tasks on the followups queue; never calls the model.
      enqueues       = ["followups"]
      publishes      = []
      bucket_roles   = {}
      secrets        = {}
      trigger        = null
      extra_triggers = []
    }

    metrics_rollup = {
      description = "Private; Cloud Scheduler (job metrics-rollup, hourly): recomputes every tenant's daily business rollups (yesterday and today) from stored facts and seals closed days once for the business dashboard."
      public      = false
      memory      = "512Mi"
      cpu         = "1"
      # One run at a time: a second would recompute the same days (harmless, idempotent, wasted reads).
      concurrency     = 1
      timeout_seconds = 300
      min_instances   = 0
      max_instances   = 1
      project_roles   = ["roles/datastore.user"]
      enqueues        = []
      publishes       = []
      bucket_roles    = {}
      secrets         = {}
      trigger         = null
      extra_triggers  = []
    }

    tenant_report = {
      description = "Private; admins (admin_invokers): a tenant's business numbers for a date range, as JSON."
      public      = false
      memory      = "512Mi"
      cpu         = "1"
      concurrency = 10
      # At most 92 days of stored rollups plus the last two days computed live.
      timeout_seconds = 60
      min_instances   = 0
      max_instances   = 3
      project_roles   = ["roles/datastore.user"]
      enqueues        = []
      publishes       = []
      bucket_roles    = {}
      secrets         = {}
      trigger         = null
      extra_triggers  = []
    }

    weekly_digest = {
      description = "Private; Cloud Scheduler (job weekly-digest, Monday 08:00 America/Sao_Paulo): last week's numbers to each tenant owner's WhatsApp, once per week (a template on Meta)."
      public      = false
      memory      = "512Mi"
      cpu         = "1"
      concurrency = 1
      # Tenants one after the other, two reports and one send each.
      timeout_seconds = 540
      min_instances   = 0
      max_instances   = 1
      project_roles   = ["roles/datastore.user"]
      enqueues        = []
      publishes       = []
      bucket_roles    = {}
      secrets         = { WEBHOOK_URL_KEY = "webhook-url-key" } # keyed Twilio status callbacks
      trigger         = null
      extra_triggers  = []
    }

    conversation_audit = {
      description = "Private; Cloud Scheduler (job conversation-audit, hourly): audits conversations a seller handled once they go quiet (measured facts plus a model-scored rubric); never writes to a lead."
      public      = false
      memory      = "1Gi"
      cpu         = "1"
      concurrency = 1
      # business_metrics.audit_max_per_run audits, one model call each of at most llm.timeout_seconds.
      timeout_seconds = 900
      min_instances   = 0
      max_instances   = 1
      project_roles   = ["roles/datastore.user", "roles/aiplatform.user"]
      enqueues        = []
      publishes       = []
      bucket_roles    = {}
      secrets         = {}
      trigger         = null
      extra_triggers  = []
    }

    knowledge_ingest = {
      description = "Private; Cloud Storage events on the knowledge bucket (Eventarc): turns each uploaded document into passages, embeddings and vector-index entries; removes a deleted or overwritten one."
      public      = false
      memory      = "1Gi"
      cpu         = "1"
      # Each event may hold a scanned PDF transcribed by Gemini plus hundreds of chunks to embed: few at
      # once per instance keeps memory and per-instance Vertex AI calls in check.
      concurrency = 4
      # A long scan is several Gemini calls of up to 4 x llm.timeout_seconds plus the embeddings. 540 s
      # is the most an event-driven function may run.
      timeout_seconds = 540
      min_instances   = 0
      max_instances   = 5
      project_roles   = ["roles/datastore.user", "roles/aiplatform.user"]
      enqueues        = []
      publishes       = []
      # Reads the documents it is told about; never writes, lists or deletes them.
      bucket_roles = { knowledge = "roles/storage.objectViewer" }
      secrets      = {}
      # Retried: a failure is transient by contract (the code acknowledges poison input itself), and
      # a redelivery of an already indexed generation is skipped before anything is downloaded.
      trigger = {
        event_type   = "google.cloud.storage.object.v1.finalized"
        pubsub_topic = null
        bucket       = "knowledge"
        retry        = true
      }
      # The bucket is versioned: deleting or overwriting the live object sends "archived"; the
      # lifecycle's purge of the old version later sends "deleted". Both remove the file's passages
      # unless a later generation is live.
      extra_triggers = [
        { event_type = "google.cloud.storage.object.v1.deleted", pubsub_topic = null, bucket = "knowledge", retry = true },
        { event_type = "google.cloud.storage.object.v1.archived", pubsub_topic = null, bucket = "knowledge", retry = true },
      ]
    }

    knowledge_lookup = {
      description = "Private; POST {tenant_id, agent_id, question, k}: the knowledge base's passages for a question, with sources and distances, for admins checking what the agent would find."
      public      = false
      memory      = "512Mi"
      cpu         = "1"
      # One embedding call and two Firestore vector queries per request: mostly waiting.
      concurrency     = 20
      timeout_seconds = 60
      min_instances   = 0
      max_instances   = 5
      project_roles   = ["roles/datastore.user", "roles/aiplatform.user"]
      enqueues        = []
      publishes       = []
      bucket_roles    = {}
      secrets         = {}
      trigger         = null
      extra_triggers  = []
    }

    # LGPD export and erasure of one lead; who may call it and its audit metric: lgpd.tf.
    lgpd_admin = {
      description = "Private; POST {action: export|erase, tenant_id, phone, requested_by}: exports everything held about one lead as JSON, or erases it everywhere (documents, media objects) and emits LeadErased. Invoked by var.lgpd_admins only."
      public      = false
      memory      = "512Mi"
      cpu         = "1"
      # A lead's data is a few hundred documents at most; one request at a time per instance is plenty.
      concurrency     = 4
      timeout_seconds = 300
      min_instances   = 0
      max_instances   = 2
      project_roles   = ["roles/datastore.user"]
      enqueues        = []
      # LeadErased, so the CRM integration can follow (outbox first, as every emitter).
      publishes = ["domain-events"]
      # Lists and deletes the lead's originals (tenants/<t>/conversations/<c>/media/).
      bucket_roles   = { media = "roles/storage.objectUser" }
      secrets        = {}
      trigger        = null
      extra_triggers = []
    }

    # Cloned voices with consent; who may call it, Secret Manager IAM: voice_clone.tf.
    voice_admin = {
      description = "Private; POST {action: clone|revoke, tenant_id, agent_id, ...}: creates an agent's Instant Custom Voice key from consented recordings (key in Secret Manager, consent record in Firestore) or revokes it. Invoked by var.voice_admins only."
      public      = false
      memory      = "512Mi"
      cpu         = "1"
      # Two recordings of up to 6 MB each per request: few at a time.
      concurrency     = 4
      timeout_seconds = 120
      min_instances   = 0
      max_instances   = 2
      project_roles   = ["roles/datastore.user"]
      enqueues        = []
      publishes       = []
      # Keeps the two recordings as proof of consent (tenants/<t>/voice_consents/<id>/).
      bucket_roles   = { media = "roles/storage.objectCreator" }
      secrets        = {}
      trigger        = null
      extra_triggers = []
    }

    media_processor = {
      description = "Private; invoked by Cloud Tasks (queue media): downloads a lead's voice note, image or document once, keeps the original in the media bucket, writes its text on the message and wakes the waiting turn."
      public      = false
      # A file of up to media.max_document_bytes (15 MB) is held in memory and sent inline to Gemini,
      # base64-encoded (4/3 of the size) inside the JSON request: several copies of it at once. 8 files
      # per instance fit in 1Gi with room for the runtime; raise memory before limits or concurrency.
      memory      = "1Gi"
      cpu         = "1"
      concurrency = 8
      # A download (each read bounded by 3 x providers_send.provider_timeout_seconds), the copy to the
      # bucket (60 s at most) and up to 3 model attempts of 2 x llm.timeout_seconds: about 300 s in
      # the worst case. It must stay below media.lease_seconds (360 s), or a retry could take over a
      # file a timed-out delivery is still reading, and within the tasks' 600 s dispatch deadline
      # (preconditions below, and tests/infra).
      timeout_seconds = 300
      min_instances   = 0
      # With concurrency, 80 at once; the media queue caps dispatches lower (tasks.tf).
      max_instances = 10
      project_roles = ["roles/datastore.user", "roles/aiplatform.user"]
      # Wakes the waiting turn: a task on agent-turns, signed as the tasks invoker.
      enqueues  = ["agent-turns"]
      publishes = []
      # Writes the originals and reads them back on a retry. A retry overwrites the same object, which
      # needs storage.objects.delete: objectCreator cannot, objectUser is the smallest role that can.
      # On this bucket only.
      bucket_roles   = { media = "roles/storage.objectUser" }
      secrets        = {}
      trigger        = null
      extra_triggers = []
    }

    outbox_drain = {
      description = "Private; Cloud Scheduler (job outbox-drain, every 5 minutes): publishes the domain events the outbox still holds (Pub/Sub failed or was slow when they were emitted), oldest first, in order per contact."
      public      = false
      memory      = "512Mi"
      cpu         = "1"
      # One run at a time, on one instance: two runs would read and publish the same pending events.
      concurrency = 1
      # A run starts no new page after events.drain_time_budget_seconds (240 s); the page it is on runs
      # to its end. Killed at the timeout it loses nothing: an event published but not yet marked is
      # published again next run, and crm_sync's delivery record absorbs the duplicate.
      timeout_seconds = 300
      min_instances   = 0
      max_instances   = 1
      project_roles   = ["roles/datastore.user"]
      enqueues        = []
      publishes       = ["domain-events"]
      bucket_roles    = {}
      secrets         = {}
      trigger         = null
      extra_triggers  = []
    }
  }

  # Sizing after var.function_scaling overrides; static (no resource references) so queues can use it.
  function_sizing = {
    for fn, spec in local.function_specs : fn => {
      memory          = coalesce(try(var.function_scaling[fn].memory, null), spec.memory)
      cpu             = coalesce(try(var.function_scaling[fn].cpu, null), spec.cpu)
      concurrency     = coalesce(try(var.function_scaling[fn].concurrency, null), spec.concurrency)
      timeout_seconds = coalesce(try(var.function_scaling[fn].timeout_seconds, null), spec.timeout_seconds)
      min_instances   = coalesce(try(var.function_scaling[fn].min_instances, null), spec.min_instances)
      max_instances   = coalesce(try(var.function_scaling[fn].max_instances, null), spec.max_instances)
    }
  }

  # The platform's cadence defaults, for every function that reads an agent's configuration, so they all
  # see the same agent. Unset optional attributes encode as null, which the code reads as "not set".
  followup_defaults = jsonencode(var.followups.cadence_defaults)

  # The model media_processor reads files with: media.model, or the chat model when unset.
  media_model = coalesce(var.media.model, var.llm.model)

  # Settings (shared/config.py) every function reads. Names are Settings fields upper-cased; values are
  # strings. GOOGLE_CLOUD_PROJECT is set explicitly: the Python 3.11 runtime does not set it.
  common_env = {
    GOOGLE_CLOUD_PROJECT = var.project_id
    LOG_LEVEL            = var.log_level
  }

  # Per-function settings. Kept apart from function_specs because these reference other resources
  # (queues, service accounts), which themselves read function_specs.
  function_env = {
    whatsapp_webhook = {
      FOLLOWUP_DEFAULTS = local.followup_defaults

      # The queue's location: the webhook builds the queue path from it.
      REGION                = var.region
      AGENT_TURN_QUEUE      = google_cloud_tasks_queue.queue["agent-turns"].name
      AGENT_TURN_URL        = local.function_urls["agent_turn"]
      TASKS_SERVICE_ACCOUNT = google_service_account.invoker["tasks"].email
      DEBOUNCE_SECONDS      = tostring(var.webhook.debounce_seconds)
      MAX_BODY_BYTES        = tostring(var.webhook.max_body_bytes)
      CHANNEL_CACHE_SECONDS = tostring(var.webhook.channel_cache_seconds)
      # Bounded work per request: a batch limit, a request deadline and a per-call timeout (503 past them).
      WEBHOOK_MAX_BATCH_ITEMS      = tostring(var.webhook.max_batch_items)
      WEBHOOK_DEADLINE_SECONDS     = tostring(var.webhook.deadline_seconds)
      WEBHOOK_CALL_TIMEOUT_SECONDS = tostring(var.webhook.call_timeout_seconds)
      # A message with a file also gets a media task (same task identity as the turns').
      MEDIA_QUEUE         = google_cloud_tasks_queue.queue["media"].name
      MEDIA_PROCESSOR_URL = local.function_urls["media_processor"]
      # Twilio signs the URL it called (twilio.tf).
      PUBLIC_WEBHOOK_URL = local.public_webhook_url
      # required, or optional only while existing gateway channels are re-pointed to their keyed URLs.
      WEBHOOK_URL_KEY_MODE = var.webhook.url_key_mode
    }
    agent_turn = {
      FOLLOWUP_DEFAULTS = local.followup_defaults

      LLM_BACKEND              = var.llm.backend
      LLM_MODEL                = var.llm.model
      LLM_TIERS                = jsonencode(var.llm.tiers)
      VERTEX_LOCATION          = local.vertex_location
      LLM_TIMEOUT_SECONDS      = tostring(var.llm.timeout_seconds)
      LLM_PRICING              = jsonencode(var.llm_pricing)
      TURN_DEADLINE_SECONDS    = tostring(local.function_sizing["agent_turn"].timeout_seconds)
      REPLY_LEASE_SECONDS      = tostring(var.agent_turn.reply_lease_seconds)
      REPLY_MAX_SEND_ATTEMPTS  = tostring(var.agent_turn.reply_max_send_attempts)
      CHANNEL_CACHE_SECONDS    = tostring(var.webhook.channel_cache_seconds)
      META_GRAPH_VERSION       = var.providers_send.meta_graph_version
      PROVIDER_TIMEOUT_SECONDS = tostring(var.providers_send.provider_timeout_seconds)
      PUBLIC_WEBHOOK_URL       = local.public_webhook_url # Twilio sends report their status there (twilio.tf)
      # The search_knowledge tool embeds the lead's question in-process: same model and dimension as
      # the documents' vectors (knowledge_ingest) and the vector index (firestore.tf).
      EMBEDDING_BACKEND      = var.knowledge.embedding_backend
      EMBEDDING_MODEL        = var.knowledge.embedding_model
      EMBEDDING_DIMENSIONS   = tostring(var.knowledge.embedding_dimensions)
      EMBEDDING_LOCATION     = local.embedding_location
      KNOWLEDGE_MAX_DISTANCE = tostring(var.knowledge.max_distance)
      # How long a turn answers 425 (retried by the agent-turns queue) while its burst's files are read.
      MEDIA_WAIT_SECONDS = tostring(var.media.wait_seconds)
      # Domain events: the topic the turn publishes to, and the outbox documents' retention.
      EVENTS_TOPIC                  = google_pubsub_topic.topic["domain-events"].name
      EVENT_PUBLISH_TIMEOUT_SECONDS = tostring(var.events.publish_timeout_seconds)
      CRM_RETENTION_DAYS            = tostring(var.events.retention_days)
      # Voice replies (voice.tf): Cloud Text-to-Speech, and where the audio is kept.
      TTS_ENDPOINT                = local.tts_endpoint
      TTS_PRICE_PER_MILLION_CHARS = var.voice.price_per_million_chars == null ? "" : tostring(var.voice.price_per_million_chars)
      TTS_TIMEOUT_SECONDS         = tostring(var.voice.timeout_seconds)
      # Cloned voices (voice_clone.tf): the key is read from Secret Manager and kept this long per instance.
      TTS_CLONE_PRICE_PER_MILLION_CHARS = var.voice.clone_price_per_million_chars == null ? "" : tostring(var.voice.clone_price_per_million_chars)
      VOICE_KEY_CACHE_SECONDS           = tostring(var.voice.key_cache_seconds)
      # Twilio takes a voice note by URL: a V4 link signed by agent_turn's own account (voice_clone.tf).
      MEDIA_SIGNER_SERVICE_ACCOUNT = google_service_account.function["agent_turn"].email
      MEDIA_LINK_SECONDS           = tostring(var.voice.media_link_seconds)
      MEDIA_BUCKET                 = google_storage_bucket.bucket["media"].name
      # After each reply, the cadence's first step: a task on followups, signed as the tasks invoker.
      REGION                = var.region
      FOLLOWUP_QUEUE        = google_cloud_tasks_queue.queue["followups"].name
      FOLLOWUP_TURN_URL     = local.function_urls["followup_turn"]
      TASKS_SERVICE_ACCOUNT = google_service_account.invoker["tasks"].email
      # Agents with a calendar book on the sellers' Google Calendars as this account (calendar.tf).
      CALENDAR_SERVICE_ACCOUNT = google_service_account.calendar.email
    }
    # The same brain as agent_turn, answering over HTTP instead of WhatsApp.
    chat_api = {
      FOLLOWUP_DEFAULTS = local.followup_defaults

      LLM_BACKEND           = var.llm.backend
      LLM_MODEL             = var.llm.model
      LLM_TIERS             = jsonencode(var.llm.tiers)
      VERTEX_LOCATION       = local.vertex_location
      LLM_TIMEOUT_SECONDS   = tostring(var.llm.timeout_seconds)
      LLM_PRICING           = jsonencode(var.llm_pricing)
      TURN_DEADLINE_SECONDS = tostring(local.function_sizing["chat_api"].timeout_seconds)
      REPLY_LEASE_SECONDS   = tostring(var.agent_turn.reply_lease_seconds)
      CHANNEL_CACHE_SECONDS = tostring(var.webhook.channel_cache_seconds)
      PUBLIC_WEBHOOK_URL    = local.public_webhook_url
      # As agent_turn: its search_knowledge tool embeds questions in-process.
      EMBEDDING_BACKEND      = var.knowledge.embedding_backend
      EMBEDDING_MODEL        = var.knowledge.embedding_model
      EMBEDDING_DIMENSIONS   = tostring(var.knowledge.embedding_dimensions)
      EMBEDDING_LOCATION     = local.embedding_location
      KNOWLEDGE_MAX_DISTANCE = tostring(var.knowledge.max_distance)
      # As agent_turn: the domain events it emits.
      EVENTS_TOPIC                  = google_pubsub_topic.topic["domain-events"].name
      EVENT_PUBLISH_TIMEOUT_SECONDS = tostring(var.events.publish_timeout_seconds)
      CRM_RETENTION_DAYS            = tostring(var.events.retention_days)
      # As agent_turn: the calendar tools.
      CALENDAR_SERVICE_ACCOUNT = google_service_account.calendar.email
    }
    crm_sync = {
      CRM_TIMEOUT_SECONDS      = tostring(var.crm.timeout_seconds)
      CRM_LEASE_SECONDS        = tostring(var.crm.lease_seconds)
      CRM_CONFIG_CACHE_SECONDS = tostring(var.crm.config_cache_seconds)
      # Delivery records (crm_deliveries) expire with the outbox documents.
      CRM_RETENTION_DAYS = tostring(var.events.retention_days)
      # CRM_WEBHOOK_ALLOW_HTTP is never set here: it lets tenants' webhook URLs be http:// or point at
      # private addresses, a local-development switch (precondition below, and tests/infra).
    }
    followup_turn = {
      FOLLOWUP_DEFAULTS = local.followup_defaults

      # The nudge is written by the chat model (a template outside the 24 h window needs none).
      LLM_BACKEND         = var.llm.backend
      LLM_MODEL           = var.llm.model
      LLM_TIERS           = jsonencode(var.llm.tiers)
      VERTEX_LOCATION     = local.vertex_location
      LLM_TIMEOUT_SECONDS = tostring(var.llm.timeout_seconds)
      LLM_PRICING         = jsonencode(var.llm_pricing)
      # The model stops in time for the send: the function's timeout reaches the code (ARCHITECTURE.md).
      TURN_DEADLINE_SECONDS = tostring(local.function_sizing["followup_turn"].timeout_seconds)
      # The same reply lease as agent_turn: a follow-up and a turn never send on one conversation at once.
      REPLY_LEASE_SECONDS      = tostring(var.agent_turn.reply_lease_seconds)
      REPLY_MAX_SEND_ATTEMPTS  = tostring(var.agent_turn.reply_max_send_attempts)
      CHANNEL_CACHE_SECONDS    = tostring(var.webhook.channel_cache_seconds)
      META_GRAPH_VERSION       = var.providers_send.meta_graph_version
      PROVIDER_TIMEOUT_SECONDS = tostring(var.providers_send.provider_timeout_seconds)
      PUBLIC_WEBHOOK_URL       = local.public_webhook_url
      # The next step of the cadence.
      REGION                = var.region
      FOLLOWUP_QUEUE        = google_cloud_tasks_queue.queue["followups"].name
      FOLLOWUP_TURN_URL     = local.function_urls["followup_turn"]
      TASKS_SERVICE_ACCOUNT = google_service_account.invoker["tasks"].email
    }
    # The agents' time zones (their follow-up cadence's) decide where a business day starts.
    metrics_rollup = {
      FOLLOWUP_DEFAULTS = local.followup_defaults
    }
    tenant_report = {
      FOLLOWUP_DEFAULTS = local.followup_defaults
    }
    # Reads the numbers like tenant_report and sends through the tenants' providers.
    weekly_digest = {
      FOLLOWUP_DEFAULTS        = local.followup_defaults
      META_GRAPH_VERSION       = var.providers_send.meta_graph_version
      PROVIDER_TIMEOUT_SECONDS = tostring(var.providers_send.provider_timeout_seconds)
      PUBLIC_WEBHOOK_URL       = local.public_webhook_url
    }
    # The rubric is scored by the model of one routing tier.
    conversation_audit = {
      FOLLOWUP_DEFAULTS   = local.followup_defaults
      LLM_BACKEND         = var.llm.backend
      LLM_MODEL           = var.llm.model
      LLM_TIERS           = jsonencode(var.llm.tiers)
      VERTEX_LOCATION     = local.vertex_location
      LLM_TIMEOUT_SECONDS = tostring(var.llm.timeout_seconds)
      LLM_PRICING         = jsonencode(var.llm_pricing)
      AUDIT_QUIET_HOURS   = tostring(var.business_metrics.audit_quiet_hours)
      AUDIT_LOOKBACK_DAYS = tostring(var.business_metrics.audit_lookback_days)
      AUDIT_MAX_PER_RUN   = tostring(var.business_metrics.audit_max_per_run)
      AUDIT_TIER          = var.business_metrics.audit_tier
    }
    followup_sweep = {
      FOLLOWUP_DEFAULTS = local.followup_defaults

      REGION                       = var.region
      FOLLOWUP_QUEUE               = google_cloud_tasks_queue.queue["followups"].name
      FOLLOWUP_TURN_URL            = local.function_urls["followup_turn"]
      TASKS_SERVICE_ACCOUNT        = google_service_account.invoker["tasks"].email
      CHANNEL_CACHE_SECONDS        = tostring(var.webhook.channel_cache_seconds)
      FOLLOWUP_SWEEP_PAGE_SIZE     = tostring(var.followups.sweep_page_size)
      FOLLOWUP_SWEEP_MAX_PAGES     = tostring(var.followups.sweep_max_pages)
      FOLLOWUP_SWEEP_GRACE_SECONDS = tostring(var.followups.sweep_grace_seconds)
    }
    knowledge_ingest = {
      # Events naming another bucket are refused: the name must be the bucket the triggers watch.
      KNOWLEDGE_BUCKET              = google_storage_bucket.bucket["knowledge"].name
      EMBEDDING_BACKEND             = var.knowledge.embedding_backend
      EMBEDDING_MODEL               = var.knowledge.embedding_model
      EMBEDDING_DIMENSIONS          = tostring(var.knowledge.embedding_dimensions)
      EMBEDDING_LOCATION            = local.embedding_location
      KNOWLEDGE_CHUNK_CHARS         = tostring(var.knowledge.chunk_chars)
      KNOWLEDGE_CHUNK_OVERLAP_CHARS = tostring(var.knowledge.chunk_overlap_chars)
      KNOWLEDGE_MAX_OBJECT_BYTES    = tostring(var.knowledge.max_object_bytes)
      # Scanned PDFs are transcribed by the chat model (LLM_BACKEND=offline: recorded as unsupported).
      LLM_BACKEND         = var.llm.backend
      LLM_MODEL           = var.llm.model
      VERTEX_LOCATION     = local.vertex_location
      LLM_TIMEOUT_SECONDS = tostring(var.llm.timeout_seconds)
      LLM_PRICING         = jsonencode(var.llm_pricing)
    }
    knowledge_lookup = {
      EMBEDDING_BACKEND      = var.knowledge.embedding_backend
      EMBEDDING_MODEL        = var.knowledge.embedding_model
      EMBEDDING_DIMENSIONS   = tostring(var.knowledge.embedding_dimensions)
      EMBEDDING_LOCATION     = local.embedding_location
      KNOWLEDGE_MAX_DISTANCE = tostring(var.knowledge.max_distance)
      # The embedding client's timeout, and the price of the question's embedding.
      LLM_TIMEOUT_SECONDS = tostring(var.llm.timeout_seconds)
      LLM_PRICING         = jsonencode(var.llm_pricing)
    }
    voice_admin = {
      MEDIA_BUCKET                = google_storage_bucket.bucket["media"].name
      TTS_ENDPOINT                = local.tts_endpoint
      TTS_TIMEOUT_SECONDS         = tostring(var.voice.timeout_seconds)
      VOICE_CLONE_SECRET_LOCATION = var.region
      VOICE_CONSENT_STATEMENTS    = jsonencode(var.voice.consent_statements)
    }
    lgpd_admin = {
      MEDIA_BUCKET                  = google_storage_bucket.bucket["media"].name
      CHANNEL_CACHE_SECONDS         = tostring(var.webhook.channel_cache_seconds)
      EVENTS_TOPIC                  = google_pubsub_topic.topic["domain-events"].name
      EVENT_PUBLISH_TIMEOUT_SECONDS = tostring(var.events.publish_timeout_seconds)
      CRM_RETENTION_DAYS            = tostring(var.events.retention_days)
    }
    media_processor = {
      FOLLOWUP_DEFAULTS = local.followup_defaults

      # Originals go to the media bucket (retention: storage.tf); the name is the bucket Terraform made.
      MEDIA_BUCKET              = google_storage_bucket.bucket["media"].name
      MEDIA_MAX_AUDIO_BYTES     = tostring(var.media.max_audio_bytes)
      MEDIA_MAX_IMAGE_BYTES     = tostring(var.media.max_image_bytes)
      MEDIA_MAX_DOCUMENT_BYTES  = tostring(var.media.max_document_bytes)
      MEDIA_MAX_VIDEO_BYTES     = tostring(var.media.max_video_bytes)
      MEDIA_READABLE_MIME_TYPES = join(",", var.media.readable_mime_types)
      MEDIA_TEXT_MAX_CHARS      = tostring(var.media.text_max_chars)
      # The same variable as the media queue's max_attempts (tasks.tf): the code records a failure on
      # what it believes is the queue's last attempt (tests/infra checks they agree).
      MEDIA_MAX_ATTEMPTS  = tostring(var.media.max_attempts)
      MEDIA_LEASE_SECONDS = tostring(var.media.lease_seconds)
      # Transcription, image description and scans (LLM_BACKEND=offline: a labelled stand-in, cost 0).
      MEDIA_MODEL         = local.media_model
      LLM_BACKEND         = var.llm.backend
      LLM_MODEL           = var.llm.model
      VERTEX_LOCATION     = local.vertex_location
      LLM_TIMEOUT_SECONDS = tostring(var.llm.timeout_seconds)
      LLM_PRICING         = jsonencode(var.llm_pricing)
      # Downloads from the provider (Meta's media URL needs the Graph API version).
      META_GRAPH_VERSION       = var.providers_send.meta_graph_version
      PROVIDER_TIMEOUT_SECONDS = tostring(var.providers_send.provider_timeout_seconds)
      CHANNEL_CACHE_SECONDS    = tostring(var.webhook.channel_cache_seconds)
      # Waking the turn: a task on agent-turns, due when the burst's debounce window ends.
      REGION                = var.region
      AGENT_TURN_QUEUE      = google_cloud_tasks_queue.queue["agent-turns"].name
      AGENT_TURN_URL        = local.function_urls["agent_turn"]
      TASKS_SERVICE_ACCOUNT = google_service_account.invoker["tasks"].email
      DEBOUNCE_SECONDS      = tostring(var.webhook.debounce_seconds)
    }
    outbox_drain = {
      EVENTS_TOPIC                     = google_pubsub_topic.topic["domain-events"].name
      EVENT_PUBLISH_TIMEOUT_SECONDS    = tostring(var.events.publish_timeout_seconds)
      CRM_RETENTION_DAYS               = tostring(var.events.retention_days)
      OUTBOX_DRAIN_MAX_EVENTS          = tostring(var.events.drain_max_events)
      OUTBOX_DRAIN_PAGE_SIZE           = tostring(var.events.drain_page_size)
      OUTBOX_DRAIN_MIN_AGE_SECONDS     = tostring(var.events.drain_min_age_seconds)
      OUTBOX_DRAIN_TIME_BUDGET_SECONDS = tostring(var.events.drain_time_budget_seconds)
    }
  }
}

resource "google_cloudfunctions2_function" "function" {
  for_each    = local.function_specs
  name        = local.function_names[each.key]
  location    = var.region
  description = each.value.description

  build_config {
    runtime     = "python311"
    entry_point = each.key
    # A dedicated build identity instead of the Compute Engine default account (often disabled by
    # org policy, and far broader than a build needs).
    service_account   = google_service_account.builder.id
    docker_repository = google_artifact_registry_repository.functions.id
    source {
      storage_source {
        bucket = google_storage_bucket.bucket["source"].name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    available_memory                 = local.function_sizing[each.key].memory
    available_cpu                    = local.function_sizing[each.key].cpu
    max_instance_request_concurrency = local.function_sizing[each.key].concurrency
    timeout_seconds                  = local.function_sizing[each.key].timeout_seconds
    min_instance_count               = local.function_sizing[each.key].min_instances
    max_instance_count               = local.function_sizing[each.key].max_instances
    ingress_settings                 = each.value.public ? "ALLOW_ALL" : var.private_function_ingress
    all_traffic_on_latest_revision   = true
    service_account_email            = google_service_account.function[each.key].email
    environment_variables            = merge(local.common_env, local.function_env[each.key])

    dynamic "secret_environment_variables" {
      for_each = each.value.secrets
      content {
        key        = secret_environment_variables.key
        project_id = var.project_id
        secret     = google_secret_manager_secret.secret[secret_environment_variables.value].secret_id
        version    = lookup(var.secret_versions, secret_environment_variables.value, "latest")
      }
    }
  }

  dynamic "event_trigger" {
    for_each = each.value.trigger == null ? [] : [each.value.trigger]
    content {
      trigger_region        = var.region
      event_type            = event_trigger.value.event_type
      pubsub_topic          = try(google_pubsub_topic.topic[event_trigger.value.pubsub_topic].id, null)
      retry_policy          = event_trigger.value.retry ? "RETRY_POLICY_RETRY" : "RETRY_POLICY_DO_NOT_RETRY"
      service_account_email = google_service_account.invoker["eventarc"].email
      dynamic "event_filters" {
        for_each = try(event_trigger.value.bucket, null) == null ? [] : [event_trigger.value.bucket]
        content {
          attribute = "bucket"
          value     = google_storage_bucket.bucket[event_filters.value].name
        }
      }
    }
  }

  lifecycle {
    # Guards var.function_scaling overrides too: a delivery must never outlive its reply lease.
    precondition {
      condition     = each.key != "agent_turn" || local.function_sizing[each.key].timeout_seconds < var.agent_turn.reply_lease_seconds
      error_message = "agent_turn's timeout_seconds must be below agent_turn.reply_lease_seconds, or a retry can take over a delivery that is still running and the lead gets two replies."
    }
    # followup_turn takes the same reply lease as agent_turn.
    precondition {
      condition     = each.key != "followup_turn" || local.function_sizing[each.key].timeout_seconds < var.agent_turn.reply_lease_seconds
      error_message = "followup_turn's timeout_seconds must be below agent_turn.reply_lease_seconds, or a retry can take over a follow-up that is still being sent and the lead gets it twice."
    }
    # Without a price every model call is recorded as costing 0 and the cost dashboard lies. Checked on
    # every function that calls the model (given LLM_MODEL / EMBEDDING_MODEL).
    precondition {
      condition     = !contains(keys(local.function_env[each.key]), "LLM_MODEL") || var.llm.backend == "offline" || contains(keys(var.llm_pricing), var.llm.model)
      error_message = "llm_pricing has no price for llm.model: every call would be recorded as free."
    }
    precondition {
      condition     = !contains(keys(local.function_env[each.key]), "LLM_TIERS") || var.llm.backend == "offline" || alltrue([for model in values(var.llm.tiers) : contains(keys(var.llm_pricing), model)])
      error_message = "llm_pricing has no price for a model of llm.tiers (lite, standard, advanced; summaries use lite): its calls would have no cost."
    }
    precondition {
      condition     = !contains(keys(local.function_env[each.key]), "MEDIA_MODEL") || var.llm.backend == "offline" || contains(keys(var.llm_pricing), local.media_model)
      error_message = "llm_pricing has no price for media.model (or llm.model when media.model is unset): every file read would be recorded as free."
    }
    # Cloud Tasks cancels an attempt at the tasks' dispatch deadline (its 10-minute default, tasks.tf)
    # and retries it while the function may still be running it.
    precondition {
      condition     = !contains([for queue in values(local.queues) : queue.target], each.key) || local.function_sizing[each.key].timeout_seconds <= 600
      error_message = "A function Cloud Tasks calls must time out within 600 s, the tasks' dispatch deadline, or attempts still running are retried."
    }
    # As agent_turn's: a media delivery must never outlive its lease.
    precondition {
      condition     = each.key != "media_processor" || local.function_sizing[each.key].timeout_seconds < var.media.lease_seconds
      error_message = "media_processor's timeout_seconds must be below media.lease_seconds, or a retry can read a file a timed-out delivery is still reading."
    }
    precondition {
      condition     = !contains(keys(local.function_env[each.key]), "EMBEDDING_MODEL") || var.knowledge.embedding_backend == "offline" || contains(keys(var.llm_pricing), var.knowledge.embedding_model)
      error_message = "llm_pricing has no price for knowledge.embedding_model: every embedding would be recorded as free."
    }
    # As agent_turn's: a CRM delivery must never outlive its lease.
    precondition {
      condition     = each.key != "crm_sync" || local.function_sizing[each.key].timeout_seconds < var.crm.lease_seconds
      error_message = "crm_sync's timeout_seconds must be below crm.lease_seconds, or a redelivery can call the CRM for an event a timed-out delivery is still applying."
    }
    # Pub/Sub waits a push's answer for the subscription's ack deadline, then pushes the message again.
    precondition {
      condition     = alltrue([for sub in values(local.push_subscriptions) : sub.target != each.key || local.function_sizing[each.key].timeout_seconds <= sub.ack_deadline_seconds])
      error_message = "A function a push subscription calls must time out within the subscription's ack deadline (crm.ack_deadline_seconds for crm-sync), or messages still being handled are pushed again."
    }
    precondition {
      condition     = each.key != "outbox_drain" || var.events.drain_time_budget_seconds < local.function_sizing[each.key].timeout_seconds
      error_message = "events.drain_time_budget_seconds must be below outbox_drain's timeout_seconds, or every run is cut off mid-page."
    }
    # Lets tenants' webhook URLs be http:// or private addresses (shared/domain/crm.check_webhook_url):
    # local development only.
    precondition {
      condition     = !contains(keys(local.function_env[each.key]), "CRM_WEBHOOK_ALLOW_HTTP")
      error_message = "CRM_WEBHOOK_ALLOW_HTTP must never be set in Terraform: it allows plain-http and private-network CRM webhook URLs."
    }
  }

  # The deploy checks that the runtime account can read its secrets and that the build account can
  # push its image, and a Cloud Storage trigger is refused unless Cloud Storage's service agent may
  # publish to Pub/Sub (eventarc.tf) and the Eventarc agent has its role: grant first, wait for the
  # grants to propagate (propagation.tf), deploy second.
  depends_on = [
    google_project_service.api,
    time_sleep.iam_propagation,
    google_secret_manager_secret_iam_member.accessor,
    google_artifact_registry_repository_iam_member.builder,
    google_project_iam_member.builder,
    google_project_iam_member.builder_source_reader,
    google_project_iam_member.storage_service_agent_publisher,
    google_project_iam_member.eventarc_receiver,
  ]
}
