"""The HTTP calling convention every CRM adapter shares: JSON in and out, and one reading of failures.

429, 5xx and timeouts become CrmUnavailable (Pub/Sub retries the event); any other 4xx becomes CrmRejected
with the CRM's own message (recorded on the event, not retried). Error texts never carry the request, whose
URL may hold a token (RD Station CRM takes it as a query parameter).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NoReturn

import httpx

from shared.domain.errors import CrmRejected, CrmUnavailable

RETRYABLE_STATUSES = {408, 423, 425, 429}


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
        raise CrmUnavailable(crm, status, crm_message(response))
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
