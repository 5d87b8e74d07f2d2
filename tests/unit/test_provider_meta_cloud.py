"""Meta Cloud API: signature, handshake, recorded webhook payloads, and the send request and its failures."""

from __future__ import annotations

import hashlib
import hmac
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
from shared.providers.meta_cloud import MetaCloudProvider, MetaCloudWebhook, verify_subscription

DATA = Path(__file__).resolve().parents[1] / "data" / "providers"
APP_SECRET = "3b1f0c9e5d7a4b2c8e6f1a0d9c7b5e3f"
SECRETS = WebhookSecrets(meta_app_secret=APP_SECRET, meta_verify_token="piloto-verify-7f3a")
PNID = "106540352242922"
TOKEN = "EAAJB3xZCfake0system0user0token0ZDZD"


def fixture_bytes(name: str) -> bytes:
    return (DATA / f"{name}.json").read_bytes()


def request(body: bytes, headers: dict[str, str] | None = None) -> RawRequest:
    return RawRequest(method="POST", path="/meta", headers=headers or {}, query={}, body=body)


def signed(body: bytes, secret: str = APP_SECRET) -> RawRequest:
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return request(body, {"x-hub-signature-256": signature, "content-type": "application/json"})


def parse(name: str):
    return MetaCloudWebhook().parse(request(fixture_bytes(name)))


def only_message(name: str):
    batch = parse(name)
    assert len(batch.messages) == 1 and not batch.statuses and not batch.ignored
    return batch.messages[0]


def at(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


# --- authentication -------------------------------------------------------------------------

def test_meta_authenticates_before_parsing_because_the_app_secret_is_global():
    assert MetaCloudWebhook.authenticates_before_parse is True


def test_a_correct_signature_is_accepted():
    MetaCloudWebhook().authenticate(signed(fixture_bytes("meta_text")), None, SECRETS)


def test_an_uppercase_hex_signature_is_accepted():
    body = fixture_bytes("meta_text")
    digest = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest().upper()
    MetaCloudWebhook().authenticate(request(body, {"x-hub-signature-256": f"sha256={digest}"}), None, SECRETS)


def test_a_missing_signature_header_is_missing_signature():
    with pytest.raises(MissingSignature):
        MetaCloudWebhook().authenticate(request(fixture_bytes("meta_text")), None, SECRETS)


def test_a_signature_made_with_another_secret_is_bad():
    with pytest.raises(BadSignature):
        MetaCloudWebhook().authenticate(signed(fixture_bytes("meta_text"), "not-the-secret"), None, SECRETS)


def test_a_signature_over_a_tampered_body_is_bad():
    raw = signed(fixture_bytes("meta_text"))
    tampered = RawRequest(raw.method, raw.path, raw.headers, raw.query, raw.body.replace(b"Oi!", b"Oi?"))
    with pytest.raises(BadSignature):
        MetaCloudWebhook().authenticate(tampered, None, SECRETS)


@pytest.mark.parametrize("header", ["abc123", "sha1=0123456789abcdef", "sha256=", "sha256=zz\u00e9"])
def test_a_malformed_signature_header_is_bad(header: str):
    with pytest.raises(BadSignature):
        MetaCloudWebhook().authenticate(request(fixture_bytes("meta_text"), {"x-hub-signature-256": header}),
                                        None, SECRETS)


@pytest.mark.parametrize("secret", [None, ""])
def test_without_a_configured_app_secret_nothing_is_accepted(secret: str | None):
    with pytest.raises(BadSignature, match="not configured"):
        MetaCloudWebhook().authenticate(signed(fixture_bytes("meta_text")), None,
                                        WebhookSecrets(meta_app_secret=secret))


def test_signature_errors_never_contain_the_app_secret():
    with pytest.raises(BadSignature) as caught:
        MetaCloudWebhook().authenticate(signed(b"{}", "wrong"), None, SECRETS)
    assert APP_SECRET not in str(caught.value)


# --- subscription handshake ------------------------------------------------------------------

def test_the_handshake_echoes_the_challenge_when_the_token_matches():
    query = {"hub.mode": "subscribe", "hub.verify_token": "piloto-verify-7f3a", "hub.challenge": "1158201444"}
    assert verify_subscription(query, "piloto-verify-7f3a") == "1158201444"


def test_the_handshake_refuses_a_wrong_token():
    query = {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1158201444"}
    with pytest.raises(BadSignature):
        verify_subscription(query, "piloto-verify-7f3a")


def test_the_handshake_refuses_everything_when_no_token_is_configured():
    query = {"hub.mode": "subscribe", "hub.verify_token": "anything", "hub.challenge": "1"}
    with pytest.raises(BadSignature):
        verify_subscription(query, None)


@pytest.mark.parametrize("query", [
    {},
    {"hub.mode": "subscribe", "hub.verify_token": "piloto-verify-7f3a"},
    {"hub.mode": "unsubscribe", "hub.verify_token": "piloto-verify-7f3a", "hub.challenge": "1"},
])
def test_the_handshake_without_the_documented_parameters_is_invalid(query: dict[str, str]):
    with pytest.raises(InvalidPayload):
        verify_subscription(query, "piloto-verify-7f3a")


# --- recorded payloads -----------------------------------------------------------------------

def test_a_text_message_is_normalized_with_the_contact_name():
    m = only_message("meta_text")
    assert m.provider is Provider.META
    assert m.channel_id == PNID
    assert m.provider_message_id == "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFDNBRjQ3QjE2QjVGRjk4MUNBQjRCAA=="
    assert m.contact_phone == "+5511987654321"
    assert m.contact_name == "Maria Souza"
    assert m.kind is MessageKind.TEXT
    assert m.text == "Oi! Quanto custa a instalação do painel solar?"
    assert m.media is None
    assert m.sent_at == datetime(2024, 11, 22, 12, 0, tzinfo=UTC)
    assert m.from_business is False and m.is_group is False
    assert m.raw_type == "text"


def test_an_image_keeps_its_media_id_hash_and_caption():
    m = only_message("meta_image")
    assert m.kind is MessageKind.IMAGE
    assert m.text == "Minha conta de luz"
    assert m.media is not None
    assert m.media.media_id == "1003383421387256"
    assert m.media.mime_type == "image/jpeg"
    assert m.media.sha256 == "k9DCbNaBqPmNShJ3ETn2E3qQ1H5uuEGzlmCvY0XbRyY="
    assert m.media.voice is False
    assert m.sent_at == at(1732276860)


def test_a_voice_note_is_audio_flagged_as_voice():
    m = only_message("meta_audio_voice")
    assert m.kind is MessageKind.AUDIO
    assert m.text is None
    assert m.media is not None
    assert (m.media.media_id, m.media.mime_type, m.media.voice) == ("1289764425531234", "audio/ogg; codecs=opus", True)


def test_a_document_keeps_its_filename_and_caption():
    m = only_message("meta_document")
    assert m.kind is MessageKind.DOCUMENT
    assert m.text == "Orçamento do concorrente"
    assert m.media is not None
    assert (m.media.media_id, m.media.filename, m.media.mime_type) == ("861947162456210", "orcamento.pdf",
                                                                        "application/pdf")


def test_a_sticker_and_a_video_are_media_kinds():
    sticker, video = only_message("meta_sticker"), only_message("meta_video")
    assert sticker.kind is MessageKind.STICKER and sticker.media and sticker.media.media_id == "2051134568649130"
    assert video.kind is MessageKind.VIDEO and video.text == "O telhado"
    assert video.media and video.media.mime_type == "video/mp4"


def test_a_location_reads_as_coordinates_and_name():
    m = only_message("meta_location")
    assert m.kind is MessageKind.LOCATION
    assert m.text == "-23.5613,-46.6565 Av. Paulista"


def test_shared_contacts_read_as_name_and_phone():
    m = only_message("meta_contacts")
    assert m.kind is MessageKind.CONTACTS
    assert m.text == "João Pereira: +55 11 91234-5678"


def test_interactive_replies_read_as_the_chosen_title():
    button, row = only_message("meta_interactive_button_reply"), only_message("meta_interactive_list_reply")
    assert button.kind is MessageKind.INTERACTIVE and button.text == "Agendar visita"
    assert row.kind is MessageKind.INTERACTIVE and row.text == "Kit 5 kWp"


def test_a_template_quick_reply_button_reads_as_its_text():
    m = only_message("meta_button")
    assert m.kind is MessageKind.BUTTON and m.text == "Quero um orçamento"


def test_a_reaction_reads_as_its_emoji():
    m = only_message("meta_reaction")
    assert m.kind is MessageKind.REACTION and m.text == "👍"


def test_an_unsupported_message_is_kept_with_its_raw_type():
    m = only_message("meta_unsupported")
    assert m.kind is MessageKind.UNSUPPORTED
    assert m.raw_type == "unsupported"
    assert m.text is None and m.media is None
    assert m.provider_message_id.startswith("wamid.")


def test_an_unknown_future_type_is_kept_as_unsupported():
    body = json.loads(fixture_bytes("meta_text"))
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    message["type"] = "hologram"
    message["hologram"] = {"id": "1"}
    batch = MetaCloudWebhook().parse(request(json.dumps(body).encode()))
    assert [(m.kind, m.raw_type) for m in batch.messages] == [(MessageKind.UNSUPPORTED, "hologram")]


def test_a_delivered_status_is_a_status_and_never_a_message():
    batch = parse("meta_status_delivered")
    assert batch.messages == []
    [status] = batch.statuses
    assert status.provider is Provider.META and status.channel_id == PNID
    assert status.provider_message_id == "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjQ0QjI5RkQ0RTQ2QkY2NEUzNAA="
    assert status.state is DeliveryState.DELIVERED
    assert status.recipient_phone == "+5511987654321"
    assert status.at == at(1732277600)
    assert status.error is None


def test_a_failed_status_carries_meta_s_error():
    [status] = parse("meta_status_failed").statuses
    assert status.state is DeliveryState.FAILED
    assert status.error is not None
    assert status.error.startswith("131047 Re-engagement message")
    assert "24 hours" in status.error


def test_a_non_messages_field_is_ignored_by_name():
    batch = parse("meta_account_update")
    assert batch.messages == [] and batch.statuses == []
    assert batch.ignored == ["account_update"]


def test_every_entry_and_change_of_a_batched_notification_is_read():
    first = json.loads(fixture_bytes("meta_text"))
    second = json.loads(fixture_bytes("meta_status_delivered"))
    third = json.loads(fixture_bytes("meta_image"))
    first["entry"][0]["changes"].append(second["entry"][0]["changes"][0])
    first["entry"].append(third["entry"][0])
    batch = MetaCloudWebhook().parse(request(json.dumps(first).encode()))
    assert [m.kind for m in batch.messages] == [MessageKind.TEXT, MessageKind.IMAGE]
    assert len(batch.statuses) == 1
    assert batch.channel_ids == {PNID}


def test_an_unknown_status_name_is_ignored_not_guessed():
    body = json.loads(fixture_bytes("meta_status_delivered"))
    body["entry"][0]["changes"][0]["value"]["statuses"][0]["status"] = "deleted"
    batch = MetaCloudWebhook().parse(request(json.dumps(body).encode()))
    assert batch.statuses == [] and batch.ignored == ["status:deleted"]


def test_odd_shapes_in_optional_fields_are_tolerated_not_crashed_on():
    body = json.loads(fixture_bytes("meta_text"))
    body["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"] = "Maria"
    [m] = MetaCloudWebhook().parse(request(json.dumps(body).encode())).messages
    assert m.contact_name is None and m.text == "Oi! Quanto custa a instalação do painel solar?"


# --- malformed bodies ------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "reason"), [
    (b"", "empty"),
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"object": "page", "entry": []}', "whatsapp_business_account"),
    (b'{"object": "whatsapp_business_account"}', "entry must be an array"),
    (b'{"object": "whatsapp_business_account", "entry": [{"changes": {}}]}', r"entry\[0\]\.changes must be an array"),
])
def test_malformed_bodies_are_invalid_with_a_reason(body: bytes, reason: str):
    with pytest.raises(InvalidPayload, match=reason):
        MetaCloudWebhook().parse(request(body))


def test_a_message_without_an_id_is_rejected_alone_and_names_the_field():
    body = json.loads(fixture_bytes("meta_text"))
    del body["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    batch = MetaCloudWebhook().parse(request(json.dumps(body).encode()))
    [part] = batch.rejected
    assert batch.messages == [] and part.channel_id == PNID and part.provider_message_id is None
    assert "messages[0].id must be a non-empty string (got missing)" in part.reason


def test_one_malformed_message_in_a_delivery_leaves_the_others_intact():
    body = json.loads(fixture_bytes("meta_text"))
    value = body["entry"][0]["changes"][0]["value"]
    good = value["messages"][0]
    bad = {**good, "id": "wamid.BAD", "timestamp": "yesterday"}
    value["messages"] = [good, bad, {**good, "id": "wamid.GOOD2"}]
    batch = MetaCloudWebhook().parse(request(json.dumps(body).encode()))
    assert [m.provider_message_id for m in batch.messages] == [good["id"], "wamid.GOOD2"]
    [part] = batch.rejected
    assert part.provider_message_id == "wamid.BAD" and "timestamp" in part.reason


def test_messages_without_a_phone_number_id_are_invalid():
    body = json.loads(fixture_bytes("meta_text"))
    del body["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"]
    with pytest.raises(InvalidPayload, match="phone_number_id"):
        MetaCloudWebhook().parse(request(json.dumps(body).encode()))


# --- sending ---------------------------------------------------------------------------------

CHANNEL = Channel(tenant_id="t1", provider=Provider.META, channel_id=PNID,
                  credentials=ChannelCredentials(access_token=TOKEN))


def sender(handler, **kwargs) -> MetaCloudProvider:
    return MetaCloudProvider(httpx.Client(transport=httpx.MockTransport(handler)), **kwargs)


def recording(calls: list[httpx.Request]):
    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(req)
        return httpx.Response(200)
    return handler


def answer(status: int, fixture: str | None = None, payload: object = None):
    def handler(req: httpx.Request) -> httpx.Response:
        if fixture:
            return httpx.Response(status, content=fixture_bytes(fixture), headers={"content-type": "application/json"})
        return httpx.Response(status, json=payload)
    return handler


def test_send_text_posts_the_documented_request_and_returns_the_wamid():
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(200, content=fixture_bytes("meta_send_response"))

    message_id = sender(handler).send_text(CHANNEL, "+55 11 98765-4321", "Olá, Maria!")
    assert message_id == "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjc3QjA5OEQ1MjU4NDI2MUE3RgA="
    [req] = seen
    assert req.method == "POST"
    assert str(req.url) == f"https://graph.facebook.com/v25.0/{PNID}/messages"
    assert req.headers["authorization"] == f"Bearer {TOKEN}"
    assert req.headers["content-type"] == "application/json"
    assert json.loads(req.content) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "5511987654321",
        "type": "text",
        "text": {"preview_url": False, "body": "Olá, Maria!"},
    }


def test_send_text_honours_the_configured_base_url_and_graph_version():
    seen: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(str(req.url))
        return httpx.Response(200, content=fixture_bytes("meta_send_response"))

    meta = sender(handler, base_url="http://127.0.0.1:9/meta/", graph_version="v23.0")
    meta.send_text(CHANNEL, "+5511987654321", "x")
    assert seen == [f"http://127.0.0.1:9/meta/v23.0/{PNID}/messages"]


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_rate_limits_and_server_errors_are_transient(status: int):
    with pytest.raises(ProviderSendError) as caught:
        sender(answer(status, payload={"error": {"message": "Service temporarily unavailable", "code": 2}})) \
            .send_text(CHANNEL, "+5511987654321", "x")
    assert caught.value.status == status


def test_a_pair_rate_limit_is_transient_even_with_http_400():
    with pytest.raises(ProviderSendError) as caught:
        sender(answer(400, "meta_error_131056")).send_text(CHANNEL, "+5511987654321", "x")
    assert caught.value.status == 400
    assert "131056" in str(caught.value)


@pytest.mark.parametrize("code", [130429, 131000, 131016])
def test_meta_throttling_and_outage_codes_are_transient(code: int):
    with pytest.raises(ProviderSendError):
        sender(answer(400, payload={"error": {"message": "x", "code": code}})).send_text(CHANNEL, "+5511987654321", "x")


def test_an_expired_token_is_rejected_for_good_without_echoing_the_token():
    with pytest.raises(ProviderRejected) as caught:
        sender(answer(401, "meta_error_401")).send_text(CHANNEL, "+5511987654321", "x")
    assert caught.value.status == 401
    assert "Session has expired" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_a_re_engagement_error_is_rejected_not_retried():
    payload = {"error": {"message": "(#131047) Re-engagement message", "code": 131047}}
    with pytest.raises(ProviderRejected, match="131047"):
        sender(answer(400, payload=payload)).send_text(CHANNEL, "+5511987654321", "x")


def test_a_provider_message_echoing_the_token_is_redacted():
    payload = {"error": {"message": f"Malformed access token {TOKEN}", "code": 190}}
    with pytest.raises(ProviderRejected) as caught:
        sender(answer(400, payload=payload)).send_text(CHANNEL, "+5511987654321", "x")
    assert TOKEN not in str(caught.value) and "***" in str(caught.value)


def test_a_success_without_a_message_id_is_transient():
    with pytest.raises(ProviderSendError, match=r"messages\[0\]\.id"):
        sender(answer(200, payload={"messaging_product": "whatsapp", "messages": []})) \
            .send_text(CHANNEL, "+5511987654321", "x")


def test_a_timeout_is_transient():
    def handler(req: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=req)

    with pytest.raises(ProviderSendError, match="timed out") as caught:
        sender(handler).send_text(CHANNEL, "+5511987654321", "x")
    assert caught.value.status == 0


def test_a_connection_failure_is_transient():
    def handler(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=req)

    with pytest.raises(ProviderSendError, match="connection failed"):
        sender(handler).send_text(CHANNEL, "+5511987654321", "x")


def test_a_channel_without_an_access_token_is_rejected_before_any_request():
    calls: list[httpx.Request] = []
    channel = CHANNEL.model_copy(update={"credentials": ChannelCredentials()})
    with pytest.raises(ProviderRejected, match="access_token"):
        sender(recording(calls)).send_text(channel, "+5511987654321", "x")
    assert calls == []


def test_send_template_posts_the_documented_template_request_and_returns_the_wamid():
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(200, content=fixture_bytes("meta_send_response"))

    message_id = sender(handler).send_template(CHANNEL, "+55 11 98765-4321", "retomar_conversa", "pt_BR",
                                               ["Maria", "Sol & Cia"])
    assert message_id == "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjc3QjA5OEQ1MjU4NDI2MUE3RgA="
    [req] = seen
    assert str(req.url) == f"https://graph.facebook.com/v25.0/{PNID}/messages"
    assert req.headers["authorization"] == f"Bearer {TOKEN}"
    assert json.loads(req.content) == json.loads(fixture_bytes("meta_send_template_request"))


def test_a_template_without_params_sends_no_components_and_an_error_answer_raises():
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(400, content=fixture_bytes("meta_error_131056"))

    with pytest.raises(ProviderSendError):
        sender(handler).send_template(CHANNEL, "+5511987654321", "ola", "pt_BR", [])
    assert "components" not in json.loads(seen[0].content)["template"]


def test_a_named_template_sends_each_value_with_its_parameter_name():
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(200, content=fixture_bytes("meta_send_response"))

    sender(handler).send_template(CHANNEL, "+5511987654321", "retomar_conversa_nomeado", "pt_BR",
                                  {"first_name": "Maria", "business": "Sol & Cia"})

    # Meta, "Template fundamentals": a template created with parameter_format NAMED takes
    # {"type": "text", "parameter_name": ..., "text": ...} for each of its {{names}}.
    [component] = json.loads(seen[0].content)["template"]["components"]
    assert component == {"type": "body", "parameters": [
        {"type": "text", "parameter_name": "first_name", "text": "Maria"},
        {"type": "text", "parameter_name": "business", "text": "Sol & Cia"}]}


@pytest.mark.parametrize(("version", "today", "warns"), [
    ("v25.0", "2026-11-29", None),
    ("v21.0", "2026-11-29", "expires on 2027-01-21 (53 days)"),
    ("v21.0", "2027-02-01", "expired on 2027-01-21"),
    ("v25.0", "2028-06-01", "expires on 2028-07-29 (58 days)"),
    ("v99.0", "2026-11-29", "no expiry date known"),
])
def test_the_graph_version_warns_within_sixty_days_of_its_expiry(version, today, warns):
    from datetime import date

    from shared.providers.meta_cloud import graph_version_warning

    warning = graph_version_warning(version, date.fromisoformat(today))
    assert (warning is None) if warns is None else (warns in (warning or ""))


def test_the_default_graph_version_is_the_one_with_the_longest_published_support():
    from shared.config import Settings
    from shared.providers.meta_cloud import GRAPH_API_VERSION, GRAPH_VERSION_EXPIRES

    assert GRAPH_API_VERSION == max(GRAPH_VERSION_EXPIRES, key=GRAPH_VERSION_EXPIRES.__getitem__)
    assert Settings.model_fields["meta_graph_version"].default == GRAPH_API_VERSION
