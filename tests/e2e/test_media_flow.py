"""Lead files end to end: provider webhook → webhook function → Cloud Tasks "media" → media_processor (download
from the provider sandbox, Storage emulator, text) → woken agent_turn → reply. The model and transcriber are the
offline stand-ins, which label what they could not do; PDF and DOCX text extraction is real."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from google.cloud import storage

from dev import payloads
from dev.provider_sandbox import HostedMedia
from dev.sample_media import docx_file, text_pdf, wav_voice_note
from dev.seed import DemoTenant
from dev.stack import DEMO_META_APP_SECRET, MEDIA_BUCKET, PROJECT, LocalStack, wait_until
from shared.domain.ids import conversation_id
from shared.domain.tenancy import channel_key

pytestmark = pytest.mark.e2e


def webhook(stack: LocalStack, provider: str, payload: dict) -> httpx.Response:
    if provider == "meta":
        body, headers = payloads.signed_meta(payload, DEMO_META_APP_SECRET)
    else:
        body, headers = payloads.as_json(payload)
    return httpx.post(stack.webhook_url(provider, payloads.gateway_channel(provider, payload)), content=body,
                      headers=headers, timeout=10)


def messages(db, tenant: DemoTenant, provider: str, channel: str, phone: str) -> list[dict]:  # noqa: ANN001
    conv = conversation_id(channel_key(provider, channel), f"+{phone}")
    ref = db.collection("tenants").document(tenant.tenant_id).collection("conversations").document(conv)
    return [s.to_dict() for s in ref.collection("messages").order_by("stored_at").stream()]


def sends(stack: LocalStack, phone: str) -> list[dict]:
    assert stack.sandbox is not None
    return stack.sandbox.sends_to(phone)


def media_id() -> str:
    return str(uuid.uuid4().int)[:16]


def test_a_voice_note_is_transcribed_before_the_turn_answers_even_when_reading_outlasts_the_debounce(
        stack, db, tenant, lead_phone):
    assert stack.sandbox is not None
    voice, mid = wav_voice_note(1.5), media_id()
    # The download takes longer than the debounce window: the turn comes due first and must wait.
    stack.sandbox.host_meta_media(mid, HostedMedia(voice, "audio/ogg", delay_seconds=stack.debounce_seconds + 2))
    payload = payloads.meta_media(tenant.meta_phone_number_id, lead_phone, "Mariana", "wamid.VOICE.1", "audio", mid,
                                  "audio/ogg; codecs=opus", voice=True)

    assert webhook(stack, "meta", payload).json()["queued"] == 1

    wait_until(lambda: len(sends(stack, lead_phone)) >= 1, 30, "the reply")
    time.sleep(stack.debounce_seconds + 1.0)
    [reply] = sends(stack, lead_phone)
    assert "nota de voz recebida, 1.5 s de áudio" in reply["text"], "the reply was written with the transcript"
    [lead, agent] = messages(db, tenant, "meta", tenant.meta_phone_number_id, lead_phone)
    assert lead["media_status"] == "done" and agent["role"] == "agent"
    assert agent["stored_at"] > lead["media_processed_at"]
    blob = storage.Client(project=PROJECT).bucket(MEDIA_BUCKET).get_blob(lead["media_file"]["path"])
    assert blob.download_as_bytes() == voice
    purposes = sorted(d.to_dict()["purpose"] for d in db.collection("tenants").document(tenant.tenant_id)
                      .collection("model_calls").stream())
    assert purposes == ["reply", "transcription"]


def test_a_pdf_on_evolution_is_read_and_the_reply_uses_its_text(stack, db, tenant, lead_phone):
    assert stack.sandbox is not None
    pdf = text_pdf(["Conta de energia - Solar Prime", "Consumo: 520 kWh", "Total a pagar: R$ 468,90"])
    key = "3EB0PDF" + uuid.uuid4().hex[:10].upper()
    stack.sandbox.host_evolution_media(key, HostedMedia(pdf, "application/pdf", "conta.pdf"))
    payload = payloads.evolution_media(tenant.evolution_instance, tenant.evolution_apikey, lead_phone, "Carlos", key,
                                       "documentMessage", "application/pdf", len(pdf), filename="conta.pdf")

    assert webhook(stack, "evolution", payload).json()["queued"] == 1

    wait_until(lambda: len(sends(stack, lead_phone)) >= 1, 30, "the reply")
    assert "Consumo: 520 kWh Total a pagar: R$ 468,90" in sends(stack, lead_phone)[0]["text"]
    # The reply is marked sent (and ordered by stored_at) just after the provider answered: wait for that write.
    wait_until(lambda: len(messages(db, tenant, "evolution", tenant.evolution_instance, lead_phone)) == 2, 10,
               "the reply marked sent")
    [lead, _] = messages(db, tenant, "evolution", tenant.evolution_instance, lead_phone)
    assert lead["media_text"] == "Conta de energia - Solar Prime\nConsumo: 520 kWh\nTotal a pagar: R$ 468,90"


def test_a_docx_on_zapi_redelivered_is_downloaded_and_read_once(stack, db, tenant, lead_phone):
    assert stack.sandbox is not None
    name = f"{uuid.uuid4().hex}.docx"
    url = stack.sandbox.host_file(name, HostedMedia(docx_file(["Proposta do concorrente: R$ 21.000"]),
                                                    "application/vnd.openxmlformats-officedocument."
                                                    "wordprocessingml.document"))
    payload = payloads.zapi_media(tenant.zapi_instance, lead_phone, "Ana", "3EB0DOCX1", "document", url,
                                  "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                                  filename="proposta.docx")

    assert webhook(stack, "zapi", payload).json()["queued"] == 1
    wait_until(lambda: len(sends(stack, lead_phone)) >= 1, 30, "the reply")
    assert webhook(stack, "zapi", payload).json()["duplicates"] == 1
    time.sleep(stack.debounce_seconds + 2.0)

    assert "Proposta do concorrente: R$ 21.000" in sends(stack, lead_phone)[0]["text"]
    assert len(sends(stack, lead_phone)) == 1
    assert stack.sandbox.media_requests_for(name) == [f"file:{name}"], "one download despite the redelivery"


def test_oversized_and_expired_files_are_kept_with_the_reason_and_the_lead_gets_an_honest_reply(
        stack, db, tenant, lead_phone):
    assert stack.sandbox is not None
    key = "3EB0HUGE" + uuid.uuid4().hex[:8].upper()
    huge = payloads.evolution_media(tenant.evolution_instance, tenant.evolution_apikey, lead_phone, "Carlos", key,
                                    "audioMessage", "audio/ogg; codecs=opus", 48_000_000, ptt=True)
    expired = payloads.evolution_media(tenant.evolution_instance, tenant.evolution_apikey, lead_phone, "Carlos",
                                       key + "X", "imageMessage", "image/jpeg", 1200)

    assert webhook(stack, "evolution", huge).json()["queued"] == 1
    assert webhook(stack, "evolution", expired).json()["queued"] == 1

    wait_until(lambda: len(sends(stack, lead_phone)) >= 1, 30, "the reply")
    first, second = messages(db, tenant, "evolution", tenant.evolution_instance, lead_phone)[:2]
    assert (first["media_status"], first["media_reason"]) == ("too_large", "audio of 48.0 MB is over the 10.0 MB limit")
    assert second["media_status"] == "failed" and "Message not found" in second["media_reason"]
    assert stack.sandbox.media_requests_for(key) == [], "an oversized file is not downloaded"
    assert sends(stack, lead_phone)[0]["text"].count("could not be opened") >= 1
