"""Z-API: webhook token check, recorded callbacks, and the send-text request and its failures."""

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
from shared.providers.zapi import ZApiProvider, ZApiWebhook

DATA = Path(__file__).resolve().parents[1] / "data" / "providers"
INSTANCE = "3D8F2A1C6B9E4F07A5C1D3E2F4B6A8C0"
INSTANCE_TOKEN = "F1E2D3C4B5A697887766554433221100"
CLIENT_TOKEN = "Fa3b9c0d1e2f34a5b6c7d8e9f0a1b2c3dS"
WEBHOOK_TOKEN = "wh_9f8e7d6c5b4a39281706f5e4d3c2b1a0"
NOW = datetime(2024, 11, 22, 12, 30, tzinfo=UTC)
CHANNEL = Channel(tenant_id="t1", provider=Provider.ZAPI, channel_id=INSTANCE,
                  credentials=ChannelCredentials(instance_token=INSTANCE_TOKEN, client_token=CLIENT_TOKEN,
                                                 webhook_token=WEBHOOK_TOKEN))


def fixture_bytes(name: str) -> bytes:
    return (DATA / f"{name}.json").read_bytes()


def fixture(name: str) -> dict:
    return json.loads(fixture_bytes(name))


def request(body: bytes, headers: dict[str, str] | None = None, query: dict[str, str] | None = None) -> RawRequest:
    return RawRequest(method="POST", path="/zapi", headers=headers or {}, query=query or {}, body=body)


def webhook() -> ZApiWebhook:
    return ZApiWebhook(clock=lambda: NOW)


def parse_body(body: dict):
    return webhook().parse(request(json.dumps(body).encode()))


def only_message(name: str):
    batch = webhook().parse(request(fixture_bytes(name)))
    assert len(batch.messages) == 1 and not batch.statuses and not batch.ignored
    return batch.messages[0]


def at_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


# --- authentication -------------------------------------------------------------------------

def test_zapi_parses_first_because_the_token_belongs_to_the_channel():
    assert ZApiWebhook.authenticates_before_parse is False


def test_the_token_query_parameter_is_accepted():
    webhook().authenticate(request(fixture_bytes("zapi_text"), query={"token": WEBHOOK_TOKEN}), CHANNEL,
                           WebhookSecrets())


def test_the_client_token_header_is_accepted():
    webhook().authenticate(request(fixture_bytes("zapi_text"), headers={"client-token": WEBHOOK_TOKEN}), CHANNEL,
                           WebhookSecrets())


def test_no_token_is_missing_signature():
    with pytest.raises(MissingSignature):
        webhook().authenticate(request(fixture_bytes("zapi_text")), CHANNEL, WebhookSecrets())


def test_a_wrong_token_is_bad_and_not_echoed():
    with pytest.raises(BadSignature) as caught:
        webhook().authenticate(request(fixture_bytes("zapi_text"), query={"token": "guessed-token"}), CHANNEL,
                               WebhookSecrets())
    assert "guessed-token" not in str(caught.value) and WEBHOOK_TOKEN not in str(caught.value)


def test_the_instance_token_is_not_a_webhook_token():
    with pytest.raises(BadSignature):
        webhook().authenticate(request(fixture_bytes("zapi_text"), query={"token": INSTANCE_TOKEN}), CHANNEL,
                               WebhookSecrets())


def test_a_channel_without_a_webhook_token_accepts_nothing():
    channel = CHANNEL.model_copy(update={"credentials": ChannelCredentials(instance_token=INSTANCE_TOKEN)})
    with pytest.raises(BadSignature, match="webhook_token"):
        webhook().authenticate(request(fixture_bytes("zapi_text"), query={"token": "anything"}), channel,
                               WebhookSecrets())


# --- recorded payloads -----------------------------------------------------------------------

def test_a_text_message_is_normalized():
    m = only_message("zapi_text")
    assert m.provider is Provider.ZAPI
    assert m.channel_id == INSTANCE
    assert m.provider_message_id == "3EB0796DC6B777C0C7CD"
    assert m.contact_phone == "+5541991234567"
    assert m.contact_name == "Fernanda Alves"
    assert m.kind is MessageKind.TEXT
    assert m.text == "Olá, quero saber sobre energia solar"
    assert m.sent_at == datetime(2024, 11, 22, 12, 0, tzinfo=UTC)
    assert m.from_business is False and m.is_group is False
    assert m.raw_type == "text"


def test_an_image_keeps_its_url_mime_type_and_caption():
    m = only_message("zapi_image")
    assert m.kind is MessageKind.IMAGE
    assert m.text == "Minha conta de luz"
    assert m.media is not None
    assert m.media.url is not None and m.media.url.endswith("/3EB0A1B2C3D4E5F60718.jpeg")
    assert m.media.mime_type == "image/jpeg"
    assert m.sent_at == at_ms(1732276860000)


def test_a_push_to_talk_audio_is_a_voice_note():
    m = only_message("zapi_audio")
    assert m.kind is MessageKind.AUDIO
    assert m.media is not None
    assert m.media.voice is True
    assert m.media.url is not None and m.media.url.endswith(".ogg")
    assert m.media.mime_type == "audio/ogg; codecs=opus"


def test_an_audio_without_ptt_is_not_a_voice_note():
    body = fixture("zapi_audio")
    del body["audio"]["ptt"]
    [m] = parse_body(body).messages
    assert m.media is not None and m.media.voice is False


def test_video_document_and_sticker_keep_their_media():
    video, document, sticker = only_message("zapi_video"), only_message("zapi_document"), only_message("zapi_sticker")
    assert video.kind is MessageKind.VIDEO and video.text == "O telhado"
    assert video.media is not None and video.media.mime_type == "video/mp4"
    assert document.kind is MessageKind.DOCUMENT and document.media is not None
    assert (document.media.filename, document.media.mime_type) == ("orcamento.pdf", "application/pdf")
    assert document.media.url is not None and document.media.url.endswith(".pdf")
    assert sticker.kind is MessageKind.STICKER and sticker.media and sticker.media.mime_type == "image/webp"


def test_a_location_reads_as_coordinates_and_name():
    m = only_message("zapi_location")
    assert m.kind is MessageKind.LOCATION and m.text == "-25.4284,-49.2733 Praça Tiradentes"


def test_a_shared_contact_reads_as_name_and_phone():
    m = only_message("zapi_contact")
    assert m.kind is MessageKind.CONTACTS and m.text == "João Pereira: 5511912345678"


def test_a_reaction_reads_as_its_emoji():
    m = only_message("zapi_reaction")
    assert m.kind is MessageKind.REACTION and m.text == "❤️"


def test_button_and_list_replies_read_as_the_chosen_text():
    button, row = only_message("zapi_buttons_response"), only_message("zapi_list_response")
    assert (button.kind, button.text) == (MessageKind.BUTTON, "Agendar visita")
    assert (row.kind, row.text) == (MessageKind.INTERACTIVE, "Kit 5 kWp")


def test_a_group_message_is_flagged_and_attributed_to_its_participant():
    m = only_message("zapi_group_text")
    assert m.is_group is True
    assert m.contact_phone == "+5541987650001"


def test_a_group_message_without_a_participant_still_parses():
    body = fixture("zapi_group_text")
    body["participantPhone"] = None
    [m] = parse_body(body).messages
    assert m.is_group is True and m.contact_phone == "+120363019502650977"


def test_a_message_sent_from_the_business_phone_is_from_business_without_a_contact_name():
    m = only_message("zapi_from_me")
    assert m.from_business is True and m.contact_name is None
    assert m.contact_phone == "+5541991234567"


def test_an_undocumented_content_type_is_kept_as_unsupported():
    m = only_message("zapi_poll_unsupported")
    assert m.kind is MessageKind.UNSUPPORTED
    assert m.raw_type == "poll"
    assert m.text is None and m.media is None


def test_a_system_notification_is_ignored_not_answered():
    batch = webhook().parse(request(fixture_bytes("zapi_notification_call")))
    assert batch.messages == [] and batch.ignored == ["notification:CALL_MISSED_VOICE"]


def test_the_callback_type_is_matched_case_insensitively():
    body = fixture("zapi_text")
    body["type"] = "ReceivedCallBack"  # the docs' table spells it this way
    assert len(parse_body(body).messages) == 1


def test_a_read_status_yields_one_update_per_id_and_no_message():
    batch = webhook().parse(request(fixture_bytes("zapi_status_read")))
    assert batch.messages == []
    assert [s.provider_message_id for s in batch.statuses] == ["3EB0E1F2A3B4C5D6E7F8", "3EB0E1F2A3B4C5D6E7F9"]
    for status in batch.statuses:
        assert status.provider is Provider.ZAPI and status.channel_id == INSTANCE
        assert status.state is DeliveryState.READ
        assert status.recipient_phone == "+5541991234567"
        assert status.at == at_ms(1732277940000)


def test_received_means_delivered():
    [status] = webhook().parse(request(fixture_bytes("zapi_status_received"))).statuses
    assert status.state is DeliveryState.DELIVERED


@pytest.mark.parametrize(("name", "state"), [("SENT", DeliveryState.SENT), ("PLAYED", DeliveryState.READ)])
def test_sent_and_played_map_to_delivery_states(name: str, state: DeliveryState):
    body = fixture("zapi_status_received")
    body["status"] = name
    [status] = parse_body(body).statuses
    assert status.state is state


def test_read_by_me_is_not_about_our_messages():
    batch = webhook().parse(request(fixture_bytes("zapi_status_read_by_me")))
    assert batch.statuses == [] and batch.ignored == ["status:READ_BY_ME"]


def test_a_delivery_callback_confirms_our_send():
    batch = webhook().parse(request(fixture_bytes("zapi_delivery")))
    assert batch.messages == []
    [status] = batch.statuses
    assert status.provider_message_id == "3EB0E1F2A3B4C5D6E7F8"
    assert status.state is DeliveryState.SENT
    assert status.recipient_phone == "+5541991234567"
    assert status.at == NOW


def test_a_presence_callback_is_ignored_by_type():
    batch = webhook().parse(request(fixture_bytes("zapi_presence")))
    assert batch.messages == [] and batch.statuses == [] and batch.ignored == ["PresenceChatCallback"]


# --- malformed bodies ------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "reason"), [
    (b"", "empty"),
    (b"phone=5541991234567", "not valid JSON"),
    (b"null", "not a JSON object"),
    (b'{"phone": "5541991234567"}', r"body\.type must be a non-empty string \(got missing\)"),
    (b'{"type": "ReceivedCallback", "messageId": "X", "phone": "5541991234567", "momment": 1}', r"body\.instanceId"),
    (b'{"type": "MessageStatusCallback", "status": "READ", "instanceId": "I", "momment": 1732277940000, "ids": "x"}',
     r"body\.ids must be an array"),
])
def test_malformed_bodies_are_invalid_with_a_reason(body: bytes, reason: str):
    with pytest.raises(InvalidPayload, match=reason):
        webhook().parse(request(body))


def test_a_message_with_a_non_numeric_momment_is_invalid():
    body = fixture("zapi_text")
    body["momment"] = "ontem"
    with pytest.raises(InvalidPayload, match="momment"):
        parse_body(body)


# --- sending ---------------------------------------------------------------------------------

def sender(handler) -> ZApiProvider:
    return ZApiProvider(httpx.Client(transport=httpx.MockTransport(handler)))


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


def test_send_text_posts_the_documented_request_and_returns_the_message_id():
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(200, content=fixture_bytes("zapi_send_text_response"))

    assert sender(handler).send_text(CHANNEL, "+5541991234567", "Olá, Fernanda!") == "3EB0E1F2A3B4C5D6E7F8"
    [req] = seen
    assert req.method == "POST"
    assert str(req.url) == f"https://api.z-api.io/instances/{INSTANCE}/token/{INSTANCE_TOKEN}/send-text"
    assert req.headers["client-token"] == CLIENT_TOKEN
    assert json.loads(req.content) == {"phone": "5541991234567", "message": "Olá, Fernanda!"}


def test_without_a_client_token_no_client_token_header_is_sent():
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(200, content=fixture_bytes("zapi_send_text_response"))

    channel = CHANNEL.model_copy(update={"credentials": ChannelCredentials(instance_token=INSTANCE_TOKEN)})
    ZApiProvider(httpx.Client(transport=httpx.MockTransport(handler)), base_url="http://127.0.0.1:9/zapi/") \
        .send_text(channel, "+5541991234567", "x")
    assert "client-token" not in seen[0].headers
    assert seen[0].url.path == f"/zapi/instances/{INSTANCE}/token/{INSTANCE_TOKEN}/send-text"


@pytest.mark.parametrize(("payload", "expected"), [
    ({"zaapId": "3999984263738042930CD6ECDE9VDWSA"}, "3999984263738042930CD6ECDE9VDWSA"),
    ({"id": "D241XXXX732339502B68"}, "D241XXXX732339502B68"),
])
def test_the_message_id_falls_back_to_zaap_id_then_id(payload: dict, expected: str):
    assert sender(answer(200, payload=payload)).send_text(CHANNEL, "+5541991234567", "x") == expected


@pytest.mark.parametrize("status", [429, 500, 502])
def test_rate_limits_and_server_errors_are_transient(status: int):
    with pytest.raises(ProviderSendError) as caught:
        sender(answer(status, payload={"error": "Internal error"})).send_text(CHANNEL, "+5541991234567", "x")
    assert caught.value.status == status


def test_a_refused_client_token_is_rejected_with_z_api_s_message():
    with pytest.raises(ProviderRejected, match="null not allowed") as caught:
        sender(answer(403, "zapi_error_client_token")).send_text(CHANNEL, "+5541991234567", "x")
    assert caught.value.status == 403


def test_failures_never_reveal_the_url_or_tokens():
    echo = {"error": f"instance {INSTANCE_TOKEN} with token {CLIENT_TOKEN} not found"}
    with pytest.raises(ProviderRejected) as caught:
        sender(answer(404, payload=echo)).send_text(CHANNEL, "+5541991234567", "x")
    text = str(caught.value)
    assert INSTANCE_TOKEN not in text and CLIENT_TOKEN not in text and "api.z-api.io" not in text


def test_a_connection_failure_is_transient_and_keeps_the_token_out_of_the_message():
    def handler(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {req.url}", request=req)

    with pytest.raises(ProviderSendError) as caught:
        sender(handler).send_text(CHANNEL, "+5541991234567", "x")
    assert INSTANCE_TOKEN not in str(caught.value) and caught.value.status == 0


def test_a_success_without_any_id_is_transient():
    with pytest.raises(ProviderSendError):
        sender(answer(200, payload={"value": True})).send_text(CHANNEL, "+5541991234567", "x")


def test_a_channel_without_an_instance_token_is_rejected_before_any_request():
    calls: list[httpx.Request] = []
    channel = CHANNEL.model_copy(update={"credentials": ChannelCredentials(client_token=CLIENT_TOKEN)})
    with pytest.raises(ProviderRejected, match="instance_token"):
        sender(recording(calls)).send_text(channel, "+5541991234567", "x")
    assert calls == []


def test_an_account_that_requires_the_security_token_says_so_when_the_channel_has_none():
    channel = CHANNEL.model_copy(update={"credentials": ChannelCredentials(instance_token=INSTANCE_TOKEN)})

    with pytest.raises(ProviderRejected, match="requires its security token and the channel has no client_token"):
        sender(answer(403, "zapi_error_client_token")).send_text(channel, "+5541991234567", "x")
    with pytest.raises(ProviderRejected, match="refused the channel's client_token"):
        sender(answer(403, "zapi_error_client_token")).send_text(CHANNEL, "+5541991234567", "x")
