"""Meetings booked through the /chat API (website widgets, integrations): the lead's phone and zone the caller
sends, the calendar's seller told on WhatsApp from a channel of the tenant serving that agent, and a tenant with
no such channel recording the alert as not delivered. Firestore emulator, the real Gemini adapter against a
local server in Vertex AI's shapes, and the Calendar API contract fake."""

from __future__ import annotations

import uuid

import pytest

from shared.adapters.firestore_bookings import FirestoreBookings
from shared.domain.ids import conversation_id
from shared.domain.scheduling import CalendarConfig
from shared.services.chat import API_CHANNEL, ChatMessage, chat
from tests.calendar_fake import FakeGoogleCalendar
from tests.integration.test_agent_turn_service import World, vertex  # noqa: F401 - the vertex fixture
from tests.integration.test_meeting_booking_turn import CALENDAR, world  # noqa: F401 - Ana's agent, a Monday 8h
from tests.vertex_fake import function_call_response, text_response

pytestmark = pytest.mark.emulators
CAL = "ana@solar.com.br"
SELLER = "+5511900001111"  # the seller of the imported world's agent (no calendar_id: every seller is told)


@pytest.fixture
def calendar() -> FakeGoogleCalendar:
    return FakeGoogleCalendar.with_calendars(CAL)


class Widget:
    """A website chat widget talking to the default agent for one visitor."""

    def __init__(self, world: World, agent_id: str = "default") -> None:
        self.world, self.agent_id = world, agent_id
        self.user = f"visitor-{uuid.uuid4().hex[:8]}"
        self.conv = conversation_id(API_CHANNEL, self.user)

    def say(self, text: str, message_id: str | None = None, **lead: str) -> dict:
        return chat(ChatMessage(tenant_id=self.world.tenant.tenant_id, user_id=self.user, message=text,
                                agent_id=self.agent_id, message_id=message_id or uuid.uuid4().hex, **lead),
                    self.world.deps)

    def booking(self):  # noqa: ANN201
        return FirestoreBookings(self.world.db).get_booking(self.world.tenant.tenant_id, self.conv)


def tool_result(world: World, request_index: int) -> dict:
    return world.vertex.requests[request_index][1]["contents"][-1]["parts"][-1]["functionResponse"]["response"]


def to_seller(world: World) -> list[tuple[str, str]]:
    return [(key, text) for key, to, text in world.sender.sent if to == SELLER]


def manaus() -> str:
    return "+55929" + str(uuid.uuid4().int)[:8]


def test_a_chat_booking_with_the_leads_phone_books_on_their_clock_and_alerts_the_seller_once(world, calendar):
    widget, phone = Widget(world), manaus()
    world.vertex.script = [function_call_response(("offer_slots", {})), text_response("Tenho estes horários.")]
    widget.say("quero agendar a visita", phone=phone)
    offered = tool_result(world, 1)
    assert offered["time_zone"] == "America/Manaus" and offered["time_zone_from"] == "phone"
    assert offered["slots"][0]["label"] == "seg 30/11 às 09h00 no seu horário (10h00 em Brasília)"

    # A later request without the phone: the conversation kept it.
    world.vertex.script = [function_call_response(("book_meeting", {"when": "quinta às 14h"})),
                           text_response("Marcado!")]
    retry_id = uuid.uuid4().hex
    reply = widget.say("pode ser quinta às 14h", message_id=retry_id)
    assert reply["response"] == "Marcado!" and tool_result(world, 3)["status"] == "booked"
    [event] = calendar.events(CAL)
    assert event["start"]["dateTime"] == "2026-12-03T15:00:00-03:00"
    assert phone in event["description"]  # the seller's calendar names the phone the lead gave, not "api:…"

    # Sent from the tenant's first active channel of the default agent by key (Evolution sorts before Meta, Z-API).
    [(channel, alert)] = to_seller(world)
    assert channel == f"evolution:{world.tenant.evolution_instance}"
    assert "Piloto agendou" in alert and f"telefone {phone}" in alert and "chat do site" in alert
    assert "qui 03/12 às 15h00 (14h00 no horário do lead, Manaus)" in alert
    booking = widget.booking()
    assert booking.lead_time_zone == "America/Manaus"
    assert list(booking.seller_alerts.values()) == [f"sent via {channel}"]

    # The widget retries the same message (a lost response): answered from memory, no second alert or event.
    assert widget.say("pode ser quinta às 14h", message_id=retry_id)["duplicate"] is True
    assert len(to_seller(world)) == 1 and len(calendar.events(CAL)) == 1


def test_the_zone_the_caller_sends_is_used_and_what_the_lead_says_still_wins(world, calendar):
    widget = Widget(world)
    world.vertex.script = [function_call_response(("offer_slots", {})), text_response("Tenho estes horários.")]
    widget.say("quero agendar", time_zone="Europe/Lisbon", phone=manaus())
    offered = tool_result(world, 1)
    assert offered["time_zone"] == "Europe/Lisbon" and offered["time_zone_from"] == "client"  # beats the phone
    assert offered["slots"][0]["label"] == "seg 30/11 às 13h00 no seu horário (10h00 em Brasília)"

    world.vertex.script = [function_call_response(("update_lead", {"location": "Manaus"}), ("offer_slots", {})),
                           text_response("Tenho estes horários.")]
    widget.say("na verdade estou em Manaus")
    offered = tool_result(world, 3)
    assert offered["time_zone"] == "America/Manaus" and offered["time_zone_from"] == "said"


def test_moving_and_cancelling_on_the_chat_tells_the_seller_each_change(world, calendar):
    widget = Widget(world)
    world.vertex.script = [function_call_response(("book_meeting", {"when": "quinta às 15h"})), text_response("ok")]
    widget.say("quinta às 15h", phone="+55 11 98765-4321")  # spaces and a dash are read as E.164
    world.vertex.script = [function_call_response(("reschedule_meeting", {"when": "sexta às 10h"})),
                           text_response("remarcado")]
    widget.say("na verdade sexta às 10h")
    world.vertex.script = [function_call_response(("cancel_meeting", {"reason": "viagem"})), text_response("ok")]
    widget.say("preciso cancelar")
    alerts = [text for _, text in to_seller(world)]
    assert [a.split(":")[0] for a in alerts] == ["📅 Piloto agendou", "📅 Piloto remarcou",
                                                  "📅 Um lead (telefone +5511987654321) cancelou"]
    assert all("chat do site" in a for a in alerts)
    assert len(widget.booking().seller_alerts) == 3


def test_a_tenant_without_a_channel_for_the_agent_records_the_alert_as_not_delivered(world, calendar):
    world.tenant_ref.collection("agents").document("site").set({
        "seller_phone": SELLER, "calendar": CalendarConfig.model_validate(CALENDAR).model_dump(mode="json")})
    widget = Widget(world, agent_id="site")  # no WhatsApp channel of this tenant is answered by "site"
    world.vertex.script = [function_call_response(("book_meeting", {"when": "quinta às 15h"})),
                           text_response("Marcado!")]
    reply = widget.say("quinta às 15h", phone=manaus())
    assert reply["response"] == "Marcado!" and len(calendar.events(CAL)) == 1  # the lead's booking stands
    assert world.sender.sent == []
    [status] = widget.booking().seller_alerts.values()
    assert status.startswith("not_delivered:") and "'site'" in status


def test_a_seller_answering_a_chat_alert_is_told_where_the_lead_is_and_can_read_the_conversation(world, calendar, db):
    from shared.adapters.firestore_sellers import FirestoreSellerStore
    from shared.domain.ids import inbound_message_id, seller_key
    from shared.ports import TurnRequest
    from shared.services.seller_desk import handle_seller_message

    world.deps.sellers = FirestoreSellerStore(db)
    widget, phone = Widget(world), manaus()
    world.vertex.script = [function_call_response(("book_meeting", {"when": "quinta às 15h"})), text_response("ok")]
    widget.say("quinta às 15h", phone=phone)
    [(_, alert)] = to_seller(world)
    code = alert.rsplit("#", 1)[1].strip()

    def seller_says(text: str) -> dict:
        message_id = inbound_message_id("meta", world.tenant.meta_phone_number_id, uuid.uuid4().hex)
        world.deps.sellers.record_seller_message(world.tenant.tenant_id, message_id, {
            "message_id": message_id, "kind": "text", "text": text, "reply_to": None, "sent_at": world.now})
        return handle_seller_message(TurnRequest(world.tenant.tenant_id, seller_key(world.tenant.tenant_id, SELLER),
                                                 message_id, world.key, SELLER, purpose="seller"),
                                     world.deps).as_dict()

    assert seller_says(f"#{code} oi, tudo certo para quinta?")["result"] == "refused"
    told = to_seller(world)[-1][1]
    assert "chat do site" in told and phone in told
    assert all(to != phone for _, to, _ in world.sender.sent), "nothing is sent to a number as if it were WhatsApp"
    seller_says(f"resumo #{code}")
    assert "quinta às 15h" in to_seller(world)[-1][1]


def test_a_website_lead_who_gives_a_phone_reaches_the_crm_like_a_whatsapp_one_and_one_without_does_not(
        world, calendar):
    emitted: list = []
    world.deps.emit_event = emitted.append
    anonymous = Widget(world)
    world.vertex.script = [function_call_response(("update_lead", {"name": "Visitante"})), text_response("Oi!")]
    anonymous.say("oi, só olhando")
    assert emitted == []  # no phone: nobody the CRM could match

    widget, phone = Widget(world), manaus()
    world.vertex.script = [function_call_response(("offer_slots", {})), text_response("Tenho estes horários.")]
    widget.say("quero agendar a visita", phone=phone)
    world.vertex.script = [function_call_response(("book_meeting", {"when": "quinta às 14h"})),
                           text_response("Marcado!")]
    widget.say("pode ser quinta às 14h")  # the phone is not repeated: the conversation kept it

    kinds = [type(event).__name__ for event in emitted]
    assert kinds.count("LeadCreated") == 1 and "MeetingScheduled" in kinds
    assert {event.contact.phone for event in emitted} == {phone}
    assert {event.channel_key for event in emitted} == {API_CHANNEL}
    [scheduled] = [event for event in emitted if type(event).__name__ == "MeetingScheduled"]
    assert scheduled.payload.lead_time_zone == "America/Manaus"
