"""Follow-ups end to end with a cadence shortened to seconds: reply → named task on the "followups" queue →
followup_turn → provider sandbox; duplicate and stale deliveries, opt-out and the sweep, through every function."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from dev.seed import DemoTenant
from dev.stack import LocalStack, wait_until
from tests.e2e.test_whatsapp_flow import conversation_ref, send_meta, sends, stored_messages

pytestmark = pytest.mark.e2e

ALWAYS_OPEN = {"business_start": "00:00:00", "business_end": "23:59:59", "business_days": [0, 1, 2, 3, 4, 5, 6]}


def enable_cadence(db, tenant: DemoTenant, *delays_seconds: float, close_after_minutes: float = 600) -> None:  # noqa: ANN001
    steps = [{"delay_minutes": seconds / 60, "instruction": "Pergunte se ficou alguma dúvida sobre a proposta."}
             for seconds in delays_seconds]
    db.collection("tenants").document(tenant.tenant_id).collection("agents").document("default").set(
        {"followup": {"enabled": True, "steps": steps, "close_after_minutes": close_after_minutes, **ALWAYS_OPEN}},
        merge=True)


def conversation(db, tenant: DemoTenant, phone: str) -> dict:  # noqa: ANN001
    return conversation_ref(db, tenant, "meta", tenant.meta_phone_number_id, phone).get().to_dict() or {}


def fire(stack: LocalStack, body: dict) -> httpx.Response:
    """Deliver a follow-up task again, as Cloud Tasks may (at least once)."""
    return httpx.post(stack.function_url("followup_turn"), json=body, timeout=30)


def task_body(db, tenant: DemoTenant, phone: str, step: int, anchor: str) -> dict:  # noqa: ANN001
    conv_id = conversation_ref(db, tenant, "meta", tenant.meta_phone_number_id, phone).id
    return {"tenant_id": tenant.tenant_id, "conversation_id": conv_id, "step": step, "anchor_message_id": anchor}


def test_a_silent_lead_gets_one_model_written_follow_up_after_the_delay(stack, db, tenant, lead_phone):
    enable_cadence(db, tenant, 3)

    send_meta(stack, tenant, lead_phone, "wamid.FU.1", "Quanto custa o kit residencial?")

    wait_until(lambda: len(sends(stack, lead_phone)) == 2, 30, "the reply and then the follow-up")
    follow_up = sends(stack, lead_phone)[1]["text"]
    assert "Passando para retomar" in follow_up and "kit residencial" in follow_up
    wait_until(lambda: conversation(db, tenant, lead_phone).get("followup_step") == 1, 20, "the cadence advanced")
    state = conversation(db, tenant, lead_phone)
    assert state["next_followup_at"] > datetime.now(UTC) + timedelta(minutes=500)  # only closing is left
    agent_messages = [m for m in stored_messages(db, tenant, lead_phone) if m["role"] == "agent"]
    assert [m["state"] for m in agent_messages] == ["sent", "sent"] and agent_messages[1]["tier"] == "followup"
    calls = db.collection("tenants").document(tenant.tenant_id).collection("model_calls").stream()
    assert "followup" in [c.to_dict()["purpose"] for c in calls], "the follow-up's model call is in the ledger"


def test_a_duplicate_follow_up_task_sends_nothing_more(stack, db, tenant, lead_phone):
    enable_cadence(db, tenant, 2)
    send_meta(stack, tenant, lead_phone, "wamid.FU.DUP", "Vocês instalam em Campinas?")
    wait_until(lambda: len(sends(stack, lead_phone)) == 2, 30, "the reply and the follow-up")
    wait_until(lambda: conversation(db, tenant, lead_phone).get("followup_step") == 1, 20, "the cadence advanced")
    anchor = conversation(db, tenant, lead_phone)["followup_anchor"]

    again = fire(stack, task_body(db, tenant, lead_phone, 0, anchor))

    assert again.status_code == 200 and again.json()["outcome"] == "stale"
    assert len(sends(stack, lead_phone)) == 2


def test_a_lead_who_wrote_since_gets_no_follow_up_for_the_old_reply(stack, db, tenant, lead_phone):
    enable_cadence(db, tenant, 600)  # far enough that only the deliveries below fire
    send_meta(stack, tenant, lead_phone, "wamid.FU.OLD", "Oi")
    wait_until(lambda: conversation(db, tenant, lead_phone).get("followup_step") == 0, 20, "the first plan")
    old_anchor = conversation(db, tenant, lead_phone)["followup_anchor"]
    send_meta(stack, tenant, lead_phone, "wamid.FU.NEW", "Esqueci de dizer: é para uma loja")
    wait_until(lambda: conversation(db, tenant, lead_phone).get("followup_anchor") not in (None, old_anchor), 20,
               "the cadence re-anchored on the new message")

    stale = fire(stack, task_body(db, tenant, lead_phone, 0, old_anchor))

    assert stale.status_code == 200 and stale.json()["outcome"] in ("stale", "lead_replied")
    assert len(sends(stack, lead_phone)) == 2  # the two replies, no follow-up


def test_a_lead_who_asks_to_stop_is_confirmed_opted_out_and_synced(stack, db, tenant, lead_phone):
    enable_cadence(db, tenant, 600)
    send_meta(stack, tenant, lead_phone, "wamid.FU.OPT1", "Oi, quero um orçamento")
    wait_until(lambda: conversation(db, tenant, lead_phone).get("followup_step") == 0, 20, "the first plan")
    anchor = conversation(db, tenant, lead_phone)["followup_anchor"]

    send_meta(stack, tenant, lead_phone, "wamid.FU.OPT2", "PARAR")

    wait_until(lambda: len(sends(stack, lead_phone)) == 2, 20, "the confirmation")
    assert "Não vou mais te enviar" in sends(stack, lead_phone)[1]["text"]
    state = conversation(db, tenant, lead_phone)
    assert state["opted_out"] is True and state.get("next_followup_at") is None
    events = [e.to_dict() for e in db.collection("tenants").document(tenant.tenant_id).collection("outbox").stream()]
    assert any(e.get("event_type", e.get("type")) == "LeadOptedOut" for e in events)
    late = fire(stack, task_body(db, tenant, lead_phone, 0, anchor))
    assert late.json()["outcome"] == "opted_out" and len(sends(stack, lead_phone)) == 2


def test_the_sweep_reschedules_a_follow_up_whose_task_was_lost(stack, db, tenant, lead_phone):
    enable_cadence(db, tenant, 600)
    send_meta(stack, tenant, lead_phone, "wamid.FU.LOST", "Quero saber sobre energia solar")
    wait_until(lambda: conversation(db, tenant, lead_phone).get("followup_step") == 0, 20, "the first plan")
    # The task is far in the future; pretend it was due an hour ago and its task never got created.
    conversation_ref(db, tenant, "meta", tenant.meta_phone_number_id, lead_phone).set(
        {"next_followup_at": datetime.now(UTC) - timedelta(hours=1)}, merge=True)

    swept = httpx.post(stack.function_url("followup_sweep"), json={}, timeout=60)

    assert swept.status_code == 200 and swept.json()["scheduled"] >= 1
    wait_until(lambda: len(sends(stack, lead_phone)) == 2, 30, "the recovered follow-up")
    assert "Passando para retomar" in sends(stack, lead_phone)[1]["text"]


def test_malformed_follow_up_tasks_are_refused_with_a_reason(stack):
    response = fire(stack, {"tenant_id": "t", "step": -1})
    assert response.status_code == 400 and "follow-up body" in response.json()["reason"]
