"""Meetings in the lead's own time zone, and the booked calendar's seller told through the seller desk: agent
turns on the Firestore emulator, the real Gemini adapter against a local server in Vertex AI's shapes, and the
Calendar API contract fake."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from shared.adapters.firestore_bookings import FirestoreBookings
from shared.adapters.firestore_sellers import FirestoreSellerStore
from shared.domain.ids import contact_id, conversation_id, inbound_message_id, seller_key
from shared.domain.scheduling import CalendarConfig
from shared.ports import TurnRequest
from shared.services.seller_desk import handle_seller_message
from tests.calendar_fake import FakeGoogleCalendar
from tests.fakes import MetaWindowSender
from tests.integration.test_agent_turn_service import World, vertex  # noqa: F401 - the vertex fixture
from tests.integration.test_meeting_booking_turn import CALENDAR, world  # noqa: F401 - Ana's agent, a Monday 8h
from tests.vertex_fake import function_call_response, text_response

pytestmark = pytest.mark.emulators
ANA_CAL, BRUNO_CAL = "ana@solar.com.br", "bruno@solar.com.br"
ANA, BRUNO = "+5511900001111", "+5511900002222"


def manaus_lead(world: World) -> None:
    """The lead writes from a Manaus mobile (DDD 92, UTC-4, an hour behind Brasília)."""
    world.phone = "+55929" + str(uuid.uuid4().int)[:8]
    world.conv = conversation_id(world.key, world.phone)


def tool_result(world: World, request_index: int = 1) -> dict:
    return world.vertex.requests[request_index][1]["contents"][-1]["parts"][-1]["functionResponse"]["response"]


@pytest.fixture
def calendar() -> FakeGoogleCalendar:
    """Ana's and Bruno's calendars (the imported `world` books on this fake)."""
    return FakeGoogleCalendar.with_calendars(ANA_CAL, BRUNO_CAL)


def test_a_lead_from_manaus_is_offered_and_booked_on_their_own_clock(world, calendar):
    manaus_lead(world)
    world.vertex.script = [function_call_response(("offer_slots", {})), text_response("Tenho estes horários.")]
    world.turn(world.lead("quero agendar a visita"))
    offered = tool_result(world)
    assert offered["time_zone"] == "America/Manaus" and offered["time_zone_from"] == "phone"
    assert offered["slots"][0]["label"] == "seg 30/11 às 09h00 no seu horário (10h00 em Brasília)"
    assert offered["slots"][0]["start"] == "2026-11-30T09:00:00-04:00"

    # "quinta às 14h" is the lead's 14h: 15h in São Paulo, where the calendar and the seller are.
    world.vertex.script = [function_call_response(("book_meeting", {"when": "pode ser quinta às 14h"})),
                           text_response("Marcado!")]
    world.turn(world.lead("pode ser quinta às 14h"))
    booked = tool_result(world, 3)
    assert booked["status"] == "booked"
    assert booked["when"] == "qui 03/12 às 14h00 no seu horário (15h00 em Brasília)"
    [event] = calendar.events(ANA_CAL)
    assert event["start"] == {"dateTime": "2026-12-03T15:00:00-03:00", "timeZone": "America/Sao_Paulo"}
    assert "Fuso horário do lead: Manaus (America/Manaus)" in event["description"]
    [alert] = [text for _, to, text in world.sender.sent if to == ANA]
    assert "qui 03/12 às 15h00 (14h00 no horário do lead, Manaus)" in alert
    booking = FirestoreBookings(world.db).get_booking(world.tenant.tenant_id, world.conv)
    assert booking.lead_time_zone == "America/Manaus"  # the reminder reads it


def test_the_lead_saying_where_they_are_beats_their_number(world, calendar):
    """A São Paulo number, a lead in Lisbon (UTC+0 in November): offers three hours ahead of Brasília."""
    world.vertex.script = [function_call_response(("update_lead", {"location": "Lisboa"}), ("offer_slots", {})),
                           text_response("Tenho estes horários.")]
    world.turn(world.lead("Estou em Lisboa agora, quero marcar a visita"))
    offered = tool_result(world)
    assert offered["time_zone"] == "Europe/Lisbon" and offered["time_zone_from"] == "said"
    assert offered["slots"][0]["label"] == "seg 30/11 às 13h00 no seu horário (10h00 em Brasília)"
    lead = world.leads.get_lead(world.tenant.tenant_id, contact_id(world.phone))
    assert (lead.location, lead.time_zone) == ("Lisboa", "Europe/Lisbon")

    # A later turn keeps it: "o primeiro" books the Lisbon 13h = 10h in São Paulo.
    world.vertex.script = [function_call_response(("book_meeting", {"when": "o primeiro"})), text_response("ok")]
    world.turn(world.lead("o primeiro"))
    assert tool_result(world, 3)["when"] == "seg 30/11 às 13h00 no seu horário (10h00 em Brasília)"
    [event] = calendar.events(ANA_CAL)
    assert event["start"]["dateTime"] == "2026-11-30T10:00:00-03:00"


def test_a_time_the_lead_gives_in_brasilias_clock_is_read_there(world, calendar):
    manaus_lead(world)
    world.vertex.script = [function_call_response(("book_meeting", {"when": "quinta às 15h de Brasília"})),
                           text_response("ok")]
    world.turn(world.lead("quinta às 15h de Brasília"))
    assert tool_result(world)["when"] == "qui 03/12 às 14h00 no seu horário (15h00 em Brasília)"
    [event] = calendar.events(ANA_CAL)
    assert event["start"]["dateTime"] == "2026-12-03T15:00:00-03:00"


def seller_writes(world: World, seller: str, text: str) -> dict:
    """A seller writes to the business number (Meta opens their 24-hour window) and the desk handles it."""
    world.sender.last_inbound[seller] = world.now
    message_id = inbound_message_id("meta", world.tenant.meta_phone_number_id, uuid.uuid4().hex)
    sellers = world.deps.sellers
    sellers.record_seller_message(world.tenant.tenant_id, message_id, {
        "message_id": message_id, "kind": "text", "text": text, "reply_to": None, "sent_at": world.now})
    return handle_seller_message(TurnRequest(world.tenant.tenant_id, seller_key(world.tenant.tenant_id, seller),
                                             message_id, world.key, seller, purpose="seller"), world.deps).as_dict()


def test_the_booked_calendars_seller_alone_is_told_and_on_meta_a_closed_window_holds_the_alert(world, calendar, db):
    """Ana's calendar is full, so the visit lands on Bruno's: only Bruno hears of it. Bruno has not written to the
    business number today, so Meta would drop free text (131047): the alert is held, Bruno invited by template."""
    world.sender = MetaWindowSender(clock=lambda: world.now)
    world.deps.sellers = FirestoreSellerStore(db)
    world.agent(seller_phone=None, seller_template="piloto_chamar_vendedor",
                calendar=CalendarConfig.model_validate(CALENDAR | {"calendar_ids": [ANA_CAL, BRUNO_CAL]}
                                                       ).model_dump(mode="json"),
                sellers=[{"name": "Ana", "phone": ANA, "calendar_id": ANA_CAL},
                         {"name": "Bruno", "phone": BRUNO, "calendar_id": BRUNO_CAL}])
    calendar.add_busy(ANA_CAL, world.now, world.now + timedelta(days=8), "férias")
    world.sender.last_inbound[world.phone] = world.now  # the lead just wrote: their window is open

    world.vertex.script = [function_call_response(("book_meeting", {"when": "quinta às 15h"})), text_response("ok")]
    world.turn(world.lead("quinta às 15h"))
    [event] = calendar.events(BRUNO_CAL)
    assert event["start"]["dateTime"] == "2026-12-03T15:00:00-03:00"
    sellers_sent = [(to, t) for to, t in world.sender.delivered + world.sender.undelivered_131047 if to in (ANA, BRUNO)]
    assert sellers_sent == []  # no free text to a closed window, and nothing at all to Ana
    assert world.sender.templates == [(BRUNO, "piloto_chamar_vendedor", "pt_BR", ["Bruno", "Mariana"])]

    world.now += timedelta(hours=1)
    seller_writes(world, BRUNO, "oi")
    to_bruno = [t for to, t in world.sender.delivered if to == BRUNO]
    assert "Piloto agendou" in to_bruno[0] and "qui 03/12 às 15h00" in to_bruno[0]

    # Bruno's window is open now: the cancellation reaches him as text, and still not Ana.
    world.vertex.script = [function_call_response(("cancel_meeting", {"reason": "viagem"})), text_response("ok")]
    world.turn(world.lead("preciso cancelar"))
    assert calendar.events(BRUNO_CAL) == []
    assert "cancelou" in [t for to, t in world.sender.delivered if to == BRUNO][-1]
    assert not [t for to, t in world.sender.delivered + world.sender.undelivered_131047 if to == ANA]
    assert world.sender.undelivered_131047 == []


def test_a_calendar_no_seller_names_alerts_every_seller(world, calendar):
    world.agent(seller_phone=None, calendar=CalendarConfig.model_validate(
        CALENDAR | {"calendar_ids": [ANA_CAL, BRUNO_CAL]}).model_dump(mode="json"),
        sellers=[{"name": "Ana", "phone": ANA, "calendar_id": ANA_CAL}, {"name": "Bruno", "phone": BRUNO}])
    calendar.add_busy(ANA_CAL, world.now, world.now + timedelta(days=8), "férias")
    world.vertex.script = [function_call_response(("book_meeting", {"when": "quinta às 15h"})), text_response("ok")]
    world.turn(world.lead("quinta às 15h"))
    assert len(calendar.events(BRUNO_CAL)) == 1
    told = sorted(to for _, to, _ in world.sender.sent if to in (ANA, BRUNO))
    assert told == [ANA, BRUNO]


def test_a_time_on_the_leads_own_clock_waits_until_we_know_where_they_are(world, calendar):
    """A Portuguese mobile maps to Lisbon and the Azores: no zone from the number. '15h no meu horário' is not
    booked on Brasília's clock; once the lead says Lisbon, the same words book 15h Lisbon = 12h in São Paulo."""
    world.phone = "+3519" + str(uuid.uuid4().int)[:8]
    world.conv = conversation_id(world.key, world.phone)
    world.vertex.script = [function_call_response(("book_meeting", {"when": "quinta às 15h no meu horário"})),
                           text_response("Onde você está?")]
    world.turn(world.lead("quinta às 15h no meu horário"))
    assert tool_result(world)["status"] == "time_zone_unknown" and calendar.events(ANA_CAL) == []

    world.vertex.script = [function_call_response(("update_lead", {"location": "Lisboa"}),
                                                  ("book_meeting", {"when": "quinta às 15h no meu horário"})),
                           text_response("Marcado!")]
    world.turn(world.lead("estou em Lisboa"))
    assert tool_result(world, 3)["when"] == "qui 03/12 às 15h00 no seu horário (12h00 em Brasília)"
    [event] = calendar.events(ANA_CAL)
    assert event["start"]["dateTime"] == "2026-12-03T12:00:00-03:00"
