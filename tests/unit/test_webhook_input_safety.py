"""Bad input never escapes as an unexpected exception: every provider parser (and the token checks) answers
hostile bodies with Piloto's own errors, naming the field, and whatever a parser accepts can be stored.

Property-based (hypothesis): recorded provider payloads (tests/data/providers, sources in their `_source`
keys) are mutated — a value replaced by huge or non-finite numbers, lone surrogates, deep nesting, over-long
ids — and raw bytes are thrown at the parsers. The example count is bounded (HYPOTHESIS_EXAMPLES, default 100
per property) so CI stays fast; the deterministic tests below pin each failure the probes found.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dev.fuzz import HOSTILE, MAX_DEPTH_PROBE, deep_bytes, encode, leaf_paths, nested, paths, replaced
from shared.domain.errors import InvalidPayload, MissingSignature, PilotoError
from shared.domain.inbound import MAX_ID_CHARS, WebhookBatch
from shared.domain.tenancy import Channel, ChannelCredentials
from shared.ports import RawRequest, WebhookSecrets
from shared.providers.evolution import EvolutionWebhook
from shared.providers.meta_cloud import MetaCloudWebhook
from shared.providers.payload import (
    MAX_JSON_DEPTH,
    bounded_count,
    check_channel_token,
    constant_time_equals,
    epoch_to_utc,
    json_object,
)
from shared.providers.twilio import TwilioWebhook
from shared.providers.zapi import ZApiWebhook

DATA = Path(__file__).resolve().parents[1] / "data" / "providers"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "100"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

PARSERS = {
    "meta": MetaCloudWebhook(),
    "evolution": EvolutionWebhook(clock=lambda: NOW),
    "zapi": ZApiWebhook(clock=lambda: NOW),
}
# Inbound payloads only (webhook bodies), not send responses or error bodies.
FIXTURES = {
    provider: [json.loads(path.read_text()) for path in sorted(DATA.glob(f"{provider}_*.json"))
               if not any(word in path.name for word in ("error", "response", "request", "media_url"))]
    for provider in PARSERS
}


def raw(body: bytes, headers: dict[str, str] | None = None, query: dict[str, str] | None = None) -> RawRequest:
    return RawRequest(method="POST", path="/x", headers=headers or {}, query=query or {}, body=body)


def storable(batch: WebhookBatch) -> None:
    """What Firestore (and its protobuf encoding) would refuse: strings that are not UTF-8, ints over 64 bits."""
    stack: list[Any] = [batch.model_dump(mode="python")]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            value.encode("utf-8")
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            assert -(2**63) <= value < 2**63
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    for part in [*batch.messages, *batch.statuses]:
        assert len(part.provider_message_id) <= MAX_ID_CHARS and len(part.channel_id) <= MAX_ID_CHARS


# -- generated values -----------------------------------------------------------------------------------------

hostile_scalars = st.one_of(
    st.sampled_from(HOSTILE), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30), st.booleans(), st.none(),
)
json_values = st.recursive(hostile_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=12)


@st.composite
def mutated_payloads(draw: st.DrawFn, provider: str) -> bytes:
    """A recorded payload with one value (anywhere, the root included) replaced by a hostile one."""
    document = draw(st.sampled_from(FIXTURES[provider]))
    path = draw(st.sampled_from(leaf_paths(document)) | st.sampled_from(paths(document)))  # leaves: parsers read them
    return encode(replaced(document, path, draw(hostile_values)))


hostile_values = st.one_of(st.sampled_from(HOSTILE), json_values,
                           st.builds(nested, st.integers(min_value=MAX_JSON_DEPTH - 2, max_value=MAX_DEPTH_PROBE)))


def check(provider: str, body: bytes) -> None:
    """Parse and authenticate: only PilotoError may come out; an accepted batch must be storable."""
    parser = PARSERS[provider]
    request = raw(body, headers={"apikey": "k", "client-token": "t", "x-hub-signature-256": "sha256=00"})
    try:
        batch = parser.parse(request)
    except PilotoError:
        return
    storable(batch)
    channel = Channel(tenant_id="t1", provider=provider, channel_id="c1",
                      credentials=ChannelCredentials(api_key="k", webhook_token="t"))
    try:
        parser.authenticate(request, channel, WebhookSecrets(meta_app_secret="s"))
    except PilotoError:
        pass


@pytest.mark.parametrize("provider", sorted(PARSERS))
def test_mutated_provider_payloads_raise_only_pilotos_errors(provider):
    @FUZZ
    @given(body=mutated_payloads(provider))
    def run(body: bytes) -> None:
        check(provider, body)

    run()


@pytest.mark.parametrize("provider", sorted(PARSERS))
def test_arbitrary_bytes_raise_only_pilotos_errors(provider):
    @FUZZ
    @given(body=st.one_of(st.binary(max_size=300), st.builds(lambda v: json.dumps(v).encode(), json_values),
                          st.builds(deep_bytes, st.integers(min_value=MAX_JSON_DEPTH, max_value=200_000))))
    def run(body: bytes) -> None:
        check(provider, body)

    run()


# -- the failures the probes found, one by one -------------------------------------------------------------------


def test_deeply_nested_json_is_a_400_naming_the_depth():
    body = deep_bytes(100_000)  # json.loads alone raises RecursionError on this
    with pytest.raises(InvalidPayload, match="nests deeper than"):
        json_object(body)
    with pytest.raises(InvalidPayload, match=r"body\.a\[0\]\.a\[0\].*nests deeper than 32"):
        json_object(json.dumps(nested(40)).encode())


def test_a_genuine_payload_nesting_is_well_inside_the_limit():
    for provider, documents in FIXTURES.items():
        for document in documents:
            json_object(json.dumps(document).encode())  # no error


def test_a_lone_surrogate_anywhere_is_a_400_naming_the_field():
    body = json.dumps({"type": "ReceivedCallback", "text": {"message": "oi \ud800"}}).encode()
    with pytest.raises(InvalidPayload, match=r"body\.text\.message is not valid Unicode"):
        json_object(body)
    with pytest.raises(InvalidPayload, match="a key of body is not valid Unicode"):
        json_object(b'{"\\udc00": 1}')


def test_integers_outside_64_bits_and_non_json_numbers_are_400s():
    with pytest.raises(InvalidPayload, match=r"body\.data\.fileLength is out of range"):
        json_object(b'{"data": {"fileLength": 99999999999999999999}}')
    with pytest.raises(InvalidPayload, match="NaN"):
        json_object(b'{"momment": NaN}')
    with pytest.raises(InvalidPayload, match="out of range"):
        json_object(b'{"x": 1e999}')


@pytest.mark.parametrize("value", [10**400, "9" * 30, 1e300, float("inf"), 0, -5, "²", "1" * 5000, 1.0e20])
def test_out_of_range_timestamps_are_400s_not_overflows(value):
    with pytest.raises(InvalidPayload, match="entry.timestamp"):
        epoch_to_utc(value, "entry.timestamp")


def test_timestamps_in_seconds_and_milliseconds_still_parse():
    assert epoch_to_utc("1732276800", "t") == datetime(2024, 11, 22, 12, 0, tzinfo=UTC)
    assert epoch_to_utc(1732276800000, "t", millis=True) == datetime(2024, 11, 22, 12, 0, tzinfo=UTC)


def test_declared_sizes_are_bounded_counts():
    assert bounded_count("2048") == 2048 and bounded_count(2048) == 2048
    assert [bounded_count(v) for v in ("²", "9" * 5000, -1, 2**64, 1.5, True, None, "")] == [None] * 8


def test_a_token_with_a_lone_surrogate_compares_unequal_instead_of_raising():
    assert constant_time_equals("\ud800abc", "abc") is False
    with pytest.raises(PilotoError):
        check_channel_token(["\udfff"], "secret", missing="m", unconfigured="u", mismatch="x")


def test_an_over_long_message_id_is_a_400_naming_the_field():
    document = json.loads((DATA / "zapi_text.json").read_text())
    document["messageId"] = "A" * 5000
    with pytest.raises(InvalidPayload, match=r"body\.messageId is too long \(5000 characters; at most 256\)"):
        PARSERS["zapi"].parse(raw(json.dumps(document).encode()))


def test_over_long_ids_that_reach_the_batch_another_way_are_refused_there():
    document = json.loads((DATA / "zapi_status_read.json").read_text())
    document["ids"] = ["B" * 3000]
    batch = PARSERS["zapi"].parse(raw(json.dumps(document).encode()))
    with pytest.raises(InvalidPayload, match=r"statuses\[0\]\.provider_message_id is too long"):
        batch.check_ids(MAX_ID_CHARS)


def test_zapi_without_any_token_is_refused_before_the_body_is_read():
    with pytest.raises(MissingSignature):
        PARSERS["zapi"].require_credential(raw(b"not json at all"))
    PARSERS["zapi"].require_credential(raw(b"", query={"token": "t"}))  # present: the check comes later


TWILIO_FORMS = [json.loads(path.read_text())["form"] for path in sorted(DATA.glob("twilio_*.json"))
                if "form" in json.loads(path.read_text())]


@FUZZ
@given(data=st.data())
def test_twilio_forms_with_hostile_values_raise_only_pilotos_errors(data):
    """Twilio posts a form, not JSON: one parameter replaced by a hostile string, or the body by raw bytes."""
    from urllib.parse import urlencode

    form = dict(data.draw(st.sampled_from(TWILIO_FORMS)))
    form[data.draw(st.sampled_from(sorted(form)))] = data.draw(
        st.sampled_from([v for v in HOSTILE if isinstance(v, str)]) | st.text(max_size=40))
    body = data.draw(st.just(urlencode(form, encoding="utf-8", errors="surrogatepass").encode("utf-8", "surrogatepass"))
                     | st.binary(max_size=200))
    request = RawRequest(method="POST", path="/twilio", query={}, body=body,
                         headers={"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": "x"})
    try:
        batch = TwilioWebhook(clock=lambda: NOW).parse(request)
        batch.check_ids(MAX_ID_CHARS)  # as receive_webhook does for every provider
    except PilotoError:
        return
    storable(batch)


def test_twilio_without_a_signature_is_refused_before_the_form_is_read():
    with pytest.raises(MissingSignature):
        TwilioWebhook().require_credential(raw(b"\xff not a form"))
