"""lgpd_admin served by functions-framework: a lead who talked through the real webhook is exported, then erased,
and the erasure reaches the tenant's CRM as a LeadErased event."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from dev import payloads
from dev.stack import DEMO_META_APP_SECRET, wait_until

pytestmark = pytest.mark.e2e


def _lead_writes(stack, tenant, phone: str, text: str) -> None:  # noqa: ANN001
    payload = payloads.meta_text(tenant.meta_phone_number_id, phone, "Mariana", f"wamid.{uuid.uuid4().hex}", text)
    body, headers = payloads.signed_meta(payload, DEMO_META_APP_SECRET)
    response = httpx.post(stack.function_url("whatsapp_webhook").rstrip("/") + "/meta", content=body,
                          headers=headers, timeout=10)
    assert response.status_code == 200


def test_a_lead_is_exported_then_erased_through_the_admin_function(stack, db, tenant, lead_phone):  # noqa: ANN001
    url = stack.function_url("lgpd_admin")
    _lead_writes(stack, tenant, lead_phone, "Oi, minha conta é R$ 450")
    conversations = db.collection("tenants").document(tenant.tenant_id).collection("conversations")

    def replied() -> bool:
        return any((m.to_dict() or {}).get("state") == "sent"
                   for c in conversations.stream() for m in c.reference.collection("messages").stream())

    wait_until(replied, 30, "the agent's reply to be sent (the turn is over)")

    exported = httpx.post(url, json={"action": "export", "tenant_id": tenant.tenant_id, "phone": lead_phone},
                          timeout=30)
    erased = httpx.post(url, json={"action": "erase", "tenant_id": tenant.tenant_id, "phone": lead_phone,
                                   "requested_by": "dpo@solarprime.example", "reason": "ticket 7"}, timeout=30)
    unsigned = httpx.post(url, json={"action": "erase", "tenant_id": tenant.tenant_id, "phone": lead_phone},
                          timeout=10)
    ghost = httpx.post(url, json={"action": "export", "tenant_id": "t-ghost-x", "phone": lead_phone}, timeout=10)

    assert exported.status_code == 200 and "R$ 450" in json.dumps(exported.json()["collections"]["messages"])
    assert erased.status_code == 200 and erased.json()["erasure"]["documents"]["messages"] >= 1
    assert lead_phone[-6:] not in json.dumps(erased.json()["erasure"])
    assert unsigned.status_code == 400 and "requested_by" in unsigned.json()["reason"]
    assert ghost.status_code == 404
    assert list(conversations.stream()) == []
    outbox = db.collection("tenants").document(tenant.tenant_id).collection("outbox")
    assert [d.to_dict()["type"] for d in outbox.stream()] == ["LeadErased"], "the lead's own events are erased"
    again = httpx.post(url, json={"action": "erase", "tenant_id": tenant.tenant_id, "phone": lead_phone,
                                  "requested_by": "dpo@solarprime.example"}, timeout=30)
    after = httpx.post(url, json={"action": "export", "tenant_id": tenant.tenant_id, "phone": lead_phone}, timeout=30)
    assert again.json()["erasure"]["documents"] == {}
    assert after.json()["collections"] == {} and len(after.json()["erasure_notices"]) == 2, (
        "each erasure's LeadErased stays for the CRM; erasing again does not erase (and re-announce) the notice")
