"""Hostile webhook bodies for the property-based tests and bench/webhook_fuzz.py: provider payloads with one
value replaced by what broke earlier parsers (overflowing numbers, lone surrogates, Unicode digits, over-long
ids, deep nesting), and the headers and keyed URL each provider authenticates with.

Pure data and the standard library only (no hypothesis here: the tests draw with hypothesis, the benchmark with
`random`)."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from dev import payloads
from dev.seed import DemoTenant
from dev.twilio_fake import inbound_form, sign

# The values the probes of issue 13 found reaching a 500, plus empty and wrong-shaped ones.
HOSTILE: list[Any] = [10**400, -(10**400), 2**63, 1e308, -1, 0, "\ud800", "a\udfffb", "²³", "9" * 5000, "x" * 5000,
                      "", [], {}, None, True]
MAX_DEPTH_PROBE = 400  # json.dumps itself gives up not far above ~990 levels


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"a": [value]}
    return value


def deep_bytes(depth: int) -> bytes:
    """Nesting too deep for json.dumps to write (and for a recursive parser to read)."""
    return b'{"a":' * depth + b"1" + b"}" * depth


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every position in a JSON document (the root is ())."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += paths(item, (*prefix, i))
    return found


def leaf_paths(value: Any) -> list[tuple]:
    every = paths(value)
    return [path for path in every if not any(len(other) > len(path) and other[:len(path)] == path for other in every)]


def replaced(document: Any, path: tuple, new: Any) -> Any:
    """A copy of document with the value at path replaced."""
    if not path:
        return new
    copy = json.loads(json.dumps(document))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return copy


def encode(document: Any) -> bytes:
    """JSON with \\uXXXX escapes: the only way a lone surrogate travels in a body."""
    return json.dumps(document, ensure_ascii=True).encode()


def encode_for(provider: str, document: Any) -> bytes:
    """The body as the provider sends it: JSON, or for Twilio a UTF-8 form whose values are strings (a hostile
    number or structure travels as its text; a lone surrogate as the bytes no UTF-8 decoder accepts)."""
    if provider != "twilio":
        return encode(document)
    if not isinstance(document, dict):
        return str(document).encode("utf-8", "surrogatepass")
    return urlencode({name: _form_value(value) for name, value in document.items()},
                     errors="surrogatepass").encode("ascii")


def _form_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return value if isinstance(value, str) else str(value)


def valid_payloads(tenant: DemoTenant, phone: str, n: int) -> dict[str, dict]:
    """Payloads the seeded tenant's channels accept as they are (so mutations reach storage), by provider."""
    return {
        "meta": payloads.meta_text(tenant.meta_phone_number_id, phone, "Fuzz", f"wamid.FUZZ.{n}", "oi"),
        "evolution": payloads.evolution_text(tenant.evolution_instance, tenant.evolution_apikey, phone, "Fuzz",
                                             f"EVOFUZZ{n}", "oi"),
        "zapi": payloads.zapi_text(tenant.zapi_instance, phone, "Fuzz", f"ZAPIFUZZ{n}", "oi"),
        "twilio": inbound_form(tenant.twilio_account_sid, tenant.twilio_sender, f"+{phone}",
                               f"SM{hashlib.md5(f'fuzz{n}'.encode()).hexdigest()}", "Fuzz", Body="oi",
                               MessageType="text"),
    }


def authenticated(provider: str, body: bytes, tenant: DemoTenant, app_secret: str,
                  webhook_url: Callable[[str, str | None], str]) -> tuple[dict[str, str], str]:
    """Headers and URL with the right credentials, whatever the (mutated) body says: Meta's signature over the
    body; a gateway channel's keyed URL (`webhook_url(provider, channel id)`, as LocalStack.webhook_url) plus
    Evolution's apikey or Twilio's signature over that URL and the form's parameters."""
    if provider == "meta":
        return ({"Content-Type": "application/json", "X-Hub-Signature-256": payloads.meta_signature(app_secret, body)},
                webhook_url("meta", None))
    if provider == "evolution":
        return ({"Content-Type": "application/json", "apikey": tenant.evolution_apikey},
                webhook_url("evolution", tenant.evolution_instance))
    if provider == "zapi":
        return {"Content-Type": "application/json"}, webhook_url("zapi", tenant.zapi_instance)
    url = webhook_url("twilio", tenant.twilio_sender)
    try:
        params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        params = {}  # not a form Twilio could have signed: the webhook refuses it (400) before the signature
    return ({"Content-Type": "application/x-www-form-urlencoded",
             "X-Twilio-Signature": sign(tenant.twilio_auth_token, url, params)}, url)


def random_mutation(rng: random.Random, document: Any, provider: str = "meta") -> bytes:
    """One hostile body: a leaf (mostly) or any value replaced, or raw garbage, or nesting past any limit."""
    roll = rng.random()
    if roll < 0.05:
        return deep_bytes(rng.randint(40, 100_000))
    if roll < 0.10:
        return rng.randbytes(rng.randint(0, 200))
    every = paths(document)
    path = rng.choice(leaf_paths(document) if rng.random() < 0.8 else every)
    new = nested(rng.randint(30, MAX_DEPTH_PROBE)) if rng.random() < 0.1 else rng.choice(HOSTILE)
    return encode_for(provider, replaced(document, path, new))
