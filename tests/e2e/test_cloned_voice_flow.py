"""A cloned voice end to end: the owner uploads WhatsApp voice notes (Ogg/Opus); voice_admin (served by
functions-framework) refuses without consent and refuses an M4A it cannot decode, creates the key from LINEAR16
WAVs it made against the Text-to-Speech fake and stores it in the Secret Manager fake; the agent turn then reads
the key to answer a voice note; a revocation disables the key and the agent speaks in its stock voice again."""

from __future__ import annotations

import base64

import httpx
import pytest

from dev import payloads
from dev.provider_sandbox import HostedMedia
from dev.sample_media import M4A_VOICE_MEMO_START, opus_voice_note
from dev.stack import wait_until
from shared.adapters.offline_speech import OFFLINE_VOICE, OfflineSpeechSynthesizer
from shared.domain.ids import conversation_id
from shared.domain.tenancy import channel_key
from shared.domain.voice import VoiceSettings
from shared.domain.voice_clone import CONSENT_SCRIPTS

pytestmark = pytest.mark.e2e


def voice_note_reply(stack, db, tenant, phone: str, message_id: str) -> dict:  # noqa: ANN001
    note = OfflineSpeechSynthesizer().synthesize("Oi, quem fala?", VoiceSettings()).audio
    url = stack.sandbox.host_file(f"{phone}-{message_id}.ogg", HostedMedia(note, "audio/ogg"))
    body = payloads.zapi_media(tenant.zapi_instance, phone, "Renata", message_id, "audio", url,
                               "audio/ogg; codecs=opus", ptt=True)
    response = httpx.post(stack.webhook_url("zapi", tenant.zapi_instance),
                          content=payloads.as_json(body)[0], headers=payloads.as_json(body)[1], timeout=10)
    assert response.status_code == 200, response.text
    conv = (db.collection("tenants").document(tenant.tenant_id).collection("conversations")
            .document(conversation_id(channel_key("zapi", tenant.zapi_instance), f"+{phone}")))
    seen = {m.id for m in conv.collection("messages").stream() if (m.to_dict().get("voice") or {}).get("voice")}

    def new_voice() -> dict | None:
        return next((m.to_dict()["voice"] for m in conv.collection("messages").stream()
                     if m.id not in seen and (m.to_dict().get("voice") or {}).get("voice")), None)

    wait_until(lambda: new_voice() is not None, 60, "the reply's voice facts")
    return new_voice() or {}


def test_voice_admin_clones_with_consent_and_the_agent_answers_in_the_clone_until_revoked(
        stack, db, tenant, lead_phone) -> None:  # noqa: ANN001
    voice = stack.voice
    admin = stack.function_url("voice_admin")
    db.collection("tenants").document(tenant.tenant_id).collection("agents").document("default").update(
        {"voice": VoiceSettings(replies="mirror").model_dump()})
    body = {"action": "clone", "tenant_id": tenant.tenant_id, "agent_id": "default", "speaker_name": "Marcos Lima",
            "uploaded_by": "ana@example.com", "language_code": "pt-BR",
            "reference_audio": base64.b64encode(opus_voice_note(8.0)).decode(),
            "consent_audio": base64.b64encode(opus_voice_note(6.0, pitch=210.0)).decode(),
            "consent": False, "consent_statement": CONSENT_SCRIPTS["pt-BR"]}
    keys_before = set(voice.tts.cloning_keys)

    refused = httpx.post(admin, json=body, timeout=30)
    assert refused.status_code == 400 and "consent" in refused.json()["reason"]
    assert httpx.post(admin, json={**body, "consent": True, "reference_audio": "not base64!"},
                      timeout=30).status_code == 400
    m4a = base64.b64encode(M4A_VOICE_MEMO_START).decode()
    undecodable = httpx.post(admin, json={**body, "consent": True, "consent_audio": m4a}, timeout=30)
    assert undecodable.status_code == 400 and "Ogg/Opus" in undecodable.json()["reason"]
    assert voice.tts.cloning_keys == keys_before
    requests_before = len(voice.tts.requests)

    created = httpx.post(admin, json={**body, "consent": True}, timeout=60)
    assert created.status_code == 201, created.text
    record = created.json()["consent"]
    assert record["reference_format"] == record["consent_format"] == "OGG/OPUS"
    [sent] = [r for r in voice.tts.requests[requests_before:] if "consent_script" in r]
    assert sent["reference_audio"]["audio_config"] == {"audio_encoding": "LINEAR16", "sample_rate_hertz": 24_000}
    assert base64.b64decode(sent["voice_talent_consent"]["content"])[:4] == b"RIFF"
    [key] = voice.tts.cloning_keys - keys_before
    assert key not in created.text  # the key never leaves Secret Manager, not even in the admin's answer
    again = httpx.post(admin, json={**body, "consent": True}, timeout=60)
    assert again.status_code == 200 and again.json()["consent"]["consent_id"] == record["consent_id"]
    assert voice.tts.cloning_keys - keys_before == {key}

    spoken = voice_note_reply(stack, db, tenant, lead_phone, "3EB0CLONE0001")
    assert spoken["spoken"] is True and spoken["voice"] == f"{OFFLINE_VOICE} for clone:{record['consent_id']}"

    revoked = httpx.post(admin, json={"action": "revoke", "tenant_id": tenant.tenant_id, "agent_id": "default",
                                      "revoked_by": "ana@example.com"}, timeout=30)
    assert revoked.status_code == 200 and revoked.json()["revoked"][0]["status"] == "revoked"
    assert voice.secrets.version_state(record["secret_version"]) == "DISABLED"
    stock = voice_note_reply(stack, db, tenant, lead_phone, "3EB0CLONE0002")
    assert stock["spoken"] is True and stock["voice"] == OFFLINE_VOICE
