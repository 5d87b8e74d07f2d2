"""The /chat API served by functions-framework: the same brain and memory, without WhatsApp."""

from __future__ import annotations

import uuid

import httpx
import pytest

from shared.domain.ids import conversation_id

pytestmark = pytest.mark.e2e


def test_chat_answers_with_metrics_tools_and_memory(stack, tenant):
    url = stack.function_url("chat_api")
    user = f"tester-{uuid.uuid4().hex[:6]}"
    key = {"X-Piloto-Api-Key": tenant.chat_api_key}

    first = httpx.post(url, json={"tenant_id": tenant.tenant_id, "user_id": user, "message": "Oi!"}, headers=key,
                       timeout=30)
    second = httpx.post(url, json={"tenant_id": tenant.tenant_id, "user_id": user,
                                   "message": "Minha conta de luz é R$ 500, é casa própria"}, headers=key, timeout=30)

    assert first.status_code == 200 and second.status_code == 200
    body = second.json()
    assert set(body) >= {"response", "model", "tokens_used", "context_size", "memory", "tool_calls", "cost_usd",
                         "latency_ms"}
    assert body["model"] == "offline-template" and body["tokens_used"] > 0
    assert body["memory"]["messages_in_window"] == 3  # Oi, our reply, this message
    assert [c["name"] for c in body["tool_calls"]] == ["update_lead"]
    assert "R$ 500" in body["response"] or "Anotado" in body["response"]


def test_chat_refuses_a_malformed_body_with_a_reason(stack):
    response = httpx.post(stack.function_url("chat_api"), json={"tenant_id": "t"}, timeout=10)
    assert response.status_code == 400 and "user_id" in response.json()["reason"]


def _conversations(db, tenant_id: str) -> list:  # noqa: ANN001
    return list(db.collection("tenants").document(tenant_id).collection("conversations").stream())


def test_a_caller_reaches_only_the_tenant_its_key_was_issued_for(stack, db, tenant, new_tenant):  # noqa: ANN001
    url = stack.function_url("chat_api")
    other = new_tenant()
    body = {"tenant_id": other.tenant_id, "user_id": "ana", "message": "Oi"}

    missing = httpx.post(url, json=body, timeout=10)
    foreign = httpx.post(url, json=body, headers={"X-Piloto-Api-Key": tenant.chat_api_key}, timeout=10)
    forged = httpx.post(url, json=body, headers={"X-Piloto-Api-Key": f"pk_{other.chat_api_key_id}.{'x' * 40}"},
                        timeout=10)
    own = httpx.post(url, json=body, headers={"X-Piloto-Api-Key": other.chat_api_key}, timeout=30)

    assert missing.status_code == 401 and foreign.status_code == 403 and forged.status_code == 403
    assert own.status_code == 200 and own.json()["response"]
    assert len(_conversations(db, other.tenant_id)) == 1, "only the authorized call wrote anything"


def test_an_unknown_tenant_is_404_and_nothing_is_written(stack, db, tenant):  # noqa: ANN001
    ghost = f"t-ghost-{uuid.uuid4().hex[:8]}"
    response = httpx.post(stack.function_url("chat_api"), json={"tenant_id": ghost, "user_id": "ana", "message": "Oi"},
                          headers={"X-Piloto-Api-Key": tenant.chat_api_key}, timeout=10)

    assert response.status_code == 404 and response.json()["error"] == "UnknownTenant"
    assert not db.collection("tenants").document(ghost).get().exists
    assert list(db.collection("tenants").document(ghost).collections()) == []


def test_an_unknown_agent_is_404(stack, tenant):
    response = httpx.post(stack.function_url("chat_api"), json={
        "tenant_id": tenant.tenant_id, "user_id": "ana", "message": "Oi", "agent_id": "nobody"},
        headers={"X-Piloto-Api-Key": tenant.chat_api_key}, timeout=10)
    assert response.status_code == 404 and "nobody" in response.json()["reason"]


@pytest.mark.parametrize("field,value", [("tenant_id", "a/b"), ("tenant_id", ".."), ("tenant_id", "__x__"),
                                         ("user_id", "a/b"), ("agent_id", "__x__"), ("message_id", "../m")])
def test_ids_that_are_no_document_id_are_400_naming_the_field(stack, tenant, field, value):
    body = {"tenant_id": tenant.tenant_id, "user_id": "ana", "message": "Oi", field: value}
    response = httpx.post(stack.function_url("chat_api"), json=body,
                          headers={"X-Piloto-Api-Key": tenant.chat_api_key}, timeout=10)
    assert response.status_code == 400 and field in response.json()["reason"]


def test_a_rotated_key_works_and_the_revoked_one_is_refused(stack, db, tenant):  # noqa: ANN001
    from shared.adapters.firestore_api_keys import FirestoreApiKeyStore
    from shared.services.api_keys import issue_api_key, revoke_api_key

    keys = FirestoreApiKeyStore(db)
    new_key = issue_api_key(tenant.tenant_id, "rotation test", keys)
    assert revoke_api_key(tenant.tenant_id, tenant.chat_api_key_id, keys)
    body = {"tenant_id": tenant.tenant_id, "user_id": "rotation", "message": "Oi"}

    old = httpx.post(stack.function_url("chat_api"), json=body, headers={"X-Piloto-Api-Key": tenant.chat_api_key},
                     timeout=10)
    new = httpx.post(stack.function_url("chat_api"), json=body, headers={"X-Piloto-Api-Key": new_key}, timeout=30)

    assert old.status_code == 403 and new.status_code == 200
    stored = keys.list_api_keys(tenant.tenant_id)
    assert all("secret_hash" not in k for k in stored) and new_key.split(".")[1] not in str(
        db.collection("tenants").document(tenant.tenant_id).collection("api_keys").document(
            new_key[3:].split(".")[0]).get().to_dict()), "only the hash is stored"


def test_an_inactive_tenant_is_refused_and_nothing_is_written(stack, db, tenant):  # noqa: ANN001
    db.collection("tenants").document(tenant.tenant_id).update({"active": False})
    response = httpx.post(stack.function_url("chat_api"), json={
        "tenant_id": tenant.tenant_id, "user_id": "ana", "message": "Oi"},
        headers={"X-Piloto-Api-Key": tenant.chat_api_key}, timeout=10)
    assert response.status_code == 403 and "inactive" in response.json()["reason"]
    assert _conversations(db, tenant.tenant_id) == []


@pytest.mark.parametrize("field,value", [("phone", "92912345678"), ("phone", "+99912345"), ("phone", "+55 abc"),
                                         ("time_zone", "Manaus"), ("time_zone", "America/Atlantida"),
                                         ("time_zone", "../etc/passwd")])
def test_a_malformed_lead_phone_or_zone_is_400_naming_the_field_and_nothing_is_written(stack, db, tenant, field,
                                                                                        value):  # noqa: ANN001
    user = f"widget-{uuid.uuid4().hex[:6]}"
    body = {"tenant_id": tenant.tenant_id, "user_id": user, "message": "Oi", field: value}
    response = httpx.post(stack.function_url("chat_api"), json=body,
                          headers={"X-Piloto-Api-Key": tenant.chat_api_key}, timeout=10)
    assert response.status_code == 400 and field in response.json()["reason"]
    assert value not in response.json()["reason"], "the reason names the field, never echoes the value"
    conversations = db.collection("tenants").document(tenant.tenant_id).collection("conversations")
    assert not conversations.document(conversation_id("api:chat", user)).get().exists


def test_the_leads_phone_and_zone_are_kept_on_the_chat_conversation_in_canonical_form(stack, db, tenant):
    user = f"widget-{uuid.uuid4().hex[:6]}"
    response = httpx.post(stack.function_url("chat_api"), json={
        "tenant_id": tenant.tenant_id, "user_id": user, "message": "Oi", "phone": "+55 (92) 91234-5678",
        "time_zone": "America/Manaus"}, headers={"X-Piloto-Api-Key": tenant.chat_api_key}, timeout=30)
    assert response.status_code == 200
    conversation = db.collection("tenants").document(tenant.tenant_id).collection("conversations").document(
        conversation_id("api:chat", user)).get().to_dict()
    assert (conversation["chat_phone"], conversation["chat_time_zone"]) == ("+5592912345678", "America/Manaus")
