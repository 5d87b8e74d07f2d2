"""The generic CRM destination: each event POSTed as JSON to the tenant's URL (Make, n8n, Zapier...), signed.

Headers a receiver can rely on:
- `X-Piloto-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>` (verify before trusting the body);
- `Idempotency-Key` and `X-Piloto-Event-Id`: the event id, the same on every retry of the event;
- `X-Piloto-Event-Type`: the event's `type`.
The body is the event exactly as published (versioned schema, `shared/domain/events.py`).
"""

from __future__ import annotations

import httpx

from shared.adapters.crm_http import crm_exchange, raise_crm_failure
from shared.domain.crm import SIGNATURE_HEADER, WebhookSettings, check_webhook_url, webhook_signature
from shared.domain.events import DomainEvent, encode_event


class SignedWebhookForwarder:
    crm = "webhook"

    def __init__(self, client: httpx.Client, settings: WebhookSettings, allow_http: bool = False) -> None:
        check_webhook_url(settings.url, allow_http)
        self._client = client
        self._settings = settings

    def forward(self, event: DomainEvent) -> str:
        body = encode_event(event)
        headers = {
            **self._settings.headers,
            "Content-Type": "application/json",
            "User-Agent": "Piloto-CRM-Sync/1",
            SIGNATURE_HEADER: webhook_signature(self._settings.secret, body),
            "Idempotency-Key": event.event_id,
            "X-Piloto-Event-Id": event.event_id,
            "X-Piloto-Event-Type": event.type,
        }
        # Redirects are not followed: a signed event goes only where the tenant said.
        response = crm_exchange(self.crm, lambda: self._client.post(self._settings.url, content=body, headers=headers,
                                                                    follow_redirects=False))
        status = response.status_code
        if 200 <= status < 300:
            return f"HTTP {status}"
        if status == 409:
            return "HTTP 409 (receiver already had this event)"
        raise_crm_failure(self.crm, response)
