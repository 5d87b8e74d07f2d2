"""The meeting scheduler on the Firestore emulator and the Calendar contract fake."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.adapters.firestore_bookings import FirestoreBookings
from shared.adapters.google_calendar import GoogleCalendar
from shared.domain.scheduling import Booking, BookingStatus, CalendarConfig, meeting_event_id
from shared.services.scheduling import Attendee, MeetingScheduler
from tests.calendar_fake import FakeGoogleCalendar

pytestmark = pytest.mark.emulators
SP = ZoneInfo("America/Sao_Paulo")
NOW = datetime(2026, 11, 30, 8, 0, tzinfo=SP)  # Monday
CAL = "ana@empresa.com.br"
CONFIG = CalendarConfig.model_validate({
    "calendar_ids": [CAL], "horizon_days": 7,
    "kinds": [{"name": "Visita técnica", "duration_minutes": 60, "buffer_minutes": 30, "place": "visit"},
              {"name": "Videochamada", "duration_minutes": 30, "place": "video"}]})
MARIA = Attendee(phone="+5511987654321", name="Maria", summary="Conta de luz de R$ 800, casa em Campinas.")


@pytest.fixture
def fake() -> FakeGoogleCalendar:
    return FakeGoogleCalendar.with_calendars(CAL)


@pytest.fixture
def tenant_id() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def scheduler(db, fake) -> MeetingScheduler:  # noqa: ANN001
    return MeetingScheduler(GoogleCalendar(fake.client(), token=lambda: "t"), FirestoreBookings(db), CONFIG,
                            clock=lambda: NOW)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=SP)


def test_offer_then_the_lead_picks_the_second_and_it_is_booked_once(scheduler, fake, tenant_id):
    _, offers = scheduler.offer(tenant_id, "c1", MARIA.phone, None)
    assert 2 <= len(offers) <= 3
    outcome = scheduler.book(tenant_id, "c1", MARIA, "a segunda opção", None)
    assert outcome.status == "booked" and outcome.event.start == offers[1].start
    [event] = fake.events(CAL)
    assert event["id"] == meeting_event_id(tenant_id, "c1")
    assert "Maria" in event["summary"] and "+5511987654321" in event["description"]
    assert "Conta de luz" in event["description"]
    again = scheduler.book(tenant_id, "c1", MARIA, "a segunda opção", None)  # a retried turn
    assert again.status == "already_booked" and len(fake.events(CAL)) == 1


def test_a_retry_after_the_insert_but_before_saving_reuses_the_event(scheduler, fake, db, tenant_id):
    scheduler.book(tenant_id, "c2", MARIA, "quinta às 15h", None)
    db.collection("tenants").document(tenant_id).collection("bookings").document("c2").delete()  # lost write
    outcome = scheduler.book(tenant_id, "c2", MARIA, "quinta às 15h", None)
    assert outcome.status == "booked" and len(fake.events(CAL)) == 1


def test_two_leads_never_get_the_same_slot(scheduler, fake, tenant_id):
    first = scheduler.book(tenant_id, "lead-a", MARIA, "quinta às 15h", None)
    second = scheduler.book(tenant_id, "lead-b", Attendee("+5521999998888", "João", None), "quinta às 15h", None)
    assert first.status == "booked" and second.status == "unavailable"
    assert all(s.start != at(3, 15) for s in second.alternatives) and second.alternatives
    assert len(fake.events(CAL)) == 1


def test_a_hold_stops_a_second_lead_even_before_calendar_shows_the_event(scheduler, db, tenant_id):
    FirestoreBookings(db).hold_slot(tenant_id, CAL, at(3, 15), "someone-else")
    outcome = scheduler.book(tenant_id, "c3", MARIA, "quinta às 15h", None)
    assert outcome.status == "unavailable" and outcome.reason == "just taken by another lead"


def test_a_busy_time_gets_the_nearest_free_alternatives(scheduler, fake, tenant_id):
    fake.add_busy(CAL, at(3, 14), at(3, 16))
    outcome = scheduler.book(tenant_id, "c4", MARIA, "quinta às 15h", None)
    assert outcome.status == "unavailable" and outcome.reason == "the seller is busy then"
    assert [s.start for s in outcome.alternatives] == [at(3, 12, 30), at(3, 16, 30), at(3, 17)]  # buffers kept


def test_outside_hours_is_said_and_alternatives_offered(scheduler, tenant_id):
    outcome = scheduler.book(tenant_id, "c5", MARIA, "sábado às 10h", None)
    assert outcome.status == "unavailable" and outcome.reason == "outside working hours"
    assert outcome.alternatives and all(s.start.weekday() < 5 for s in outcome.alternatives)


def test_reschedule_moves_the_same_event_and_cancel_frees_the_slot(scheduler, fake, tenant_id):
    scheduler.book(tenant_id, "c6", MARIA, "quinta às 15h", None)
    moved = scheduler.reschedule(tenant_id, "c6", "quinta às 15h30")  # overlaps its own old time: allowed
    assert moved.status == "rescheduled" and moved.previous_start == at(3, 15)
    [event] = fake.events(CAL)
    assert event["start"]["dateTime"].startswith("2026-12-03T15:30")
    cancelled = scheduler.cancel(tenant_id, "c6")
    assert cancelled.status == "cancelled" and cancelled.booking.status == BookingStatus.CANCELLED
    assert fake.events(CAL) == []
    other = scheduler.book(tenant_id, "c7", MARIA, "quinta às 15h30", None)
    assert other.status == "booked"


def test_booking_again_after_a_cancel_revives_the_conversations_event(scheduler, fake, tenant_id):
    scheduler.book(tenant_id, "c8", MARIA, "quinta às 15h", None)
    scheduler.cancel(tenant_id, "c8")
    again = scheduler.book(tenant_id, "c8", MARIA, "sexta às 10h", None)  # same id: 409, then patched back
    assert again.status == "booked" and again.event.start == at(4, 10)
    [event] = fake.events(CAL)
    assert event["status"] == "confirmed"


def test_video_meetings_carry_a_meet_link(scheduler, tenant_id):
    outcome = scheduler.book(tenant_id, "c9", MARIA, "quinta às 15h", "videochamada")
    assert outcome.booking.video_link.startswith("https://meet.google.com/")


def test_words_without_a_time_offer_slots_again(scheduler, tenant_id):
    outcome = scheduler.book(tenant_id, "c10", MARIA, "quero sim", None)
    assert outcome.status == "unclear" and len(outcome.alternatives) >= 2


def test_a_day_without_time_offers_that_days_slots(scheduler, tenant_id):
    outcome = scheduler.book(tenant_id, "c11", MARIA, "pode ser na sexta", None)
    assert outcome.status == "choose_time" and {s.start.date() for s in outcome.alternatives} == {at(4, 0).date()}


def test_a_calendar_without_meet_still_gets_the_video_meeting_without_a_link(db, fake, tenant_id):
    fake.add_calendar("sem-meet@empresa.com.br", meet=False)
    config = CONFIG.model_copy(update={"calendar_ids": ["sem-meet@empresa.com.br"]})
    scheduler = MeetingScheduler(GoogleCalendar(fake.client(), token=lambda: "t"), FirestoreBookings(db), config,
                                 clock=lambda: NOW)
    outcome = scheduler.book(tenant_id, "c12", MARIA, "quinta às 15h", "videochamada")
    assert outcome.status == "booked" and outcome.booking.video_link is None
    assert [r["params"].get("conferenceDataVersion") for r in fake.requests if r["method"] == "POST"
            and r["path"].endswith("/events")] == ["1", None]


def test_a_hold_left_by_a_crashed_attempt_lapses_and_a_booked_one_does_not(db, tenant_id):
    bookings = FirestoreBookings(db)
    start = at(3, 15)
    assert bookings.hold_slot(tenant_id, CAL, start, "crashed")
    assert not bookings.hold_slot(tenant_id, CAL, start, "other")  # fresh: the first attempt may still book
    hold = next(db.collection("tenants").document(tenant_id).collection("slot_holds").stream()).reference
    hold.update({"held_at": datetime.now(UTC) - timedelta(minutes=11)})
    assert bookings.hold_slot(tenant_id, CAL, start, "other")  # the crashed attempt never booked it
    bookings.save_booking(tenant_id, Booking(conversation_id="other", contact_phone="+5511999990000", kind="Visita",
                                             status=BookingStatus.BOOKED, calendar_id=CAL, start=start,
                                             end=start + timedelta(hours=1), event_id="pmabcdef0123"))
    hold.update({"held_at": datetime.now(UTC) - timedelta(hours=5)})
    assert not bookings.hold_slot(tenant_id, CAL, start, "third")  # booked: never lapses
