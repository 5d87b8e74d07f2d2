"""Meetings end to end: the real webhook, agent_turn under functions-framework with the offline model, the fake
Google Calendar over HTTP (CALENDAR_EMULATOR_HOST), the provider sandbox; a redelivered choice books once."""

from __future__ import annotations

import uuid

import pytest

from dev.stack import wait_until
from tests.e2e.test_whatsapp_flow import send_meta, sends, settle

pytestmark = pytest.mark.e2e


def test_a_lead_is_offered_free_slots_and_the_chosen_one_is_booked_once(stack, db, tenant, lead_phone):
    calendar_id = f"vendas-{uuid.uuid4().hex[:8]}@solarprime.com.br"
    stack.calendar.fake.add_calendar(calendar_id)
    db.collection("tenants").document(tenant.tenant_id).collection("agents").document("default").set({"calendar": {
        "calendar_ids": [calendar_id], "horizon_days": 7, "min_notice_minutes": 60,
        "hours": {"weekdays": [0, 1, 2, 3, 4, 5, 6], "start": "08:00", "end": "20:00"},
        "kinds": [{"name": "Visita técnica", "duration_minutes": 60, "place": "visit"}]}}, merge=True)

    send_meta(stack, tenant, lead_phone, "wamid.CAL.1", "Quero agendar uma visita técnica")
    wait_until(lambda: len(sends(stack, lead_phone)) == 1, 30, "the offered slots")
    assert "1)" in sends(stack, lead_phone)[0]["text"] and "3)" in sends(stack, lead_phone)[0]["text"]

    send_meta(stack, tenant, lead_phone, "wamid.CAL.2", "pode ser o primeiro")
    wait_until(lambda: len(sends(stack, lead_phone)) == 2, 30, "the confirmation")
    assert "marcada para" in sends(stack, lead_phone)[1]["text"]
    send_meta(stack, tenant, lead_phone, "wamid.CAL.2", "pode ser o primeiro")  # the provider retries
    settle(stack)
    assert len(sends(stack, lead_phone)) == 2
    events = stack.calendar.fake.events(calendar_id)
    assert len(events) == 1 and events[0]["id"].startswith("pm")
    assert f"+{lead_phone}" in events[0]["description"]
    outbox = db.collection("tenants").document(tenant.tenant_id).collection("outbox").stream()
    assert [e.to_dict()["type"] for e in outbox].count("MeetingScheduled") == 1
