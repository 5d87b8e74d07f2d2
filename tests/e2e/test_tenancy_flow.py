"""Tenancy through the real webhook: a switched-off channel keeps its leads' messages and answers nobody; an
invalid channel document is a 503 (the provider retries) that stores nothing and names the field."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from dev import payloads
from dev.stack import DEMO_META_APP_SECRET

pytestmark = pytest.mark.e2e


def send_meta(stack, tenant, phone: str, text: str) -> httpx.Response:  # noqa: ANN001
    payload = payloads.meta_text(tenant.meta_phone_number_id, phone, "Mariana", f"wamid.{uuid.uuid4().hex}", text)
    body, headers = payloads.signed_meta(payload, DEMO_META_APP_SECRET)
    return httpx.post(f"{stack.function_url('whatsapp_webhook')}meta", content=body, headers=headers, timeout=10)


def messages(db, tenant) -> list[dict]:  # noqa: ANN001
    conversations = db.collection("tenants").document(tenant.tenant_id).collection("conversations")
    return [m.to_dict() for c in conversations.list_documents() for m in c.collection("messages").stream()]


def test_an_inactive_channel_stores_the_leads_message_and_sends_nothing(stack, db, tenant, lead_phone):  # noqa: ANN001
    db.document(f"tenants/{tenant.tenant_id}/channels/meta:{tenant.meta_phone_number_id}").update({"active": False})

    response = send_meta(stack, tenant, lead_phone, "Oi, quero um orçamento")
    time.sleep(stack.debounce_seconds + 3)  # the turn runs (and must decide to send nothing)

    assert response.status_code == 200 and response.json()["queued"] == 1
    assert [m["text"] for m in messages(db, tenant) if m.get("role") == "lead"] == ["Oi, quero um orçamento"]
    assert stack.sandbox.sends_to(lead_phone) == []


def test_an_invalid_channel_document_is_503_naming_the_field_and_nothing_is_stored(stack, db, tenant,  # noqa: ANN001
                                                                                  lead_phone):
    db.document(f"tenants/{tenant.tenant_id}/channels/meta:{tenant.meta_phone_number_id}").update(
        {"agnet_id": "default"})

    response = send_meta(stack, tenant, lead_phone, "Oi")

    assert response.status_code == 503 and response.json()["error"] == "InvalidConfiguration"
    assert "agnet_id" in response.json()["reason"] and tenant.tenant_id in response.json()["reason"]
    assert messages(db, tenant) == []
