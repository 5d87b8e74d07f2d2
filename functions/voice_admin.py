"""voice_admin: private HTTP function (admins only, IAM) that gives an agent a cloned voice, with consent, or takes it away.

POST {"action": "clone", "tenant_id", "agent_id", "speaker_name", "uploaded_by", "language_code",
      "reference_audio": base64 recording, "consent_audio": base64 recording (the speaker reading Google's
      statement) — each a WAV, Ogg/Opus (a WhatsApp voice note), FLAC or MP3 file, 3–60 s, decoded here and sent
      to Google as LINEAR16 WAV; M4A/AAC cannot be decoded and is refused with how to convert it,
      "consent": true, "consent_statement": the statement, verbatim}       → the consent record (no audio, no key)
POST {"action": "revoke", "tenant_id", "agent_id", "revoked_by"[, "reason"]} → the revoked consent records
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Literal

import flask
import functions_framework
from pydantic import BaseModel, ConfigDict, Field

from functions.http_errors import Response, json_errors, parse_body
from shared import log
from shared.bootstrap import voice_clone_deps
from shared.config import get_settings
from shared.domain.errors import InvalidPayload
from shared.domain.tenancy import DOCUMENT_ID_PATTERN
from shared.services.voice_clone import CloneRequest, clone_voice, revoke_voice

log.configure("voice_admin", get_settings().log_level)

_AUDIO_B64 = Field(default=None, max_length=9_000_000,
                   description="base64 of a WAV, Ogg/Opus (WhatsApp voice note), FLAC or MP3 recording")


class VoiceAdminBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["clone", "revoke"]
    tenant_id: str = Field(pattern=DOCUMENT_ID_PATTERN)
    agent_id: str = Field(pattern=DOCUMENT_ID_PATTERN)
    speaker_name: str | None = Field(default=None, min_length=2, max_length=120)
    uploaded_by: str | None = Field(default=None, min_length=3, max_length=200)
    language_code: str = Field(default="pt-BR", max_length=10)
    reference_audio: str | None = _AUDIO_B64
    consent_audio: str | None = _AUDIO_B64
    consent: bool = Field(default=False, description="the admin confirms the speaker consented to the cloning")
    consent_statement: str = Field(default="", max_length=500)
    revoked_by: str | None = Field(default=None, min_length=3, max_length=200)
    reason: str | None = Field(default=None, max_length=500)


def _audio(field: str, value: str | None) -> bytes:
    if not value:
        raise InvalidPayload(f"{field}: required (base64 of a WAV, Ogg/Opus, FLAC or MP3 recording)")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidPayload(f"{field}: not valid base64") from None


@functions_framework.http
@json_errors
def voice_admin(request: flask.Request) -> Response:
    if request.method != "POST":
        return {"error": "MethodNotAllowed", "reason": "use POST with a JSON body"}, 405
    body = parse_body(VoiceAdminBody, request.get_data(), "voice_admin body")
    now = datetime.now(UTC)
    if body.action == "revoke":
        if not body.revoked_by:
            raise InvalidPayload("revoked_by: a revocation records who asked for it")
        records = revoke_voice(body.tenant_id, body.agent_id, body.revoked_by, body.reason, voice_clone_deps(), now)
        return {"ok": True, "revoked": [r.model_dump(mode="json") for r in records]}, 200
    if not body.consent:
        # Checked before the audio is even decoded: without consent nothing is sent anywhere or stored.
        raise InvalidPayload("consent: the speaker's explicit consent is required; nothing was cloned or stored")
    if not body.speaker_name or not body.uploaded_by:
        raise InvalidPayload("speaker_name and uploaded_by: a cloning records whose voice it is and who uploaded it")
    record, created = clone_voice(CloneRequest(
        tenant_id=body.tenant_id, agent_id=body.agent_id, speaker_name=body.speaker_name,
        uploaded_by=body.uploaded_by, language_code=body.language_code,
        reference_audio=_audio("reference_audio", body.reference_audio),
        consent_audio=_audio("consent_audio", body.consent_audio), consent_given=body.consent,
        consent_statement=body.consent_statement), voice_clone_deps(), now)
    return {"ok": True, "created": created, "consent": record.model_dump(mode="json")}, 200 if not created else 201
