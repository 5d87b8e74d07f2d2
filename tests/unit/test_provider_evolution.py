"""Evolution API v2: apikey check, recorded webhook payloads, and the sendText request and its failures."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from shared.domain.errors import (
    BadSignature,
    InvalidPayload,
    MissingSignature,
    ProviderRejected,
    ProviderSendError,
)
from shared.domain.inbound import DeliveryState, MessageKind, Provider
from shared.domain.tenancy import Channel, ChannelCredentials
from shared.ports import RawRequest, WebhookSecrets
from shared.providers.evolution import EvolutionProvider, EvolutionWebhook

DATA = Path(__file__).resolve().parents[1] / "data" / "providers"
APIKEY = "B6D711FCDE4D4FD5936544120E713976"
INSTANCE = "solar-prime"
NOW = datetime(2024, 11, 22, 12, 30, tzinfo=UTC)
CHANNEL = Channel(tenant_id="t1", provider=Provider.EVOLUTION, channel_id=INSTANCE,
                  credentials=ChannelCredentials(api_key=APIKEY, server_url="https://evo.solarprime.com.br/"))


def fixture_bytes(name: str) -> bytes:
    return (DATA / f"{name}.json").read_bytes()


def fixture(name: str) -> dict:
    return json.loads(fixture_bytes(name))


def request(body: bytes, headers: dict[str, str] | None = None) -> RawRequest:
    return RawRequest(method="POST", path="/evolution", headers=headers or {}, query={}, body=body)


def webhook() -> EvolutionWebhook:
    return EvolutionWebhook(clock=lambda: NOW)


def parse_body(body: dict):
    return webhook().parse(request(json.dumps(body).encode()))


def only_message(name: str):
    batch = webhook().parse(request(fixture_bytes(name)))
    assert len(batch.messages) == 1 and not batch.statuses and not batch.ignored
    return batch.messages[0]


def at(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


# --- authentication -------------------------------------------------------------------------

def test_evolution_parses_first_because_the_key_belongs_to_the_instance():
    assert EvolutionWebhook.authenticates_before_parse is False


def test_the_body_apikey_of_the_instance_is_accepted():
    webhook().authenticate(request(fixture_bytes("evolution_text_conversation")), CHANNEL, WebhookSecrets())


def test_an_apikey_header_is_accepted_when_the_body_has_none():
    body = fixture("evolution_text_conversation")
    body["apikey"] = None  # what servers without AUTHENTICATION_EXPOSE_IN_FETCH_INSTANCES send
    webhook().authenticate(request(json.dumps(body).encode(), {"apikey": APIKEY}), CHANNEL, WebhookSecrets())


def test_no_apikey_anywhere_is_missing_signature_with_the_header_hint():
    body = fixture("evolution_text_conversation")
    body["apikey"] = None
    with pytest.raises(MissingSignature, match=r"webhook\.headers"):
        webhook().authenticate(request(json.dumps(body).encode()), CHANNEL, WebhookSecrets())


def test_another_instance_s_apikey_is_bad():
    body = fixture("evolution_text_conversation")
    body["apikey"] = "00000000000000000000000000000000"
    with pytest.raises(BadSignature) as caught:
        webhook().authenticate(request(json.dumps(body).encode()), CHANNEL, WebhookSecrets())
    assert APIKEY not in str(caught.value) and "0000" not in str(caught.value)


def test_a_channel_without_an_api_key_accepts_nothing():
    channel = CHANNEL.model_copy(update={"credentials": ChannelCredentials(server_url="https://evo.example")})
    with pytest.raises(BadSignature, match="api_key"):
        webhook().authenticate(request(fixture_bytes("evolution_text_conversation")), channel, WebhookSecrets())


def test_without_a_channel_nothing_is_accepted():
    with pytest.raises(BadSignature):
        webhook().authenticate(request(fixture_bytes("evolution_text_conversation")), None, WebhookSecrets())


# --- recorded payloads -----------------------------------------------------------------------

def test_a_conversation_message_is_normalized():
    m = only_message("evolution_text_conversation")
    assert m.provider is Provider.EVOLUTION
    assert m.channel_id == INSTANCE
    assert m.provider_message_id == "3A6E7B7CF0B3D14E0A26"
    assert m.contact_phone == "+5521998877665"
    assert m.contact_name == "Carlos Lima"
    assert m.kind is MessageKind.TEXT
    assert m.text == "Boa tarde, vi o anúncio de energia solar"
    assert m.sent_at == datetime(2024, 11, 22, 12, 0, tzinfo=UTC)
    assert m.from_business is False and m.is_group is False
    assert m.raw_type == "conversation"


def test_an_extended_text_with_a_string_timestamp_is_text():
    m = only_message("evolution_extended_text")
    assert m.kind is MessageKind.TEXT
    assert m.text == "Olha esse site: https://solarprime.com.br"
    assert m.sent_at == at(1732276830)


def test_an_image_keeps_url_mimetype_hash_and_caption():
    m = only_message("evolution_image")
    assert m.kind is MessageKind.IMAGE
    assert m.text == "Minha conta de luz"
    assert m.media is not None
    assert m.media.url is not None and m.media.url.startswith("https://mmg.whatsapp.net/v/t62.7118-24/")
    assert m.media.mime_type == "image/jpeg"
    assert m.media.sha256 == "k9DCbNaBqPmNShJ3ETn2E3qQ1H5uuEGzlmCvY0XbRyY="
    assert m.media.voice is False


def test_a_push_to_talk_audio_is_a_voice_note():
    m = only_message("evolution_audio_ptt")
    assert m.kind is MessageKind.AUDIO
    assert m.media is not None
    assert m.media.voice is True
    assert m.media.mime_type == "audio/ogg; codecs=opus"
    assert m.sent_at == at(1732276920)


def test_a_stored_media_url_is_preferred_over_the_encrypted_whatsapp_url():
    body = fixture("evolution_audio_ptt")
    body["data"]["message"]["mediaUrl"] = "https://s3.solarprime.com.br/evolution/audio/3A9B2E6F1C0D8A7B5E42.oga"
    [m] = parse_body(body).messages
    assert m.media is not None and m.media.url == "https://s3.solarprime.com.br/evolution/audio/3A9B2E6F1C0D8A7B5E42.oga"


def test_a_document_with_caption_is_unwrapped():
    m = only_message("evolution_document")
    assert m.kind is MessageKind.DOCUMENT
    assert m.text == "Orçamento do concorrente"
    assert m.media is not None
    assert (m.media.filename, m.media.mime_type) == ("orcamento.pdf", "application/pdf")
    assert m.raw_type == "documentWithCaptionMessage"


def test_a_sticker_is_a_media_kind():
    m = only_message("evolution_sticker")
    assert m.kind is MessageKind.STICKER and m.media is not None and m.media.mime_type == "image/webp"


def test_a_location_reads_as_coordinates_and_name():
    m = only_message("evolution_location")
    assert m.kind is MessageKind.LOCATION and m.text == "-22.9068,-43.1729 Centro"


def test_a_reaction_reads_as_its_emoji():
    m = only_message("evolution_reaction")
    assert m.kind is MessageKind.REACTION and m.text == "❤️"


def test_button_and_list_replies_read_as_the_chosen_text():
    button, row = only_message("evolution_buttons_response"), only_message("evolution_list_response")
    assert (button.kind, button.text) == (MessageKind.BUTTON, "Agendar visita")
    assert (row.kind, row.text) == (MessageKind.INTERACTIVE, "Kit 5 kWp")


def test_a_group_message_is_flagged_and_attributed_to_its_participant():
    m = only_message("evolution_group_text")
    assert m.is_group is True
    assert m.contact_phone == "+5531987651234"
    assert m.contact_name == "Ana Costa"


def test_a_group_message_without_a_participant_still_parses():
    body = fixture("evolution_group_text")
    del body["data"]["key"]["participant"]
    [m] = parse_body(body).messages
    assert m.is_group is True and m.contact_phone == "+120363041967849074"


def test_a_message_sent_from_the_business_phone_is_from_business_without_a_contact_name():
    m = only_message("evolution_from_me")
    assert m.from_business is True
    assert m.contact_name is None
    assert m.contact_phone == "+5521998877665"


def test_an_unsupported_type_is_kept_with_its_raw_type():
    m = only_message("evolution_unsupported_poll")
    assert m.kind is MessageKind.UNSUPPORTED
    assert m.raw_type == "pollCreationMessageV3"
    assert m.text is None and m.media is None


def test_a_batched_upsert_yields_every_message():
    batch = webhook().parse(request(fixture_bytes("evolution_upsert_list")))
    assert [(m.provider_message_id, m.text) for m in batch.messages] == [
        ("3A11B22C33D44E55F601", "Primeira"),
        ("3A11B22C33D44E55F602", "Segunda"),
    ]


def test_the_upper_case_event_name_is_accepted():
    body = fixture("evolution_text_conversation")
    body["event"] = "MESSAGES_UPSERT"
    assert len(parse_body(body).messages) == 1


def test_a_protobuf_long_timestamp_is_read():
    body = fixture("evolution_text_conversation")
    body["data"]["messageTimestamp"] = {"low": 1732276800, "high": 0, "unsigned": True}
    [m] = parse_body(body).messages
    assert m.sent_at == at(1732276800)


def test_a_lid_with_the_phone_alongside_uses_the_phone():
    body = fixture("evolution_text_conversation")
    body["data"]["key"].update({"remoteJid": "81896604192873@lid", "remoteJidAlt": "5521998877665@s.whatsapp.net"})
    [m] = parse_body(body).messages
    assert m.contact_phone == "+5521998877665"


def test_a_lid_without_a_phone_is_ignored_rather_than_stored_as_a_number():
    body = fixture("evolution_text_conversation")
    body["data"]["key"]["remoteJid"] = "81896604192873@lid"
    batch = parse_body(body)
    assert batch.messages == [] and batch.ignored == ["lid_without_phone"]


def test_status_broadcasts_are_ignored():
    body = fixture("evolution_text_conversation")
    body["data"]["key"]["remoteJid"] = "status@broadcast"
    batch = parse_body(body)
    assert batch.messages == [] and batch.ignored == ["status_broadcast"]


def test_a_delivery_receipt_is_a_status_and_never_a_message():
    batch = webhook().parse(request(fixture_bytes("evolution_update_delivered")))
    assert batch.messages == []
    [status] = batch.statuses
    assert status.provider is Provider.EVOLUTION and status.channel_id == INSTANCE
    assert status.provider_message_id == "BAE594145F4C59B4"
    assert status.state is DeliveryState.DELIVERED
    assert status.recipient_phone == "+5521998877665"
    assert status.at == NOW


def test_a_read_receipt_with_the_upper_case_event_is_read():
    [status] = webhook().parse(request(fixture_bytes("evolution_update_read"))).statuses
    assert status.state is DeliveryState.READ


@pytest.mark.parametrize(("name", "state"), [("SERVER_ACK", DeliveryState.SENT), ("PLAYED", DeliveryState.READ),
                                             ("ERROR", DeliveryState.FAILED)])
def test_every_documented_ack_maps_to_a_delivery_state(name: str, state: DeliveryState):
    body = fixture("evolution_update_delivered")
    body["data"]["status"] = name
    [status] = parse_body(body).statuses
    assert status.state is state
    assert (status.error is not None) is (state is DeliveryState.FAILED)


def test_receipts_for_the_lead_s_own_messages_are_ignored():
    batch = webhook().parse(request(fixture_bytes("evolution_update_inbound_read")))
    assert batch.statuses == [] and batch.ignored == ["status_of_inbound"]


def test_pending_is_not_a_delivery_state():
    body = fixture("evolution_update_delivered")
    body["data"]["status"] = "PENDING"
    batch = parse_body(body)
    assert batch.statuses == [] and batch.ignored == ["status:PENDING"]


@pytest.mark.parametrize(("name", "event"), [("evolution_connection_update", "connection.update"),
                                             ("evolution_presence_update", "presence.update")])
def test_other_events_are_ignored_by_name(name: str, event: str):
    batch = webhook().parse(request(fixture_bytes(name)))
    assert batch.messages == [] and batch.statuses == [] and batch.ignored == [event]


# --- malformed bodies ------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "reason"), [
    (b"", "empty"),
    (b"<xml/>", "not valid JSON"),
    (b'"messages.upsert"', "not a JSON object"),
    (b'{"instance": "solar-prime"}', r"body\.event must be a non-empty string \(got missing\)"),
    (b'{"event": "messages.upsert", "data": {}}', r"body\.instance"),
    (b'{"event": "messages.upsert", "instance": "x", "data": "hi"}', "data must be an object"),
    (b'{"event": "messages.upsert", "instance": "x", "data": {"key": {}}}', r"data\.key\.remoteJid"),
])
def test_malformed_bodies_are_invalid_with_a_reason(body: bytes, reason: str):
    with pytest.raises(InvalidPayload, match=reason):
        webhook().parse(request(body))


def test_a_message_without_a_timestamp_is_invalid():
    body = fixture("evolution_text_conversation")
    del body["data"]["messageTimestamp"]
    with pytest.raises(InvalidPayload, match="messageTimestamp"):
        parse_body(body)


def test_invalid_payload_reasons_never_contain_the_apikey():
    body = fixture("evolution_text_conversation")
    body["data"]["key"]["id"] = None
    with pytest.raises(InvalidPayload) as caught:
        parse_body(body)
    assert APIKEY not in str(caught.value)


# --- sending ---------------------------------------------------------------------------------

def sender(handler) -> EvolutionProvider:
    return EvolutionProvider(httpx.Client(transport=httpx.MockTransport(handler)))


def recording(calls: list[httpx.Request]):
    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(req)
        return httpx.Response(200)
    return handler


def answer(status: int, fixture_name: str | None = None, payload: object = None):
    def handler(req: httpx.Request) -> httpx.Response:
        if fixture_name:
            return httpx.Response(status, content=fixture_bytes(fixture_name))
        return httpx.Response(status, json=payload)
    return handler


def test_send_text_posts_the_documented_request_and_returns_the_key_id():
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(201, content=fixture_bytes("evolution_send_text_response"))

    assert sender(handler).send_text(CHANNEL, "+5521998877665", "Olá! Posso ajudar?") == "BAE594145F4C59B4"
    [req] = seen
    assert req.method == "POST"
    assert str(req.url) == "https://evo.solarprime.com.br/message/sendText/solar-prime"
    assert req.headers["apikey"] == APIKEY
    assert json.loads(req.content) == {"number": "5521998877665", "text": "Olá! Posso ajudar?"}


def test_an_instance_name_with_spaces_is_escaped_in_the_path():
    seen: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req.url.raw_path.decode())
        return httpx.Response(201, content=fixture_bytes("evolution_send_text_response"))

    channel = CHANNEL.model_copy(update={"channel_id": "Loja Centro"})
    sender(handler).send_text(channel, "+5521998877665", "x")
    assert seen == ["/message/sendText/Loja%20Centro"]


@pytest.mark.parametrize("status", [429, 500, 503])
def test_rate_limits_and_server_errors_are_transient(status: int):
    payload = {"status": status, "error": "Internal Server Error", "response": {"message": "Connection Closed"}}
    with pytest.raises(ProviderSendError, match="Connection Closed") as caught:
        sender(answer(status, payload=payload)).send_text(CHANNEL, "+5521998877665", "x")
    assert caught.value.status == status


def test_a_number_not_on_whatsapp_is_rejected_with_evolution_s_message():
    with pytest.raises(ProviderRejected, match='"exists":false') as caught:
        sender(answer(400, "evolution_error_not_on_whatsapp")).send_text(CHANNEL, "+5521900000000", "x")
    assert caught.value.status == 400


def test_unauthorized_is_rejected_without_the_apikey():
    with pytest.raises(ProviderRejected, match="Unauthorized") as caught:
        sender(answer(401, "evolution_error_unauthorized")).send_text(CHANNEL, "+5521998877665", "x")
    assert APIKEY not in str(caught.value)


def test_a_success_without_a_key_id_is_transient():
    with pytest.raises(ProviderSendError, match=r"key\.id"):
        sender(answer(201, payload={"status": "PENDING"})).send_text(CHANNEL, "+5521998877665", "x")


def test_a_timeout_is_transient():
    def handler(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=req)

    with pytest.raises(ProviderSendError, match="timed out"):
        sender(handler).send_text(CHANNEL, "+5521998877665", "x")


@pytest.mark.parametrize(("credentials", "missing"), [
    (ChannelCredentials(api_key=APIKEY), "server_url"),
    (ChannelCredentials(server_url="https://evo.example"), "api_key"),
])
def test_a_channel_missing_credentials_is_rejected_before_any_request(credentials: ChannelCredentials, missing: str):
    calls: list[httpx.Request] = []
    channel = CHANNEL.model_copy(update={"credentials": credentials})
    with pytest.raises(ProviderRejected, match=missing):
        sender(recording(calls)).send_text(channel, "+5521998877665", "x")
    assert calls == []


def test_a_recipient_that_is_not_a_phone_number_is_rejected():
    with pytest.raises(ProviderRejected, match="not a phone number"):
        sender(answer(201, "evolution_send_text_response")).send_text(CHANNEL, "12", "x")


def test_media_keeps_the_webhooks_key_and_message_for_the_download():
    body = fixture("evolution_audio_ptt")

    [m] = parse_body(body).messages

    assert m.media is not None and m.media.provider_message == {
        "key": body["data"]["key"], "message": body["data"]["message"]}
    assert m.media.inline_base64 is None


def test_base64_the_webhook_carries_is_kept_when_small_and_never_inside_the_kept_message():
    from shared.providers.evolution import INLINE_BASE64_LIMIT

    small, big = fixture("evolution_audio_ptt"), fixture("evolution_audio_ptt")
    small["data"]["message"]["base64"] = "T2dnUw=="
    big["data"]["message"]["base64"] = "A" * (INLINE_BASE64_LIMIT + 4)

    [kept] = parse_body(small).messages
    [dropped] = parse_body(big).messages

    assert kept.media is not None and kept.media.inline_base64 == "T2dnUw=="
    assert dropped.media is not None and dropped.media.inline_base64 is None
    assert "base64" not in kept.media.provider_message["message"]
    assert "T2dnUw" not in repr(kept.media), "the file never lands in logs"
