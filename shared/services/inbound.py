"""Receive a provider's webhook: authenticate, normalize, store, and schedule an agent turn. Never calls the model."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from shared import log
from shared.domain.conversation import Conversation, InboundDisposition, Role, StoredMessage
from shared.domain.copilot import judge
from shared.domain.errors import (
    BatchTooLarge,
    DeadlinePassed,
    InvalidConfiguration,
    InvalidPayload,
    PayloadTooLarge,
    UnknownProvider,
    UnknownTenant,
)
from shared.domain.ids import conversation_id, inbound_message_id, seller_key
from shared.domain.inbound import (
    MAX_ID_CHARS,
    InboundMessage,
    MessageKind,
    Provider,
    RejectedPart,
    StatusUpdate,
    WebhookBatch,
)
from shared.domain.media import MediaStatus
from shared.domain.phone import mask_phone
from shared.domain.tenancy import AgentConfig, Channel, Seller
from shared.domain.webhook_key import WebhookUrlKeys, check_url_key, require_url_channel
from shared.ports import (
    ChannelDirectory,
    ConversationStore,
    MediaQueue,
    MediaRequest,
    ProviderWebhook,
    RawRequest,
    SellerStore,
    TurnQueue,
    TurnRequest,
    WebhookSecrets,
)

logger = logging.getLogger(__name__)

STYLE_EXAMPLES_KEPT = 5  # the seller desk keeps the same number (shared.services.seller_desk)


def _run_inline(fn: Callable[..., Any], *args: Any) -> Future:
    """Default for run_alongside: no thread pool, the call runs before the write."""
    future: Future = Future()
    try:
        future.set_result(fn(*args))
    except Exception as err:  # noqa: BLE001 - handed to the caller through the future
        future.set_exception(err)
    return future


@dataclass
class InboundDeps:
    directory: ChannelDirectory
    store: ConversationStore
    turns: TurnQueue
    webhook_for: Callable[[Provider], ProviderWebhook]
    secrets: WebhookSecrets
    debounce_seconds: float = 4.0
    max_body_bytes: int = 1_000_000
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    run_alongside: Callable[..., Future] = field(default=_run_inline)
    media: MediaQueue | None = None  # None: files are stored but not read (the prompt says so)
    sellers: SellerStore | None = None  # None: sellers' messages are recorded as ignored, never as leads
    max_batch_items: int = 50  # parts (messages, statuses, skipped events) one request may carry; more → 413
    # Work on a request stops past this many seconds (503 + Retry-After); each Firestore/Cloud Tasks call has its
    # own, shorter timeout in the adapters. Keep both below the providers' webhook timeouts. None: no deadline.
    deadline_seconds: float | None = None
    monotonic: Callable[[], float] = time.monotonic
    # The secret the gateways' webhook URL keys derive from (shared/domain/webhook_key.py); without one, gateway
    # webhooks answer 503 (required mode) so nothing is lost while an operator sets it.
    url_keys: WebhookUrlKeys = field(default_factory=WebhookUrlKeys)


@dataclass
class WebhookOutcome:
    """Counts returned to the provider (and to tests): what became of each part of the request."""

    queued: int = 0
    duplicates: int = 0
    human: int = 0
    echoes: int = 0
    sellers: int = 0
    ignored: list[str] = field(default_factory=list)
    statuses: int = 0
    unknown_statuses: int = 0
    invalid: int = 0
    not_answered: int = 0

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v}


def parse_provider(name: str) -> Provider:
    try:
        provider = Provider(name)
    except ValueError:
        provider = None
    if provider is None or not provider.is_whatsapp:
        raise UnknownProvider(f"no provider named {name[:40]!r}; use meta, evolution, zapi or twilio")
    return provider


def receive_webhook(provider: Provider, raw: RawRequest, deps: InboundDeps) -> WebhookOutcome:
    """The whole inbound path. Raises the PilotoError subclasses the entry point maps to 4xx/503.

    Order matters: credentials a provider sends outside the body (Meta's signature, the gateways' URL key) are
    checked before the body is parsed or any channel is read; the body is parsed by code that refuses (400) what
    later steps could not handle; a gateway body must name only its URL's channel; the batch is bounded and
    de-duplicated before anything is written; the gateway's own credential is then checked against the channel
    (defense in depth, unless the URL key replaces it: Z-API).
    """
    started = deps.monotonic()
    if len(raw.body) > deps.max_body_bytes:
        raise PayloadTooLarge(f"body has {len(raw.body)} bytes; the limit is {deps.max_body_bytes}")
    webhook = deps.webhook_for(provider)
    url_channel = None
    if webhook.authenticates_before_parse:
        webhook.authenticate(raw, None, deps.secrets)
    else:
        # The gateways: the URL's key, derived for one channel, is proven from the query string alone.
        url_channel = check_url_key(provider, raw.query, deps.url_keys)
        if url_channel is None:
            log.log(logger, logging.WARNING, "unkeyed gateway webhook checked with the provider's own credential "
                    "only (WEBHOOK_URL_KEY_MODE=optional): point the provider at the keyed URL")
        if (url_channel is None or not webhook.url_key_suffices) and \
                (require_credential := getattr(webhook, "require_credential", None)) is not None:
            require_credential(raw)
    batch = _bounded(_parse(webhook, raw), deps.max_batch_items)
    if url_channel is not None:
        require_url_channel(url_channel, batch.channel_ids)

    channels: dict[str, Channel] = {}
    for channel_id in sorted(batch.channel_ids):
        _within_deadline(started, deps)
        channel = deps.directory.find_channel(provider, channel_id)
        if channel is None:
            log.log(logger, logging.WARNING, "webhook for an unknown channel", provider=provider.value,
                    channel_id=channel_id)
        else:
            channels[channel_id] = channel
    if batch.channel_ids and not channels:
        raise UnknownTenant(f"no tenant owns {provider.value} channel(s) {', '.join(sorted(batch.channel_ids))}")
    if not webhook.authenticates_before_parse and (url_channel is None or not webhook.url_key_suffices):
        for channel in channels.values():
            webhook.authenticate(raw, channel, deps.secrets)

    outcome = WebhookOutcome(ignored=list(batch.ignored))
    for part in batch.rejected:
        if part.channel_id in channels:
            _within_deadline(started, deps)
            _record_rejected(provider, part, channels[part.channel_id], deps, outcome)
    for message in batch.messages:
        if message.channel_id in channels:
            _within_deadline(started, deps)
            _accept_message(message, channels[message.channel_id], deps, outcome)
    for status in batch.statuses:
        if status.channel_id in channels:
            _within_deadline(started, deps)
            _apply_status(status, channels[status.channel_id], deps, outcome)
    return outcome


def _parse(webhook: ProviderWebhook, raw: RawRequest) -> WebhookBatch:
    """The provider's parser; a value it let through that the normalized models refuse is still a 400."""
    try:
        return webhook.parse(raw)
    except ValidationError as err:
        first = err.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise InvalidPayload(f"{where}: {first['msg']}") from None


def _bounded(batch: WebhookBatch, max_items: int) -> WebhookBatch:
    """Refuse a batch over the limit (413), over-long ids (400); drop repeats inside the batch."""
    if batch.size > max_items:
        raise BatchTooLarge(f"request carries {batch.size} messages, statuses and events; the limit is {max_items} "
                            "(WEBHOOK_MAX_BATCH_ITEMS)")
    batch.check_ids(MAX_ID_CHARS)
    distinct = batch.distinct()
    if repeats := len(batch.messages) + len(batch.statuses) - len(distinct.messages) - len(distinct.statuses):
        log.log(logger, logging.WARNING, "repeated parts inside one request were dropped", repeats=repeats)
    return distinct


def _within_deadline(started: float, deps: InboundDeps) -> None:
    """Past the request's deadline, stop before the next call: 503, and the provider sends it all again
    (what was stored is found by create() as a duplicate; what was not is stored then)."""
    if deps.deadline_seconds is not None and deps.monotonic() - started > deps.deadline_seconds:
        raise DeadlinePassed(f"the webhook's {deps.deadline_seconds:g} s deadline passed before all parts were stored")


def _record_rejected(provider: Provider, part: RejectedPart, channel: Channel, deps: InboundDeps,
                     outcome: WebhookOutcome) -> None:
    """A malformed message inside a valid delivery: kept with the reason, while the rest of the delivery is answered
    200 (a provider does not resend a refused delivery forever, so a 400 would lose the good messages with it)."""
    key = part.provider_message_id or f"invalid:{part.reason}"
    message_id = inbound_message_id(provider.value, part.channel_id, key)
    record = StoredMessage(message_id=message_id, role=Role.LEAD, kind=MessageKind.UNSUPPORTED, provider=provider,
                           provider_message_id=part.provider_message_id, sent_at=deps.clock(),
                           disposition=InboundDisposition.INVALID)
    with log.bound(tenant_id=channel.tenant_id, message_id=message_id):
        deps.store.record_ignored(channel.tenant_id, message_id, f"invalid: {part.reason}", record)
        log.log(logger, logging.WARNING, "malformed message in a delivery recorded as ignored", reason=part.reason)
    outcome.invalid += 1


def _stored(message: InboundMessage, message_id: str, role: Role, disposition: InboundDisposition) -> StoredMessage:
    return StoredMessage(
        message_id=message_id,
        role=role,
        kind=message.kind,
        text=message.text,
        media=message.media,
        provider=message.provider,
        provider_message_id=message.provider_message_id,
        contact_name=message.contact_name if role == Role.LEAD else None,
        sent_at=message.sent_at,
        disposition=disposition,
        reply_to=message.reply_to,
        reaction_to=message.reaction_to,
        choice_id=message.choice_id,
        choice_description=message.choice_description,
        location=message.location,
        referral=message.referral,
    )


def _accept_message(message: InboundMessage, channel: Channel, deps: InboundDeps, outcome: WebhookOutcome) -> None:
    conv_id = conversation_id(channel.key, message.contact_phone)
    message_id = inbound_message_id(message.provider, message.channel_id, message.provider_message_id)
    with log.bound(tenant_id=channel.tenant_id, conversation_id=conv_id, message_id=message_id):
        if message.is_group:
            deps.store.record_ignored(channel.tenant_id, message_id, "group",
                                      _stored(message, message_id, Role.LEAD, InboundDisposition.IGNORED_GROUP),
                                      contact_phone=message.contact_phone)
            outcome.ignored.append("group_message")
            log.log(logger, logging.INFO, "group message recorded as ignored")
        elif message.not_a_chat:
            # A broadcast list or a channel post has no lead behind its "phone": never a conversation.
            deps.store.record_ignored(channel.tenant_id, message_id, message.not_a_chat,
                                      _stored(message, message_id, Role.LEAD, InboundDisposition.IGNORED_BROADCAST))
            outcome.ignored.append(message.not_a_chat)
            log.log(logger, logging.INFO, "broadcast or channel message recorded as ignored", reason=message.not_a_chat)
        elif (seller := _seller(message, channel, deps)) is not None:
            if message.from_business:
                # The business writing to one of its own sellers (our alert echoed by a gateway, or the app):
                # nobody's lead conversation.
                outcome.ignored.append("to_seller")
            else:
                _accept_seller_message(message, channel, seller, message_id, deps, outcome)
        elif message.from_business:
            _accept_business_message(message, channel, conv_id, message_id, deps, outcome)
        else:
            _accept_lead_message(message, channel, conv_id, message_id, deps, outcome)


def _seller(message: InboundMessage, channel: Channel, deps: InboundDeps) -> Seller | None:
    """Sellers are people, not leads: their phone writing to the business number is a seller message.
    The agent document is cached per instance (CHANNEL_CACHE_SECONDS), so this costs no read on the hot path."""
    agent: AgentConfig = deps.directory.get_agent(channel.tenant_id, channel.agent_id)
    return agent.seller_for(message.contact_phone)


def _accept_seller_message(message: InboundMessage, channel: Channel, seller: Seller, message_id: str,
                           deps: InboundDeps, outcome: WebhookOutcome) -> None:
    """Stored once (create = dedupe) and handed to the agent_turn function, which holds the senders: the webhook
    never sends. Never a lead conversation, never a LeadCreated."""
    if deps.sellers is None:
        deps.store.record_ignored(channel.tenant_id, message_id, "seller",
                                  _stored(message, message_id, Role.HUMAN, InboundDisposition.HUMAN))
        outcome.ignored.append("seller_message")
        return
    turn = TurnRequest(channel.tenant_id, seller_key(channel.tenant_id, seller.phone), message_id, channel.key,
                       message.contact_phone, purpose="seller")
    enqueued = deps.run_alongside(deps.turns.enqueue_turn, turn, 0)
    created = deps.sellers.record_seller_message(channel.tenant_id, message_id, {
        "message_id": message_id, "channel_key": channel.key, "seller_name": seller.name,
        "provider_message_id": message.provider_message_id, "kind": message.kind.value, "text": message.text,
        "reply_to": message.reply_to, "sent_at": message.sent_at,
        "media": message.media.model_dump(mode="python", exclude_none=True) if message.media else None})
    enqueued.result()
    if created:
        outcome.sellers += 1
        log.log(logger, logging.INFO, "seller message stored; handled by the seller desk",
                seller=mask_phone(message.contact_phone), has_reply_to=message.reply_to is not None)
    else:
        outcome.duplicates += 1


def _accept_lead_message(message: InboundMessage, channel: Channel, conv_id: str, message_id: str,
                         deps: InboundDeps, outcome: WebhookOutcome) -> None:
    """The hot path: one document create and one task create, side by side; nothing else.

    The conversation document is left to the agent turn (one write per burst, not per message), which
    keeps the webhook fast and the conversation document off the hot-write path.
    """
    if message.kind is MessageKind.REACTION and not deps.directory.get_agent(channel.tenant_id,
                                                                             channel.agent_id).answer_reactions:
        # A 👍 on our message is an acknowledgement, not a question: kept in memory (the next turn sees it), no reply.
        stored = _stored(message, message_id, Role.LEAD, InboundDisposition.NOT_ANSWERED)
        if deps.store.record_inbound(channel.tenant_id, conv_id, stored):
            outcome.not_answered += 1
            log.log(logger, logging.INFO, "reaction stored; not answered")
        else:
            outcome.duplicates += 1
        return
    turn = TurnRequest(channel.tenant_id, conv_id, message_id, channel.key, message.contact_phone)
    # Enqueued on redeliveries too: if an earlier attempt died between the two calls this heals it, and
    # the task name plus the turn's own checks (stored? newest? answered?) make it harmless otherwise.
    enqueued = deps.run_alongside(deps.turns.enqueue_turn, turn, deps.debounce_seconds)
    stored = _stored(message, message_id, Role.LEAD, InboundDisposition.QUEUED)
    # A file is read by the media processor, side by side too; the turn waits for it (media_status pending).
    media_enqueued = None
    if message.kind.has_media and deps.media is not None:
        stored.media_status = MediaStatus.PENDING
        media = MediaRequest(channel.tenant_id, conv_id, message_id, channel.key, message.contact_phone)
        media_enqueued = deps.run_alongside(deps.media.enqueue_media, media)
    created = deps.store.record_inbound(channel.tenant_id, conv_id, stored)
    enqueued.result()
    if media_enqueued is not None:
        media_enqueued.result()
    if created:
        outcome.queued += 1
        log.log(logger, logging.INFO, "inbound message stored; agent turn scheduled",
                kind=message.kind.value, contact=mask_phone(message.contact_phone))
    else:
        outcome.duplicates += 1
        log.log(logger, logging.INFO, "duplicate delivery; no new reply")


def _accept_business_message(message: InboundMessage, channel: Channel, conv_id: str, message_id: str,
                             deps: InboundDeps, outcome: WebhookOutcome) -> None:
    """Written from the business's own phone: our own echo, or a human seller. In pilot mode the seller
    takes the conversation over; in copilot mode what they sent is judged against the agent's draft."""
    if deps.store.is_own_outbound(channel.tenant_id, conv_id, message.provider_message_id):
        outcome.echoes += 1
        return
    if message.raw_type == "revoke" and message.edits:
        # The business deleted a message it sent from the app (Meta coexistence): kept, not a new human turn.
        deps.store.record_ignored(channel.tenant_id, message_id, "business_revoke",
                                  _stored(message, message_id, Role.HUMAN, InboundDisposition.HUMAN))
        outcome.ignored.append("business_revoke")
        return
    if not deps.store.record_inbound(channel.tenant_id, conv_id,
                                     _stored(message, message_id, Role.HUMAN, InboundDisposition.HUMAN)):
        outcome.duplicates += 1
        return
    outcome.human += 1
    try:
        mode = deps.directory.get_agent(channel.tenant_id, channel.agent_id).mode
    except InvalidConfiguration as err:
        # The seller's message is stored; pausing the bot is the safe reading of a human writing.
        log.log(logger, logging.ERROR, "invalid agent configuration; treating the seller's message as a takeover",
                path=err.path, problems=err.problems)
        mode = "pilot"
    if mode == "copilot":
        _judge_suggestion(channel.tenant_id, conv_id, channel.agent_id, message.text or "", deps)
        return
    stored = deps.store.get_conversation(channel.tenant_id, conv_id)
    pause = Conversation(conversation_id=conv_id, tenant_id=channel.tenant_id, channel_key=channel.key,
                         agent_id=channel.agent_id, contact_phone=message.contact_phone)
    pause.bot_paused = True
    pause.paused_at = deps.clock()
    deps.store.save_conversation(pause)
    log.log(logger, logging.INFO, "human seller wrote; bot paused on this conversation")
    if stored is not None and stored.handoff_question and message.text:
        # The seller is answering what the agent could not: learn it (in the agent_turn function, which
        # holds the knowledge base; the webhook stays free of embedding clients).
        deps.turns.enqueue_turn(TurnRequest(channel.tenant_id, conv_id, message_id, channel.key,
                                            message.contact_phone, purpose="learn"), 0)


def _judge_suggestion(tenant_id: str, conv_id: str, agent_id: str, sent: str, deps: InboundDeps) -> None:
    """The copilot feedback loop: was the latest draft sent as is, edited, or ignored? Accepted and edited drafts
    become examples of the sellers' own style for the agent's next drafts."""
    latest = deps.store.latest_suggestion(tenant_id, conv_id)
    if latest is None or latest[1].get("status") != "pending" or not sent:
        return
    suggestion_id, suggestion = latest
    feedback, similarity = judge(suggestion.get("draft_reply", ""), sent)
    deps.store.mark_suggestion(tenant_id, conv_id, suggestion_id,
                               {"status": feedback.value, "similarity": similarity, "sent_text": sent[:2000]})
    if deps.sellers is not None and feedback.value in ("accepted", "edited"):
        deps.sellers.add_style_example(tenant_id, agent_id, {
            "suggestion_id": suggestion_id, "verdict": feedback.value, "sent_text": sent[:600], "at": deps.clock()},
            STYLE_EXAMPLES_KEPT)
    log.log(logger, logging.INFO, "copilot suggestion judged", feedback=feedback.value, similarity=similarity)


def _apply_status(status: StatusUpdate, channel: Channel, deps: InboundDeps, outcome: WebhookOutcome) -> None:
    if not status.recipient_phone:
        outcome.unknown_statuses += 1
        return
    if status.state.value == "failed" and (status.error or "").startswith(REENGAGEMENT_ERROR) and \
            _requeue_seller_alert(status, channel, deps):
        outcome.statuses += 1
        return
    conv_id = conversation_id(channel.key, status.recipient_phone)
    with log.bound(tenant_id=channel.tenant_id, conversation_id=conv_id):
        if deps.store.apply_status(channel.tenant_id, conv_id, status):
            outcome.statuses += 1
            if status.state.value == "failed":
                log.log(logger, logging.WARNING, "provider reports an outbound message failed", error=status.error)
        else:
            outcome.unknown_statuses += 1


# Meta's "Re-engagement message": a free-form message sent outside the person's 24-hour window was accepted and then
# failed (https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes).
REENGAGEMENT_ERROR = "131047"


def _requeue_seller_alert(status: StatusUpdate, channel: Channel, deps: InboundDeps) -> bool:
    """An alert to a seller failed for the window: hold it again and forget the window, so it goes out (after a
    template invitation) when the seller writes. Nothing sent to a seller is lost silently."""
    if deps.sellers is None or not status.recipient_phone:
        return False
    seller = deps.directory.get_agent(channel.tenant_id, channel.agent_id).seller_for(status.recipient_phone)
    if seller is None:
        return False
    key = seller_key(channel.tenant_id, seller.phone)
    if not deps.sellers.requeue_alert(channel.tenant_id, key, status.provider_message_id):
        return False
    deps.sellers.save_seller_state(channel.tenant_id, key, {"windows": {channel.key: None}})
    log.log(logger, logging.WARNING, "an alert to a seller failed outside the 24-hour window; held again",
            tenant_id=channel.tenant_id, seller=mask_phone(status.recipient_phone))
    return True
