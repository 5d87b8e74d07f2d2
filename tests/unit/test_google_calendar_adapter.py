"""The Google Calendar adapter against the contract fake: documented shapes and errors."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.adapters.google_calendar import GoogleCalendar
from shared.domain.errors import (
    CalendarConflict,
    CalendarError,
    CalendarNotFound,
    CalendarPreconditionFailed,
    CalendarUnavailable,
)
from shared.domain.scheduling import MeetingDraft, meeting_event_id
from tests.calendar_fake import FakeGoogleCalendar

SP = ZoneInfo("America/Sao_Paulo")
START = datetime(2026, 12, 3, 15, 0, tzinfo=SP)
CAL = "ana@empresa.com.br"


@pytest.fixture
def fake():
    fake = FakeGoogleCalendar()
    fake.add_calendar(CAL)
    return fake


@pytest.fixture
def calendar(fake):
    return GoogleCalendar(fake.client(), token=lambda: "test-token")


def draft(**over) -> MeetingDraft:
    base = dict(event_id=meeting_event_id("t1", "c1"), summary="Visita técnica — Maria", description="Lead: Maria",
                start=START, end=START + timedelta(hours=1), time_zone="America/Sao_Paulo")
    return MeetingDraft(**(base | over))


def test_free_busy_returns_busy_intervals_and_leaves_out_unshared_calendars(fake, calendar):
    fake.add_busy(CAL, START, START + timedelta(hours=2))
    busy = calendar.busy([CAL, "bia@empresa.com.br"], START - timedelta(days=1), START + timedelta(days=1),
                         "America/Sao_Paulo")
    assert list(busy) == [CAL]
    assert busy[CAL][0].start == START and busy[CAL][0].end == START + timedelta(hours=2)
    sent = fake.requests[-1]
    assert sent["path"] == "/freeBusy" and sent["body"]["items"] == [{"id": CAL}, {"id": "bia@empresa.com.br"}]


def test_an_empty_time_range_is_a_calendar_error(calendar):
    with pytest.raises(CalendarError, match="timeRangeEmpty"):
        calendar.busy([CAL], START, START, "America/Sao_Paulo")


def test_insert_writes_the_client_id_and_a_second_insert_is_a_conflict(fake, calendar):
    event = calendar.insert_event(CAL, draft())
    assert event.event_id == meeting_event_id("t1", "c1") and event.status == "confirmed" and event.start == START
    assert fake.requests[-1]["params"] == {"sendUpdates": "none"}  # no conference asked, no version sent
    with pytest.raises(CalendarConflict):
        calendar.insert_event(CAL, draft())


def test_video_meetings_ask_for_a_meet_link_with_conference_data_version_1(fake, calendar):
    event = calendar.insert_event(CAL, draft(video_link=True))
    assert event.video_link and event.video_link.startswith("https://meet.google.com/")
    assert fake.requests[-1]["params"]["conferenceDataVersion"] == "1"


def test_a_calendar_without_meet_refuses_the_conference(fake, calendar):
    fake.add_calendar("sem-meet@x.com", meet=False)
    with pytest.raises(CalendarError, match="invalid"):
        calendar.insert_event("sem-meet@x.com", draft(video_link=True))


def test_unknown_calendar_is_not_found(calendar):
    with pytest.raises(CalendarNotFound):
        calendar.insert_event("nobody@x.com", draft())
    assert calendar.get_event(CAL, "abcdef12345") is None


def test_patch_with_a_stale_etag_fails_the_precondition(calendar):
    event = calendar.insert_event(CAL, draft())
    moved = calendar.patch_event(CAL, event.event_id, event.etag, start=START + timedelta(days=1),
                                 end=START + timedelta(days=1, hours=1))
    assert moved.start == START + timedelta(days=1) and moved.etag != event.etag
    with pytest.raises(CalendarPreconditionFailed):
        calendar.patch_event(CAL, event.event_id, event.etag, status="cancelled")


def test_delete_is_idempotent_and_the_cancelled_event_keeps_its_id(fake, calendar):
    event = calendar.insert_event(CAL, draft())
    calendar.delete_event(CAL, event.event_id)
    calendar.delete_event(CAL, event.event_id)  # 410 deleted: already done
    assert calendar.get_event(CAL, event.event_id).status == "cancelled"
    assert fake.events(CAL) == []
    with pytest.raises(CalendarConflict):
        calendar.insert_event(CAL, draft())


def test_rate_limits_and_server_errors_are_unavailable(fake, calendar):
    fake.fail_next.append((503, "backendError"))
    with pytest.raises(CalendarUnavailable):
        calendar.busy([CAL], START, START + timedelta(hours=1), "America/Sao_Paulo")
    fake.fail_next.append((403, "rateLimitExceeded"))
    with pytest.raises(CalendarUnavailable):
        calendar.get_event(CAL, "abcdef12345")


def test_the_fake_refuses_ids_outside_base32hex(calendar):
    with pytest.raises(CalendarError, match="invalid"):
        calendar.insert_event(CAL, draft(event_id="Meeting_1"))


def test_the_fake_refuses_requests_without_a_token(fake):
    with pytest.raises(CalendarError, match="401"):
        GoogleCalendar(fake.client(), token=lambda: "").busy([CAL], START, START + timedelta(hours=1), "UTC")
