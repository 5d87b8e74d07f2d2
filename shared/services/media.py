"""Read a lead's file: download it once, keep the original, extract its text, then wake the conversation's turn."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared import log
from shared.domain.conversation import StoredMessage, awaits_reply
from shared.domain.errors import MediaTooLarge, MediaUnavailable, MediaUnreadable, PilotoError, TransientError
from shared.domain.inbound import Provider
from shared.domain.media import (
    MediaLimits,
    MediaRoute,
    MediaStatus,
    StoredMedia,
    clip_text,
    guess_mime,
    human_size,
    media_path,
    route_for,
)
from shared.domain.tenancy import AgentConfig, Channel
from shared.domain.usage import ModelCall
from shared.ports import (
    ChannelDirectory,
    ConversationStore,
    DocumentText,
    Extraction,
    MediaDownloader,
    MediaModel,
    MediaRequest,
    MediaStorage,
    MediaStore,
    TurnRequest,
    TurnWakeups,
    UsageLedger,
)

logger = logging.getLogger(__name__)


@dataclass
class MediaDeps:
    directory: ChannelDirectory
    store: MediaStore
    conversations: ConversationStore
    downloader_for: Callable[[Provider], MediaDownloader]
    storage: MediaStorage
    model: MediaModel
    ledger: UsageLedger
    wakeups: TurnWakeups
    documents: DocumentText
    limits: MediaLimits
    debounce_seconds: float = 4.0
    lease_seconds: int = 300
    max_text_chars: int = 20_000
    max_attempts: int = 5
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


@dataclass
class MediaOutcome:
    status: str
    reason: str | None = None
    chars: int | None = None
    already_final: bool = False
    woke: str | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v not in (None, False)}


@dataclass(frozen=True)
class _Read:
    status: MediaStatus
    text: str | None = None
    reason: str | None = None
    call: ModelCall | None = None


def process_media(request: MediaRequest, deps: MediaDeps, attempt: int = 0) -> MediaOutcome:
    """Raises TransientError while a retry may help; on the queue's last attempt records the failure instead,
    so the waiting turn is woken and answers honestly rather than never."""
    with log.bound(tenant_id=request.tenant_id, conversation_id=request.conversation_id,
                   message_id=request.message_id):
        message = deps.store.claim_media(request.tenant_id, request.conversation_id, request.message_id,
                                         deps.clock(), deps.lease_seconds)
        if message is None:
            # The webhook enqueues while it stores: a task may run before its message lands.
            raise TransientError("the media task's message is not stored yet")
        if message.media_status is None:
            log.log(logger, logging.WARNING, "media task for a message that is not waiting for media")
            return MediaOutcome(status="not_media", already_final=True)
        if message.media_status.final:
            # A redelivery: nothing is downloaded or read again. The wake is repeated in case the first
            # delivery died right after finishing.
            woke = _wake_turn(request, deps)
            return MediaOutcome(message.media_status.value, message.media_reason, already_final=True, woke=woke)
        try:
            result = _read(message, request, deps)
        except TransientError as err:
            if attempt + 1 < deps.max_attempts:
                deps.store.release_media(request.tenant_id, request.conversation_id, request.message_id)
                raise
            result = _Read(MediaStatus.FAILED, reason=f"gave up after {attempt + 1} attempts: {err}")
        deps.store.finish_media(request.tenant_id, request.conversation_id, request.message_id, result.status,
                                result.text, result.reason, result.call)
        level = logging.INFO if result.status is MediaStatus.DONE else logging.WARNING
        log.log(logger, level, "media read" if result.status is MediaStatus.DONE else "media not read",
                kind=message.kind.value, status=result.status.value, reason=result.reason,
                chars=len(result.text) if result.text is not None else None)
        woke = _wake_turn(request, deps)
        return MediaOutcome(result.status.value, result.reason,
                            chars=len(result.text) if result.text is not None else None, woke=woke)


def _read(message: StoredMessage, request: MediaRequest, deps: MediaDeps) -> _Read:
    provider, _, channel_id = request.channel_key.partition(":")
    channel = deps.directory.find_channel(provider, channel_id)
    if channel is None:
        return _Read(MediaStatus.FAILED, reason="the channel was removed before the file could be downloaded")
    media = message.media
    limit = deps.limits.max_bytes_for(message.kind)
    if media is not None and media.file_size is not None and media.file_size > limit:
        return _Read(MediaStatus.TOO_LARGE, reason=deps.limits.too_large_reason(message.kind, media.file_size))

    if message.media_file is not None:
        content = deps.storage.load(message.media_file.bucket, message.media_file.path)
        stored = message.media_file
    else:
        content, stored = None, None
    if content is None:
        try:
            downloaded = deps.downloader_for(channel.provider).download(channel, message, limit)
        except MediaTooLarge as err:
            return _Read(MediaStatus.TOO_LARGE, reason=deps.limits.too_large_reason(message.kind, err.size))
        except MediaUnavailable as err:
            return _Read(MediaStatus.FAILED, reason=str(err))
        content = downloaded.content
        if len(content) > limit:  # a provider that ignores the cap must not get past it
            return _Read(MediaStatus.TOO_LARGE, reason=deps.limits.too_large_reason(message.kind, len(content)))
        filename = downloaded.filename or (media.filename if media else None)
        mime = guess_mime(downloaded.mime_type or (media.mime_type if media else None), filename)
        stored = _keep_original(request, message, content, mime, filename, deps)

    assert stored is not None
    unreadable = deps.limits.unreadable_reason(stored.content_type)
    if unreadable:
        return _Read(MediaStatus.UNSUPPORTED, reason=unreadable)
    agent = deps.directory.get_agent(request.tenant_id, channel.agent_id)
    try:
        text, call = _extract(route_for(stored.content_type), content, stored.content_type, agent, channel,
                              request, deps)
    except MediaUnreadable as err:
        return _Read(MediaStatus.FAILED, reason=str(err))
    return _Read(MediaStatus.DONE, text=clip_text(text, deps.max_text_chars), call=call)


def _keep_original(request: MediaRequest, message: StoredMessage, content: bytes, mime: str, filename: str | None,
                   deps: MediaDeps) -> StoredMedia:
    """Store the bytes before reading them: a retry after a failed model call reads them back instead of asking
    the provider again (Meta's URL lives five minutes, Z-API's a few days)."""
    digest = hashlib.sha256(content).hexdigest()
    path = media_path(request.tenant_id, request.conversation_id, request.message_id, mime)
    bucket = deps.storage.save(path, content, mime, {"message_id": request.message_id, "sha256": digest,
                                                     "kind": message.kind.value})
    stored = StoredMedia(bucket=bucket, path=path, content_type=mime, size_bytes=len(content), sha256=digest,
                         filename=filename)
    deps.store.save_media_file(request.tenant_id, request.conversation_id, request.message_id, stored)
    log.log(logger, logging.INFO, "media stored", content_type=mime, size=human_size(len(content)),
            sha256=digest[:12])
    return stored


def _extract(route: MediaRoute, content: bytes, mime: str, agent: AgentConfig, channel: Channel,
             request: MediaRequest, deps: MediaDeps) -> tuple[str, ModelCall | None]:
    documents = deps.documents
    if route is MediaRoute.AUDIO:
        extraction = _metered(lambda: deps.model.transcribe(content, mime, agent.language), channel, request, deps)
    elif route is MediaRoute.IMAGE:
        extraction = _metered(lambda: deps.model.describe_image(content, mime, agent.language), channel, request,
                              deps)
    elif route is MediaRoute.PDF:
        text, scanned = documents.pdf_text(content)
        if not scanned:
            return text, None
        extraction = _metered(lambda: deps.model.read_scanned_document(content, agent.language), channel, request,
                              deps)
    elif route is MediaRoute.DOCX:
        return documents.docx_text(content), None
    elif route is MediaRoute.TEXT:
        return documents.plain_text(content), None
    else:
        raise MediaUnreadable(f"{mime} has no reader")
    call = extraction.call
    deps.ledger.record_model_call(request.tenant_id, channel.agent_id, request.conversation_id, call)
    log.log(logger, logging.INFO, "model call", model=call.model, backend=call.backend,
            prompt_tokens=call.usage.prompt_tokens, output_tokens=call.usage.output_tokens,
            thoughts_tokens=call.usage.thoughts_tokens, latency_ms=call.latency_ms, cost_usd=call.cost_usd,
            agent_id=channel.agent_id, purpose=call.purpose)
    return extraction.text, call


def _wake_turn(request: MediaRequest, deps: MediaDeps) -> str | None:
    """Schedule the turn of the burst's newest lead message again, no earlier than its debounce window ends.

    The turn may already have given up waiting (Cloud Tasks stops retrying; the local emulator retries at once),
    so waiting for retries alone could leave a voice note unanswered. If it already replied, the woken turn
    finds its reply sent and does nothing.
    """
    history = deps.conversations.recent_messages(request.tenant_id, request.conversation_id, 20)
    newest = next((m for m in reversed(history) if awaits_reply(m)), None)
    if newest is None:
        return None
    due = (newest.stored_at or newest.sent_at) + timedelta(seconds=deps.debounce_seconds)
    delay = max(0.0, (due - deps.clock()).total_seconds())
    turn = TurnRequest(request.tenant_id, request.conversation_id, newest.message_id, request.channel_key,
                       request.contact_phone)
    deps.wakeups.wake_turn(turn, delay, because_of=request.message_id)
    return newest.message_id



def _metered(read: Callable[[], Extraction], channel: Channel, request: MediaRequest, deps: MediaDeps) -> Extraction:
    """A failed model attempt is paid for and metered too: its record travels on the exception."""
    try:
        return read()
    except PilotoError as err:
        failed = getattr(err, "call", None) or getattr(err, "model_call", None)
        if isinstance(failed, ModelCall):
            deps.ledger.record_model_call(request.tenant_id, channel.agent_id, request.conversation_id, failed)
            log.log(logger, logging.INFO, "model call", model=failed.model, backend=failed.backend,
                    purpose=failed.purpose, outcome=failed.outcome.value, error_code=failed.error_code,
                    prompt_tokens=failed.usage.prompt_tokens, output_tokens=failed.usage.output_tokens,
                    thoughts_tokens=failed.usage.thoughts_tokens, latency_ms=failed.latency_ms,
                    cost_usd=failed.cost_usd, agent_id=channel.agent_id)
        raise
