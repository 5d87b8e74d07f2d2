"""Composition root: builds each function's dependencies once per instance, importing only what that function uses."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from shared.config import get_settings
from shared.domain.inbound import Provider

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from shared.domain.crm import CrmConfig
    from shared.domain.scheduling import CalendarConfig
    from google.cloud import firestore

    from shared.ports import (
        ApiKeyStore,
        CalendarApi,
        ChannelDirectory,
        CrmRecords,
        Embedder,
        EventForwarder,
        FollowupQueue,
        FollowupRequest,
        Generation,
        Prompt,
        KnowledgeBase,
        LanguageModel,
        MediaDownloader,
        MediaModel,
        MessageSender,
        ProviderWebhook,
        ScanReader,
    )
    from pydantic import SecretStr

    from shared.domain.tenancy import Channel
    from shared.domain.voice import Speech, VoiceNote, VoiceSettings
    from shared.domain.webhook_key import WebhookUrlKeys
    from shared.services.agent_turn import TurnDeps
    from shared.services.audits import AuditDeps
    from shared.services.brain import AttemptPolicy
    from shared.services.business_metrics import DigestDeps, MetricsDeps
    from shared.services.crm_sync import CrmSyncDeps
    from shared.services.events import EventDeps
    from shared.services.followup import FollowupDeps
    from shared.services.inbound import InboundDeps
    from shared.services.knowledge import IngestDeps
    from shared.services.lgpd import LgpdDeps
    from shared.services.media import MediaDeps
    from shared.adapters.media_links import SignedMediaLinks
    from shared.adapters.secret_manager import SecretManagerRest
    from shared.services.voice_clone import VoiceCloneDeps
    from shared.services.voice_reply import SpeechSynthesizer, VoiceDeps, VoiceRecords
    from shared.services.reminders import ReminderDeps
    from shared.services.scheduling import MeetingScheduler
    from shared.services.tools import BookingChange


def webhook_for(provider: Provider) -> ProviderWebhook:
    """Parsing modules are pure and small; only the one a request names is imported."""
    if provider is Provider.META:
        from shared.providers.meta_cloud import MetaCloudWebhook

        return MetaCloudWebhook()
    if provider is Provider.EVOLUTION:
        from shared.providers.evolution import EvolutionWebhook

        return EvolutionWebhook()
    if provider is Provider.TWILIO:
        from shared.providers.twilio import TwilioWebhook

        return TwilioWebhook(public_url=get_settings().public_webhook_url)
    from shared.providers.zapi import ZApiWebhook

    return ZApiWebhook()



def channel_directory(db: firestore.Client, call_timeout: float | None = None) -> ChannelDirectory:
    """Channels and agents, with the platform's follow-up cadence defaults under each agent's own."""
    from shared.adapters.firestore_channels import FirestoreChannelDirectory

    settings = get_settings()
    return FirestoreChannelDirectory(db, settings.channel_cache_seconds, settings.followup_defaults,
                                     call_timeout=call_timeout)


def _http_client():  # noqa: ANN202 - httpx is imported lazily on purpose
    import httpx

    settings = get_settings()
    return httpx.Client(timeout=settings.provider_timeout_seconds, limits=httpx.Limits(max_connections=20))


@lru_cache(maxsize=None)
def sender_for(provider: Provider) -> MessageSender:
    settings = get_settings()
    if provider is Provider.META:
        from shared.providers.meta_cloud import MetaCloudProvider

        return MetaCloudProvider(_http_client(), base_url=settings.meta_graph_base_url,
                                 graph_version=settings.meta_graph_version)
    if provider is Provider.EVOLUTION:
        from shared.providers.evolution import EvolutionProvider

        return EvolutionProvider(_http_client())
    if provider is Provider.TWILIO:
        from shared.providers.twilio import TwilioProvider

        return TwilioProvider(_http_client(), base_url=settings.twilio_api_base_url,
                              status_callback=twilio_status_callback(settings.public_webhook_url,
                                                                     _secret(settings.webhook_url_key)))
    from shared.providers.zapi import ZApiProvider

    return ZApiProvider(_http_client(), base_url=settings.zapi_base_url)


@lru_cache(maxsize=1)
def media_links() -> SignedMediaLinks:
    """Links to our own files for providers that take media by URL (Twilio): loaded on the first voice note."""
    from datetime import timedelta

    from shared.adapters.cloud_storage import storage_client
    from shared.adapters.media_links import SignedMediaLinks

    settings = get_settings()
    return SignedMediaLinks(storage_client(settings.google_cloud_project), settings.media_bucket,
                            settings.media_signer_service_account,
                            timedelta(seconds=settings.media_link_seconds), settings.storage_emulator_host)


def twilio_status_callback(public_webhook_url: str | None,
                           url_key: str | None) -> Callable[[Channel], str | None] | None:
    """Where Twilio reports our sends' delivery: the sender's keyed /twilio URL, as the webhook requires (None:
    the sender's callback configured at Twilio is used). Without WEBHOOK_URL_KEY the unkeyed URL, which only a
    webhook in WEBHOOK_URL_KEY_MODE=optional accepts."""
    if not public_webhook_url:
        return None
    from shared.domain.webhook_key import keyed_webhook_url

    base = public_webhook_url.rstrip("/")
    if not url_key:
        return lambda channel: f"{base}/{Provider.TWILIO.value}"
    return lambda channel: keyed_webhook_url(base, Provider.TWILIO.value, channel.channel_id, url_key)


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value else None


def webhook_url_keys() -> WebhookUrlKeys:
    """The gateways' URL-key secrets and mode, from the settings (shared/domain/webhook_key.py)."""
    from shared.domain.webhook_key import WebhookUrlKeys

    settings = get_settings()
    return WebhookUrlKeys(current=_secret(settings.webhook_url_key),
                          previous=_secret(settings.webhook_url_key_previous),
                          required=settings.webhook_url_key_mode == "required")


def _gemini_client(timeout_seconds: float):  # noqa: ANN202 - google.genai is imported lazily on purpose
    """Vertex AI (ADC) or the Gemini Developer API (API key): same SDK, same adapter."""
    settings = get_settings()
    if settings.llm_backend == "gemini":
        from shared.adapters.gemini import gemini_api_client

        assert settings.gemini_api_key is not None  # Settings refuses LLM_BACKEND=gemini without it
        return gemini_api_client(settings.gemini_api_key.get_secret_value(), timeout_seconds,
                                 settings.gemini_base_url)
    from shared.adapters.gemini import vertex_client

    return vertex_client(settings.vertex_project or settings.google_cloud_project, settings.vertex_location,
                         timeout_seconds, settings.vertex_base_url)


def language_model() -> LanguageModel:
    settings = get_settings()
    if settings.llm_backend == "offline":
        from shared.adapters.offline_model import OfflineModel

        return OfflineModel()
    from shared.adapters.gemini import GeminiModel

    return GeminiModel(_gemini_client(settings.llm_timeout_seconds), settings.llm_model, settings.llm_pricing,
                       backend=settings.llm_backend)


def attempt_policy() -> AttemptPolicy:
    from shared.services.brain import AttemptPolicy

    settings = get_settings()
    return AttemptPolicy(attempt_seconds=settings.llm_timeout_seconds,
                         attempts_per_tier=settings.llm_attempts_per_tier)


def model_tiers() -> dict[str, str]:
    """Model id per routing tier; the offline backend has one model whatever the tier."""
    settings = get_settings()
    if settings.llm_backend == "offline":
        from shared.adapters.offline_model import OFFLINE_MODEL_ID

        return dict.fromkeys(("lite", "standard", "advanced"), OFFLINE_MODEL_ID)
    return settings.llm_tiers


@lru_cache(maxsize=1)
def inbound_deps() -> InboundDeps:
    from shared.adapters.cloud_tasks import CloudTasksMediaQueue, CloudTasksScheduler, CloudTasksTurnQueue, tasks_client
    from shared.adapters.firestore_client import firestore_client
    from shared.adapters.firestore_conversations import FirestoreConversationStore
    from shared.adapters.firestore_sellers import FirestoreSellerStore
    from shared.ports import WebhookSecrets
    from shared.services.inbound import InboundDeps

    from concurrent.futures import ThreadPoolExecutor

    settings = get_settings()
    db = firestore_client(settings.google_cloud_project)
    alongside = ThreadPoolExecutor(max_workers=8, thread_name_prefix="enqueue")
    call_timeout = settings.webhook_call_timeout_seconds
    scheduler = CloudTasksScheduler(tasks_client(settings.tasks_emulator_host), settings.google_cloud_project,
                                    settings.region, settings.tasks_service_account, call_timeout=call_timeout)
    return InboundDeps(
        directory=channel_directory(db, call_timeout),
        store=FirestoreConversationStore(db, call_timeout),
        turns=CloudTasksTurnQueue(scheduler, settings.agent_turn_queue, settings.agent_turn_url),
        webhook_for=webhook_for,
        secrets=WebhookSecrets(
            meta_app_secret=settings.meta_app_secret.get_secret_value() if settings.meta_app_secret else None,
            meta_verify_token=settings.meta_verify_token.get_secret_value() if settings.meta_verify_token else None,
        ),
        debounce_seconds=settings.debounce_seconds,
        max_body_bytes=settings.max_body_bytes,
        max_batch_items=settings.webhook_max_batch_items,
        deadline_seconds=settings.webhook_deadline_seconds,
        run_alongside=alongside.submit,
        media=CloudTasksMediaQueue(scheduler, settings.media_queue, settings.media_processor_url),
        sellers=FirestoreSellerStore(db),
        url_keys=webhook_url_keys(),
    )


@lru_cache(maxsize=1)
def turn_deps() -> TurnDeps:
    """agent_turn's: the brain, the follow-up cadence restarted after every WhatsApp reply, meeting reminders after
    a booking, and voice replies (a /chat conversation has none of these)."""
    from dataclasses import replace

    from shared.adapters.firestore_client import firestore_client

    return replace(_brain_deps(after_reply=plan_followup_after_reply, after_booking=schedule_meeting_reminder),
                   voice=voice_deps(firestore_client(get_settings().google_cloud_project)))


@lru_cache(maxsize=1)
def chat_deps() -> TurnDeps:
    """chat_api's: the same brain; a /chat conversation has no WhatsApp cadence or reminder to plan."""
    return _brain_deps(after_reply=None, after_booking=None)


@lru_cache(maxsize=1)
def chat_api_keys() -> ApiKeyStore:
    from shared.adapters.firestore_api_keys import FirestoreApiKeyStore
    from shared.adapters.firestore_client import firestore_client

    return FirestoreApiKeyStore(firestore_client(get_settings().google_cloud_project))


def _brain_deps(after_reply: Callable[[str, str, str, datetime], object] | None,
                after_booking: Callable[[str, str, BookingChange, CalendarConfig], object] | None) -> TurnDeps:
    from shared.adapters.firestore_answer_cache import FirestoreAnswerCache
    from shared.adapters.firestore_client import firestore_client
    from shared.adapters.firestore_conversations import FirestoreConversationStore
    from shared.adapters.firestore_leads import FirestoreLeadStore
    from shared.adapters.firestore_sellers import FirestoreSellerStore
    from shared.adapters.firestore_usage import FirestoreUsageLedger
    from shared.services.agent_turn import TurnDeps
    from shared.services.events import emit

    settings = get_settings()
    db = firestore_client(settings.google_cloud_project)
    return TurnDeps(
        deadline_seconds=settings.turn_deadline_seconds,
        deadline_reserve_seconds=settings.turn_reserve_seconds(),
        attempts=attempt_policy(),
        directory=channel_directory(db),
        store=FirestoreConversationStore(db),
        model=language_model(),
        sender_for=sender_for,
        ledger=FirestoreUsageLedger(db),
        leads=FirestoreLeadStore(db),
        answers=FirestoreAnswerCache(db),
        knowledge=search_knowledge,
        learn=learn_answer,
        tiers=model_tiers(),
        lease_seconds=settings.reply_lease_seconds,
        media_wait_seconds=settings.media_wait_seconds,
        max_send_attempts=settings.reply_max_send_attempts,
        emit_event=lambda event: emit(event, event_deps()),
        after_reply=after_reply,
        sellers=FirestoreSellerStore(db),
        download_media=media_downloader_for,
        scheduler_for=meeting_scheduler,
        after_booking=after_booking,
    )


# -- LGPD export and erasure (issue 13) ----------------------------------------------------------------

@lru_cache(maxsize=1)
def lgpd_deps() -> LgpdDeps:
    from shared.adapters.cloud_storage import CloudStorageMedia, storage_client
    from shared.adapters.firestore_lead_data import FirestoreLeadData
    from shared.adapters.firestore_client import firestore_client
    from shared.services.events import emit
    from shared.services.lgpd import LgpdDeps

    settings = get_settings()
    db = firestore_client(settings.google_cloud_project)
    return LgpdDeps(directory=channel_directory(db), data=FirestoreLeadData(db),
                    media=CloudStorageMedia(storage_client(settings.google_cloud_project), settings.media_bucket),
                    media_bucket=settings.media_bucket, emit_event=lambda event: emit(event, event_deps()))


def voice_deps(db: firestore.Client) -> VoiceDeps:
    """Voice replies: storage and the synthesizer load on the first voice note (most agents never speak)."""
    from shared.adapters.firestore_usage import FirestoreUsageLedger
    from shared.services.voice_reply import VoiceDeps

    class _StoredOnFirstUse:
        def save_audio(self, tenant_id: str, conversation_id: str, reply_id: str, audio: bytes) -> str:
            return _voice_records(db).save_audio(tenant_id, conversation_id, reply_id, audio)

        def record_voice(self, tenant_id: str, conversation_id: str, reply_id: str, note: VoiceNote) -> None:
            _voice_records(db).record_voice(tenant_id, conversation_id, reply_id, note)

    class _SynthesizerOnFirstUse:
        def synthesize(self, text: str, settings: VoiceSettings) -> Speech:
            return speech_synthesizer().synthesize(text, settings)

    def _link(tenant_id: str, content: bytes, content_type: str) -> str:
        return media_links().link(tenant_id, content, content_type)

    return VoiceDeps(synthesizer=_SynthesizerOnFirstUse(), records=_StoredOnFirstUse(),
                     ledger=FirestoreUsageLedger(db), media_links=_link if get_settings().media_signer_service_account
                     or get_settings().storage_emulator_host else None)


# -- Meetings on the sellers' Google Calendars (issue 19) ------------------------------------------------

@lru_cache(maxsize=1)
def calendar_api() -> CalendarApi:
    """Built on the first turn of an agent with a calendar: other turns never import the adapter."""
    import httpx

    from shared.adapters.google_calendar import GoogleCalendar, ServiceAccountToken

    settings = get_settings()
    base_url = settings.calendar_api_base_url
    token: Callable[[], str]
    if settings.calendar_emulator_host:
        base_url = f"http://{settings.calendar_emulator_host}/calendar/v3"
        token = lambda: "local-fake-calendar"  # noqa: E731 - a local fake accepts any bearer token
    else:
        token = ServiceAccountToken(settings.calendar_service_account)
    client = httpx.Client(timeout=settings.calendar_timeout_seconds, limits=httpx.Limits(max_connections=10))
    return GoogleCalendar(client, token, base_url)


def meeting_scheduler(config: CalendarConfig) -> MeetingScheduler:
    from datetime import UTC, datetime

    from shared.adapters.firestore_bookings import FirestoreBookings
    from shared.adapters.firestore_client import firestore_client
    from shared.services.scheduling import MeetingScheduler

    db = firestore_client(get_settings().google_cloud_project)
    return MeetingScheduler(calendar_api(), FirestoreBookings(db), config, clock=lambda: datetime.now(UTC))


def schedule_meeting_reminder(tenant_id: str, conversation_id: str, change: BookingChange,
                              config: CalendarConfig) -> None:
    from datetime import UTC, datetime

    from shared.services.reminders import schedule_reminder

    # Reminders ride the follow-up queue and function (the task body says kind: meeting_reminder).
    schedule_reminder(tenant_id, conversation_id, change, config, followup_queue(), datetime.now(UTC))


@lru_cache(maxsize=1)
def reminder_deps() -> ReminderDeps:
    from shared.adapters.firestore_bookings import FirestoreBookings
    from shared.adapters.firestore_client import firestore_client
    from shared.adapters.firestore_conversations import FirestoreConversationStore
    from shared.services.reminders import ReminderDeps

    settings = get_settings()
    db = firestore_client(settings.google_cloud_project)
    return ReminderDeps(directory=channel_directory(db), store=FirestoreConversationStore(db),
                        bookings=FirestoreBookings(db), sender_for=sender_for,
                        lease_seconds=settings.reply_lease_seconds)


# -- Domain events and CRM sync (issue 7) ------------------------------------------------------------

@lru_cache(maxsize=1)
def event_deps() -> EventDeps:
    """Outbox and publisher: built on the first event, so a turn that emits nothing never loads Pub/Sub."""
    from shared.adapters.firestore_client import firestore_client
    from shared.adapters.firestore_outbox import FirestoreEventOutbox
    from shared.adapters.pubsub import PubSubEventPublisher, publisher_client
    from shared.services.events import EventDeps

    settings = get_settings()
    return EventDeps(
        outbox=FirestoreEventOutbox(firestore_client(settings.google_cloud_project), settings.crm_retention_days),
        publisher=PubSubEventPublisher(publisher_client(), settings.google_cloud_project, settings.events_topic,
                                       settings.event_publish_timeout_seconds),
    )


@lru_cache(maxsize=1)
def _crm_http_client():  # noqa: ANN202 - httpx is imported lazily on purpose
    import httpx

    settings = get_settings()
    return httpx.Client(timeout=settings.crm_timeout_seconds, limits=httpx.Limits(max_connections=20))


def crm_destination(config: CrmConfig) -> EventForwarder | CrmRecords:
    """The adapter for one tenant's CRM; only the module of that CRM is imported."""
    settings = get_settings()
    kind = config.kind.value
    if kind == "webhook":
        from shared.adapters.crm_webhook import SignedWebhookForwarder

        return SignedWebhookForwarder(_crm_http_client(), config.webhook, settings.crm_webhook_allow_http)
    if kind == "hubspot":
        from shared.adapters.hubspot import HubSpotRecords

        return HubSpotRecords(_crm_http_client(), settings.hubspot_base_url, config.hubspot)
    if kind == "pipedrive":
        from shared.adapters.pipedrive import PipedriveRecords

        return PipedriveRecords(_crm_http_client(), settings.pipedrive_base_url, config.pipedrive)
    from shared.adapters.rdstation import RdStationRecords

    return RdStationRecords(_crm_http_client(), settings.rdstation_crm_base_url, config.rdstation)


@lru_cache(maxsize=1)
def crm_sync_deps() -> CrmSyncDeps:
    from shared.adapters.firestore_client import firestore_client
    from shared.adapters.firestore_crm import FirestoreCrmStore
    from shared.services.crm_sync import CrmSyncDeps

    settings = get_settings()
    db = firestore_client(settings.google_cloud_project)
    return CrmSyncDeps(
        store=FirestoreCrmStore(db, settings.crm_config_cache_seconds, settings.crm_retention_days),
        destination_for=crm_destination,
        lease_seconds=settings.crm_lease_seconds,
    )


# --- Media understanding -------------------------------------------------------------------------


@lru_cache(maxsize=None)
def media_downloader_for(provider: Provider) -> MediaDownloader:
    settings = get_settings()
    if provider is Provider.META:
        from shared.providers.meta_cloud import MetaCloudMedia

        return MetaCloudMedia(_media_http_client(), base_url=settings.meta_graph_base_url,
                              graph_version=settings.meta_graph_version)
    if provider is Provider.EVOLUTION:
        from shared.providers.evolution import EvolutionMedia

        return EvolutionMedia(_media_http_client())
    if provider is Provider.TWILIO:
        from shared.providers.twilio import TwilioMedia

        return TwilioMedia(_media_http_client(), base_url=settings.twilio_api_base_url)
    from shared.providers.zapi import ZApiMedia

    return ZApiMedia(_media_http_client())


@lru_cache(maxsize=1)
def _media_http_client():  # noqa: ANN202 - httpx is imported lazily on purpose
    import httpx

    # Downloads take longer than sends: the timeout bounds each read of the stream, not the whole file.
    settings = get_settings()
    return httpx.Client(timeout=httpx.Timeout(settings.provider_timeout_seconds * 3), follow_redirects=True,
                        limits=httpx.Limits(max_connections=10))


def media_model() -> MediaModel:
    settings = get_settings()
    if settings.llm_backend == "offline":
        from shared.adapters.offline_model import OfflineMediaReader

        return OfflineMediaReader()
    from shared.adapters.gemini import GeminiMediaReader

    model = settings.media_model or settings.llm_model
    # Transcribing a long voice note takes longer than writing a reply.
    return GeminiMediaReader(_gemini_client(settings.llm_timeout_seconds * 2), model, settings.price_of(model),
                             backend=settings.llm_backend)


@lru_cache(maxsize=1)
def media_deps() -> MediaDeps:
    from shared.adapters.cloud_storage import CloudStorageMedia, storage_client
    from shared.adapters.cloud_tasks import CloudTasksScheduler, CloudTasksTurnQueue, tasks_client
    from shared.adapters.document_text import LocalDocumentText
    from shared.adapters.firestore_client import firestore_client
    from shared.adapters.firestore_conversations import FirestoreConversationStore
    from shared.adapters.firestore_media import FirestoreMediaStore
    from shared.adapters.firestore_usage import FirestoreUsageLedger
    from shared.services.media import MediaDeps

    settings = get_settings()
    db = firestore_client(settings.google_cloud_project)
    scheduler = CloudTasksScheduler(tasks_client(settings.tasks_emulator_host), settings.google_cloud_project,
                                    settings.region, settings.tasks_service_account)
    return MediaDeps(
        directory=channel_directory(db),
        store=FirestoreMediaStore(db),
        conversations=FirestoreConversationStore(db),
        downloader_for=media_downloader_for,
        storage=CloudStorageMedia(storage_client(settings.google_cloud_project), settings.media_bucket),
        model=media_model(),
        ledger=FirestoreUsageLedger(db),
        wakeups=CloudTasksTurnQueue(scheduler, settings.agent_turn_queue, settings.agent_turn_url),
        documents=LocalDocumentText(),
        limits=settings.media_limits(),
        debounce_seconds=settings.debounce_seconds,
        lease_seconds=settings.media_lease_seconds,
        max_text_chars=settings.media_text_max_chars,
        max_attempts=settings.media_max_attempts,
    )


# -- Knowledge base (RAG) ----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def embedder() -> Embedder:
    settings = get_settings()
    if settings.embedding_backend == "offline":
        from shared.adapters.offline_knowledge import OfflineHashedNgramEmbedder

        return OfflineHashedNgramEmbedder(settings.embedding_dimensions)
    from shared.adapters.gemini import vertex_client
    from shared.adapters.gemini_knowledge import GeminiEmbedder

    # Embeddings keep the SDK's own retries: their callers (ingestion, the lookup) are retried as a whole.
    client = vertex_client(settings.google_cloud_project, settings.embedding_location, settings.llm_timeout_seconds,
                           settings.vertex_base_url, attempts=3)
    return GeminiEmbedder(client, settings.embedding_model, settings.embedding_dimensions,
                          settings.price_of(settings.embedding_model))


def scan_reader() -> ScanReader:
    """Scans are read by the chat model's backend: Gemini with LLM_BACKEND=vertex, nobody offline."""
    settings = get_settings()
    if settings.llm_backend == "offline":
        from shared.adapters.offline_knowledge import OfflineScanReader

        return OfflineScanReader()
    from shared.adapters.gemini_knowledge import GeminiScanReader

    return GeminiScanReader(_gemini_client(settings.llm_timeout_seconds * 4), settings.llm_model,
                            settings.price_of(settings.llm_model))


@lru_cache(maxsize=1)
def knowledge_base() -> KnowledgeBase:
    """The KnowledgeBase port (search, learned answers) for the lookup function and the agent's tool."""
    from shared.adapters.firestore_knowledge import FirestoreKnowledgeIndex
    from shared.adapters.firestore_client import firestore_client
    from shared.adapters.firestore_usage import FirestoreUsageLedger
    from shared.services.knowledge import KnowledgeService

    settings = get_settings()
    db = firestore_client(settings.google_cloud_project)
    return KnowledgeService(index=FirestoreKnowledgeIndex(db), embedder=embedder(), ledger=FirestoreUsageLedger(db),
                           max_distance=settings.knowledge_max_distance)


@lru_cache(maxsize=1)
def _shared_knowledge_base() -> KnowledgeBase:
    return knowledge_base()


def learn_answer(tenant_id: str, agent_id: str, question: str, answer: str, approved_by: str,
                 conversation_id: str | None) -> str:
    """Handoff learning: index a seller's answer like a document passage (origin 'learned')."""
    return _shared_knowledge_base().add_learned_answer(tenant_id, agent_id, question, answer, approved_by,
                                                       conversation_id=conversation_id)


def search_knowledge(tenant_id: str, agent_id: str, question: str) -> dict:
    """The agent's search_knowledge tool: the knowledge base, built on first use in this instance."""
    return _shared_knowledge_base().search(tenant_id, agent_id, question).as_tool_answer()


@lru_cache(maxsize=1)
def ingest_deps() -> IngestDeps:
    from shared.adapters.cloud_storage import CloudStorageObjects, storage_client
    from shared.adapters.document_text import extract
    from shared.adapters.firestore_knowledge import FirestoreKnowledgeIndex
    from shared.adapters.firestore_client import firestore_client
    from shared.adapters.firestore_usage import FirestoreUsageLedger
    from shared.services.knowledge import IngestDeps

    settings = get_settings()
    db = firestore_client(settings.google_cloud_project)
    return IngestDeps(
        objects=CloudStorageObjects(storage_client(settings.google_cloud_project)),
        index=FirestoreKnowledgeIndex(db),
        embedder=embedder(),
        scan_reader=scan_reader(),
        ledger=FirestoreUsageLedger(db),
        extract=extract,
        bucket=settings.knowledge_bucket,
        chunk_chars=settings.knowledge_chunk_chars,
        overlap_chars=settings.knowledge_chunk_overlap_chars,
        max_object_bytes=settings.knowledge_max_object_bytes,
    )


# -- Follow-up cadence (issue 6) ------------------------------------------------------------------------


class _FollowupQueueOnFirstUse:
    """The agent turn plans follow-ups after its reply; the Cloud Tasks client loads only when one is planned."""

    def schedule_followup(self, request: FollowupRequest, at: datetime, attempt_key: str = "") -> bool:
        return followup_queue().schedule_followup(request, at, attempt_key)


@lru_cache(maxsize=1)
def followup_queue() -> FollowupQueue:
    from shared.adapters.cloud_tasks import CloudTasksFollowupQueue, CloudTasksScheduler, tasks_client

    settings = get_settings()
    scheduler = CloudTasksScheduler(tasks_client(settings.tasks_emulator_host), settings.google_cloud_project,
                                    settings.region, settings.tasks_service_account)
    return CloudTasksFollowupQueue(scheduler, settings.followup_queue, settings.followup_turn_url)


@lru_cache(maxsize=1)
def followup_deps() -> FollowupDeps:
    """followup_turn's; the model loads only for the first free-form nudge (a template step needs none)."""
    from dataclasses import replace

    from shared.adapters.firestore_client import firestore_client
    from shared.adapters.firestore_usage import FirestoreUsageLedger

    settings = get_settings()
    return replace(_followup_planning_deps(), model=_ModelOnFirstUse(), tiers=model_tiers(), sender_for=sender_for,
                   ledger=FirestoreUsageLedger(firestore_client(settings.google_cloud_project)),
                   lease_seconds=settings.reply_lease_seconds, max_send_attempts=settings.reply_max_send_attempts,
                   model_seconds=settings.turn_deadline_seconds - settings.turn_reserve_seconds())


@lru_cache(maxsize=1)
def followup_sweep_deps() -> FollowupDeps:
    """followup_sweep's: it pages due conversations and re-creates tasks; it never sends or calls a model."""
    from dataclasses import replace

    from shared.adapters.firestore_client import firestore_client
    from shared.adapters.firestore_followups import FirestoreFollowupStore

    return replace(_followup_planning_deps(),
                   due=FirestoreFollowupStore(firestore_client(get_settings().google_cloud_project)))


class _ModelOnFirstUse:
    """A template step never writes text: google.genai loads on the first free-form nudge only."""

    def generate(self, prompt: Prompt) -> Generation:
        return _followup_model().generate(prompt)


@lru_cache(maxsize=1)
def _followup_model() -> LanguageModel:
    return language_model()


@lru_cache(maxsize=1)
def _followup_planning_deps() -> FollowupDeps:
    """What every follow-up use shares: agents, conversations and the followups queue (agent_turn plans with it)."""
    from shared.adapters.firestore_client import firestore_client
    from shared.adapters.firestore_conversations import FirestoreConversationStore
    from shared.services.followup import FollowupDeps

    db = firestore_client(get_settings().google_cloud_project)
    return FollowupDeps(directory=channel_directory(db),
                        store=FirestoreConversationStore(db), queue=_FollowupQueueOnFirstUse())


def plan_followup_after_reply(tenant_id: str, conversation_id: str, anchor_message_id: str, sent_at: datetime) -> None:
    """The agent turn's after_reply hook: restart the conversation's cadence from this reply."""
    from shared.services.followup import schedule_after_reply

    schedule_after_reply(tenant_id, conversation_id, anchor_message_id, sent_at, _followup_planning_deps())


@lru_cache(maxsize=1)
def speech_synthesizer() -> SpeechSynthesizer:
    settings = get_settings()
    if settings.tts_backend == "offline":
        from shared.adapters.offline_speech import OfflineSpeechSynthesizer

        return OfflineSpeechSynthesizer(clone_keys=lambda version: secret_store().access(version))
    import httpx

    from shared.adapters.google_tts import GoogleSpeechSynthesizer, adc_token

    endpoint, token = settings.tts_endpoint, adc_token
    if settings.tts_emulator_host:
        endpoint, token = f"http://{settings.tts_emulator_host}", _local_fake_token
    return GoogleSpeechSynthesizer(httpx.Client(timeout=settings.tts_timeout_seconds), endpoint,
                                   settings.tts_price_per_million_chars, token,
                                   clone_keys=lambda version: secret_store().access(version),
                                   clone_price_per_million_chars=settings.tts_clone_price_per_million_chars)


def _local_fake_token() -> str:
    return "local-fake"  # a local fake checks that a bearer token comes, not whose it is


@lru_cache(maxsize=1)
def secret_store() -> SecretManagerRest:
    """Secret Manager over REST: voice-cloning keys, one secret per agent (loaded on first use)."""
    import httpx

    from shared.adapters.google_tts import adc_token
    from shared.adapters.secret_manager import SecretManagerRest

    settings = get_settings()
    base_url, token = "https://secretmanager.googleapis.com", adc_token
    if settings.secret_manager_emulator_host:
        base_url, token = f"http://{settings.secret_manager_emulator_host}", _local_fake_token
    return SecretManagerRest(httpx.Client(timeout=settings.tts_timeout_seconds), settings.google_cloud_project,
                             token, base_url, settings.voice_key_cache_seconds)


@lru_cache(maxsize=1)
def voice_clone_deps() -> VoiceCloneDeps:
    """voice_admin: Text-to-Speech's cloning endpoint, Secret Manager, the consent records and the media bucket."""
    import httpx

    from shared.adapters.cloud_storage import CloudStorageMedia, storage_client
    from shared.adapters.firestore_client import firestore_client
    from shared.adapters.google_tts import GoogleVoiceCloning, adc_token
    from shared.adapters.recording_decoder import LibsndfileRecordings
    from shared.adapters.voice_consents import FirestoreVoiceConsents
    from shared.services.voice_clone import VoiceCloneDeps

    settings = get_settings()
    endpoint, token = settings.tts_endpoint, adc_token
    if settings.tts_emulator_host:
        endpoint, token = f"http://{settings.tts_emulator_host}", _local_fake_token
    # Creating a key reads two recordings server-side: more time than one synthesis.
    cloner = GoogleVoiceCloning(httpx.Client(timeout=max(60.0, settings.tts_timeout_seconds)), endpoint, token)
    db = firestore_client(settings.google_cloud_project)
    media = CloudStorageMedia(storage_client(settings.google_cloud_project), settings.media_bucket)
    return VoiceCloneDeps(cloner=cloner, secrets=secret_store(), records=FirestoreVoiceConsents(db, media),
                          secret_location=settings.voice_clone_secret_location, recordings=LibsndfileRecordings(),
                          consent_statements=settings.voice_consent_statements)


def _voice_records(db: firestore.Client) -> VoiceRecords:
    from shared.adapters.cloud_storage import CloudStorageMedia, storage_client
    from shared.adapters.voice_records import StoredVoiceNotes

    settings = get_settings()
    return StoredVoiceNotes(db, CloudStorageMedia(storage_client(settings.google_cloud_project),
                                                  settings.media_bucket))


# -- The owner's numbers and the sellers' audits (issue 17) ------------------------------------------------

@lru_cache(maxsize=1)
def business_metrics_deps() -> MetricsDeps:
    """metrics_rollup's and tenant_report's: Firestore only, no model, no provider."""
    from shared.adapters.firestore_business_metrics import FirestoreBusinessFacts, FirestoreRollupStore
    from shared.adapters.firestore_client import firestore_client
    from shared.services.business_metrics import MetricsDeps

    settings = get_settings()
    db = firestore_client(settings.google_cloud_project)
    return MetricsDeps(facts=FirestoreBusinessFacts(db, settings.followup_defaults), rollups=FirestoreRollupStore(db))


def weekly_digest_deps() -> DigestDeps:
    """weekly_digest's: the metrics' Firestore adapters plus the providers' senders."""
    from shared.adapters.firestore_business_metrics import (
        FirestoreAuditStore,
        FirestoreBusinessFacts,
        FirestoreDigestLog,
    )
    from shared.adapters.firestore_client import firestore_client
    from shared.services.business_metrics import DigestDeps

    metrics = business_metrics_deps()
    db = firestore_client(get_settings().google_cloud_project)
    assert isinstance(metrics.facts, FirestoreBusinessFacts)
    return DigestDeps(metrics=metrics, directory=metrics.facts, log=FirestoreDigestLog(db), sender_for=sender_for,
                      audits=FirestoreAuditStore(db))


def audit_deps() -> AuditDeps:
    """conversation_audit's: Firestore and the model of the audit tier; no provider, no queue."""
    from shared.adapters.firestore_business_metrics import FirestoreAuditStore, FirestoreBusinessFacts
    from shared.adapters.firestore_client import firestore_client
    from shared.adapters.firestore_usage import FirestoreUsageLedger
    from shared.services.audits import AuditDeps

    settings = get_settings()
    db = firestore_client(settings.google_cloud_project)
    return AuditDeps(source=FirestoreBusinessFacts(db, settings.followup_defaults), store=FirestoreAuditStore(db),
                     model=language_model(), model_id=model_tiers().get(settings.audit_tier),
                     ledger=FirestoreUsageLedger(db), quiet_hours=settings.audit_quiet_hours,
                     lookback_days=settings.audit_lookback_days, max_per_run=settings.audit_max_per_run)
