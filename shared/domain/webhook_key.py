"""Keyed webhook URLs for the gateways (Evolution, Z-API, Twilio): a credential checked before anything is read.

The gateways' own credentials (Evolution's instance apikey, Z-API's webhook token, Twilio's auth token) belong to
one channel, so they can only be compared after the body named the channel and the channel was read. Instead, each
gateway channel's webhook URL carries a key derived from one platform secret (WEBHOOK_URL_KEY):

    {webhook}/{provider}?channel=<channel id>&key=<base64url(HMAC-SHA256(secret, "provider:channel id"))>

so the webhook can refuse a missing (401) or wrong (403) key from the URL alone, before the body is parsed or
Firestore is read; after parsing, every part of the body must belong to the URL's channel (403 otherwise: a key
for channel A never injects into channel B). ARCHITECTURE.md, "Gateway webhook keys", gives the reasoning.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

from shared.domain.errors import InvalidConfiguration, MissingWebhookKey, WrongWebhookKey
from shared.domain.inbound import Provider

CHANNEL_PARAM = "channel"
KEY_PARAM = "key"
# The providers whose credential is per channel: their URLs are keyed. Meta's app-secret HMAC over the raw body is
# checked before parsing already, with no channel needed.
KEYED_PROVIDERS = frozenset({Provider.EVOLUTION, Provider.ZAPI, Provider.TWILIO})


@dataclass(frozen=True)
class WebhookUrlKeys:
    """The platform secret the URL keys are derived from, the previous one during a rotation, and whether a request
    without a key may still fall back to the provider's own credential (migration; WEBHOOK_URL_KEY_MODE)."""

    current: str | None = field(default=None, repr=False)
    previous: str | None = field(default=None, repr=False)
    required: bool = True


def webhook_url_key(secret: str, provider: str, channel_id: str) -> str:
    """base64url(HMAC-SHA256(secret, "provider:channel_id")) without padding: 43 URL-safe characters."""
    message = f"{provider}:{channel_id}".encode("utf-8", "surrogatepass")
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def url_key_query(secret: str, provider: str, channel_id: str) -> dict[str, str]:
    """The query parameters that key one channel's webhook URL."""
    return {CHANNEL_PARAM: channel_id, KEY_PARAM: webhook_url_key(secret, provider, channel_id)}


def keyed_webhook_url(base_url: str, provider: str, channel_id: str, secret: str) -> str:
    """The URL to configure at the provider for one channel (the only place these URLs are built)."""
    return f"{base_url.rstrip('/')}/{provider}?{urlencode(url_key_query(secret, provider, channel_id))}"


def check_url_key(provider: Provider, query: Mapping[str, str], keys: WebhookUrlKeys) -> str | None:
    """The URL's channel id once its key is proven; None for an unkeyed request that optional mode lets fall back
    to the provider's own credential. Raises MissingWebhookKey (401), WrongWebhookKey (403), or
    InvalidConfiguration (503: the secret is not set, so the provider keeps retrying and nothing is lost).

    Reads nothing but the query string; never names the key it got.
    """
    channel_id, given = query.get(CHANNEL_PARAM), query.get(KEY_PARAM)
    if not channel_id and not given and not keys.required:
        return None
    if not keys.current:
        raise InvalidConfiguration("settings", ["WEBHOOK_URL_KEY is not set: gateway webhooks cannot be "
                                                "authenticated (docs/DEPLOY.md, Gateway webhook keys)"])
    if not channel_id or not given:
        raise MissingWebhookKey(f"the {provider.value} webhook URL needs its ?{CHANNEL_PARAM}= and &{KEY_PARAM}= "
                                "parameters (scripts/tenancy_admin.py webhook-url prints the channel's URL)")
    given_bytes = given.encode("utf-8", "surrogatepass")
    # Every secret is compared, so timing does not tell which one (or whether a rotation is under way) matched.
    matches = [hmac.compare_digest(given_bytes, webhook_url_key(secret, provider.value, channel_id).encode())
               for secret in (keys.current, keys.previous) if secret]
    if not any(matches):
        raise WrongWebhookKey(f"the webhook URL's {KEY_PARAM} is not the one issued for this {provider.value} channel")
    return channel_id


def require_url_channel(url_channel: str, body_channels: set[str]) -> None:
    """A key covers one channel: a body naming any other channel is refused whole (403), nothing of it stored."""
    if body_channels - {url_channel}:
        raise WrongWebhookKey(f"the body names {len(body_channels - {url_channel})} channel(s) other than the one "
                              "the webhook URL's key was issued for")
