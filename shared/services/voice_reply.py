"""Send a reply as a voice note when the agent speaks, as text otherwise — never silence.

The voice note is a second form of the same reply: the text is stored on the reply as always (memory, CRM
notes and copilot read it), and the voice note's facts (voice, characters, duration, the audio kept in the
media bucket, cost) are recorded beside it. Anything that stops the voice note — the agent's policy, a
reply that reads better than it sounds, Text-to-Speech refusing or failing, a provider refusing the audio —
sends the text instead and records why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from shared import log
from shared.domain.errors import ProviderRejected, SpeechUnavailable
from shared.domain.tenancy import AgentConfig, Channel
from shared.domain.usage import ModelCall, TokenUsage
from shared.domain.voice import (
    META_PLAY_ICON_BYTES,
    MAX_VOICE_NOTE_BYTES,
    Speech,
    VoiceNote,
    VoiceSettings,
    should_speak,
    spoken_form,
    unspeakable_reason,
)
from shared.ports import MessageSender, UsageLedger

logger = logging.getLogger(__name__)


class SpeechSynthesizer(Protocol):
    def synthesize(self, text: str, settings: VoiceSettings) -> Speech:
        """Raise SpeechUnavailable when no voice note can be made (the reply then goes as text)."""


class AudioSender(Protocol):
    """A MessageSender that can also send a voice note (Ogg/Opus bytes); returns the provider's message id."""

    def send_audio(self, channel: Channel, to_phone: str, audio: bytes, mime_type: str) -> str: ...


class AudioLinkSender(Protocol):
    """A MessageSender that takes a voice note only as a URL it downloads (Twilio's MediaUrl)."""

    def send_audio_url(self, channel: Channel, to_phone: str, url: str, size: int) -> str: ...


class VoiceRecords(Protocol):
    def save_audio(self, tenant_id: str, conversation_id: str, reply_id: str, audio: bytes) -> str:
        """Keep the original in the media bucket; returns its gs:// path."""
        ...

    def record_voice(self, tenant_id: str, conversation_id: str, reply_id: str, note: VoiceNote) -> None: ...


@dataclass
class VoiceDeps:
    synthesizer: SpeechSynthesizer
    records: VoiceRecords
    ledger: UsageLedger | None = None
    # (tenant_id, content, content type) → a URL the provider can download, for AudioLinkSenders; None: they get
    # text (no account to sign links with).
    media_links: Callable[[str, bytes, str], str] | None = None


@dataclass(frozen=True)
class ReplyTarget:
    tenant_id: str
    conversation_id: str
    reply_id: str
    agent_id: str
    to_phone: str
    lead_sent_voice: bool


def send_reply(sender: MessageSender, channel: Channel, agent: AgentConfig, text: str, target: ReplyTarget,
               voice: VoiceDeps | None) -> str:
    """The provider message id of the reply (the voice note's when one went out)."""
    settings = agent.voice
    if voice is None or not should_speak(settings, target.lead_sent_voice):
        return sender.send_text(channel, target.to_phone, text)
    reason = unspeakable_reason(text, settings)
    by_link = not hasattr(sender, "send_audio") and hasattr(sender, "send_audio_url")
    if reason is None and not hasattr(sender, "send_audio") and not (by_link and voice.media_links):
        reason = (f"{channel.provider.value} takes voice notes by URL and no media link signer is configured"
                  if by_link else f"{channel.provider.value} cannot send voice notes")
    speech: Speech | None = None
    if reason is None:
        try:
            speech = voice.synthesizer.synthesize(spoken_form(text), settings)
        except SpeechUnavailable as err:
            reason = f"synthesis failed: {err}"
    if speech is not None:
        _meter(voice, target, speech)
        limit = META_PLAY_ICON_BYTES if channel.provider.value == "meta" else MAX_VOICE_NOTE_BYTES
        if len(speech.audio) > limit:
            reason, speech = f"voice note of {len(speech.audio)} bytes is over {limit}", None
    if speech is None:
        return _as_text(sender, channel, text, target, voice, VoiceNote(spoken=False, reason=reason))
    note = VoiceNote(spoken=True, voice=speech.voice, characters=speech.characters,
                     duration_seconds=speech.duration_seconds, cost_usd=speech.cost_usd,
                     latency_ms=speech.latency_ms, also_text=settings.also_text)
    try:
        note.audio_object = voice.records.save_audio(target.tenant_id, target.conversation_id, target.reply_id,
                                                     speech.audio)
    except Exception:  # noqa: BLE001 - keeping a copy must not stop the reply
        logger.exception("voice note not kept in the media bucket")
    try:
        message_id = _send_audio(sender, channel, target, speech, voice)
    except ProviderRejected as err:
        note = note.model_copy(update={"spoken": False, "reason": f"the provider refused the voice note: {err}"})
        return _as_text(sender, channel, text, target, voice, note)
    voice.records.record_voice(target.tenant_id, target.conversation_id, target.reply_id, note)
    log.log(logger, logging.INFO, "voice note sent", reply_id=target.reply_id, voice=note.voice,
            characters=note.characters, duration_s=note.duration_seconds)
    if settings.also_text:
        sender.send_text(channel, target.to_phone, text)
    return message_id


def _send_audio(sender: MessageSender, channel: Channel, target: ReplyTarget, speech: Speech, voice: VoiceDeps) -> str:
    if hasattr(sender, "send_audio"):
        return sender.send_audio(channel, target.to_phone, speech.audio, speech.mime_type)  # type: ignore[attr-defined]
    assert voice.media_links is not None
    content_type = speech.mime_type.split(";", 1)[0].strip()  # the stored object's Content-Type, no codec parameter
    try:
        url = voice.media_links(target.tenant_id, speech.audio, content_type)
    except Exception as err:  # noqa: BLE001 - storage or signing failed: the reply goes as text, with the reason
        # Only our own configuration errors carry a message worth recording; others may hold URLs or tokens.
        detail = str(err)[:160] if isinstance(err, RuntimeError) else type(err).__name__
        raise ProviderRejected(channel.provider.value, 0, f"the voice note could not be linked ({detail})") from None
    return sender.send_audio_url(channel, target.to_phone, url, len(speech.audio))  # type: ignore[attr-defined]


def _as_text(sender: MessageSender, channel: Channel, text: str, target: ReplyTarget, voice: VoiceDeps,
             note: VoiceNote) -> str:
    message_id = sender.send_text(channel, target.to_phone, text)
    voice.records.record_voice(target.tenant_id, target.conversation_id, target.reply_id, note)
    log.log(logger, logging.INFO, "reply sent as text instead of a voice note", reply_id=target.reply_id,
            reason=note.reason)
    return message_id


def _meter(voice: VoiceDeps, target: ReplyTarget, speech: Speech) -> None:
    """Every synthesis is a usage record, beside the model calls: characters, voice, latency, cost."""
    if voice.ledger is None:
        return
    voice.ledger.record_model_call(target.tenant_id, target.agent_id, target.conversation_id, ModelCall(
        model=speech.voice, backend=speech.backend, purpose="speech", usage=TokenUsage(),
        characters=speech.characters, latency_ms=speech.latency_ms, cost_usd=speech.cost_usd))
