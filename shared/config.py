"""Every setting Piloto reads from the environment, read once per instance. Documented in .env.example."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.domain.inbound import MessageKind
from shared.domain.media import MediaLimits, normalize_mime
from shared.domain.usage import ModelPrice

# Current stable Gemini models on Vertex AI ("Latest available models",
# https://docs.cloud.google.com/gemini-enterprise-agent-platform/models/model-versions, read 2026-11-29) and their
# prices in USD per 1M tokens (ARCHITECTURE.md, "Models and prices", gives the sources). LLM_PRICING entries are
# merged over these: set a model there to change its price or to price a model of your own choice.
DEFAULT_TIERS = {"lite": "gemini-3.5-flash-lite", "standard": "gemini-3.5-flash", "advanced": "gemini-3.8-flash"}
DEFAULT_PRICES: dict[str, dict[str, float]] = {
    "gemini-3.5-flash-lite": {"input_per_mtok": 0.30, "cached_input_per_mtok": 0.03, "audio_input_per_mtok": 0.30,
                              "output_per_mtok": 2.50},
    "gemini-3.5-flash": {"input_per_mtok": 1.50, "cached_input_per_mtok": 0.15, "output_per_mtok": 9.00},
    # Introductory price until 2026-12-31; $1.50 input / $7.50 output from 2027-01-01.
    "gemini-3.8-flash": {"input_per_mtok": 0.75, "output_per_mtok": 3.75},
    "gemini-embedding-001": {"input_per_mtok": 0.15, "output_per_mtok": 0.0},
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    google_cloud_project: str = Field(default="piloto-local", description="GCP project id")
    region: str = Field(default="southamerica-east1", description="region of queues and functions")

    # Webhook
    meta_app_secret: SecretStr | None = None
    meta_verify_token: SecretStr | None = None
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    debounce_seconds: float = Field(default=4.0, ge=0, le=60, description="burst window before an agent turn")
    channel_cache_seconds: float = Field(default=60.0, ge=0)
    webhook_max_batch_items: int = Field(default=50, ge=1, le=10_000, description="messages + statuses + skipped "
                                         "events one webhook request may carry; more is refused with 413")
    webhook_deadline_seconds: float = Field(default=3.0, gt=0, le=30, description="past this the webhook stops "
                                            "and answers 503 + Retry-After; keep below the providers' timeouts")
    webhook_call_timeout_seconds: float = Field(default=1.5, gt=0, le=30, description="one Firestore or Cloud Tasks "
                                                "call on the webhook path (one attempt, then 503)")
    webhook_url_key: SecretStr | None = Field(
        default=None, description="platform secret the gateways' (Evolution, Z-API, Twilio) per-channel webhook URL "
                                  "keys derive from; checked before any parsing (scripts/tenancy_admin.py webhook-url)")
    webhook_url_key_previous: SecretStr | None = Field(
        default=None, description="the secret before the last rotation: its keys are still accepted until every "
                                  "gateway URL is re-pointed")
    webhook_url_key_mode: str = Field(
        default="required", pattern="^(required|optional)$",
        description="required: a gateway request without a URL key is refused (401); optional (migration only): it "
                    "falls back to the provider's own credential, with a warning logged")

    # Cloud Tasks
    agent_turn_queue: str = "agent-turns"
    agent_turn_url: str = Field(default="http://127.0.0.1:8081/", description="URL of the agent_turn function")
    tasks_service_account: str | None = Field(default=None, description="SA whose OIDC token tasks carry")
    tasks_emulator_host: str | None = Field(default=None, description="host:port of a local Cloud Tasks emulator")
    storage_emulator_host: str | None = Field(
        default=None, description="URL of a local Cloud Storage emulator (google-cloud-storage reads it too); media "
                                  "links then point at the emulator, unsigned")

    # Agent turn
    reply_lease_seconds: int = Field(default=120, ge=10, description="how long one delivery owns a turn")
    reply_max_send_attempts: int = Field(default=3, ge=1, le=10, description="provider calls per reply at most; "
                                         "past them the reply is marked uncertain and the seller told")

    # Model
    llm_backend: str = Field(default="vertex", pattern="^(vertex|gemini|offline)$",
                             description="vertex (ADC), gemini (Gemini Developer API, GEMINI_API_KEY) or offline")
    llm_model: str = Field(default="gemini-3.5-flash", description="default model: media, scans, unrouted calls")
    llm_tiers: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_TIERS),
        description='JSON: model id per tier {"lite": …, "standard": …, "advanced": …}; routing picks the tier; '
                    "summaries use lite")
    vertex_location: str = "global"
    vertex_project: str | None = Field(default=None, description="project billed for Vertex AI calls; "
                                       "GOOGLE_CLOUD_PROJECT when unset (local runs on the emulators)")
    vertex_base_url: str | None = Field(default=None, description="override the Vertex endpoint (tests)")
    gemini_api_key: SecretStr | None = Field(default=None, description="Gemini Developer API key (LLM_BACKEND=gemini)")
    gemini_base_url: str | None = Field(default=None, description="override the Gemini API endpoint (tests, bench)")
    llm_timeout_seconds: float = Field(default=30.0, gt=0, description="one model attempt at most")
    llm_attempts_per_tier: int = Field(default=2, ge=1, le=5, description="attempts per tier on 5xx/timeouts")
    llm_pricing: dict[str, ModelPrice] = Field(
        default_factory=lambda: {model: ModelPrice(**price) for model, price in DEFAULT_PRICES.items()},
        description='JSON: {"model-id": {"input_per_mtok": 0.3, "output_per_mtok": 2.5, '
        '"cached_input_per_mtok": 0.03, "audio_input_per_mtok": 1.0}}, merged over the built-in defaults')
    turn_deadline_seconds: float = Field(default=150.0, gt=0, description="the agent_turn/chat_api function's "
                                         "timeout: model attempts stop in time for the holding message")

    # WhatsApp providers (send side)
    meta_graph_base_url: str = "https://graph.facebook.com"
    meta_graph_version: str = Field(
        default="v25.0", description="Graph API version; v25.0 is available until 2028-07-29 (Meta's versions "
                                     "page); a warning is logged within 60 days of the configured one's expiry")
    zapi_base_url: str = "https://api.z-api.io"
    twilio_api_base_url: str = Field(default="https://api.twilio.com", description="Twilio REST API (Messages, media)")
    public_webhook_url: str | None = Field(
        default=None, description="the whatsapp_webhook URL as configured at the providers (Twilio signs it)")
    provider_timeout_seconds: float = Field(default=10.0, gt=0)

    # Media understanding (media_processor; the webhook enqueues, the agent turn waits)
    media_queue: str = Field(default="media", description="Cloud Tasks queue of media tasks")
    media_processor_url: str = Field(default="http://127.0.0.1:8082/",
                                     description="URL of the media_processor function")
    media_bucket: str = Field(default="piloto-local-media", description="bucket of the leads' original files")

    # Voice replies (issue 18): each agent opts in (AgentConfig.voice); these say how speech is made
    tts_backend: str = Field(default="google", pattern="^(google|offline)$",
                             description="google: Cloud Text-to-Speech; offline: tones in a real Ogg/Opus file")
    tts_endpoint: str = Field(default="https://texttospeech.googleapis.com",
                              description="Chirp 3 HD locations: global, us, eu, asia-southeast1, europe-west2, "
                                          "asia-northeast1 (e.g. https://us-texttospeech.googleapis.com)")
    tts_price_per_million_chars: float | None = Field(
        default=30.0, ge=0, description="USD per 1M input characters of Chirp 3 HD voices; unset records cost as "
                                        "unknown (null), never 0")
    tts_timeout_seconds: float = Field(default=10.0, gt=0, description="one synthesis; on timeout the reply goes as "
                                                                       "text")
    tts_emulator_host: str | None = Field(
        default=None, description="host:port of a local Text-to-Speech fake (tests, demo); replaces TTS_ENDPOINT and "
                                  "sends no Google credentials")
    # Cloned voices (Chirp 3 Instant Custom Voice): voice_admin creates the key, agent_turn reads it
    tts_clone_price_per_million_chars: float | None = Field(
        default=None, ge=0, description="USD per 1M input characters spoken in a cloned voice; unset records cost as "
                                        "unknown (null), never 0")
    voice_clone_secret_location: str = Field(
        default="southamerica-east1", description="the region each agent's voice-cloning key secret is replicated to")
    voice_consent_statements: dict[str, str] = Field(
        default_factory=dict, description="consent statements by language code (JSON), over the built-in table of "
                                          "Google's; for when Google's page words one differently or adds a language")
    voice_key_cache_seconds: float = Field(
        default=300.0, ge=0, description="how long an instance keeps a cloned voice's key; a revocation takes effect "
                                         "within it")
    # Twilio takes media by URL: a voice note is linked with a V4 signed URL of its copy in the media bucket
    media_signer_service_account: str | None = Field(
        default=None, description="e-mail of the function's own service account, which signs media links through "
                                  "IAM signBlob (Twilio voice notes); unset: Twilio replies go as text")
    media_link_seconds: int = Field(default=900, ge=60, le=604_800,
                                    description="how long a signed media link stays valid (V4: at most 7 days)")
    secret_manager_emulator_host: str | None = Field(
        default=None, description="host:port of a local Secret Manager fake (tests, demo); sends no Google "
                                  "credentials")
    media_wait_seconds: float = Field(default=60.0, ge=0, le=600,
                                      description="how long a turn waits for its burst's files to be read")
    media_max_audio_bytes: int = Field(default=10_000_000, ge=1)
    media_max_image_bytes: int = Field(default=5_000_000, ge=1, description="images and stickers")
    media_max_document_bytes: int = Field(default=15_000_000, ge=1)
    media_max_video_bytes: int = Field(default=16_000_000, ge=1, description="videos are kept, not read")
    media_readable_mime_types: str = Field(
        default=("audio/ogg,audio/mpeg,audio/mp4,audio/x-aac,audio/wav,audio/webm,audio/flac,"
                 "image/jpeg,image/png,image/webp,application/pdf,"
                 "application/vnd.openxmlformats-officedocument.wordprocessingml.document,text/plain,text/csv"),
        description="comma-separated types whose text is extracted; others are stored and marked unsupported",
    )
    media_text_max_chars: int = Field(default=20_000, ge=100, description="extracted text kept per file")
    media_max_attempts: int = Field(default=5, ge=1, description="the media queue's max attempts; the last one "
                                                                 "records a failure instead of retrying")
    media_lease_seconds: int = Field(default=300, ge=10, description="how long one delivery owns a media task")
    media_model: str | None = Field(default=None, description="Gemini model for media; LLM_MODEL when unset")

    # Knowledge base (RAG): ingestion from the knowledge bucket, embeddings, lookups
    knowledge_bucket: str | None = Field(default=None, description="bucket of the businesses' documents; "
                                         "events naming another bucket are refused")
    embedding_backend: str = Field(default="vertex", pattern="^(vertex|offline)$")
    embedding_model: str = Field(default="gemini-embedding-001",
                                 description="gemini-embedding-001 or text-multilingual-embedding-002")
    embedding_dimensions: int = Field(default=768, ge=8, le=2048,
                                      description="output_dimensionality; Firestore vector indexes take at most 2048")
    embedding_location: str = Field(default="us-central1", description="Vertex AI location of the embedding model")
    knowledge_max_distance: float = Field(default=0.40, gt=0, le=2, description="cosine distance above which a "
                                          "passage is no confident match (depends on the embedding model)")
    knowledge_chunk_chars: int = Field(default=1200, ge=200, le=8000)
    knowledge_chunk_overlap_chars: int = Field(default=200, ge=0, le=2000)
    knowledge_max_object_bytes: int = Field(default=20_000_000, ge=1024, description="larger files are marked "
                                            "unsupported without being downloaded")

    # Domain events and CRM sync (issue 7)
    events_topic: str = Field(default="domain-events", description="Pub/Sub topic of domain events")
    event_publish_timeout_seconds: float = Field(default=5.0, gt=0, description="longest wait for Pub/Sub per event")
    outbox_drain_max_events: int = Field(default=500, ge=1, description="events one drain run publishes at most")
    outbox_drain_page_size: int = Field(default=100, ge=1, le=500)
    outbox_drain_min_age_seconds: float = Field(default=60.0, ge=0, description="younger events are left to emit")
    outbox_drain_time_budget_seconds: float = Field(default=240.0, gt=0, description="keep below the timeout")
    crm_timeout_seconds: float = Field(default=10.0, gt=0, description="one CRM HTTP call's timeout")
    crm_lease_seconds: int = Field(default=120, ge=10, description="how long one delivery owns an event")
    crm_config_cache_seconds: float = Field(default=60.0, ge=0)
    crm_retention_days: int = Field(default=30, ge=1, description="expire_at of published outbox and delivery docs")
    crm_webhook_allow_http: bool = Field(default=False, description="local only: allow http:// webhook URLs")
    hubspot_base_url: str = "https://api.hubapi.com"
    pipedrive_base_url: str = "https://api.pipedrive.com"
    rdstation_crm_base_url: str = "https://crm.rdstation.com/api/v1"

    # Follow-up cadence (issue 6): the cadence itself is per agent (AgentConfig.followup)
    followup_queue: str = Field(default="followups", description="Cloud Tasks queue of follow-up tasks")
    followup_turn_url: str = Field(default="http://127.0.0.1:8083/", description="URL of the followup_turn function")
    followup_sweep_page_size: int = Field(default=100, ge=1, le=500, description="conversations read per page")
    followup_sweep_max_pages: int = Field(default=10, ge=1, description="pages one sweep run reads at most")
    followup_sweep_grace_seconds: float = Field(default=300.0, ge=0, description="a follow-up due for longer than "
                                                "this without having run is re-scheduled by the sweep")

    # Audits of human-handled conversations (conversation_audit, Cloud Scheduler hourly)
    audit_quiet_hours: float = Field(default=12.0, gt=0, description="a seller's conversation is audited once "
                                     "nobody has written for this long")
    audit_lookback_days: int = Field(default=7, ge=1, description="only conversations taken over this recently")
    audit_max_per_run: int = Field(default=50, ge=1, description="audits (model calls) one run makes at most")
    audit_tier: str = Field(default="standard", description="routing tier whose model scores the rubric")

    followup_defaults: dict[str, Any] = Field(
        default_factory=dict, description="JSON of AgentConfig.followup fields: the platform's cadence defaults; "
                                          "an agent's own followup fields override them")

    # Meetings on the sellers' Google Calendars (issue 19): which calendars and hours is per agent
    # (AgentConfig.calendar); these say how Piloto reaches the Calendar API
    calendar_api_base_url: str = Field(default="https://www.googleapis.com/calendar/v3",
                                       description="Calendar API v3 root")
    calendar_service_account: str | None = Field(
        default=None, description="e-mail of the service account the calendars are shared with, impersonated by "
                                  "the function's own account (no key); unset = the function's own account")
    calendar_emulator_host: str | None = Field(
        default=None, description="host:port of a local fake Calendar API (demo); a fixed token is sent to it")
    calendar_timeout_seconds: float = Field(default=10.0, gt=0, description="one Calendar API call's timeout")

    log_level: str = "INFO"

    @field_validator("meta_app_secret", "meta_verify_token", "tasks_service_account", "tasks_emulator_host",
                     "vertex_base_url", "media_model", "knowledge_bucket", "gemini_api_key", "gemini_base_url",
                     "vertex_project", "tts_price_per_million_chars", "calendar_service_account",
                     "calendar_emulator_host", "tts_emulator_host", "tts_clone_price_per_million_chars",
                     "secret_manager_emulator_host", "media_signer_service_account", "storage_emulator_host",
                     mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # .env files write "NAME=" for "not set"; an empty secret must never be accepted as a secret.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("crm_webhook_allow_http", mode="before")
    @classmethod
    def _empty_is_false(cls, value: object) -> object:
        return False if isinstance(value, str) and not value.strip() else value

    @field_validator("llm_pricing", mode="before")
    @classmethod
    def _pricing_from_json(cls, value: object) -> object:
        if isinstance(value, str):
            value = json.loads(value) if value.strip() else {}
        if not isinstance(value, dict):
            raise ValueError("LLM_PRICING must be a JSON object of model id → price")
        return {**DEFAULT_PRICES, **value}

    @field_validator("llm_tiers", mode="before")
    @classmethod
    def _tiers_from_json(cls, value: object) -> object:
        if isinstance(value, str):
            value = json.loads(value) if value.strip() else dict(DEFAULT_TIERS)
        return value

    def configured_models(self) -> dict[str, str]:
        """Every model id a call may be made with, by what uses it."""
        models: dict[str, str] = {}
        if self.llm_backend != "offline":
            models["LLM_MODEL"] = self.llm_model
            models.update({f"LLM_TIERS.{tier}": model for tier, model in self.llm_tiers.items()})
            models["MEDIA_MODEL"] = self.media_model or self.llm_model
        if self.embedding_backend != "offline":
            models["EMBEDDING_MODEL"] = self.embedding_model
        return models

    @model_validator(mode="after")
    def _every_model_priced(self) -> Settings:
        # A call without a price would be recorded with an unknown cost: refuse such a configuration at start.
        missing = sorted({f"{model} ({use})" for use, model in self.configured_models().items()
                          if model not in self.llm_pricing})
        if missing:
            raise ValueError(f"LLM_PRICING has no price for {', '.join(missing)}; add it (USD per 1M tokens)")
        if self.llm_backend == "gemini" and self.gemini_api_key is None:
            raise ValueError("LLM_BACKEND=gemini needs GEMINI_API_KEY "
                             "(create one at https://aistudio.google.com/apikey)")
        if self.turn_deadline_seconds <= self.turn_reserve_seconds() + 5:
            raise ValueError("TURN_DEADLINE_SECONDS must exceed the time kept for the holding message "
                             f"({self.turn_reserve_seconds():.0f} s) plus one model attempt")
        return self

    def turn_reserve_seconds(self) -> float:
        """Kept at the end of a turn: the seller's alert and the lead's send (one provider timeout each) and the
        Firestore writes around them."""
        return 2 * self.provider_timeout_seconds + 5

    @field_validator("followup_defaults", mode="before")
    @classmethod
    def _cadence_defaults(cls, value: object) -> object:
        from shared.domain.followup import FollowupCadence, without_nulls

        if isinstance(value, str):
            value = json.loads(value) if value.strip() else {}
        if not isinstance(value, dict):
            raise ValueError("FOLLOWUP_DEFAULTS must be a JSON object of cadence fields")
        value = without_nulls(value)
        FollowupCadence.model_validate(value)  # a bad default fails the instance's start, not every turn
        return value

    def price_of(self, model: str) -> ModelPrice | None:
        return self.llm_pricing.get(model)

    def media_limits(self) -> MediaLimits:
        image = self.media_max_image_bytes
        return MediaLimits(
            max_bytes={MessageKind.AUDIO: self.media_max_audio_bytes, MessageKind.IMAGE: image,
                       MessageKind.STICKER: image, MessageKind.DOCUMENT: self.media_max_document_bytes,
                       MessageKind.VIDEO: self.media_max_video_bytes},
            readable_mime_types=frozenset(normalize_mime(m) for m in self.media_readable_mime_types.split(",")
                                          if m.strip()),
        )

    @model_validator(mode="after")
    def _overlap_below_half_a_chunk(self) -> Settings:
        if self.knowledge_chunk_overlap_chars * 2 >= self.knowledge_chunk_chars:
            raise ValueError("KNOWLEDGE_CHUNK_OVERLAP_CHARS must be below half of KNOWLEDGE_CHUNK_CHARS")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read the environment once per instance."""
    return Settings()
