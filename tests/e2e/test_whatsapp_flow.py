"""A WhatsApp conversation end to end: provider → webhook function → Firestore + Cloud Tasks emulator →
agent_turn function → provider sandbox, every function served by functions-framework."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from dev import payloads
from dev.seed import DemoTenant
from dev.stack import DEMO_META_APP_SECRET, DEMO_META_VERIFY_TOKEN, LocalStack, wait_until
from shared.domain.ids import conversation_id
from shared.domain.tenancy import channel_key

pytestmark = pytest.mark.e2e


def webhook(stack: LocalStack, provider: str, body: bytes, headers: dict[str, str],
            channel: str | None = None) -> httpx.Response:
    """POST as the provider would: Meta's URL, or the gateway channel's keyed URL."""
    return httpx.post(stack.webhook_url(provider, channel), content=body, headers=headers, timeout=10)


def send_meta(stack: LocalStack, tenant: DemoTenant, phone: str, wamid: str, text: str) -> httpx.Response:
    payload = payloads.meta_text(tenant.meta_phone_number_id, phone, "Mariana", wamid, text)
    return webhook(stack, "meta", *payloads.signed_meta(payload, DEMO_META_APP_SECRET))


def conversation_ref(db, tenant: DemoTenant, provider: str, channel: str, phone: str):  # noqa: ANN001, ANN201
    conv_id = conversation_id(channel_key(provider, channel), f"+{phone}")
    return db.collection("tenants").document(tenant.tenant_id).collection("conversations").document(conv_id)


def stored_messages(db, tenant: DemoTenant, phone: str, provider: str = "meta", channel: str | None = None) -> list[dict]:  # noqa: ANN001
    channel = channel or tenant.meta_phone_number_id
    ref = conversation_ref(db, tenant, provider, channel, phone)
    return [s.to_dict() for s in ref.collection("messages").order_by("stored_at").stream()]


def sends(stack: LocalStack, phone: str) -> list[dict]:
    assert stack.sandbox is not None
    return stack.sandbox.sends_to(phone)


def settle(stack: LocalStack) -> None:
    """Long enough for any turn the debounce window would still trigger."""
    time.sleep(stack.debounce_seconds + 2.0)


def test_a_lead_message_gets_one_reply_through_every_function(stack, db, tenant, lead_phone):
    response = send_meta(stack, tenant, lead_phone, "wamid.E2E.1", "Oi, quero saber de energia solar")

    assert response.status_code == 200
    assert response.json()["queued"] == 1
    wait_until(lambda: len(sends(stack, lead_phone)) == 1, 20, "the reply")
    reply = sends(stack, lead_phone)[0]
    assert reply["provider"] == "meta" and reply["channel"] == tenant.meta_phone_number_id
    assert reply["authorized"] is True
    assert "quero saber de energia solar" in reply["text"]
    wait_until(lambda: stored_messages(db, tenant, lead_phone)[-1].get("state") == "sent", 10, "reply marked sent")
    lead, agent = stored_messages(db, tenant, lead_phone)
    assert (lead["role"], lead["text"]) == ("lead", "Oi, quero saber de energia solar")
    assert agent["role"] == "agent" and agent["provider_message_id"] == reply["id"]
    assert agent["model_call"]["backend"] == "offline" and agent["model_call"]["usage"]["prompt_tokens"] > 0


def test_a_burst_of_three_messages_gets_one_reply_addressing_all(stack, db, tenant, lead_phone):
    for i, text in enumerate(["Minha conta vem R$ 450", "é casa própria", "quanto custa?"]):
        assert send_meta(stack, tenant, lead_phone, f"wamid.BURST.{i}", text).status_code == 200
        time.sleep(0.2)

    wait_until(lambda: len(sends(stack, lead_phone)) >= 1, 20, "the reply")
    settle(stack)
    replies = sends(stack, lead_phone)
    assert len(replies) == 1
    for text in ["Minha conta vem R$ 450", "é casa própria", "quanto custa?"]:
        assert text in replies[0]["text"]


def test_a_redelivered_message_is_acknowledged_without_a_second_reply(stack, db, tenant, lead_phone):
    assert send_meta(stack, tenant, lead_phone, "wamid.DUP.1", "Oi").json()["queued"] == 1
    wait_until(lambda: len(sends(stack, lead_phone)) == 1, 20, "the first reply")

    again = send_meta(stack, tenant, lead_phone, "wamid.DUP.1", "Oi")

    assert again.status_code == 200 and again.json()["duplicates"] == 1
    settle(stack)
    assert len(sends(stack, lead_phone)) == 1
    assert [m["role"] for m in stored_messages(db, tenant, lead_phone)] == ["lead", "agent"]


def test_a_failed_send_is_retried_by_cloud_tasks_and_reaches_the_lead_once(stack, db, tenant, lead_phone):
    assert stack.sandbox is not None
    stack.sandbox.fail_next(2, status=503)

    send_meta(stack, tenant, lead_phone, "wamid.RETRY.1", "Quero instalar painéis")

    wait_until(lambda: len(sends(stack, lead_phone)) == 1, 30, "the retried reply")
    settle(stack)
    assert len(sends(stack, lead_phone)) == 1
    agent = [m for m in stored_messages(db, tenant, lead_phone) if m["role"] == "agent"]
    assert len(agent) == 1 and agent[0]["state"] == "sent"
    calls = db.collection("tenants").document(tenant.tenant_id).collection("model_calls").stream()
    assert len(list(calls)) == 1, "a retried send must not pay for a second model call"


def test_status_updates_move_the_reply_state_and_never_trigger_a_reply(stack, db, tenant, lead_phone):
    send_meta(stack, tenant, lead_phone, "wamid.ST.1", "Oi")
    wait_until(lambda: len(sends(stack, lead_phone)) == 1, 20, "the reply")
    wamid = sends(stack, lead_phone)[0]["id"]
    wait_until(lambda: stored_messages(db, tenant, lead_phone)[-1].get("provider_message_id") == wamid, 10, "sent")

    for state in ("read", "delivered"):  # out of order on purpose
        status = payloads.meta_status(tenant.meta_phone_number_id, lead_phone, wamid, state)
        response = webhook(stack, "meta", *payloads.signed_meta(status, DEMO_META_APP_SECRET))
        assert response.status_code == 200 and response.json()["statuses"] == 1

    settle(stack)
    assert len(sends(stack, lead_phone)) == 1
    assert stored_messages(db, tenant, lead_phone)[-1]["state"] == "read"


def test_a_seller_writing_from_the_business_phone_pauses_the_bot(stack, db, tenant, lead_phone):
    def evolution(key_id: str, text: str, from_me: bool = False) -> httpx.Response:
        payload = payloads.evolution_text(tenant.evolution_instance, tenant.evolution_apikey, lead_phone, "Carlos",
                                          key_id, text, from_me=from_me)
        return webhook(stack, "evolution", *payloads.as_json(payload), channel=tenant.evolution_instance)

    assert evolution("3EB0A1", "Oi, vocês atendem no Rio?").status_code == 200
    wait_until(lambda: len(sends(stack, lead_phone)) == 1, 20, "the bot's reply")
    assert sends(stack, lead_phone)[0]["provider"] == "evolution"

    assert evolution("3EB0H1", "Aqui é o João, atendemos sim!", from_me=True).json()["human"] == 1
    assert evolution("3EB0A2", "Ótimo!").json()["queued"] == 1
    settle(stack)

    assert len(sends(stack, lead_phone)) == 1
    conv = conversation_ref(db, tenant, "evolution", tenant.evolution_instance, lead_phone).get().to_dict()
    assert conv["bot_paused"] is True
    roles = [m["role"] for m in stored_messages(db, tenant, lead_phone, "evolution", tenant.evolution_instance)]
    assert roles == ["lead", "agent", "human", "lead"]


def test_the_gateway_echo_of_our_own_reply_does_not_pause_the_bot(stack, db, tenant, lead_phone):
    payload = payloads.evolution_text(tenant.evolution_instance, tenant.evolution_apikey, lead_phone, "Carlos",
                                      "3EB0E1", "Oi")
    webhook(stack, "evolution", *payloads.as_json(payload), channel=tenant.evolution_instance)
    wait_until(lambda: len(sends(stack, lead_phone)) == 1, 20, "the reply")
    sent = sends(stack, lead_phone)[0]
    ref = conversation_ref(db, tenant, "evolution", tenant.evolution_instance, lead_phone)
    wait_until(lambda: (ref.get().to_dict() or {}).get("last_outbound_at") is not None, 10, "reply recorded")

    echo = payloads.evolution_text(tenant.evolution_instance, tenant.evolution_apikey, lead_phone, "Solar",
                                   sent["id"], sent["text"], from_me=True)
    response = webhook(stack, "evolution", *payloads.as_json(echo), channel=tenant.evolution_instance)

    assert response.json()["echoes"] == 1
    assert ref.get().to_dict().get("bot_paused", False) is False


def test_zapi_messages_are_answered_through_zapi(stack, db, tenant, lead_phone):
    payload = payloads.zapi_text(tenant.zapi_instance, lead_phone, "Ana", "3EB0Z1", "Quero uma visita")
    response = webhook(stack, "zapi", *payloads.as_json(payload), channel=tenant.zapi_instance)

    assert response.status_code == 200
    wait_until(lambda: len(sends(stack, lead_phone)) == 1, 20, "the reply")
    reply = sends(stack, lead_phone)[0]
    assert reply["provider"] == "zapi" and reply["channel"] == tenant.zapi_instance and reply["authorized"]


def test_group_messages_are_recorded_as_ignored_and_not_answered(stack, db, tenant, lead_phone):
    payload = payloads.zapi_text(tenant.zapi_instance, lead_phone, "Grupo", "3EB0G1", "oi grupo")
    payload["isGroup"] = True
    payload["phone"] = f"{lead_phone}-1600000000"
    payload["participantPhone"] = lead_phone

    response = webhook(stack, "zapi", *payloads.as_json(payload), channel=tenant.zapi_instance)

    assert response.status_code == 200 and "group_message" in response.json()["ignored"]
    settle(stack)
    assert sends(stack, lead_phone) == []
    ignored = db.collection("tenants").document(tenant.tenant_id).collection("ignored_messages").stream()
    assert [d.to_dict()["reason"] for d in ignored] == ["group"]


def test_meta_subscription_handshake_echoes_the_challenge(stack):
    url = f"{stack.function_url('whatsapp_webhook')}meta"
    ok = httpx.get(url, params={"hub.mode": "subscribe", "hub.verify_token": DEMO_META_VERIFY_TOKEN,
                                "hub.challenge": "1158201444"})
    bad = httpx.get(url, params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"})

    assert (ok.status_code, ok.text) == (200, "1158201444")
    assert bad.status_code == 403


@pytest.mark.parametrize(
    ("case", "expected"),
    [("missing_signature", 401), ("bad_signature", 403), ("not_json", 400), ("wrong_shape", 400),
     ("too_large", 413), ("unknown_number", 404), ("unknown_provider", 404)],
)
def test_bad_requests_get_a_clear_status_and_write_nothing(stack, db, tenant, lead_phone, case, expected):
    payload = payloads.meta_text(tenant.meta_phone_number_id, lead_phone, "X", f"wamid.BAD.{case}", "oi")
    body, headers = payloads.signed_meta(payload, DEMO_META_APP_SECRET)
    provider = "meta"
    if case == "missing_signature":
        headers.pop("X-Hub-Signature-256")
    elif case == "bad_signature":
        headers = payloads.signed_meta(payload, "not-the-secret")[1]
    elif case == "not_json":
        body = b"<xml>hello</xml>"
        headers["X-Hub-Signature-256"] = payloads.meta_signature(DEMO_META_APP_SECRET, body)
    elif case == "wrong_shape":
        body = json.dumps({"object": "page", "entry": "nope"}).encode()
        headers["X-Hub-Signature-256"] = payloads.meta_signature(DEMO_META_APP_SECRET, body)
    elif case == "too_large":
        body = b"{" + b" " * 1_100_000 + b"}"
        headers["X-Hub-Signature-256"] = payloads.meta_signature(DEMO_META_APP_SECRET, body)
    elif case == "unknown_number":
        payload = payloads.meta_text("999999999999999", lead_phone, "X", "wamid.BAD.unknown", "oi")
        body, headers = payloads.signed_meta(payload, DEMO_META_APP_SECRET)
    elif case == "unknown_provider":
        provider = "telegram"

    response = webhook(stack, provider, body, headers)

    assert response.status_code == expected
    assert response.json()["reason"], "every refusal says why"
    assert "Traceback" not in response.text
    assert stored_messages(db, tenant, lead_phone) == []
    assert sends(stack, lead_phone) == []


def test_evolution_with_a_wrong_apikey_is_refused(stack, db, tenant, lead_phone):
    payload = payloads.evolution_text(tenant.evolution_instance, "wrong-key", lead_phone, "C", "3EB0X", "oi")
    keyed = {"channel": tenant.evolution_instance}
    assert webhook(stack, "evolution", *payloads.as_json(payload), **keyed).status_code == 403
    payload.pop("apikey")
    assert webhook(stack, "evolution", *payloads.as_json(payload), **keyed).status_code == 401
    assert stored_messages(db, tenant, lead_phone, "evolution", tenant.evolution_instance) == []


def test_media_and_unsupported_messages_are_stored_with_what_they_are_and_still_answered(stack, db, tenant, lead_phone):
    from pathlib import Path

    for fixture, wamid in (("meta_image.json", "wamid.MEDIA.1"), ("meta_unsupported.json", "wamid.UNSUP.1")):
        payload = json.loads((Path(__file__).parent.parent / "data" / "providers" / fixture).read_text())
        value = payload["entry"][0]["changes"][0]["value"]
        value["metadata"]["phone_number_id"] = tenant.meta_phone_number_id
        value["contacts"][0]["wa_id"] = lead_phone
        value["messages"][0].update({"from": lead_phone, "id": wamid})
        assert webhook(stack, "meta", *payloads.signed_meta(payload, DEMO_META_APP_SECRET)).json()["queued"] == 1
        time.sleep(0.2)

    wait_until(lambda: len(sends(stack, lead_phone)) == 1, 20, "the reply")
    image, unsupported = [m for m in stored_messages(db, tenant, lead_phone) if m["role"] == "lead"]
    assert image["kind"] == "image" and image["media"]["media_id"] and image["media"]["mime_type"] == "image/jpeg"
    assert unsupported["kind"] == "unsupported" and unsupported["disposition"] == "queued"


def send_twilio(stack: LocalStack, tenant: DemoTenant, phone: str, text: str, **params: str) -> httpx.Response:
    url = stack.webhook_url("twilio", tenant.twilio_sender)
    body, headers = stack.sandbox.twilio.incoming(tenant.twilio_account_sid, tenant.twilio_sender, f"+{phone}", url,
                                                  "Lucas", Body=text, **params)
    return httpx.post(url, content=body, headers=headers, timeout=10)


def test_a_twilio_lead_gets_one_reply_and_our_message_s_status_comes_back_signed(stack, db, tenant, lead_phone):
    response = send_twilio(stack, tenant, lead_phone, "Oi, vocês instalam em Campinas?", MessageSid="SM" + "e" * 32)

    # Twilio wants TwiML back; an empty <Response/> sends nothing by itself.
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/xml")
    assert response.text.endswith("<Response></Response>")
    assert json.loads(response.headers["x-piloto-outcome"]) == {"queued": 1}
    wait_until(lambda: len(sends(stack, lead_phone)) == 1, 20, "the reply")
    [reply] = sends(stack, lead_phone)
    assert reply["provider"] == "twilio" and reply["channel"] == tenant.twilio_sender
    assert "instalam em Campinas" in reply["text"]
    # The sandbox delivers Twilio's sent/delivered callbacks to the webhook, signed like Twilio does.
    wait_until(lambda: stored_messages(db, tenant, lead_phone, "twilio", tenant.twilio_sender)[-1].get("state")
               == "delivered", 15, "the delivered status callback")

    again = send_twilio(stack, tenant, lead_phone, "Oi, vocês instalam em Campinas?", MessageSid="SM" + "e" * 32)
    assert json.loads(again.headers["x-piloto-outcome"]) == {"duplicates": 1}
    settle(stack)
    assert len(sends(stack, lead_phone)) == 1


def test_twilio_requests_with_a_bad_signature_or_a_foreign_account_store_nothing(stack, db, tenant, lead_phone):
    url = stack.webhook_url("twilio", tenant.twilio_sender)
    body, headers = stack.sandbox.twilio.incoming(tenant.twilio_account_sid, tenant.twilio_sender, f"+{lead_phone}",
                                                  url, Body="oi")
    forged = httpx.post(url, content=body, headers={**headers, "X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"})
    unsigned = httpx.post(url, content=body, headers={"Content-Type": headers["Content-Type"]})
    stack.sandbox.twilio.add_account("AC" + "f" * 32, "another-account-token", [tenant.twilio_sender])
    foreign_body, foreign_headers = stack.sandbox.twilio.incoming("AC" + "f" * 32, tenant.twilio_sender,
                                                                  f"+{lead_phone}", url, Body="oi")
    foreign = httpx.post(url, content=foreign_body, headers=foreign_headers)
    assert (forged.status_code, unsigned.status_code, foreign.status_code) == (403, 401, 404)
    assert stored_messages(db, tenant, lead_phone, "twilio", tenant.twilio_sender) == []


@pytest.mark.parametrize("provider", ["evolution", "zapi", "twilio"])
def test_a_gateway_request_without_its_url_key_or_with_a_wrong_one_is_refused_and_stores_nothing(
        stack, db, tenant, lead_phone, provider):
    channel = {"evolution": tenant.evolution_instance, "zapi": tenant.zapi_instance,
               "twilio": tenant.twilio_sender}[provider]
    keyed = stack.webhook_url(provider, channel)
    bare = stack.webhook_url(provider)
    wrong = keyed[:-6] + ("AAAAAA" if not keyed.endswith("AAAAAA") else "BBBBBB")
    answers = {}
    for name, url in (("no key", f"{bare}?token={tenant.zapi_webhook_token}"), ("wrong key", wrong)):
        if provider == "twilio":  # correctly signed for the URL it is posted to: only the key is wrong
            body, headers = stack.sandbox.twilio.incoming(tenant.twilio_account_sid, channel, f"+{lead_phone}", url,
                                                          Body="oi")
        elif provider == "evolution":
            body, headers = payloads.as_json(payloads.evolution_text(channel, tenant.evolution_apikey, lead_phone,
                                                                     "C", f"3EB0K{len(name)}", "oi"))
        else:
            body, headers = payloads.as_json(payloads.zapi_text(channel, lead_phone, "A", f"3EB0K{len(name)}", "oi"))
        response = httpx.post(url, content=body, headers=headers, timeout=10)
        answers[name] = response.status_code
        assert response.json()["reason"] and keyed.rsplit("=", 1)[-1] not in response.text

    assert answers == {"no key": 401, "wrong key": 403}
    assert stored_messages(db, tenant, lead_phone, provider, channel) == []


def test_a_key_for_one_evolution_instance_never_injects_into_another(stack, db, tenant, lead_phone):
    payload = payloads.evolution_text(tenant.evolution_copilot_instance, tenant.evolution_apikey, lead_phone, "C",
                                      "3EB0CROSS1", "oi")

    response = webhook(stack, "evolution", *payloads.as_json(payload), channel=tenant.evolution_instance)

    assert response.status_code == 403 and "other than" in response.json()["reason"]
    for instance in (tenant.evolution_instance, tenant.evolution_copilot_instance):
        assert stored_messages(db, tenant, lead_phone, "evolution", instance) == []
