"""Gateway webhook URL keys (shared/domain/webhook_key.py): a missing or wrong key is refused from the URL alone —
no parsing, no channel read —, a key for one channel never carries another channel's messages, rotation keeps the
previous secret's keys working, and the gateways' own credentials are still checked where they add proof.

Bodies are the recorded provider payloads in tests/data/providers (sources in their `_source` keys)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dev.twilio_fake import sign
from functions.http_errors import status_for
from shared.domain.errors import (
    BadSignature,
    InvalidConfiguration,
    MissingSignature,
    MissingWebhookKey,
    WrongWebhookKey,
)
from shared.domain.inbound import Provider
from shared.domain.tenancy import AgentConfig, Channel, ChannelCredentials
from shared.domain.webhook_key import (
    WebhookUrlKeys,
    check_url_key,
    keyed_webhook_url,
    url_key_query,
    webhook_url_key,
)
from shared.ports import RawRequest, TurnRequest, WebhookSecrets
from shared.providers.evolution import EvolutionWebhook
from shared.providers.twilio import TwilioWebhook
from shared.providers.zapi import ZApiWebhook
from shared.services.inbound import InboundDeps, receive_webhook

DATA = Path(__file__).resolve().parents[1] / "data" / "providers"
SECRET = "unit-webhook-url-key-current"
OLD_SECRET = "unit-webhook-url-key-previous"
PUBLIC = "https://webhook.example.com/whatsapp_webhook"
EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "100"))

EVOLUTION_BODY = json.loads((DATA / "evolution_text_conversation.json").read_text())
ZAPI_BODY = json.loads((DATA / "zapi_text.json").read_text())
TWILIO_FORM = json.loads((DATA / "twilio_text.json").read_text())["form"]
APIKEY = EVOLUTION_BODY["apikey"]
TWILIO_TOKEN = "unit-twilio-auth-token"
CHANNELS = {
    Provider.EVOLUTION: Channel(tenant_id="t1", provider=Provider.EVOLUTION, channel_id=EVOLUTION_BODY["instance"],
                                credentials=ChannelCredentials(api_key=APIKEY)),
    # No webhook_token: with a keyed URL, Z-API needs none.
    Provider.ZAPI: Channel(tenant_id="t1", provider=Provider.ZAPI, channel_id=ZAPI_BODY["instanceId"]),
    Provider.TWILIO: Channel(tenant_id="t1", provider=Provider.TWILIO, channel_id="+14155238886",
                             credentials=ChannelCredentials(account_sid=TWILIO_FORM["AccountSid"],
                                                            auth_token=TWILIO_TOKEN)),
}
GATEWAYS = sorted(CHANNELS, key=str)


class CountingDirectory:
    """The channel directory, counting reads: a refused request must not have caused one."""

    def __init__(self) -> None:
        self.reads = 0

    def find_channel(self, provider: Provider, channel_id: str) -> Channel | None:
        self.reads += 1
        channel = CHANNELS.get(provider)
        return channel if channel is not None and channel.channel_id == channel_id else None

    def get_agent(self, tenant_id: str, agent_id: str) -> AgentConfig:
        return AgentConfig(agent_id=agent_id)


class RecordingStore:
    def __init__(self) -> None:
        self.stored: list[str] = []

    def record_inbound(self, tenant_id: str, conv_id: str, message) -> bool:  # noqa: ANN001
        self.stored.append(message.message_id)
        return True


class RecordingTurns:
    def __init__(self) -> None:
        self.turns: list[TurnRequest] = []

    def enqueue_turn(self, turn: TurnRequest, delay_seconds: float) -> None:
        self.turns.append(turn)


class ParseForbidden:
    """A provider webhook whose parser must not run (it fails the test if it does)."""

    def __init__(self, inner) -> None:  # noqa: ANN001
        self.inner = inner
        self.authenticates_before_parse = inner.authenticates_before_parse
        self.url_key_suffices = inner.url_key_suffices
        self.parsed = 0

    def require_credential(self, raw: RawRequest) -> None:
        self.inner.require_credential(raw)

    def authenticate(self, raw: RawRequest, channel, secrets) -> None:  # noqa: ANN001
        self.inner.authenticate(raw, channel, secrets)

    def parse(self, raw: RawRequest):  # noqa: ANN201
        self.parsed += 1
        return self.inner.parse(raw)


def webhook_of(provider: Provider):  # noqa: ANN201
    return {Provider.EVOLUTION: EvolutionWebhook(), Provider.ZAPI: ZApiWebhook(),
            Provider.TWILIO: TwilioWebhook(public_url=PUBLIC)}[provider]


def world(provider: Provider, keys: WebhookUrlKeys = WebhookUrlKeys(current=SECRET)):  # noqa: ANN201
    directory, store, turns = CountingDirectory(), RecordingStore(), RecordingTurns()
    webhook = ParseForbidden(webhook_of(provider))
    deps = InboundDeps(directory=directory, store=store, turns=turns, webhook_for=lambda p: webhook,
                       secrets=WebhookSecrets(), url_keys=keys)
    return deps, directory, store, webhook


def request(provider: Provider, query: dict[str, str], *, body_channel: str | None = None, apikey: str = APIKEY,
            twilio_token: str = TWILIO_TOKEN) -> RawRequest:
    """The recorded payload as the gateway would POST it to a URL with `query`, for `body_channel`."""
    query_string = urlencode(query)
    if provider is Provider.TWILIO:
        form = {**TWILIO_FORM, "To": f"whatsapp:{body_channel or CHANNELS[provider].channel_id}"}
        url = f"{PUBLIC}/twilio" + (f"?{query_string}" if query_string else "")
        headers = {"content-type": "application/x-www-form-urlencoded",
                   "x-twilio-signature": sign(twilio_token, url, form)}
        return RawRequest("POST", "/twilio", headers, query, urlencode(form).encode(), url)
    if provider is Provider.EVOLUTION:
        body = {**EVOLUTION_BODY, "instance": body_channel or EVOLUTION_BODY["instance"], "apikey": apikey}
    else:
        body = {**ZAPI_BODY, "instanceId": body_channel or ZAPI_BODY["instanceId"]}
    return RawRequest("POST", f"/{provider.value}", {"content-type": "application/json"}, query,
                      json.dumps(body).encode(), f"{PUBLIC}/{provider.value}?{query_string}")


def keyed(provider: Provider, secret: str = SECRET, channel_id: str | None = None) -> dict[str, str]:
    return url_key_query(secret, provider.value, channel_id or CHANNELS[provider].channel_id)


# --- the key itself ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("provider", GATEWAYS)
def test_the_url_printed_for_a_channel_carries_the_key_the_webhook_accepts(provider):
    channel_id = CHANNELS[provider].channel_id
    url = keyed_webhook_url(PUBLIC, provider.value, channel_id, SECRET)

    parts = urlsplit(url)
    assert parts.path.endswith(f"/whatsapp_webhook/{provider.value}")
    assert check_url_key(provider, dict(parse_qsl(parts.query)), WebhookUrlKeys(current=SECRET)) == channel_id


def test_keys_differ_per_channel_provider_and_secret_and_are_url_safe():
    keys = {webhook_url_key(secret, provider, channel)
            for secret in (SECRET, OLD_SECRET) for provider in ("zapi", "evolution")
            for channel in ("A", "B", "+14155238886")}
    assert len(keys) == 12
    assert all(len(key) == 43 and set(key) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
               for key in keys)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True)
@given(channel=st.text(max_size=300), given_key=st.text(max_size=80))
def test_any_query_is_either_its_channel_s_key_or_a_401_403_never_another_error(channel, given_key):
    query = {"channel": channel, "key": given_key}
    keys = WebhookUrlKeys(current=SECRET, previous=OLD_SECRET)
    try:
        accepted = check_url_key(Provider.ZAPI, query, keys)
    except (MissingWebhookKey, WrongWebhookKey) as refused:
        assert status_for(refused) in (401, 403)
        assert len(given_key) < 12 or given_key not in str(refused), "the reason never echoes the key"
        return
    assert accepted == channel
    assert given_key in (webhook_url_key(SECRET, "zapi", channel), webhook_url_key(OLD_SECRET, "zapi", channel))


@pytest.mark.parametrize("query", [{}, {"channel": "A"}, {"key": "x" * 43}, {"channel": "", "key": ""},
                                   {"token": "the-old-zapi-token"}])
def test_a_url_without_its_channel_or_key_is_a_401(query):
    with pytest.raises(MissingWebhookKey) as refused:
        check_url_key(Provider.ZAPI, query, WebhookUrlKeys(current=SECRET))
    assert status_for(refused.value) == 401 and "tenancy_admin.py webhook-url" in str(refused.value)


def test_a_key_of_another_channel_or_provider_or_secret_is_a_403():
    for query in (keyed(Provider.ZAPI, channel_id="another-instance") | {"channel": CHANNELS[Provider.ZAPI].channel_id},
                  url_key_query(SECRET, "evolution", CHANNELS[Provider.ZAPI].channel_id),
                  keyed(Provider.ZAPI, secret="a-secret-never-issued")):
        with pytest.raises(WrongWebhookKey) as refused:
            check_url_key(Provider.ZAPI, query, WebhookUrlKeys(current=SECRET))
        assert status_for(refused.value) == 403


def test_rotation_accepts_the_previous_secret_s_keys_until_it_is_dropped():
    old_url_query = keyed(Provider.ZAPI, secret=OLD_SECRET)
    new_url_query = keyed(Provider.ZAPI, secret=SECRET)
    during = WebhookUrlKeys(current=SECRET, previous=OLD_SECRET)
    after = WebhookUrlKeys(current=SECRET)

    assert check_url_key(Provider.ZAPI, old_url_query, during) == CHANNELS[Provider.ZAPI].channel_id
    assert check_url_key(Provider.ZAPI, new_url_query, during) == CHANNELS[Provider.ZAPI].channel_id
    assert check_url_key(Provider.ZAPI, new_url_query, after) == CHANNELS[Provider.ZAPI].channel_id
    with pytest.raises(WrongWebhookKey):
        check_url_key(Provider.ZAPI, old_url_query, after)


def test_without_the_secret_a_gateway_webhook_answers_503_so_the_provider_retries():
    with pytest.raises(InvalidConfiguration) as refused:
        check_url_key(Provider.ZAPI, keyed(Provider.ZAPI), WebhookUrlKeys(current=None))
    assert status_for(refused.value) == 503 and "WEBHOOK_URL_KEY" in str(refused.value)


def test_optional_mode_lets_only_an_unkeyed_request_fall_back_never_a_wrong_key():
    optional = WebhookUrlKeys(current=SECRET, required=False)
    assert check_url_key(Provider.ZAPI, {"token": "t"}, optional) is None
    with pytest.raises(WrongWebhookKey):
        check_url_key(Provider.ZAPI, keyed(Provider.ZAPI, secret="wrong"), optional)
    with pytest.raises(MissingWebhookKey):
        check_url_key(Provider.ZAPI, {"channel": "A"}, optional)


# --- receive_webhook: the order of the checks ----------------------------------------------------------------------

@pytest.mark.parametrize("provider", GATEWAYS)
@pytest.mark.parametrize(("case", "refusal"), [("missing", MissingWebhookKey), ("wrong", WrongWebhookKey),
                                               ("old token only", MissingWebhookKey)])
def test_a_missing_or_wrong_key_is_refused_with_no_parse_and_no_channel_read(provider, case, refusal):
    deps, directory, store, webhook = world(provider)
    query = {"missing": {}, "wrong": keyed(provider, secret="not-the-platform-secret"),
             "old token only": {"token": "local-zapi-webhook-token"}}[case]
    # A body no parser could read: had it been parsed, the answer would be a 400, not the key's refusal.
    raw = RawRequest("POST", f"/{provider.value}", {"content-type": "application/json", "apikey": APIKEY,
                                                     "x-twilio-signature": "x"}, query, b'{"instance": ["not json')

    with pytest.raises(refusal):
        receive_webhook(provider, raw, deps)

    assert (webhook.parsed, directory.reads, store.stored) == (0, 0, [])


@pytest.mark.parametrize("provider", GATEWAYS)
def test_a_key_for_one_channel_with_a_body_for_another_is_refused_before_any_channel_read(provider):
    deps, directory, store, webhook = world(provider)
    other = "+5511955550000" if provider is Provider.TWILIO else "ANOTHER-INSTANCE"

    with pytest.raises(WrongWebhookKey, match="other than"):
        receive_webhook(provider, request(provider, keyed(provider), body_channel=other), deps)

    assert (directory.reads, store.stored) == (0, [])


@pytest.mark.parametrize("provider", GATEWAYS)
def test_the_right_key_and_a_genuine_request_store_the_message_after_one_channel_read(provider):
    deps, directory, store, webhook = world(provider)

    outcome = receive_webhook(provider, request(provider, keyed(provider)), deps)

    assert outcome.queued == 1 and len(store.stored) == 1 and directory.reads == 1


def test_a_key_from_the_previous_secret_still_delivers_during_a_rotation():
    deps, _, store, _ = world(Provider.ZAPI, WebhookUrlKeys(current=SECRET, previous=OLD_SECRET))

    assert receive_webhook(Provider.ZAPI, request(Provider.ZAPI, keyed(Provider.ZAPI, OLD_SECRET)), deps).queued == 1


def test_behind_the_right_key_evolution_s_apikey_and_twilio_s_signature_are_still_checked():
    deps, _, store, _ = world(Provider.EVOLUTION)
    with pytest.raises(BadSignature, match="apikey"):
        receive_webhook(Provider.EVOLUTION, request(Provider.EVOLUTION, keyed(Provider.EVOLUTION),
                                                    apikey="not-the-instance-apikey"), deps)
    deps, _, twilio_store, _ = world(Provider.TWILIO)
    with pytest.raises(BadSignature):
        receive_webhook(Provider.TWILIO, request(Provider.TWILIO, keyed(Provider.TWILIO),
                                                 twilio_token="another-accounts-token"), deps)
    assert store.stored == twilio_store.stored == []


def test_in_optional_mode_an_unkeyed_zapi_request_falls_back_to_the_channel_token_with_a_warning(caplog):
    token_channel = CHANNELS[Provider.ZAPI].model_copy(
        update={"credentials": ChannelCredentials(webhook_token="the-channel-token")})
    deps, _, store, _ = world(Provider.ZAPI, WebhookUrlKeys(current=SECRET, required=False))
    deps.directory.find_channel = lambda provider, channel_id: token_channel

    with caplog.at_level(logging.WARNING):
        assert receive_webhook(Provider.ZAPI, request(Provider.ZAPI, {"token": "the-channel-token"}), deps).queued == 1
    assert "WEBHOOK_URL_KEY_MODE=optional" in caplog.text
    with pytest.raises(BadSignature):
        receive_webhook(Provider.ZAPI, request(Provider.ZAPI, {"token": "a-guess"}), deps)
    with pytest.raises(MissingSignature):
        receive_webhook(Provider.ZAPI, request(Provider.ZAPI, {}), deps)
    assert len(store.stored) == 1


def test_meta_is_not_keyed_its_signature_over_the_raw_body_comes_first():
    from dev.payloads import signed_meta

    directory = CountingDirectory()
    deps = InboundDeps(directory=directory, store=RecordingStore(), turns=RecordingTurns(),
                       webhook_for=__import__("shared.bootstrap", fromlist=["webhook_for"]).webhook_for,
                       secrets=WebhookSecrets(meta_app_secret="app-secret"), url_keys=WebhookUrlKeys())
    body, headers = signed_meta({"object": "whatsapp_business_account", "entry": []}, "another-secret")
    raw = RawRequest("POST", "/meta", {k.lower(): v for k, v in headers.items()}, {}, body)

    with pytest.raises(BadSignature):
        receive_webhook(Provider.META, raw, deps)
    assert directory.reads == 0
