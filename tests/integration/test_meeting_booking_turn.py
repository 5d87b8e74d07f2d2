"""Agent turns that book meetings: calendar tools only for agents with a calendar, the booking on the fake
Google Calendar, MeetingScheduled for the CRM, the seller told on WhatsApp, and the fallback on errors."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.adapters.firestore_bookings import FirestoreBookings
from shared.adapters.google_calendar import GoogleCalendar
from shared.domain.scheduling import CalendarConfig
from shared.services.agent_turn import TurnResult
from shared.services.scheduling import MeetingScheduler
from tests.calendar_fake import FakeGoogleCalendar
from tests.integration.test_agent_turn_service import World, vertex  # noqa: F401 - the vertex fixture
from tests.vertex_fake import FakeVertex, function_call_response, text_response

pytestmark = pytest.mark.emulators
SP = ZoneInfo("America/Sao_Paulo")
CAL = "ana@solar.com.br"
SELLER = "+5511900001111"
CALENDAR = {"calendar_ids": [CAL], "horizon_days": 7,
            "kinds": [{"name": "Visita técnica", "duration_minutes": 60, "buffer_minutes": 30, "place": "visit"}]}


@pytest.fixture
def calendar() -> FakeGoogleCalendar:
    return FakeGoogleCalendar.with_calendars(CAL)


@pytest.fixture
def world(db, tenant, vertex, calendar) -> World:  # noqa: ANN001
    world = World(db, tenant, vertex)
    world.now = datetime(2026, 11, 30, 8, 0, tzinfo=SP)  # a Monday morning
    world.events = []
    world.deps.emit_event = world.events.append
    world.deps.scheduler_for = lambda config: MeetingScheduler(
        GoogleCalendar(calendar.client(), token=lambda: "t"), FirestoreBookings(db), config, clock=lambda: world.now)
    world.agent(seller_phone=SELLER, calendar=CalendarConfig.model_validate(CALENDAR).model_dump(mode="json"))
    return world


def declared_tools(vertex: FakeVertex, index: int = 0) -> set[str]:
    body = vertex.requests[index][1]
    return {d["name"] for tool in body.get("tools") or [] for d in tool.get("functionDeclarations") or []}


def test_the_agent_offers_real_slots_then_books_the_one_the_lead_chose(world, calendar):
    world.vertex.script = [function_call_response(("offer_slots", {})),
                           text_response("Tenho seg 10h, ter 9h ou qua 9h. Qual prefere?")]
    assert world.turn(world.lead("quero agendar a visita")).result == TurnResult.REPLIED
    assert "offer_slots" in declared_tools(world.vertex) and "request_meeting" not in declared_tools(world.vertex)
    offered = world.vertex.requests[1][1]["contents"][-1]["parts"][0]["functionResponse"]["response"]
    assert len(offered["slots"]) == 3 and offered["slots"][0]["label"] == "seg 30/11 às 10h00"

    world.vertex.script = [function_call_response(("book_meeting", {"when": "o segundo"})),
                           text_response("Fechado! Visita marcada.")]
    assert world.turn(world.lead("o segundo")).result == TurnResult.REPLIED
    [event] = calendar.events(CAL)
    assert event["start"]["dateTime"] == offered["slots"][1]["start"]
    assert "Mariana" in event["summary"] and world.phone in event["description"]
    scheduled = [e for e in world.events if e.type == "MeetingScheduled"]
    assert len(scheduled) == 1 and scheduled[0].payload.calendar_event_id == event["id"]
    assert scheduled[0].payload.place == "visit"
    seller_texts = [text for _, to, text in world.sender.sent if to == SELLER]
    assert len(seller_texts) == 1 and "Visita técnica" in seller_texts[0] and "01/12" in seller_texts[0]


def test_a_busy_time_the_lead_names_gets_alternatives_and_no_booking(world, calendar):
    calendar.add_busy(CAL, datetime(2026, 12, 3, 14, 0, tzinfo=SP), datetime(2026, 12, 3, 16, 0, tzinfo=SP))
    world.vertex.script = [function_call_response(("book_meeting", {"when": "quinta às 15h"})),
                           text_response("Às 15h não tenho; pode 12h30 ou 16h30?")]
    world.turn(world.lead("pode ser quinta às 15h"))
    result = world.vertex.requests[1][1]["contents"][-1]["parts"][0]["functionResponse"]["response"]
    assert result["status"] == "unavailable" and result["reason"] == "the seller is busy then"
    assert [a["label"] for a in result["alternatives"]] == ["qui 03/12 às 12h30", "qui 03/12 às 16h30",
                                                            "qui 03/12 às 17h00"]
    assert calendar.events(CAL) == [calendar.events(CAL)[0]] and len(calendar.events(CAL)) == 1  # only the busy one
    assert not [e for e in world.events if e.type.startswith("Meeting")]


def test_a_calendar_error_falls_back_to_request_and_confirm(world, calendar):
    calendar.fail_next.extend([(503, "backendError")] * 3)
    world.vertex.script = [function_call_response(("book_meeting", {"when": "quinta às 15h"})),
                           text_response("Anotei quinta às 15h; um consultor confirma.")]
    world.turn(world.lead("quinta às 15h"))
    result = world.vertex.requests[1][1]["contents"][-1]["parts"][0]["functionResponse"]["response"]
    assert result["ok"] is True and "fallback" in result and result["times"] == ["quinta às 15h"]
    assert [e.type for e in world.events if e.type.startswith("Meeting")] == ["MeetingRequested"]


def test_without_a_calendar_the_agent_keeps_request_meeting(world, db, tenant):  # noqa: ANN001
    world.tenant_ref.collection("agents").document("default").update({"calendar": None})
    world.vertex.script = [text_response("Oi!")]
    world.turn(world.lead("oi"))
    tools = declared_tools(world.vertex)
    assert "request_meeting" in tools and not tools & {"offer_slots", "book_meeting", "cancel_meeting"}


def test_the_lead_moves_then_cancels_and_the_crm_hears_each_change(world, calendar):
    world.vertex.script = [function_call_response(("book_meeting", {"when": "quinta às 15h"})), text_response("ok")]
    world.turn(world.lead("quinta às 15h"))
    world.vertex.script = [function_call_response(("reschedule_meeting", {"when": "sexta às 10h"})),
                           text_response("remarcado")]
    world.turn(world.lead("na verdade sexta às 10h"))
    [event] = calendar.events(CAL)
    assert event["start"]["dateTime"].startswith("2026-12-04T10:00")
    world.vertex.script = [function_call_response(("cancel_meeting", {"reason": "viagem"})), text_response("ok")]
    world.turn(world.lead("preciso cancelar"))
    assert calendar.events(CAL) == []
    kinds = [e.type for e in world.events if e.type.startswith("Meeting")]
    assert kinds == ["MeetingScheduled", "MeetingRescheduled", "MeetingCancelled"]
    assert len({e.event_id for e in world.events}) == len(world.events)
    moved = world.events[[e.type for e in world.events].index("MeetingRescheduled")]
    assert moved.payload.previous_starts_at == datetime(2026, 12, 3, 15, 0, tzinfo=SP)
    assert len([t for _, to, t in world.sender.sent if to == SELLER]) == 3


def test_a_reply_that_fails_to_send_is_resent_and_the_seller_is_told_once(world, calendar):
    from shared.domain.errors import ProviderSendError

    original = world.sender.send_text
    failed: list[str] = []

    def lead_reply_fails_once(channel, to_phone, text):  # noqa: ANN001, ANN202
        if to_phone == world.phone and not failed:
            failed.append(text)
            raise ProviderSendError("meta", 503, "unavailable")
        return original(channel, to_phone, text)

    world.sender.send_text = lead_reply_fails_once
    world.vertex.script = [function_call_response(("book_meeting", {"when": "quinta às 15h"})), text_response("ok!")]
    request = world.lead("quinta às 15h")
    with pytest.raises(ProviderSendError):
        world.turn(request)
    assert world.turn(request).result == TurnResult.RESENT  # Cloud Tasks retries: only the send is repeated
    assert world.sent_texts() == ["ok!"] and len(calendar.events(CAL)) == 1
    assert len([t for _, to, t in world.sender.sent if to == SELLER]) == 1
