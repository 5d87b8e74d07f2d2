"""Domain events: versioned JSON on the wire, deterministic ids where the cause is, clear refusals."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared.domain.errors import InvalidPayload
from shared.domain.events import (
    Contact,
    ConversationSummarized,
    EventType,
    HandoffRequested,
    LeadErased,
    LeadOptedOut,
    LeadQualified,
    LeadStage,
    LeadStageChanged,
    LeadUpdated,
    MeetingCancelled,
    MeetingRequested,
    MeetingRescheduled,
    MeetingScheduled,
    decode_event,
    encode_event,
    lead_created,
)

AT = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
CONTACT = Contact(phone="+5511987654321", name="Mariana Souza")
COMMON = {"tenant_id": "acme", "conversation_id": "c1", "channel_key": "meta:106540352242922", "contact": CONTACT,
          "occurred_at": AT}


def one_of_each() -> list:
    return [
        lead_created(agent_id="default", first_message="Oi!", **COMMON),
        LeadQualified(event_id=LeadQualified.make_id("acme", "call-1"), payload={
            "fields": {"monthly_bill": 450, "property": "casa"}, "score": 80, "summary": "quer instalar em 3 meses"},
            **COMMON),
        LeadUpdated(event_id=LeadUpdated.make_id("acme", "call-2"), payload={"fields": {"email": "m@x.com"}}, **COMMON),
        LeadStageChanged(event_id=LeadStageChanged.make_id("acme", "call-3"),
                         payload={"from_stage": "qualified", "to_stage": "meeting"}, **COMMON),
        MeetingRequested(event_id=MeetingRequested.make_id("acme", "call-4"),
                         payload={"starts_at": "2026-11-25T17:00:00Z", "notes": "visita técnica"}, **COMMON),
        MeetingScheduled(event_id=MeetingScheduled.make_id("acme", "pmabc123", "0"), payload={
            "starts_at": "2026-12-03T18:00:00Z", "ends_at": "2026-12-03T19:00:00Z", "kind": "Visita técnica",
            "place": "visit", "calendar_event_id": "pmabc123"}, **COMMON),
        MeetingRescheduled(event_id=MeetingRescheduled.make_id("acme", "pmabc123", "1"), payload={
            "starts_at": "2026-12-04T13:00:00Z", "ends_at": "2026-12-04T14:00:00Z",
            "previous_starts_at": "2026-12-03T18:00:00Z", "calendar_event_id": "pmabc123"}, **COMMON),
        MeetingCancelled(event_id=MeetingCancelled.make_id("acme", "pmabc123", "2"), payload={
            "previous_starts_at": "2026-12-04T13:00:00Z", "calendar_event_id": "pmabc123"}, **COMMON),
        HandoffRequested(event_id=HandoffRequested.make_id("acme", "call-5"),
                         payload={"requested_by": "lead", "reason": "quer falar com um vendedor"}, **COMMON),
        LeadOptedOut(event_id=LeadOptedOut.make_id("acme", "m-9"), payload={"keyword": "SAIR"}, **COMMON),
        ConversationSummarized(event_id=ConversationSummarized.make_id("acme", "c1", "m-9"),
                               payload={"summary": "Lead quer energia solar", "message_count": 12}, **COMMON),
        LeadErased(event_id=LeadErased.make_id("acme", "erasure-1"), payload={"erasure_id": "erasure-1"},
                   **{**COMMON, "conversation_id": "erasure:erasure-1", "channel_key": "lgpd:erasure"}),
    ]


def test_every_event_type_round_trips_through_its_json():
    events = one_of_each()
    assert {e.type for e in events} == {t.value for t in EventType}
    for event in events:
        wire = encode_event(event)
        assert json.loads(wire)["schema_version"] == 1 and json.loads(wire)["type"] == event.type
        assert decode_event(wire) == event


def test_lead_created_has_one_id_per_conversation_whatever_the_time_or_words():
    first = lead_created(agent_id="default", first_message="Oi", **COMMON)
    again = lead_created(agent_id="default", first_message="outra", **{**COMMON, "occurred_at": datetime.now(UTC)})
    other = lead_created(agent_id="default", **{**COMMON, "conversation_id": "c2"})

    assert first.event_id == again.event_id != other.event_id
    assert LeadQualified.make_id("acme", "c1") != first.event_id, "the type is part of the id"


def test_the_contact_key_is_one_per_phone_and_tenant_whatever_the_channel():
    meta = lead_created(agent_id="default", **COMMON)
    zapi = lead_created(agent_id="default", **{**COMMON, "channel_key": "zapi:X", "conversation_id": "c9"})
    other_tenant = lead_created(agent_id="default", **{**COMMON, "tenant_id": "globex"})

    assert meta.contact_key == zapi.contact_key != other_tenant.contact_key
    assert "5511987654321" not in meta.contact_key, "no phone number in an ordering key"


@pytest.mark.parametrize(("mutate", "complaint"), [
    (lambda d: d.update(type="LeadExploded"), "does not match any of the expected tags"),
    (lambda d: d.update(schema_version=2), "schema_version"),
    (lambda d: d.update(occurred_at="2026-11-21T12:00:00"), "occurred_at"),
    (lambda d: d["contact"].update(phone="11 98765-4321"), "contact.phone"),
    (lambda d: d.pop("tenant_id"), "tenant_id"),
])
def test_a_malformed_event_is_refused_with_the_field_named(mutate, complaint):
    data = json.loads(encode_event(lead_created(agent_id="default", **COMMON)))
    mutate(data)

    with pytest.raises(InvalidPayload) as refused:
        decode_event(json.dumps(data).encode())
    assert complaint in str(refused.value)
    assert "98765" not in str(refused.value), "the refusal never echoes the lead's data"


def test_bytes_that_are_not_json_are_refused_not_crashed_on():
    with pytest.raises(InvalidPayload):
        decode_event(b"\x00\xffnot json")


def test_lead_stages_cover_the_funnel_crms_map():
    assert [s.value for s in LeadStage] == ["new", "qualified", "meeting", "proposal", "won", "lost"]
