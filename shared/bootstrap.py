"""Composition root: builds each function's dependencies once per instance, importing only what that function uses."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from shared.config import get_settings
from shared.domain.inbound import Provider

if TYPE_CHECKING:
    from shared.ports import LanguageModel, MessageSender, ProviderWebhook
    from shared.services.agent_turn import TurnDeps
    from shared.services.inbound import InboundDeps


def webhook_for(provider: Provider) -> ProviderWebhook:
    """Parsing modules are pure and small; only the one a request names is imported."""
    if provider is Provider.META:
        from shared.providers.meta_cloud import MetaCloudWebhook

        return MetaCloudWebhook()
    if provider is Provider.EVOLUTION:
        from shared.providers.evolution import EvolutionWebhook

        return EvolutionWebhook()
    from shared.providers.zapi import ZApiWebhook

    return ZApiWebhook()


@lru_cache(maxsize=1)
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
    from shared.providers.zapi import ZApiProvider

    return ZApiProvider(_http_client(), base_url=settings.zapi_base_url)


def language_model() -> LanguageModel:
    settings = get_settings()
    if settings.llm_backend == "offline":
        from shared.adapters.offline_model import OfflineModel

        return OfflineModel()
    from shared.adapters.gemini import GeminiModel, vertex_client

    client = vertex_client(settings.google_cloud_project, settings.vertex_location, settings.llm_timeout_seconds,
                           settings.vertex_base_url)
    return GeminiModel(client, settings.llm_model, settings.llm_pricing)


def model_tiers() -> dict[str, str]:
    """Model id per routing tier; the offline backend has one model whatever the tier."""
    settings = get_settings()
    if settings.llm_backend == "offline":
        from shared.adapters.offline_model import OFFLINE_MODEL_ID

        return dict.fromkeys(("lite", "standard", "advanced"), OFFLINE_MODEL_ID)
    return settings.llm_tiers


@lru_cache(maxsize=1)
def inbound_deps() -> InboundDeps:
    from shared.adapters.cloud_tasks import CloudTasksScheduler, CloudTasksTurnQueue, tasks_client
    from shared.adapters.firestore_store import FirestoreChannelDirectory, FirestoreConversationStore, firestore_client
    from shared.ports import WebhookSecrets
    from shared.services.inbound import InboundDeps

    from concurrent.futures import ThreadPoolExecutor

    settings = get_settings()
    db = firestore_client(settings.google_cloud_project)
    alongside = ThreadPoolExecutor(max_workers=8, thread_name_prefix="enqueue")
    scheduler = CloudTasksScheduler(tasks_client(settings.tasks_emulator_host), settings.google_cloud_project,
                                    settings.region, settings.tasks_service_account)
    return InboundDeps(
        directory=FirestoreChannelDirectory(db, settings.channel_cache_seconds),
        store=FirestoreConversationStore(db),
        turns=CloudTasksTurnQueue(scheduler, settings.agent_turn_queue, settings.agent_turn_url),
        webhook_for=webhook_for,
        secrets=WebhookSecrets(
            meta_app_secret=settings.meta_app_secret.get_secret_value() if settings.meta_app_secret else None,
            meta_verify_token=settings.meta_verify_token.get_secret_value() if settings.meta_verify_token else None,
        ),
        debounce_seconds=settings.debounce_seconds,
        max_body_bytes=settings.max_body_bytes,
        run_alongside=alongside.submit,
    )


@lru_cache(maxsize=1)
def turn_deps() -> TurnDeps:
    from shared.adapters.firestore_store import (
        FirestoreAnswerCache,
        FirestoreChannelDirectory,
        FirestoreConversationStore,
        FirestoreLeadStore,
        FirestoreUsageLedger,
        firestore_client,
    )
    from shared.services.agent_turn import TurnDeps

    settings = get_settings()
    db = firestore_client(settings.google_cloud_project)
    return TurnDeps(
        directory=FirestoreChannelDirectory(db, settings.channel_cache_seconds),
        store=FirestoreConversationStore(db),
        model=language_model(),
        sender_for=sender_for,
        ledger=FirestoreUsageLedger(db),
        leads=FirestoreLeadStore(db),
        answers=FirestoreAnswerCache(db),
        tiers=model_tiers(),
        lease_seconds=settings.reply_lease_seconds,
    )
