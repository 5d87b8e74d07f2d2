"""Twilio WhatsApp: X-Twilio-Signature, recorded webhook and status-callback parameters, and the Messages API through
the contract fake (dev/twilio_fake.py), which refuses what Twilio refuses."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

from dev.twilio_fake import FakeFile, TwilioFake
from shared.bootstrap import twilio_status_callback
from shared.domain.conversation import Role, StoredMessage
from shared.domain.errors import (
    BadSignature,
    InvalidPayload,
    MediaUnavailable,
    MissingSignature,
    ProviderRejected,
    ProviderSendError,
    UnknownTenant,
)
from shared.domain.inbound import DeliveryState, MediaRef, MessageKind, Provider
from shared.domain.tenancy import Channel, ChannelCredentials
from shared.domain.webhook_key import WebhookUrlKeys, check_url_key, keyed_webhook_url
from shared.ports import RawRequest, WebhookSecrets
from shared.providers.twilio import (
    TwilioMedia,
    TwilioProvider,
    TwilioWebhook,
    signed_url_candidates,
    split_body,
    twilio_signature,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "providers"
ACCOUNT = "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
TOKEN = "12345678901234567890123456789012"
SENDER = "+14155238886"
LEAD = "+5511987654321"
PUBLIC = "https://southamerica-east1-acme.cloudfunctions.net/whatsapp_webhook"
URL_KEY_SECRET = "unit-webhook-url-key"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
CHANNEL = Channel(tenant_id="t1", provider=Provider.TWILIO, channel_id=SENDER,
                  credentials=ChannelCredentials(account_sid=ACCOUNT, auth_token=TOKEN))
NO_SECRETS = WebhookSecrets()


def form(name: str) -> dict[str, str]:
    return json.loads((DATA / f"{name}.json").read_text())["form"]


def signed(params: dict[str, str], url: str = f"{PUBLIC}/twilio", token: str = TOKEN,
           headers: dict[str, str] | None = None, internal_url: str = "http://localhost:8080/twilio") -> RawRequest:
    """A request as Cloud Run hands it to the function: internal URL, the public one in the proxy headers."""
    fake = TwilioFake()
    fake.add_account(ACCOUNT, token, [SENDER])
    base = {"content-type": "application/x-www-form-urlencoded",
            "x-twilio-signature": fake.signature(ACCOUNT, url, params)}
    return RawRequest(method="POST", path="/twilio", headers={**base, **(headers or {})}, query={},
                      body=urlencode(params).encode(), url=internal_url)


def webhook(public_url: str | None = PUBLIC) -> TwilioWebhook:
    return TwilioWebhook(public_url=public_url, clock=lambda: NOW)


# --- signature ------------------------------------------------------------------------------------

def test_the_signature_matches_twilio_s_published_example():
    # The worked example of Twilio's webhook security page: this URL, these parameters, auth token 12345.
    params = [("CallSid", "CA1234567890ABCDE"), ("Caller", "+12349013030"), ("Digits", "1234"),
              ("From", "+12349013030"), ("To", "+18005551212")]
    assert twilio_signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", params) == \
        "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_a_request_signed_for_the_configured_public_url_is_accepted():
    webhook().authenticate(signed(form("twilio_text")), CHANNEL, NO_SECRETS)


def test_behind_cloud_run_the_public_url_is_rebuilt_from_the_forwarded_headers():
    public = "https://whatsapp-webhook-abc123-rj.a.run.app/twilio"
    raw = signed(form("twilio_text"), url=public,
                 headers={"x-forwarded-proto": "https", "host": "whatsapp-webhook-abc123-rj.a.run.app"})
    webhook(public_url=None).authenticate(raw, CHANNEL, NO_SECRETS)
    # Without the forwarded scheme the function sees http, which is not what Twilio signed.
    internal = signed(form("twilio_text"), url=public, headers={"host": "whatsapp-webhook-abc123-rj.a.run.app"})
    with pytest.raises(BadSignature):
        webhook(public_url=None).authenticate(internal, CHANNEL, NO_SECRETS)


def test_the_default_port_may_or_may_not_be_part_of_the_signed_url():
    raw = signed(form("twilio_text"), url=f"{PUBLIC.replace('.net/', '.net:443/')}/twilio")
    webhook().authenticate(raw, CHANNEL, NO_SECRETS)
    assert f"{PUBLIC}/twilio?x=1" in signed_url_candidates(
        RawRequest("POST", "/twilio", {}, {}, b"", url="http://10.0.0.1:8080/twilio?x=1"), PUBLIC)


def test_a_missing_signature_is_401_and_a_forged_one_403():
    raw = signed(form("twilio_text"))
    unsigned = RawRequest(raw.method, raw.path, {"content-type": raw.headers["content-type"]}, {}, raw.body, raw.url)
    with pytest.raises(MissingSignature):
        webhook().authenticate(unsigned, CHANNEL, NO_SECRETS)
    with pytest.raises(BadSignature):
        webhook().authenticate(signed(form("twilio_text"), token="another-accounts-token-0000000000"), CHANNEL,
                               NO_SECRETS)
    tampered = {**form("twilio_text"), "Body": "outro texto"}
    forged = RawRequest(raw.method, raw.path, raw.headers, {}, urlencode(tampered).encode(), raw.url)
    with pytest.raises(BadSignature):
        webhook().authenticate(forged, CHANNEL, NO_SECRETS)


def test_a_known_number_under_another_account_sid_is_no_tenant_of_ours():
    params = {**form("twilio_text"), "AccountSid": "AC" + "0" * 32}
    with pytest.raises(UnknownTenant):
        webhook().authenticate(signed(params), CHANNEL, NO_SECRETS)


def test_a_channel_without_twilio_credentials_accepts_nothing():
    bare = CHANNEL.model_copy(update={"credentials": ChannelCredentials()})
    with pytest.raises(BadSignature):
        webhook().authenticate(signed(form("twilio_text")), bare, NO_SECRETS)


# --- inbound parameters ---------------------------------------------------------------------------

def test_a_text_message_becomes_one_lead_message_on_the_sender_s_channel():
    batch = webhook().parse(signed(form("twilio_text")))
    [message] = batch.messages
    assert message.provider is Provider.TWILIO and message.channel_id == SENDER
    assert message.contact_phone == LEAD and message.contact_name == "Maria Souza"
    assert message.kind is MessageKind.TEXT and message.text == "Oi! Quanto custa o kit solar de 5 kWp?"
    assert message.provider_message_id == "SM11111111111111111111111111111111" and message.sent_at == NOW


def test_a_reply_keeps_the_sid_of_the_message_it_quotes():
    [message] = webhook().parse(signed(form("twilio_reply"))).messages
    assert message.reply_to == "SM99999999999999999999999999999999"


def test_media_keeps_its_url_and_type_and_the_caption():
    [message] = webhook().parse(signed(form("twilio_image"))).messages
    assert message.kind is MessageKind.IMAGE and message.text == "Minha conta de luz"
    assert message.media.mime_type == "image/jpeg" and message.media.url.endswith("/Media/ME33333333333333333333333333333333")


def test_several_media_items_are_each_kept_never_dropped():
    params = {**form("twilio_image"), "NumMedia": "2", "MediaContentType1": "application/pdf",
              "MediaUrl1": "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM3/Media/ME4"}
    first, second = webhook().parse(signed(params)).messages
    assert second.kind is MessageKind.DOCUMENT and second.media.url.endswith("/ME4")
    assert second.provider_message_id == f"{first.provider_message_id}#1" and second.text is None


def test_a_location_keeps_its_name_and_address():
    [message] = webhook().parse(signed(form("twilio_location"))).messages
    assert message.kind is MessageKind.LOCATION
    assert (message.location.latitude, message.location.longitude) == (-23.5613, -46.6565)
    assert message.location.name == "Av. Paulista" and message.location.address.startswith("Av. Paulista, 1578")


def test_a_button_tap_keeps_its_text_payload_and_the_template_it_answers():
    [message] = webhook().parse(signed(form("twilio_button"))).messages
    assert message.kind is MessageKind.BUTTON and message.text == "Parar"
    assert message.choice_id == "STOP_PROMOTIONS" and message.reply_to == "SM66666666666666666666666666666666"


def test_a_click_to_whatsapp_ad_is_kept_as_the_referral():
    [message] = webhook().parse(signed(form("twilio_referral"))).messages
    assert message.referral["headline"] == "Energia solar sem entrada"
    assert message.referral["source_url"] == "https://fb.me/3bO4aVZpZ" and message.referral["source_type"] == "ad"


def test_an_sms_to_the_same_number_is_ignored_not_answered():
    params = {**form("twilio_text"), "From": "+5511987654321", "To": SENDER}
    batch = webhook().parse(signed(params))
    assert batch.messages == [] and batch.ignored == ["not_whatsapp"]


@pytest.mark.parametrize(("change", "reason"), [
    ({"NumMedia": "x"}, "NumMedia"), ({"NumMedia": "1"}, "MediaUrl0"), ({"From": "whatsapp:abc"}, "From"),
    ({"AccountSid": ""}, "AccountSid"), ({"Latitude": "north", "Longitude": "1"}, "Latitude"),
])
def test_malformed_parameters_are_refused_with_the_reason(change: dict, reason: str):
    with pytest.raises(InvalidPayload, match=reason):
        webhook().parse(signed({**form("twilio_text"), **change}))


def test_a_json_body_is_not_a_twilio_messaging_webhook():
    raw = RawRequest("POST", "/twilio", {"content-type": "application/json"}, {}, b"{}", "")
    with pytest.raises(InvalidPayload, match="form"):
        webhook().parse(raw)


# --- status callbacks -----------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "state"), [("twilio_status_read", DeliveryState.READ),
                                             ("twilio_status_delivered", DeliveryState.DELIVERED)])
def test_status_callbacks_move_our_message_on_the_sender_s_channel(name: str, state: DeliveryState):
    [status] = webhook().parse(signed(form(name))).statuses
    assert status.state is state and status.channel_id == SENDER and status.recipient_phone == LEAD
    assert status.provider_message_id == "SM88888888888888888888888888888888"


def test_63016_outside_the_window_is_a_failure_that_says_why():
    [status] = webhook().parse(signed(form("twilio_status_failed_63016"))).statuses
    assert status.state is DeliveryState.FAILED and status.error.startswith("63016")
    assert "24-hour window" in status.error


def test_queued_and_sending_are_twilio_internal_steps_and_ignored():
    batch = webhook().parse(signed({**form("twilio_status_read"), "MessageStatus": "sending"}))
    assert batch.statuses == [] and batch.ignored == ["status:sending"]


# --- sending, against the contract fake ----------------------------------------------------------

def fake_and_sender(*, window: bool = True,
                    status_callback: Callable[[Channel], str | None] | None = None) -> tuple[TwilioFake, TwilioProvider]:
    fake = TwilioFake(clock=lambda: NOW, base_url="https://api.twilio.com")
    fake.add_account(ACCOUNT, TOKEN, [SENDER])
    if window:
        fake.lead_wrote(SENDER, LEAD, NOW - timedelta(hours=1))

    def handler(request: httpx.Request) -> httpx.Response:
        answer = fake.handle(request.method, request.url.path,
                             {k.lower(): v for k, v in request.headers.items()}, request.content)
        content = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
        return httpx.Response(answer.status, content=content, headers=answer.headers)

    client = httpx.Client(transport=httpx.MockTransport(handler), follow_redirects=True)
    return fake, TwilioProvider(client, base_url="https://api.twilio.com", status_callback=status_callback)


def test_a_reply_goes_to_the_messages_api_from_the_whatsapp_sender():
    fake, provider = fake_and_sender()
    sid = provider.send_text(CHANNEL, LEAD, "Olá! O kit de 5 kWp sai por R$ 18.900.")
    [sent] = fake.messages
    assert sid == sent["sid"] and sid.startswith("SM")
    assert sent["from"] == f"whatsapp:{SENDER}" and sent["to"] == f"whatsapp:{LEAD}"
    assert sent["body"] == "Olá! O kit de 5 kWp sai por R$ 18.900." and sent["final_status"] == "delivered"


def test_free_text_outside_the_24_hour_window_is_accepted_then_fails_with_63016():
    fake, provider = fake_and_sender(window=False, status_callback=twilio_status_callback(PUBLIC, URL_KEY_SECRET))
    provider.send_text(CHANNEL, LEAD, "Oi, tudo bem?")
    [(url, callback)] = fake.callbacks
    # Each send names its sender's keyed webhook URL, so the callback passes the key check like an inbound message.
    assert url == keyed_webhook_url(PUBLIC, "twilio", SENDER, URL_KEY_SECRET)
    assert callback["MessageStatus"] == "failed" and callback["ErrorCode"] == "63016"
    query = urlsplit(url).query
    assert check_url_key(Provider.TWILIO, dict(parse_qsl(query)), WebhookUrlKeys(current=URL_KEY_SECRET)) == SENDER
    # The callback, signed as Twilio signs it (the query included), reaches our parser as a failure with the reason.
    raw = RawRequest("POST", "/twilio", {"content-type": "application/x-www-form-urlencoded",
                                         "x-twilio-signature": fake.signature(ACCOUNT, url, callback)},
                     dict(parse_qsl(query)), urlencode(callback).encode(), f"http://localhost:8080/twilio?{query}")
    webhook().authenticate(raw, CHANNEL, NO_SECRETS)
    [status] = webhook().parse(raw).statuses
    assert status.state is DeliveryState.FAILED and "63016" in status.error


def test_a_template_goes_by_content_sid_with_numbered_variables():
    fake, provider = fake_and_sender(window=False)
    content_sid = "HX" + "a" * 32
    fake.approve_template(ACCOUNT, content_sid)
    provider.send_template(CHANNEL, LEAD, content_sid, "pt_BR", ["Maria", "Acme Solar"])
    [sent] = fake.messages
    assert sent["content_sid"] == content_sid and sent["final_status"] == "delivered"
    assert json.loads(sent["content_variables"]) == {"1": "Maria", "2": "Acme Solar"}


def test_a_template_named_like_a_meta_template_is_refused_before_calling_twilio():
    fake, provider = fake_and_sender(window=False)
    with pytest.raises(ProviderRejected, match="Content SID"):
        provider.send_template(CHANNEL, LEAD, "retomar_conversa", "pt_BR", [])
    assert fake.messages == []


def test_a_long_reply_is_split_under_twilio_s_1600_character_limit():
    fake, provider = fake_and_sender()
    text = ("Palavra " * 500).strip()
    provider.send_text(CHANNEL, LEAD, text)
    assert len(fake.messages) == 3 and all(len(m["body"]) <= 1600 for m in fake.messages)
    assert " ".join(m["body"] for m in fake.messages) == text
    assert split_body("curto") == ["curto"]


def test_wrong_credentials_are_a_permanent_refusal():
    _, provider = fake_and_sender()
    wrong = CHANNEL.model_copy(update={"credentials": ChannelCredentials(account_sid=ACCOUNT, auth_token="nope")})
    with pytest.raises(ProviderRejected, match="20003"):
        provider.send_text(wrong, LEAD, "x")


def test_a_sender_the_account_does_not_own_is_refused_with_63007():
    _, provider = fake_and_sender()
    other = CHANNEL.model_copy(update={"channel_id": "+14155550000"})
    with pytest.raises(ProviderRejected, match="63007"):
        provider.send_text(other, LEAD, "x")


def test_rate_limits_and_outages_are_retried():
    fake, provider = fake_and_sender()
    fake.fail_next(1)
    with pytest.raises(ProviderSendError, match="20429"):
        provider.send_text(CHANNEL, LEAD, "x")
    fake.fail_next(1, status=503, code=20500, message="Internal Server Error")
    with pytest.raises(ProviderSendError):
        provider.send_text(CHANNEL, LEAD, "x")


def test_the_recorded_error_body_is_read_as_a_refusal():
    body = json.loads((DATA / "twilio_error_21211.json").read_text())
    client = httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(400, json=body)))
    with pytest.raises(ProviderRejected, match="21211"):
        TwilioProvider(client).send_text(CHANNEL, LEAD, "x")


# --- media ----------------------------------------------------------------------------------------

def lead_file(url: str) -> StoredMessage:
    return StoredMessage(message_id="m1", role=Role.LEAD, kind=MessageKind.IMAGE, provider=Provider.TWILIO,
                         media=MediaRef(url=url, mime_type="image/jpeg"), sent_at=NOW)


def test_a_media_url_is_fetched_with_the_account_s_credentials_through_the_redirect():
    fake, provider = fake_and_sender()
    url = fake.host_file(ACCOUNT, "MM3", "ME3", FakeFile(b"\xff\xd8jpeg", "image/jpeg"))
    downloaded = TwilioMedia(provider._http).download(CHANNEL, lead_file(url), 1_000_000)
    assert downloaded.content == b"\xff\xd8jpeg" and fake.media_requests == ["media:ME3", "cdn:ME3"]


def test_credentials_never_go_to_a_host_other_than_twilio_s():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"x")

    TwilioMedia(httpx.Client(transport=httpx.MockTransport(handler))).download(
        CHANNEL, lead_file("https://files.example.com/a.jpg"), 100)
    assert "authorization" not in seen[0].headers


@pytest.mark.parametrize("status", [401, 404])
def test_a_refused_or_missing_file_is_permanent(status: int):
    fake, provider = fake_and_sender()
    url = fake.host_file(ACCOUNT, "MM3", "ME3", FakeFile(b"x", "image/jpeg"))
    if status == 404:
        url = url.replace("ME3", "ME404")
        creds = CHANNEL
    else:
        creds = CHANNEL.model_copy(update={"credentials": ChannelCredentials(account_sid=ACCOUNT, auth_token="bad")})
    with pytest.raises(MediaUnavailable, match=str(status)):
        TwilioMedia(provider._http).download(creds, lead_file(url), 100)
