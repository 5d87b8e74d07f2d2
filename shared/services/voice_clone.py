"""Clone an agent's voice with the speaker's consent, and revoke it.

clone_voice: no consent flag, no exact consent statement or an unusable recording → refused before anything is
sent to Google or stored. A recording is decoded from what the owner has (a WhatsApp voice note is Ogg/Opus)
into the LINEAR16 WAV Google is sent; one that cannot be decoded is refused with the formats accepted.
Otherwise: the consent record (who, when, checksums) is claimed first, the two recordings as uploaded are kept
under the tenant as proof, Google creates the voice-cloning key, the key goes into the
agent's Secret Manager secret as a new version (never Firestore, never a log line), the record turns active
and the agent speaks in the clone. The same recordings for the same agent are the same consent: a repeat
returns the existing record and creates no second key.

revoke_voice: disables the key's secret version (synthesis then fails and replies go as text), marks the
consent revoked and sends the agent back to its stock voice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from shared import log
from shared.domain.errors import InvalidConfiguration, InvalidPayload, NotFound, PilotoError, TransientError
from shared.domain.voice_clone import (
    ClonedVoice,
    RecordingFacts,
    VoiceConsent,
    clone_secret_id,
    consent_id,
    consent_script,
)

logger = logging.getLogger(__name__)

# A pending record younger than this is another upload still running; older, that upload died and this one
# takes over (a key it may have created was never stored, so nothing can use it).
PENDING_TAKEOVER = timedelta(minutes=5)


class RecordingPreparer(Protocol):
    def prepare(self, audio: bytes) -> tuple[bytes, RecordingFacts]:
        """The LINEAR16 WAV to send Google and the recording's facts; ValueError with the reason."""
        ...


class VoiceCloner(Protocol):
    def generate_key(self, reference_wav: bytes, reference_rate: int, consent_wav: bytes, consent_rate: int,
                     consent_script: str, language_code: str) -> str: ...


class SecretStore(Protocol):
    def create_secret(self, secret_id: str, replica_location: str, labels: dict[str, str]) -> bool: ...

    def add_version(self, secret_id: str, data: bytes) -> str: ...

    def disable(self, version_name: str) -> None: ...


class ConsentRecords(Protocol):
    def tenant_exists(self, tenant_id: str) -> bool: ...

    def get(self, tenant_id: str, consent_id: str) -> VoiceConsent | None: ...

    def claim(self, consent: VoiceConsent) -> bool: ...

    def save(self, consent: VoiceConsent) -> None: ...

    def active_for_agent(self, tenant_id: str, agent_id: str) -> list[VoiceConsent]: ...

    def keep_recording(self, tenant_id: str, consent_id: str, name: str, audio: bytes, content_type: str) -> str: ...

    def set_agent_clone(self, tenant_id: str, agent_id: str, clone: ClonedVoice | None) -> None: ...


@dataclass
class VoiceCloneDeps:
    cloner: VoiceCloner
    secrets: SecretStore
    records: ConsentRecords
    secret_location: str
    recordings: RecordingPreparer
    # The operator's consent statements by language (VOICE_CONSENT_STATEMENTS), over the built-in table.
    consent_statements: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CloneRequest:
    tenant_id: str
    agent_id: str
    speaker_name: str
    uploaded_by: str
    language_code: str
    reference_audio: bytes
    consent_audio: bytes
    consent_given: bool
    consent_statement: str


def clone_voice(request: CloneRequest, deps: VoiceCloneDeps, now: datetime) -> tuple[VoiceConsent, bool]:
    """The active consent record, and whether this call created the key (False: it existed already)."""
    if not request.consent_given:
        raise InvalidPayload("consent: the speaker's explicit consent is required; nothing was cloned or stored")
    try:
        script = consent_script(request.language_code, deps.consent_statements)
    except ValueError as err:
        raise InvalidPayload(f"language_code: {err}") from None
    if " ".join(request.consent_statement.split()) != script:
        raise InvalidPayload(f"consent_statement: must be Google's statement for {request.language_code}, "
                             f"read verbatim in the consent recording: “{script}”")
    reference_wav, reference = _prepare(deps, "reference_audio", request.reference_audio)
    consent_wav, consent_recording = _prepare(deps, "consent_audio", request.consent_audio)
    if not deps.records.tenant_exists(request.tenant_id):
        raise NotFound(f"tenant {request.tenant_id} does not exist")

    # Keyed on the uploaded bytes: the same upload is the same consent, however the WAV sent to Google is made.
    cid = consent_id(request.agent_id, reference.uploaded_sha256, consent_recording.uploaded_sha256)
    record = deps.records.get(request.tenant_id, cid)
    if record is not None and record.status == "revoked":
        raise InvalidPayload("this consent was revoked: a new consent recording is needed to clone the voice again")
    if record is not None and record.status == "active":
        _speak_in(record, deps)  # the agent may have been edited since; the consent is what counts
        return record, False
    if record is None:
        record = VoiceConsent(
            consent_id=cid, tenant_id=request.tenant_id, agent_id=request.agent_id,
            speaker_name=request.speaker_name, uploaded_by=request.uploaded_by, consented_at=now,
            language_code=request.language_code, consent_script=script,
            reference_sha256=reference.uploaded_sha256, consent_sha256=consent_recording.uploaded_sha256,
            reference_seconds=reference.seconds, consent_seconds=consent_recording.seconds,
            reference_format=reference.uploaded_format, consent_format=consent_recording.uploaded_format,
            reference_sent_sha256=reference.sent_sha256, consent_sent_sha256=consent_recording.sent_sha256)
        if not deps.records.claim(record):
            raise TransientError("the same recordings are being cloned right now; retry in a minute")
    elif now - record.consented_at < PENDING_TAKEOVER:
        raise TransientError("the same recordings are being cloned right now; retry in a minute")

    # The proof kept is what the speaker provided, as uploaded; the record holds both checksums.
    record.recordings = [
        _keep(deps, request.tenant_id, cid, "reference", request.reference_audio, reference),
        _keep(deps, request.tenant_id, cid, "consent", request.consent_audio, consent_recording)]
    deps.records.save(record)
    key = _generate_key(deps, request, (reference_wav, reference), (consent_wav, consent_recording), script)
    secret_id = clone_secret_id(request.tenant_id, request.agent_id)
    record.secret_version = _store_key(deps, secret_id, key, request)
    del key  # the key lives in Secret Manager only
    record.status = "active"
    deps.records.save(record)
    _retire_others(record, deps, now)
    _speak_in(record, deps)
    log.log(logger, logging.INFO, "voice cloned with consent", tenant_id=request.tenant_id,
            agent_id=request.agent_id, consent_id=cid, secret_version=record.secret_version)
    return record, True


def revoke_voice(tenant_id: str, agent_id: str, revoked_by: str, reason: str | None, deps: VoiceCloneDeps,
                 now: datetime) -> list[VoiceConsent]:
    """Every active consent of the agent revoked (an empty list when none was active: a repeat is harmless)."""
    revoked = []
    for record in deps.records.active_for_agent(tenant_id, agent_id):
        _disable_key(record, deps)
        record.status, record.revoked_at, record.revoked_by = "revoked", now, revoked_by
        record.revoke_reason = reason
        deps.records.save(record)
        revoked.append(record)
    deps.records.set_agent_clone(tenant_id, agent_id, None)
    log.log(logger, logging.INFO, "cloned voice revoked", tenant_id=tenant_id, agent_id=agent_id,
            consents=len(revoked))
    return revoked


def _prepare(deps: VoiceCloneDeps, field: str, audio: bytes) -> tuple[bytes, RecordingFacts]:
    try:
        return deps.recordings.prepare(audio)
    except ValueError as err:
        raise InvalidPayload(f"{field}: {err}") from None


# Container (libsndfile's name) → file extension and media type of the uploaded recording kept as proof.
_KEPT_AS = {"WAV": ("wav", "audio/wav"), "WAVEX": ("wav", "audio/wav"), "OGG": ("ogg", "audio/ogg"),
            "FLAC": ("flac", "audio/flac"), "MP3": ("mp3", "audio/mpeg")}


def _keep(deps: VoiceCloneDeps, tenant_id: str, cid: str, name: str, audio: bytes, facts: RecordingFacts) -> str:
    extension, content_type = _KEPT_AS[facts.uploaded_format.split("/")[0]]  # the decoder accepts only these
    return deps.records.keep_recording(tenant_id, cid, f"{name}.{extension}", audio, content_type)


def _generate_key(deps: VoiceCloneDeps, request: CloneRequest, reference: tuple[bytes, RecordingFacts],
                  consent_recording: tuple[bytes, RecordingFacts], script: str) -> str:
    (reference_wav, reference_facts), (consent_wav, consent_facts) = reference, consent_recording
    try:
        return deps.cloner.generate_key(reference_wav, reference_facts.sample_rate_hertz, consent_wav,
                                        consent_facts.sample_rate_hertz, script, request.language_code)
    except PilotoError as err:
        status = getattr(err, "status", 0)
        if status == 400:
            raise InvalidPayload(f"Text-to-Speech refused the recordings: {err}") from None
        if status in (401, 403):
            raise InvalidConfiguration("Text-to-Speech voices:generateVoiceCloningKey", [
                f"refused with {status}: the project must be on Google's Instant Custom Voice allow-list "
                f"(docs/DEPLOY.md); {err}"]) from None
        raise TransientError(f"Text-to-Speech failed to create the voice-cloning key: {err}") from None


def _store_key(deps: VoiceCloneDeps, secret_id: str, key: str, request: CloneRequest) -> str:
    try:
        deps.secrets.create_secret(secret_id, deps.secret_location,
                                   {"piloto-kind": "voice-clone", "tenant": request.tenant_id[:63].lower(),
                                    "agent": request.agent_id[:63].lower()})
        return deps.secrets.add_version(secret_id, key.encode())
    except PilotoError as err:
        if getattr(err, "status", 0) == 403:
            raise InvalidConfiguration("Secret Manager", [f"voice_admin may not store the key: {err}"]) from None
        raise TransientError(f"the voice-cloning key could not be stored: {err}") from None


def _disable_key(record: VoiceConsent, deps: VoiceCloneDeps) -> None:
    if not record.secret_version:
        return
    try:
        deps.secrets.disable(record.secret_version)
    except PilotoError as err:
        if getattr(err, "status", 0) != 404:  # a deleted secret is as unusable as a disabled one
            raise TransientError(f"the key could not be disabled; the consent stays active: {err}") from None


def _retire_others(record: VoiceConsent, deps: VoiceCloneDeps, now: datetime) -> None:
    """A new consent replaces the agent's previous clone: its key is disabled, its record says by which."""
    for other in deps.records.active_for_agent(record.tenant_id, record.agent_id):
        if other.consent_id == record.consent_id:
            continue
        _disable_key(other, deps)
        other.status, other.revoked_at, other.revoked_by = "revoked", now, record.uploaded_by
        other.revoke_reason = f"replaced by consent {record.consent_id}"
        deps.records.save(other)


def _speak_in(record: VoiceConsent, deps: VoiceCloneDeps) -> None:
    assert record.secret_version is not None
    deps.records.set_agent_clone(record.tenant_id, record.agent_id, ClonedVoice(
        speaker_name=record.speaker_name, consent_id=record.consent_id, secret_version=record.secret_version,
        language_code=record.language_code))
