"""Handoff that learns, end to end: the agent does not know, a human answers, the next lead gets the answer."""

from __future__ import annotations

import uuid

import httpx
import pytest

from dev import payloads
from dev.stack import wait_until

pytestmark = pytest.mark.e2e


def test_a_sellers_answer_to_a_handed_off_question_is_learned_and_used_for_the_next_lead(stack, db, tenant):
    tenant_ref = db.collection("tenants").document(tenant.tenant_id)
    tenant_ref.collection("agents").document("default").set({"learn_from_humans": "auto"}, merge=True)
    url = stack.webhook_url("evolution", tenant.evolution_instance)
    first, second = ("55219" + str(uuid.uuid4().int)[:8] for _ in range(2))

    def evolution(phone: str, key: str, text: str, from_me: bool = False) -> None:
        payload = payloads.evolution_text(tenant.evolution_instance, tenant.evolution_apikey, phone, "Lead", key,
                                          text, from_me=from_me)
        assert httpx.post(url, content=payloads.as_json(payload)[0], headers=payloads.as_json(payload)[1],
                          timeout=10).status_code == 200

    evolution(first, f"K{uuid.uuid4().hex[:8]}", "Vocês vendem carro elétrico?")
    wait_until(lambda: len(stack.sandbox.sends_to(first)) == 1, 30, "the agent's reply")
    assert "vou confirmar com a equipe" in stack.sandbox.sends_to(first)[0]["text"]

    evolution(first, f"H{uuid.uuid4().hex[:8]}", "Não vendemos carros, só sistemas de energia solar.", from_me=True)

    def learned() -> list[dict]:
        return [d.to_dict() for d in tenant_ref.collection("knowledge_chunks").stream()
                if d.to_dict().get("origin") == "learned"]

    wait_until(lambda: len(learned()) == 1, 30, "the learned answer")
    assert "Não vendemos carros" in learned()[0]["answer"]

    evolution(second, f"K{uuid.uuid4().hex[:8]}", "Vocês vendem carro elétrico?")
    wait_until(lambda: len(stack.sandbox.sends_to(second)) == 1, 30, "the second lead's reply")
    assert "Não vendemos carros" in stack.sandbox.sends_to(second)[0]["text"]


def test_in_review_mode_the_answer_waits_for_an_admin_and_approval_indexes_it_once(stack, db, tenant):
    tenant_ref = db.collection("tenants").document(tenant.tenant_id)
    tenant_ref.collection("agents").document("default").set({"learn_from_humans": "review"}, merge=True)
    url = stack.webhook_url("evolution", tenant.evolution_instance)
    phone = "55219" + str(uuid.uuid4().int)[:8]
    for key, text, from_me in ((f"K{uuid.uuid4().hex[:8]}", "Vocês vendem bateria de lítio?", False),):
        payload = payloads.evolution_text(tenant.evolution_instance, tenant.evolution_apikey, phone, "L", key, text,
                                          from_me=from_me)
        httpx.post(url, content=payloads.as_json(payload)[0], headers=payloads.as_json(payload)[1], timeout=10)
    wait_until(lambda: len(stack.sandbox.sends_to(phone)) == 1, 30, "the handoff reply")
    payload = payloads.evolution_text(tenant.evolution_instance, tenant.evolution_apikey, phone, "Solar",
                                      f"H{uuid.uuid4().hex[:8]}", "Vendemos sim, a bateria de 10 kWh.", from_me=True)
    httpx.post(url, content=payloads.as_json(payload)[0], headers=payloads.as_json(payload)[1], timeout=10)

    def candidates() -> list:
        return list(tenant_ref.collection("learned_candidates").stream())

    wait_until(lambda: len(candidates()) == 1, 30, "the pending candidate")
    [candidate] = candidates()
    assert candidate.to_dict()["status"] == "pending"
    assert not [d for d in tenant_ref.collection("knowledge_chunks").stream() if d.to_dict().get("origin") == "learned"]

    approve = f"{stack.function_url('knowledge_lookup')}approve"
    body = {"tenant_id": tenant.tenant_id, "candidate_id": candidate.id, "approved_by": "gerente@solar"}
    first, again = httpx.post(approve, json=body, timeout=30), httpx.post(approve, json=body, timeout=30)
    missing = httpx.post(approve, json={**body, "candidate_id": "nope"}, timeout=30)

    assert first.status_code == 200 and again.json()["entry_id"] == first.json()["entry_id"]
    assert missing.status_code == 404
    learned = [d.to_dict() for d in tenant_ref.collection("knowledge_chunks").stream()
               if d.to_dict().get("origin") == "learned"]
    assert len(learned) == 1 and learned[0]["approved_by"] == "gerente@solar"
