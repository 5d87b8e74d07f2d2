"""Meeting events with and without the lead's zone (events written before the field existed stay readable), and
the CRM note rendering the meeting on the lead's clock when it differs from Brasília's."""

from __future__ import annotations

import json

import pytest

from shared.domain.crm import note_for
from shared.domain.errors import InvalidPayload
from shared.domain.events import MeetingCancelled, MeetingScheduled, decode_event, encode_event
from tests.unit.test_domain_events import COMMON

SCHEDULED = {"starts_at": "2026-12-03T18:00:00Z", "ends_at": "2026-12-03T19:00:00Z", "kind": "Visita técnica",
             "place": "visit", "calendar_event_id": "pmabc123"}


def scheduled(**zone: str) -> MeetingScheduled:
    return MeetingScheduled(event_id=MeetingScheduled.make_id("acme", "pmabc123", "0"), payload=SCHEDULED | zone,
                            **COMMON)


def test_an_event_written_before_the_zone_existed_is_still_read_and_noted_in_brasilias_time():
    old = json.loads(encode_event(scheduled()))
    old["payload"].pop("lead_time_zone"), old["payload"].pop("lead_time_zone_source")
    event = decode_event(json.dumps(old))
    assert event.payload.lead_time_zone is None and event.schema_version == 1
    assert note_for(event, {}) == "[Piloto] Reunião agendada: 03/12/2026 15:00 (horário de Brasília) (Visita técnica)."


def test_the_zone_and_its_source_round_trip():
    event = scheduled(lead_time_zone="America/Manaus", lead_time_zone_source="phone")
    again = decode_event(encode_event(event))
    assert (again.payload.lead_time_zone, again.payload.lead_time_zone_source) == ("America/Manaus", "phone")


@pytest.mark.parametrize("zone", [{"lead_time_zone": "Manaus"}, {"lead_time_zone": "America/Manaus; DROP"},
                                  {"lead_time_zone_source": "guess"}])
def test_a_malformed_zone_is_refused_naming_the_field(zone):
    data = json.loads(encode_event(scheduled()))
    data["payload"] |= zone
    with pytest.raises(InvalidPayload, match="lead_time_zone"):
        decode_event(data)


def test_the_note_shows_the_leads_clock_when_it_differs_and_their_date_when_that_differs_too():
    manaus = note_for(scheduled(lead_time_zone="America/Manaus", lead_time_zone_source="said"), {})
    assert "03/12/2026 15:00 (horário de Brasília); 14:00 no horário do lead (Manaus, America/Manaus)" in manaus
    recife = note_for(scheduled(lead_time_zone="America/Recife", lead_time_zone_source="phone"), {})
    assert "horário do lead" not in recife  # the same clock as Brasília all year
    tokyo = note_for(scheduled(lead_time_zone="Asia/Tokyo", lead_time_zone_source="client"), {})
    assert "15:00 (horário de Brasília); 04/12 03:00 no horário do lead (Tóquio, Asia/Tokyo)" in tokyo


def test_a_cancellation_says_which_meeting_on_both_clocks():
    event = MeetingCancelled(event_id=MeetingCancelled.make_id("acme", "pmabc123", "1"), payload={
        "previous_starts_at": "2026-12-03T18:00:00Z", "calendar_event_id": "pmabc123",
        "lead_time_zone": "Europe/Lisbon", "lead_time_zone_source": "said"}, **COMMON)
    assert note_for(event, {}) == ("[Piloto] Reunião de 03/12/2026 15:00 (horário de Brasília); 18:00 no horário do "
                                   "lead (Lisboa, Europe/Lisbon) cancelada pelo lead.")
