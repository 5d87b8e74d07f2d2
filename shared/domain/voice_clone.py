"""Cloned voices (Chirp 3 Instant Custom Voice): the speaker's consent and the rules a recording must meet.

Google creates a voice-cloning key from a reference recording plus a recording of the same speaker reading
Google's consent statement in the voice's language (POST v1beta1/voices:generateVoiceCloningKey with
reference_audio, voice_talent_consent, consent_script, language_code;
https://cloud.google.com/text-to-speech/docs/chirp3-instant-custom-voice). Access is allow-listed by Google
("Due to safety considerations, access to this voice cloning capability is restricted to allow-listed users",
same page). Piloto clones nothing without that consent recording, an explicit consent flag from the admin and
the exact statement; it keeps who uploaded, when, the recordings' SHA-256 and where the key lives — never the
key, never the audio in Firestore.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

# The consent statement the speaker reads, per language, verbatim from the "Language availability" table of
# https://cloud.google.com/text-to-speech/docs/chirp3-instant-custom-voice (the API receives it as
# consent_script). Only the locales Piloto's agents speak are listed; others are refused with a reason.
CONSENT_SCRIPTS: dict[str, str] = {
    "pt-BR": "Eu sou o proprietário desta voz e autorizo o Google a usá-la para criar um modelo de voz sintética.",
    "en-US": "I am the owner of this voice and I consent to Google using this voice to create a synthetic voice "
             "model.",
    "es-ES": "Soy el propietario de esta voz y doy mi consentimiento para que Google la utilice para crear un modelo "
             "de voz sintética.",
}

# Input encodings the page lists for the recordings ("Supported encoding formats: LINEAR16, PCM, MP3, M4A").
# Piloto accepts WAV (LINEAR16) only: it is the format Google's own samples send (24 kHz, 16-bit) and the one
# whose sample rate, channels and length can be checked here before anything leaves for Google.
REFERENCE_SAMPLE_RATES = (16_000, 22_050, 24_000, 44_100, 48_000)
# Piloto's own bounds, not Google's: the page recommends a short, clean recording of one speaker and gives no
# length limits; a few seconds cannot carry a voice, and a request body is capped at 10 MB by Google's API
# front end, which two 60 s recordings of 24 kHz 16-bit mono (2.9 MB each, base64 3.8 MB) stay well under.
MIN_RECORDING_SECONDS = 3.0
MAX_RECORDING_SECONDS = 60.0
MAX_RECORDING_BYTES = 6 * 1024 * 1024


class RecordingFacts(BaseModel):
    sample_rate_hertz: int
    channels: int
    bits_per_sample: int
    seconds: float
    sha256: str


def wav_facts(audio: bytes) -> RecordingFacts:
    """A RIFF/WAVE PCM file's facts; ValueError naming what is wrong otherwise (the admin gets it as a 400)."""
    if len(audio) > MAX_RECORDING_BYTES:
        raise ValueError(f"{len(audio)} bytes is over {MAX_RECORDING_BYTES}")
    if audio[:4] != b"RIFF" or audio[8:12] != b"WAVE":
        raise ValueError("not a WAV file (RIFF/WAVE header): record or convert it to 16-bit PCM WAV")
    position, fmt, data_bytes = 12, None, None
    while position + 8 <= len(audio):
        chunk, size = audio[position:position + 4], int.from_bytes(audio[position + 4:position + 8], "little")
        if chunk == b"fmt ":
            fmt = audio[position + 8:position + 8 + size]
        elif chunk == b"data":
            data_bytes = min(size, len(audio) - position - 8)
            break
        position += 8 + size + (size & 1)
    if fmt is None or len(fmt) < 16 or data_bytes is None:
        raise ValueError("a WAV file needs a fmt and a data chunk")
    audio_format = int.from_bytes(fmt[0:2], "little")
    channels = int.from_bytes(fmt[2:4], "little")
    rate = int.from_bytes(fmt[4:8], "little")
    bits = int.from_bytes(fmt[14:16], "little")
    if audio_format != 1 or bits != 16:
        raise ValueError("must be LINEAR16: uncompressed 16-bit PCM")
    if channels != 1:
        raise ValueError(f"must be mono (one speaker, one channel), has {channels} channels")
    if rate not in REFERENCE_SAMPLE_RATES:
        raise ValueError(f"sample rate {rate} Hz: use 24000 Hz (or one of {REFERENCE_SAMPLE_RATES})")
    seconds = round(data_bytes / (rate * 2), 2)
    if not MIN_RECORDING_SECONDS <= seconds <= MAX_RECORDING_SECONDS:
        raise ValueError(f"{seconds} s long: must be {MIN_RECORDING_SECONDS:g}–{MAX_RECORDING_SECONDS:g} s")
    return RecordingFacts(sample_rate_hertz=rate, channels=channels, bits_per_sample=bits, seconds=seconds,
                          sha256=hashlib.sha256(audio).hexdigest())


def consent_script(language_code: str) -> str:
    """Google's consent statement for the language; ValueError when Piloto does not list it."""
    try:
        return CONSENT_SCRIPTS[language_code]
    except KeyError:
        raise ValueError(f"no consent statement for {language_code!r}; supported: {sorted(CONSENT_SCRIPTS)}") \
            from None


def clone_secret_id(tenant_id: str, agent_id: str) -> str:
    """One Secret Manager secret per agent. The prefix is what agent_turn's IAM condition allows to read."""
    return f"{CLONE_SECRET_PREFIX}{tenant_id}--{agent_id}"[:255]


# Secret ids allow [A-Za-z0-9_-] up to 255 characters (https://cloud.google.com/secret-manager/docs/reference/rest/
# v1/projects.secrets/create); tenant and agent ids already match DOCUMENT_ID_PATTERN's subset of it.
CLONE_SECRET_PREFIX = "voice-clone--"
SECRET_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


def consent_id(agent_id: str, reference_sha256: str, consent_sha256: str) -> str:
    """The same recordings for the same agent are the same consent: a repeated upload finds it, no second key."""
    return hashlib.sha256(f"{agent_id}|{reference_sha256}|{consent_sha256}".encode()).hexdigest()[:32]


class ClonedVoice(BaseModel):
    """VoiceSettings.clone: the agent speaks in this cloned voice instead of its stock voice_name."""

    speaker_name: str = Field(min_length=2, max_length=120, description="whose voice it is")
    consent_id: str = Field(description="tenants/{t}/voice_consents/{id}: who consented, when, the checksums")
    secret_version: str = Field(pattern=r"^projects/[^/]+/secrets/[A-Za-z0-9_-]+/versions/\d+$",
                                description="Secret Manager version holding the voice-cloning key (never the key)")
    language_code: str = Field(default="pt-BR", description="the locale the key was created for")


class VoiceConsent(BaseModel):
    """tenants/{t}/voice_consents/{consent_id}: the proof that the speaker agreed, without the audio or the key."""

    consent_id: str
    tenant_id: str
    agent_id: str
    speaker_name: str
    uploaded_by: str = Field(description="the admin who uploaded the recordings")
    consented_at: datetime
    language_code: str
    consent_script: str = Field(description="the statement the speaker read, as sent to Google")
    reference_sha256: str
    consent_sha256: str
    reference_seconds: float
    consent_seconds: float
    recordings: list[str] = Field(default_factory=list,
                                  description="gs:// paths of the two recordings kept as proof of consent")
    secret_version: str | None = Field(default=None, description="where the key is; None until it is stored")
    status: Literal["pending", "active", "revoked"] = "pending"
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    revoke_reason: str | None = None
