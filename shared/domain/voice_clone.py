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
from collections.abc import Mapping
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

# Input encodings the page lists for the recordings ("Supported encoding formats: LINEAR16, PCM, MP3, M4A") — not
# Ogg/Opus, the format of a WhatsApp voice note, which is what an owner actually has. So voice_admin decodes what
# the owner uploads (libsndfile: WAV, Ogg/Opus or Ogg/Vorbis, FLAC, MP3), checks it here and sends Google a LINEAR16
# WAV it made itself: one format whose rate, channels and length Piloto has checked before anything leaves.
UPLOAD_CONTAINERS = {"WAV": "WAV", "WAVEX": "WAV", "OGG": "Ogg", "FLAC": "FLAC", "MP3": "MP3"}
ACCEPTED_UPLOADS = "WAV, Ogg/Opus (a WhatsApp voice note), FLAC or MP3"
HOW_TO_CONVERT = ("forward the recording as a WhatsApp voice note and export it (an .opus/.ogg file), or convert it, "
                  "e.g. `ffmpeg -i recording.m4a -ac 1 -ar 24000 recording.wav`")
# LINEAR16 rates Piloto sends. Above 24 kHz a recording is resampled to 24 kHz: Google's own example sends 24 kHz,
# and two 60 s recordings at 48 kHz (what Opus decodes to: 5.8 MB each, 15.4 MB as base64) would break the 10 MB
# request cap of Google's API front end, where 24 kHz stays at 7.7 MB. Below 16 kHz (telephone audio) there is
# nothing to resample up honestly: refused with the reason.
REFERENCE_SAMPLE_RATES = (16_000, 22_050, 24_000)
MAX_SENT_SAMPLE_RATE = 24_000
MIN_SAMPLE_RATE = 16_000
# Piloto's own bounds, not Google's: the page recommends a short, clean recording of one speaker and gives no
# length limits; a few seconds cannot carry a voice, and the request cap above bounds the length.
MIN_RECORDING_SECONDS = 3.0
MAX_RECORDING_SECONDS = 60.0
MAX_RECORDING_BYTES = 6 * 1024 * 1024


class RecordingFacts(BaseModel):
    """An uploaded recording as checked: what the speaker provided, and the LINEAR16 WAV made from it for Google."""

    uploaded_format: str = Field(description="container/codec as libsndfile read it, e.g. OGG/OPUS or WAV/PCM_16")
    uploaded_sha256: str = Field(description="SHA-256 of the bytes the admin uploaded")
    uploaded_sample_rate_hertz: int
    uploaded_channels: int = Field(description="channels uploaded; more than one is downmixed to one")
    sample_rate_hertz: int = Field(description="rate of the LINEAR16 WAV sent to Google")
    seconds: float
    sent_sha256: str = Field(description="SHA-256 of the LINEAR16 WAV sent to Google")


def check_upload_size(size: int) -> None:
    if size > MAX_RECORDING_BYTES:
        raise ValueError(f"{size} bytes is over {MAX_RECORDING_BYTES}")


def check_container(container: str) -> None:
    """Only the formats documented for owners; libsndfile reads more (AIFF, CAF…) but nobody records in them."""
    if container not in UPLOAD_CONTAINERS:
        raise ValueError(f"a {container} file is not accepted: upload {ACCEPTED_UPLOADS}")


def unreadable(audio: bytes) -> str:
    """The reason an upload could not be decoded, naming what is accepted and how to get there."""
    if audio[4:8] == b"ftyp":
        found = "an M4A/AAC (MP4) file, e.g. an iPhone voice memo, which cannot be decoded here"
    elif audio[:6] == b"#!AMR\n":
        found = "an AMR file, which cannot be decoded here"
    else:
        found = "not an audio file that can be decoded"
    return f"{found}: upload {ACCEPTED_UPLOADS}; {HOW_TO_CONVERT}"


def sent_sample_rate(uploaded_rate: int) -> int:
    """The LINEAR16 rate sent for a recording at uploaded_rate; ValueError below 16 kHz."""
    if uploaded_rate < MIN_SAMPLE_RATE:
        raise ValueError(f"sample rate {uploaded_rate} Hz is too low for a voice clone: record at "
                         f"{MIN_SAMPLE_RATE} Hz or more (a WhatsApp voice note is fine)")
    if uploaded_rate in REFERENCE_SAMPLE_RATES:
        return uploaded_rate
    return max(rate for rate in REFERENCE_SAMPLE_RATES if rate <= min(uploaded_rate, MAX_SENT_SAMPLE_RATE))


def check_length(seconds: float) -> float:
    seconds = round(seconds, 2)
    if not MIN_RECORDING_SECONDS <= seconds <= MAX_RECORDING_SECONDS:
        raise ValueError(f"{seconds} s long: must be {MIN_RECORDING_SECONDS:g}–{MAX_RECORDING_SECONDS:g} s")
    return seconds


def consent_script(language_code: str, overrides: Mapping[str, str] | None = None) -> str:
    """Google's consent statement for the language; ValueError when neither Piloto nor the operator lists it.

    `overrides` (VOICE_CONSENT_STATEMENTS) win over the built-in table: if Google rewords a statement, or lists a
    language Piloto does not, an operator follows the live page without a release — the check stays exact."""
    scripts = {**CONSENT_SCRIPTS, **(overrides or {})}
    try:
        return scripts[language_code]
    except KeyError:
        raise ValueError(f"no consent statement for {language_code!r}; supported: {sorted(scripts)}") from None


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
    reference_sha256: str = Field(description="SHA-256 of the reference recording as uploaded")
    consent_sha256: str = Field(description="SHA-256 of the consent recording as uploaded (what the speaker gave)")
    reference_seconds: float
    consent_seconds: float
    reference_format: str | None = Field(default=None, description="the upload's format, e.g. OGG/OPUS")
    consent_format: str | None = Field(default=None, description="the upload's format, e.g. OGG/OPUS")
    reference_sent_sha256: str | None = Field(default=None,
                                              description="SHA-256 of the LINEAR16 WAV sent to Google for it")
    consent_sent_sha256: str | None = Field(default=None,
                                            description="SHA-256 of the LINEAR16 WAV sent to Google for it")
    recordings: list[str] = Field(default_factory=list,
                                  description="gs:// paths of the two recordings kept as proof of consent")
    secret_version: str | None = Field(default=None, description="where the key is; None until it is stored")
    status: Literal["pending", "active", "revoked"] = "pending"
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    revoke_reason: str | None = None
