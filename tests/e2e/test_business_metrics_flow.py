"""The owner's numbers end to end: a lead answered by the bot and one taken over by a seller, then the
tenant_report function and the metrics_rollup job read them back from Firestore (the emulator)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
import pytest

from dev import payloads
from dev.seed import DemoTenant
from dev.stack import DEMO_META_APP_SECRET, LocalStack, wait_until

pytestmark = pytest.mark.e2e


def post(stack: LocalStack, function: str, body: dict) -> httpx.Response:
    return httpx.post(stack.function_url(function), json=body, timeout=30)


def today_in_sao_paulo() -> str:
    return datetime.now(UTC).astimezone(ZoneInfo("America/Sao_Paulo")).date().isoformat()


def report(stack: LocalStack, tenant: DemoTenant) -> dict:
    day = today_in_sao_paulo()
    response = post(stack, "tenant_report", {"tenant_id": tenant.tenant_id, "start": day, "end": day})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_days_leads_replies_and_takeover_reach_the_owners_numbers(stack, db, tenant, lead_phone):
    meta = payloads.meta_text(tenant.meta_phone_number_id, lead_phone, "Mariana", "wamid.METRICS.1", "Oi, tudo bem?")
    assert httpx.post(f"{stack.function_url('whatsapp_webhook')}meta",
                      content=payloads.signed_meta(meta, DEMO_META_APP_SECRET)[0],
                      headers=payloads.signed_meta(meta, DEMO_META_APP_SECRET)[1], timeout=10).status_code == 200
    other = "55219" + lead_phone[5:]

    def evolution(key_id: str, text: str, from_me: bool = False) -> None:
        body = payloads.evolution_text(tenant.evolution_instance, tenant.evolution_apikey, other, "Carlos", key_id,
                                       text, from_me=from_me)
        assert httpx.post(stack.webhook_url("evolution", tenant.evolution_instance), content=payloads.as_json(body)[0],
                          headers=payloads.as_json(body)[1], timeout=10).status_code == 200

    evolution("3EBMETRICS1", "Vocês instalam no Rio?")
    assert stack.sandbox is not None
    wait_until(lambda: len(stack.sandbox.sends_to(lead_phone)) == 1 and len(stack.sandbox.sends_to(other)) == 1,
               30, "both bot replies")
    evolution("3EBMETRICS2", "Aqui é o João, instalamos sim!", from_me=True)  # the seller takes over
    evolution("3EBMETRICS3", "Ótimo, e quanto custa?")  # the bot stays quiet: a human owns the conversation
    evolution("3EBMETRICS4", "Depende da sua conta de luz, quanto vem por mês?", from_me=True)
    wait_until(lambda: report(stack, tenant)["leads_answered_by_human"] == 1, 20, "the seller's answer counted")

    numbers = report(stack, tenant)
    assert numbers["new_leads"] == 2
    assert numbers["conversations_answered"] == 2
    assert numbers["human_takeovers"] == 1
    assert numbers["human_response"]["count"] == 1
    assert len(stack.sandbox.sends_to(other)) == 1  # the bot did not answer under the seller
    assert numbers["first_reply_bot"]["count"] == 2 and numbers["first_reply_bot"]["p50"] > 0
    assert numbers["model_calls"] >= 2 and numbers["model_cost_usd"] >= 0
    assert "samples" not in numbers["first_reply_bot"]

    first = post(stack, "metrics_rollup", {})
    assert first.status_code == 200 and first.json()["ok"] is True
    doc_id = f"default:{today_in_sao_paulo()}"
    stored = db.collection("tenants").document(tenant.tenant_id).collection("daily_metrics").document(doc_id)
    before = stored.get().to_dict()
    assert before["new_leads"] == 2 and before["human_takeovers"] == 1
    assert post(stack, "metrics_rollup", {}).status_code == 200  # a second run (or a Scheduler retry)
    after = stored.get().to_dict()
    before.pop("updated_at"), after.pop("updated_at")
    assert after == before


def test_the_report_refuses_bad_ranges_and_unknown_tenants(stack, tenant):
    assert post(stack, "tenant_report", {"tenant_id": tenant.tenant_id, "start": "2026-11-10",
                                         "end": "2026-11-01"}).status_code == 400
    assert post(stack, "tenant_report", {"tenant_id": tenant.tenant_id, "start": "2026-01-01",
                                         "end": "2026-11-01"}).status_code == 400
    assert post(stack, "tenant_report", {"tenant_id": "a/b", "start": "2026-11-01",
                                         "end": "2026-11-01"}).status_code == 400
    unknown = post(stack, "tenant_report", {"tenant_id": "no-such-tenant", "start": "2026-11-01", "end": "2026-11-01"})
    assert unknown.status_code == 404


def test_the_owner_gets_one_weekly_digest_however_often_the_job_runs(stack, db, tenant):
    owner = "+5511955554444"
    tenant_ref = db.collection("tenants").document(tenant.tenant_id)
    tenant_ref.update({"owner_phone": owner})
    assert stack.sandbox is not None

    runs = [post(stack, "weekly_digest", {}) for _ in range(2)]
    assert all(r.status_code == 200 for r in runs), [r.text for r in runs]
    digests = stack.sandbox.sends_to(owner.lstrip("+"))
    assert len(digests) == 1
    assert digests[0]["provider"] == "evolution"  # the tenant's first active channel; a gateway sends text
    assert "Solar Prime Energia" in digests[0]["text"] and "Leads novos:" in digests[0]["text"]
    week = next(tenant_ref.collection("digests").stream()).to_dict()
    assert week["state"] == "sent"


def test_a_meta_digest_without_an_approved_template_is_not_sent(stack, db, tenant):
    owner = "+5511955553333"
    db.collection("tenants").document(tenant.tenant_id).update(
        {"owner_phone": owner, "digest_channel": f"meta:{tenant.meta_phone_number_id}"})
    assert post(stack, "weekly_digest", {}).status_code == 200
    assert stack.sandbox is not None and stack.sandbox.sends_to(owner.lstrip("+")) == []

    db.collection("tenants").document(tenant.tenant_id).update({"digest_template": "resumo_semanal"})
    assert post(stack, "weekly_digest", {}).status_code == 200
    sent = stack.sandbox.sends_to(owner.lstrip("+"))
    assert len(sent) == 1 and sent[0]["provider"] == "meta"


def test_a_conversation_a_seller_handled_is_audited_once_it_goes_quiet(stack, db, tenant, lead_phone):
    import time

    def evolution(key_id: str, text: str, from_me: bool = False) -> None:
        body = payloads.evolution_text(tenant.evolution_instance, tenant.evolution_apikey, lead_phone, "Carlos",
                                       key_id, text, from_me=from_me)
        assert httpx.post(stack.webhook_url("evolution", tenant.evolution_instance), content=payloads.as_json(body)[0],
                          headers=payloads.as_json(body)[1], timeout=10).status_code == 200

    evolution("3EBAUDIT1", "Oi, vocês parcelam o kit?")
    assert stack.sandbox is not None
    wait_until(lambda: len(stack.sandbox.sends_to(lead_phone)) == 1, 30, "the bot's reply")
    evolution("3EBAUDIT2", "Oi Carlos, aqui é o João! Parcelamos em 60x. Posso agendar uma visita amanhã às 10h?",
              from_me=True)
    evolution("3EBAUDIT3", "Pode sim")
    audits = db.collection("tenants").document(tenant.tenant_id).collection("audits")
    time.sleep(4)  # the local stack's AUDIT_QUIET_HOURS is 0.001 h

    first = post(stack, "conversation_audit", {})
    assert first.status_code == 200, first.text
    docs = [s.to_dict() for s in audits.stream()]
    assert len(docs) == 1
    audit = docs[0]
    assert audit["facts"]["human_messages"] == 1 and audit["facts"]["next_step_set"] is True
    assert audit["facts"]["last_writer"] == "lead"
    assert audit["rubric"]["scored_by"] == "offline"  # the local stack's model is the offline one, and says so
    assert {s["criterion"] for s in audit["rubric"]["scores"]} == {"qualification", "objections", "tone",
                                                                   "next_step", "accuracy"}
    post(stack, "conversation_audit", {})
    assert len(list(audits.stream())) == 1  # the next hourly run finds it done
