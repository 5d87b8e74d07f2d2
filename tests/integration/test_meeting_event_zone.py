"""The lead's time zone travels on MeetingScheduled / MeetingRescheduled / MeetingCancelled, and the CRM's note
shows the meeting on the lead's clock too: an agent turn booking on the Calendar contract fake, its events
synced to HubSpot's fake (Firestore emulator throughout)."""

from __future__ import annotations

import uuid

import pytest

from shared.domain.ids import conversation_id
from shared.services.crm_sync import SyncResult, sync_event
from tests.calendar_fake import FakeGoogleCalendar
from tests.integration.test_agent_turn_service import vertex  # noqa: F401 - the vertex fixture
from tests.integration.test_crm_sync_service import hubspot  # noqa: F401 - a tenant with HubSpot configured
from tests.integration.test_meeting_booking_turn import CAL, world  # noqa: F401 - Ana's agent, a Monday 8h
from tests.vertex_fake import function_call_response, text_response

pytestmark = pytest.mark.emulators


@pytest.fixture
def calendar() -> FakeGoogleCalendar:
    return FakeGoogleCalendar.with_calendars(CAL)


def test_meeting_events_carry_the_leads_zone_and_the_crm_note_shows_their_clock(world, calendar, hubspot):
    world.phone = "+55929" + str(uuid.uuid4().int)[:8]  # a Manaus mobile (UTC-4): an hour behind Brasília
    world.conv = conversation_id(world.key, world.phone)
    world.vertex.script = [function_call_response(("book_meeting", {"when": "quinta às 14h"})), text_response("ok")]
    world.turn(world.lead("quinta às 14h"))
    world.vertex.script = [function_call_response(("reschedule_meeting", {"when": "sexta às 9h"})),
                           text_response("ok")]
    world.turn(world.lead("melhor sexta às 9h"))
    world.vertex.script = [function_call_response(("cancel_meeting", {"reason": "viagem"})), text_response("ok")]
    world.turn(world.lead("preciso cancelar"))

    meetings = [e for e in world.events if e.type.startswith("Meeting")]
    assert [e.type for e in meetings] == ["MeetingScheduled", "MeetingRescheduled", "MeetingCancelled"]
    assert {(e.payload.lead_time_zone, e.payload.lead_time_zone_source) for e in meetings} == {
        ("America/Manaus", "phone")}

    for event in [e for e in world.events if e.type == "LeadCreated"] + meetings:
        assert sync_event(event, hubspot.deps).result is SyncResult.DELIVERED
    notes = [n["properties"]["hs_note_body"] for n in hubspot.fake.notes.values()]
    assert any("Reunião agendada: 03/12/2026 15:00 (horário de Brasília); 14:00 no horário do lead "
               "(Manaus, America/Manaus)" in n for n in notes)
    assert any("Reunião remarcada para 04/12/2026 10:00 (horário de Brasília); 09:00 no horário do lead" in n
               for n in notes)
    assert any("Reunião de 04/12/2026 10:00 (horário de Brasília); 09:00 no horário do lead (Manaus, "
               "America/Manaus) cancelada pelo lead." in n for n in notes)
