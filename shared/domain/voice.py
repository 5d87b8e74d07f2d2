"""Replying with voice: when an agent speaks instead of typing, and what is never spoken.

A voice note suits a short, conversational answer to a lead who talks. Lists, long answers, links,
e-mail addresses, street addresses and prices full of numbers are easier to read than to hear (and to
copy), so they go as text — or, when the agent wants both, as voice plus text.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from shared.domain.voice_clone import ClonedVoice

# Chirp 3 HD voice names are <locale>-Chirp3-HD-<Voice>, e.g. pt-BR-Chirp3-HD-Kore
# (https://cloud.google.com/text-to-speech/docs/chirp3-hd, "How do I access voices in supported languages?").
_CHIRP3_NAME = re.compile(r"^(?P<locale>[a-z]{2,3}-[A-Z]{2})-Chirp3-HD-(?P<voice>[A-Z][a-z]+)$")

_LINK = re.compile(r"(https?://|www\.)\S+|\b[\w.+-]+@[\w-]+\.[\w.]+\b", re.IGNORECASE)
_LIST_LINE = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+", re.MULTILINE)
_NUMBER = re.compile(r"\d[\d.,:/]*")
_ADDRESS = re.compile(r"\b(rua|r\.|avenida|av\.|alameda|travessa|rodovia|estrada|praça|cep)\s", re.IGNORECASE)
_MARKUP = re.compile(r"[*_~`]+")


class VoiceSettings(BaseModel):
    """AgentConfig.voice: whether and how the agent answers with voice notes."""

    replies: Literal["never", "mirror", "always"] = Field(
        default="never", description="never; mirror: by voice when the lead's last message was a voice note; always")
    voice_name: str = Field(default="pt-BR-Chirp3-HD-Kore",
                            description="a Chirp 3 HD voice (<locale>-Chirp3-HD-<Voice>) used when no clone is set")
    language_code: str = Field(default="pt-BR", description="BCP-47 locale of the spoken text")
    max_spoken_chars: int = Field(default=400, ge=20, le=2000,
                                  description="longer replies go as text: a voice note should stay short")
    max_numbers: int = Field(default=4, ge=0, description="replies with more numbers (prices, dates) go as text")
    also_text: bool = Field(default=False, description="send the text after the voice note as well")
    speaking_rate: float = Field(default=1.0, ge=0.25, le=2.0)
    clone: ClonedVoice | None = Field(default=None, description="set by voice_admin after a consented cloning; "
                                                                "the agent then speaks in that voice")

    @field_validator("voice_name")
    @classmethod
    def _chirp3(cls, value: str) -> str:
        if not _CHIRP3_NAME.match(value):
            raise ValueError("must be a Chirp 3 HD voice name like pt-BR-Chirp3-HD-Kore")
        return value


def should_speak(settings: VoiceSettings, lead_sent_voice: bool) -> bool:
    """The agent's policy, before looking at the reply itself."""
    return settings.replies == "always" or (settings.replies == "mirror" and lead_sent_voice)


def unspeakable_reason(text: str, settings: VoiceSettings) -> str | None:
    """Why this reply must go as text, or None when it can be spoken."""
    if not text.strip():
        return "empty reply"
    if len(text) > settings.max_spoken_chars:
        return f"longer than {settings.max_spoken_chars} characters"
    if _LINK.search(text):
        return "holds a link or an e-mail address"
    if len(_LIST_LINE.findall(text)) >= 2:
        return "is a list"
    if _ADDRESS.search(text):
        return "holds a street address"
    if len(_NUMBER.findall(text)) > settings.max_numbers:
        return f"holds more than {settings.max_numbers} numbers"
    return None


def spoken_form(text: str) -> str:
    """What the synthesizer reads: WhatsApp markup and emoji removed, whitespace collapsed."""
    no_markup = _MARKUP.sub("", text)
    no_emoji = "".join(ch for ch in no_markup if unicodedata.category(ch) not in ("So", "Sk", "Cs", "Co")
                       and not 0xFE00 <= ord(ch) <= 0xFE0F and ord(ch) != 0x200D)
    return " ".join(no_emoji.split())


class Speech(BaseModel):
    """One synthesis: the audio and what it cost."""

    audio: bytes = Field(repr=False)
    mime_type: str = "audio/ogg; codecs=opus"
    duration_seconds: float | None = None
    characters: int
    voice: str
    backend: str = Field(description="'google-tts' or 'offline'")
    latency_ms: int
    cost_usd: float | None = Field(description="None when no price is configured: unknown, never 0")


def synthesis_cost(characters: int, price_per_million_chars: float | None) -> float | None:
    """Cloud TTS bills per input character (https://cloud.google.com/text-to-speech/pricing)."""
    if price_per_million_chars is None:
        return None
    return round(characters * price_per_million_chars / 1_000_000, 8)


class VoiceNote(BaseModel):
    """What a reply records about its voice: sent as a voice note, or why it went as text."""

    spoken: bool
    reason: str | None = Field(default=None, description="why the reply went as text (policy, content, failure)")
    voice: str | None = None
    characters: int | None = None
    duration_seconds: float | None = None
    audio_object: str | None = Field(default=None, description="gs:// path of the audio kept in the media bucket")
    cost_usd: float | None = None
    latency_ms: int | None = None
    also_text: bool = False


# WhatsApp voice notes are Ogg/Opus; the providers' limit for audio is 16 MB
# (https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media#supported-media-types).
MAX_VOICE_NOTE_BYTES = 16 * 1024 * 1024
# Meta shows a voice message's play icon only up to 512 KB; past it the lead sees a download arrow
# (https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/audio-messages/).
META_PLAY_ICON_BYTES = 512 * 1024


def is_ogg_opus(audio: bytes) -> bool:
    """An Ogg stream whose first packet is an Opus identification header (RFC 7845, section 5.1)."""
    return audio[:4] == b"OggS" and b"OpusHead" in audio[:200]


def ogg_opus_duration(audio: bytes) -> float | None:
    """Duration of an Ogg/Opus stream from its last page's granule position (RFC 7845: 48 kHz, minus pre-skip)."""
    if audio[:4] != b"OggS":
        return None
    head = audio.find(b"OpusHead")
    last = audio.rfind(b"OggS")
    if head < 0 or last < 0 or len(audio) < last + 14:
        return None
    pre_skip = int.from_bytes(audio[head + 10:head + 12], "little")
    granule = int.from_bytes(audio[last + 6:last + 14], "little")
    return round(max(0, granule - pre_skip) / 48_000, 2)
