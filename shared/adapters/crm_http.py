"""The HTTP calling convention every CRM adapter shares: JSON in and out, and one reading of failures.

429, 5xx and timeouts become CrmUnavailable (Pub/Sub retries the event); any other 4xx becomes CrmRejected
with the CRM's own message (recorded on the event, not retried). Error texts never carry the request, whose
URL may hold a token (RD Station CRM takes it as a query parameter).

When the CRM says when to come back, CrmUnavailable carries it (`retry_at`), read from:
- `Retry-After`, seconds or an HTTP date (RFC 9110 §10.2.3), sent by HubSpot and Pipedrive on 429;
- `X-RateLimit-Reset` / `x-ratelimit-reset`, seconds until the window resets (Pipedrive, "Rate limiting",
  https://pipedrive.readme.io/docs/core-api-concepts-rate-limiting);
- HubSpot's daily limit (`X-HubSpot-RateLimit-Daily-Remaining: 0`, or a 429 whose body says
  `policyName: DAILY`): the allowance resets at midnight in the account's time zone
  (https://developers.hubspot.com/docs/guides/apps/api-usage/usage-details), taken as Brasília's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

import httpx

from shared.domain.errors import CrmRejected, CrmUnavailable

RETRYABLE_STATUSES = {408, 423, 425, 429}
_DAILY_RESET_ZONE = ZoneInfo("America/Sao_Paulo")


def retry_at(response: httpx.Response, now: datetime | None = None) -> datetime | None:
    """When the CRM says a retry may succeed; None when its answer does not say."""
    now = now or datetime.now(UTC)
    headers = response.headers
    if headers.get("x-hubspot-ratelimit-daily-remaining") == "0" or _policy(response) == "DAILY":
        local = now.astimezone(_DAILY_RESET_ZONE)
        midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), _DAILY_RESET_ZONE)
        return midnight.astimezone(UTC)
    for name in ("retry-after", "x-ratelimit-reset"):
        value = (headers.get(name) or "").strip()
        if not value:
            continue
        if value.isdigit():
            return now + timedelta(seconds=int(value))
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            continue
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    return None


def _policy(response: httpx.Response) -> str | None:
    if response.status_code != 429:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("policyName") if isinstance(body, dict) else None


def crm_message(response: httpx.Response) -> str:
    """The human-readable part of a CRM's error body (HubSpot 'message', Pipedrive 'error', RD 'errors')."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(body, dict):
        for key in ("message", "error", "errors", "detail"):
            value = body.get(key)
            if value:
                info = body.get("error_info") if key == "error" else None
                text = value if isinstance(value, str) else str(value)
                return (f"{text} ({info})" if info else text)[:300]
    return str(body)[:300]


def crm_exchange(crm: str, send: Callable[[], httpx.Response]) -> httpx.Response:
    """The CRM's answer to one request; a timeout or a transport failure becomes CrmUnavailable."""
    try:
        return send()
    except httpx.TimeoutException as err:
        raise CrmUnavailable(crm, None, f"timed out ({type(err).__name__})") from None
    except httpx.TransportError as err:
        raise CrmUnavailable(crm, None, f"unreachable ({type(err).__name__})") from None


def raise_crm_failure(crm: str, response: httpx.Response) -> NoReturn:
    """A non-2xx answer: 408/423/425/429 and 5xx are retried (CrmUnavailable), any other is final (CrmRejected)."""
    status = response.status_code
    if status in RETRYABLE_STATUSES or status >= 500:
        raise CrmUnavailable(crm, status, crm_message(response), retry_at(response))
    raise CrmRejected(crm, status, crm_message(response))


class CrmHttp:
    """One CRM's base URL and credentials over a shared httpx client."""

    def __init__(self, client: httpx.Client, crm: str, base_url: str, headers: Mapping[str, str] | None = None,
                 params: Mapping[str, str] | None = None) -> None:
        self._client = client
        self.crm = crm
        self._base = base_url.rstrip("/")
        self._headers = {"Accept": "application/json", **(headers or {})}
        self._params = dict(params or {})

    def call(self, method: str, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None) -> Any:
        """The decoded JSON body of a 2xx answer (None when empty); raises CrmUnavailable or CrmRejected."""
        response = crm_exchange(self.crm, lambda: self._client.request(
            method, f"{self._base}{path}", json=json, params={**self._params, **(params or {})},
            headers=self._headers))
        if 200 <= response.status_code < 300:
            return response.json() if response.content else None
        raise_crm_failure(self.crm, response)
