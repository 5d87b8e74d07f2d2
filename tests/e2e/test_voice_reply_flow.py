"""A lead who talks gets a voice note back, end to end: Z-API webhook → media processor → agent turn → offline
synthesizer → the provider sandbox receives a real Ogg/Opus voice note; the reply keeps its text and voice facts."""

from __future__ import annotations

import httpx
import pytest

from dev import payloads
from dev.provider_sandbox import HostedMedia
from dev.stack import wait_until
from shared.adapters.offline_speech import OfflineSpeechSynthesizer
from shared.domain.ids import conversation_id
from shared.domain.tenancy import channel_key
from shared.domain.voice import VoiceSettings

pytestmark = pytest.mark.e2e


def test_a_voice_note_is_answered_with_a_voice_note(stack, db, tenant, lead_phone):
    tenant_ref = db.collection("tenants").document(tenant.tenant_id)
    tenant_ref.collection("agents").document("default").update(
        {"voice": VoiceSettings(replies="mirror").model_dump()})
    assert stack.sandbox is not None
    note = OfflineSpeechSynthesizer().synthesize("Oi, vocês instalam em Belo Horizonte?", VoiceSettings()).audio
    url = stack.sandbox.host_file(f"{lead_phone}.ogg", HostedMedia(note, "audio/ogg"))
    body = payloads.zapi_media(tenant.zapi_instance, lead_phone, "Júlia", "3EB0VOICEE2E", "audio", url,
                               "audio/ogg; codecs=opus", ptt=True)
    response = httpx.post(stack.webhook_url("zapi", tenant.zapi_instance),
                          content=payloads.as_json(body)[0], headers=payloads.as_json(body)[1], timeout=10)
    assert response.status_code == 200, response.text

    wait_until(lambda: bool(stack.sandbox.sends_to(lead_phone)), 60, "the reply")
    sent = stack.sandbox.sends_to(lead_phone)
    assert len(sent) == 1 and sent[0]["provider"] == "zapi" and sent[0]["text"] is None
    assert sent[0]["audio"]["ogg_opus"] and sent[0]["audio"]["voice"] and sent[0]["audio"]["duration_s"] > 1

    conv = tenant_ref.collection("conversations").document(
        conversation_id(channel_key("zapi", tenant.zapi_instance), f"+{lead_phone}"))
    wait_until(lambda: any(m.to_dict().get("state") == "sent" for m in conv.collection("messages").stream()), 10,
               "the reply marked sent")
    reply = next(m.to_dict() for m in conv.collection("messages").stream() if m.to_dict()["role"] == "agent")
    assert reply["text"] and reply["provider_message_id"] == sent[0]["id"]
    voice = reply["voice"]
    assert voice["spoken"] is True and voice["characters"] > 0 and voice["audio_object"].endswith(".ogg")
    speech = [c.to_dict() for c in tenant_ref.collection("model_calls").stream()
              if c.to_dict().get("purpose") == "speech"]
    assert len(speech) == 1 and speech[0]["characters"] == voice["characters"]
