"""Meeting reminders on the emulators: scheduled on the real Cloud Tasks queue, sent as text inside the 24-hour
window, as the approved template outside it on Meta, never for a moved or cancelled meeting, never twice."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.adapters.cloud_tasks import CloudTasksFollowupQueue, CloudTasksScheduler, tasks_client
from shared.adapters.firestore_bookings import FirestoreBookings
from shared.adapters.firestore_channels import FirestoreChannelDirectory
from shared.domain.scheduling import Booking, BookingStatus, CalendarConfig
from shared.ports import MeetingReminderRequest
from shared.services.reminders import ReminderDeps, run_meeting_reminder, schedule_reminder
from shared.services.tools import BookingChange
from tests.integration.test_followup_service import World as FollowupWorld

pytestmark = pytest.mark.emulators
SP = ZoneInfo("America/Sao_Paulo")
MEETING = datetime(2026, 12, 3, 15, 0, tzinfo=SP)
CALENDAR = {"calendar_ids": ["ana@solar.com.br"], "reminder_minutes_before": 120,
            "kinds": [{"name": "Visita técnica", "place": "visit"}]}


@dataclass
class SpyReminderQueue:
    real: CloudTasksFollowupQueue
    calls: list[tuple[MeetingReminderRequest, datetime]] = field(default_factory=list)

    def schedule_reminder(self, request: MeetingReminderRequest, at: datetime) -> bool:
        self.calls.append((request, at))
        return self.real.schedule_reminder(request, at)


class World(FollowupWorld):
    def __init__(self, stack, db, tenant, provider: str = "meta", **calendar: object) -> None:  # noqa: ANN001
        super().__init__(stack, db, tenant, provider)
        self.bookings = FirestoreBookings(db)
        self.config = CalendarConfig.model_validate(CALENDAR | calendar)
        self.tenant_ref.collection("agents").document("default").set(
            {"calendar": self.config.model_dump(mode="json")}, merge=True)
        self.reminders = ReminderDeps(directory=FirestoreChannelDirectory(db, cache_seconds=0), store=self.store,
                                      bookings=self.bookings, sender_for=lambda _: self.sender,
                                      clock=lambda: self.now)
        env = stack.client_env()
        scheduler = CloudTasksScheduler(tasks_client(env["TASKS_EMULATOR_HOST"]), env["GOOGLE_CLOUD_PROJECT"],
                                        env["REGION"], None)
        self.reminder_queue = SpyReminderQueue(CloudTasksFollowupQueue(scheduler, "followups",
                                                                       stack.function_url("followup_turn")))

    def book(self, start: datetime = MEETING) -> Booking:
        booking = Booking(conversation_id=self.conv, contact_phone=self.phone, kind="Visita técnica",
                          status=BookingStatus.BOOKED, event_id="pmabcdef0123", calendar_id="ana@solar.com.br",
                          start=start, end=start + timedelta(hours=1))
        self.bookings.save_booking(self.tenant.tenant_id, booking)
        return booking

    def request(self, booking: Booking) -> MeetingReminderRequest:
        return MeetingReminderRequest(self.tenant.tenant_id, self.conv, booking.event_id, booking.start.isoformat())

    def lead_wrote_then_due(self, before_meeting: timedelta) -> Booking:
        """The lead's last message `before_meeting` ago, the reminder due now (2 h before), the meeting booked."""
        self.lead_said("quinta às 15h", MEETING - before_meeting)
        self.now = MEETING - timedelta(hours=2)
        return self.book()

    def lead_texts(self) -> list[str]:
        return [text for _, to, text in self.sender.sent if to == self.phone]


def test_booking_schedules_a_reminder_two_hours_before_on_the_followup_queue(stack, db, tenant):
    world = World(stack, db, tenant)
    world.now = MEETING - timedelta(days=2)
    booking = world.book()
    assert schedule_reminder(tenant.tenant_id, world.conv, BookingChange("scheduled", booking), world.config,
                             world.reminder_queue, world.now)
    [(request, at)] = world.reminder_queue.calls
    assert at == MEETING - timedelta(hours=2) and request.event_id == booking.event_id
    assert not schedule_reminder(tenant.tenant_id, world.conv, BookingChange("cancelled", booking), world.config,
                                 world.reminder_queue, world.now)
    world.now = MEETING - timedelta(minutes=30)  # booked too late for a reminder
    assert not schedule_reminder(tenant.tenant_id, world.conv, BookingChange("scheduled", booking), world.config,
                                 world.reminder_queue, world.now)


def test_inside_the_window_the_reminder_is_a_text_sent_once(stack, db, tenant):
    world = World(stack, db, tenant)
    booking = world.lead_wrote_then_due(timedelta(hours=20))
    assert run_meeting_reminder(world.request(booking), world.reminders) == "sent"
    assert run_meeting_reminder(world.request(booking), world.reminders) == "sent"  # a redelivered task
    [text] = world.lead_texts()
    assert "Lembrete" in text and "qui 03/12 às 15h00" in text and "Mariana" in text


def test_outside_the_window_meta_needs_the_approved_template(stack, db, tenant):
    world = World(stack, db, tenant)
    booking = world.lead_wrote_then_due(timedelta(days=3))
    assert run_meeting_reminder(world.request(booking), world.reminders) == "skipped_outside_window"
    assert world.lead_texts() == [] and world.sender.templates == []

    templated = World(stack, db, tenant, reminder_template={
        "name": "lembrete_reuniao", "language": "pt_BR", "params": ["{contact_name}", "{meeting_time}"]})
    booking = templated.lead_wrote_then_due(timedelta(days=3))
    assert run_meeting_reminder(templated.request(booking), templated.reminders) == "template_sent"
    assert templated.sender.templates == [(templated.phone, "lembrete_reuniao", "pt_BR",
                                           ["Mariana", "qui 03/12 às 15h00"])]


def test_a_moved_or_cancelled_meeting_gets_no_stale_reminder(stack, db, tenant):
    world = World(stack, db, tenant)
    old = world.lead_wrote_then_due(timedelta(hours=20))
    moved = world.book(MEETING + timedelta(days=1))
    assert run_meeting_reminder(world.request(old), world.reminders) == "stale"
    world.bookings.save_booking(tenant.tenant_id, moved.model_copy(update={"status": BookingStatus.CANCELLED}))
    assert run_meeting_reminder(world.request(moved), world.reminders) == "stale"
    assert world.lead_texts() == []


def test_the_followup_function_takes_reminder_tasks_and_refuses_malformed_ones(stack, tenant):
    import httpx

    url = stack.function_url("followup_turn")
    bad = httpx.post(url, json={"kind": "meeting_reminder", "tenant_id": tenant.tenant_id}, timeout=30)
    assert bad.status_code == 400 and "reminder body" in bad.text
    stale = httpx.post(url, json={"kind": "meeting_reminder", "tenant_id": tenant.tenant_id,
                                  "conversation_id": "no-such-conversation", "event_id": "pmabcdef0123",
                                  "starts_at": MEETING.isoformat()}, timeout=30)
    assert stale.status_code == 200 and stale.json()["reminder"] == "stale"


def test_the_reminder_says_the_time_on_the_leads_clock(stack, db, tenant):
    world = World(stack, db, tenant)
    booking = world.lead_wrote_then_due(timedelta(hours=20))
    world.bookings.save_booking(tenant.tenant_id, booking.model_copy(update={"lead_time_zone": "America/Manaus"}))
    assert run_meeting_reminder(world.request(booking), world.reminders) == "sent"
    [text] = world.lead_texts()
    assert "qui 03/12 às 14h00 no seu horário (15h00 em Brasília)" in text
