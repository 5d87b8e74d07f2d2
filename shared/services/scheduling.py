"""Booking meetings on the sellers' calendars: offer free slots, book the one the lead chose, move or cancel it.

Safe under retries and races:
- one Calendar event per conversation, with a deterministic id: a retried turn's insert answers 409 and the
  existing event is reused (or revived when it was cancelled);
- free/busy is read again right before every booking, and the slot is held in Firestore (a create that only
  one conversation can win) before the event is written, so two leads never get the same slot through Piloto.

Calendar errors (CalendarError) are not handled here: the agent's tool falls back to request-and-confirm.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from shared import log
from shared.domain.errors import CalendarConflict, CalendarError, CalendarPreconditionFailed, CalendarUnavailable
from shared.domain.scheduling import (
    Booking,
    awake_for_lead,
    BookingStatus,
    CalendarConfig,
    CalendarEvent,
    Interval,
    MeetingDraft,
    MeetingKind,
    MeetingPlace,
    OfferedSlot,
    Slot,
    choose_offers,
    free_slots,
    horizon,
    meeting_event_id,
    nearest_free,
    parse_choice,
    same_clock,
    slot_at,
    within_hours,
    zone_of_words,
    zone_place_name,
)
from shared.ports import CalendarApi

logger = logging.getLogger(__name__)


class BookingStore(Protocol):
    def get_booking(self, tenant_id: str, conversation_id: str) -> Booking | None: ...

    def save_booking(self, tenant_id: str, booking: Booking) -> None: ...

    def hold_slot(self, tenant_id: str, calendar_id: str, start: datetime, conversation_id: str) -> bool:
        """True when this conversation holds the slot now (created it, or held it already)."""

    def release_slot(self, tenant_id: str, calendar_id: str, start: datetime, conversation_id: str) -> None: ...

    def note_seller_alert(self, tenant_id: str, conversation_id: str, alert_id: str, status: str) -> None:
        """Record on the booking what became of a seller's alert about it (delivered, held, not delivered: why)."""


@dataclass(frozen=True)
class Attendee:
    """Who the meeting is with, for the event's title and description."""

    phone: str
    name: str | None
    summary: str | None  # the conversation so far, for the seller


@dataclass
class BookingOutcome:
    """What happened: `status` is booked | already_booked | rescheduled | cancelled | unavailable | unclear |
    choose_time | nothing_booked."""

    status: str
    booking: Booking | None = None
    event: CalendarEvent | None = None
    alternatives: list[Slot] = field(default_factory=list)
    reason: str | None = None
    previous_start: datetime | None = None


class MeetingScheduler:
    def __init__(self, calendar: CalendarApi, bookings: BookingStore, config: CalendarConfig,
                 clock: Callable[[], datetime]) -> None:
        self._calendar = calendar
        self._bookings = bookings
        self.config = config
        self._clock = clock

    def note_seller_alert(self, tenant_id: str, conversation_id: str, alert_id: str, status: str) -> None:
        self._bookings.note_seller_alert(tenant_id, conversation_id, alert_id, status)

    # --- offering ---------------------------------------------------------------------------------

    def offer(self, tenant_id: str, conversation_id: str, contact_phone: str, kind_name: str | None,
              day: date | None = None, lead_zone: str | None = None) -> tuple[MeetingKind, list[Slot]]:
        """Two or three free slots (on `day` of the lead's calendar when they named one), remembered for
        'o primeiro'. `lead_zone`: the lead's IANA zone (default: the business's)."""
        kind = self.config.kind(kind_name)
        slots = self._free(kind)
        if day is not None:
            zone = ZoneInfo(lead_zone or self.config.time_zone)
            slots = [s for s in slots if s.start.astimezone(zone).date() == day]
        if lead_zone:
            slots = awake_for_lead(slots, lead_zone)
        offers = choose_offers(slots, 3)
        booking = self._bookings.get_booking(tenant_id, conversation_id) or Booking(
            conversation_id=conversation_id, contact_phone=contact_phone, kind=kind.name)
        booking = booking.model_copy(update={"offered": [OfferedSlot.of(s) for s in offers], "kind": kind.name,
                                             "updated_at": self._clock(),
                                             "lead_time_zone": lead_zone or booking.lead_time_zone})
        self._bookings.save_booking(tenant_id, booking)
        return kind, offers

    # --- booking ----------------------------------------------------------------------------------

    def book(self, tenant_id: str, conversation_id: str, who: Attendee, when: str, kind_name: str | None,
             lead_zone: str | None = None) -> BookingOutcome:
        """Book the time the lead chose; their words are read in `lead_zone` (default: the business's zone)."""
        booking = self._bookings.get_booking(tenant_id, conversation_id)
        if booking is not None and booking.status == BookingStatus.BOOKED:
            wanted = self._wanted(booking, when, lead_zone)
            if isinstance(wanted, datetime) and wanted != booking.start:
                return self.reschedule(tenant_id, conversation_id, when, lead_zone)
            return BookingOutcome("already_booked", booking)
        kind = self.config.kind(kind_name or (booking.kind if booking else None))
        wanted = self._wanted(booking, when, lead_zone)
        if not isinstance(wanted, datetime):
            return self._ask_again(tenant_id, conversation_id, who.phone, kind, wanted, lead_zone=lead_zone)
        event_id = meeting_event_id(tenant_id, conversation_id)
        slots = self._free(kind)  # read free/busy again: the offer may be minutes old
        slot = slot_at(wanted, slots)
        if slot is None or not self._bookings.hold_slot(tenant_id, slot.calendar_id, slot.start, conversation_id):
            event = self._own_event_at(event_id, wanted)  # a retry whose first try wrote the event
            if event is None:
                return self._unavailable(wanted, kind, slots, taken=slot is not None)
        else:
            draft = self._draft(event_id, kind, slot, who, lead_zone)
            try:
                event = self._insert(slot, draft)
            except CalendarConflict:
                event = self._reuse(slot, draft)
            except Exception:
                self._bookings.release_slot(tenant_id, slot.calendar_id, slot.start, conversation_id)
                raise
        booked = Booking(conversation_id=conversation_id, contact_phone=who.phone, kind=kind.name,
                         status=BookingStatus.BOOKED, offered=[], event_id=event.event_id,
                         calendar_id=event.calendar_id, start=event.start, end=event.end, video_link=event.video_link,
                         changes=booking.changes if booking else 0, updated_at=self._clock(),
                         lead_time_zone=lead_zone or (booking.lead_time_zone if booking else None))
        self._bookings.save_booking(tenant_id, booked)
        log.log(logger, logging.INFO, "meeting booked", kind=kind.name, event_id=event.event_id)
        return BookingOutcome("booked", booked, event)

    def reschedule(self, tenant_id: str, conversation_id: str, when: str, lead_zone: str | None = None
                   ) -> BookingOutcome:
        booking = self._bookings.get_booking(tenant_id, conversation_id)
        if booking is None or booking.status != BookingStatus.BOOKED:
            return BookingOutcome("nothing_booked", booking)
        kind = self.config.kind(booking.kind)
        wanted = self._wanted(booking, when, lead_zone)
        if not isinstance(wanted, datetime):
            return self._ask_again(tenant_id, conversation_id, booking.contact_phone, kind, wanted, keep=booking,
                                   lead_zone=lead_zone)
        if wanted == booking.start:
            return BookingOutcome("already_booked", booking)
        slots = self._free(kind, ignore=Interval(booking.start, booking.end), ignore_calendar=booking.calendar_id)
        slot = slot_at(wanted, [s for s in slots if s.calendar_id == booking.calendar_id]) or slot_at(wanted, slots)
        if slot is None or slot.calendar_id != booking.calendar_id or not self._bookings.hold_slot(
                tenant_id, slot.calendar_id, slot.start, conversation_id):
            # Moving between sellers' calendars would be a new event; offer the same seller's times instead.
            same_seller = [s for s in slots if s.calendar_id == booking.calendar_id]
            return self._unavailable(wanted, kind, same_seller, taken=slot is not None)
        event = self._patch(booking, start=slot.start, end=slot.end)
        previous = booking.start
        moved = booking.model_copy(update={"start": event.start, "end": event.end, "changes": booking.changes + 1,
                                           "offered": [], "updated_at": self._clock(),
                                           "lead_time_zone": lead_zone or booking.lead_time_zone})
        self._bookings.save_booking(tenant_id, moved)
        self._bookings.release_slot(tenant_id, booking.calendar_id, previous, conversation_id)
        log.log(logger, logging.INFO, "meeting rescheduled", event_id=booking.event_id)
        return BookingOutcome("rescheduled", moved, event, previous_start=previous)

    def cancel(self, tenant_id: str, conversation_id: str) -> BookingOutcome:
        booking = self._bookings.get_booking(tenant_id, conversation_id)
        if booking is None or booking.status != BookingStatus.BOOKED:
            return BookingOutcome("nothing_booked", booking)
        self._calendar.delete_event(booking.calendar_id, booking.event_id)
        cancelled = booking.model_copy(update={"status": BookingStatus.CANCELLED, "changes": booking.changes + 1,
                                               "updated_at": self._clock()})
        self._bookings.save_booking(tenant_id, cancelled)
        self._bookings.release_slot(tenant_id, booking.calendar_id, booking.start, conversation_id)
        log.log(logger, logging.INFO, "meeting cancelled", event_id=booking.event_id)
        return BookingOutcome("cancelled", cancelled, previous_start=booking.start)

    # --- helpers ----------------------------------------------------------------------------------

    def _free(self, kind: MeetingKind, ignore: Interval | None = None, ignore_calendar: str | None = None
              ) -> list[Slot]:
        now = self._clock()
        window = horizon(self.config, now)
        busy = self._calendar.busy(self.config.calendar_ids, window.start - timedelta(hours=4),
                                   window.end + timedelta(hours=4), self.config.time_zone)
        if ignore is not None and ignore_calendar in busy:
            # Our own event must not block moving it by half an hour; freeBusy may have merged it with a
            # neighbour, so only the part that is ours is cut out.
            busy[ignore_calendar] = [piece for b in busy[ignore_calendar] for piece in _minus(b, ignore)]
        return free_slots(self.config, kind, busy, now, limit=400)

    def _wanted(self, booking: Booking | None, when: str, lead_zone: str | None = None) -> datetime | date | None:
        """The start the lead chose: an offered slot, a time they named, an ISO time; a bare day; or None.
        Named times are in the lead's zone unless they say whose ('15h de Brasília', 'no horário de vocês')."""
        zone = ZoneInfo(zone_of_words(when, lead_zone or self.config.time_zone, self.config.time_zone))
        try:
            parsed = datetime.fromisoformat(when.strip())
        except ValueError:
            parsed = None
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)
        offered = [o.slot() for o in booking.offered] if booking else []
        choice = parse_choice(when, offered, self._clock(), zone)
        if choice is None:
            return None
        if choice.offered_index is not None:
            return offered[choice.offered_index].start
        return choice.wanted or choice.day_only

    def _ask_again(self, tenant_id: str, conversation_id: str, phone: str, kind: MeetingKind,
                   wanted: date | None, keep: Booking | None = None, lead_zone: str | None = None) -> BookingOutcome:
        _, offers = self.offer(tenant_id, conversation_id, phone, kind.name, day=wanted, lead_zone=lead_zone)
        if wanted is not None and not offers:
            _, offers = self.offer(tenant_id, conversation_id, phone, kind.name, lead_zone=lead_zone)
            return BookingOutcome("unavailable", keep, alternatives=offers, reason="no free time that day")
        return BookingOutcome("choose_time" if wanted else "unclear", keep, alternatives=offers)

    def _unavailable(self, wanted: datetime, kind: MeetingKind, slots: list[Slot], taken: bool) -> BookingOutcome:
        if wanted < self._clock() + timedelta(minutes=self.config.min_notice_minutes):
            reason = "too soon or in the past"
        elif not within_hours(self.config, wanted, kind):
            reason = "outside working hours"
        elif taken:
            reason = "just taken by another lead"
        else:
            reason = "the seller is busy then"
        return BookingOutcome("unavailable", alternatives=nearest_free(wanted, slots, 3), reason=reason)

    def _draft(self, event_id: str, kind: MeetingKind, slot: Slot, who: Attendee, lead_zone: str | None = None
               ) -> MeetingDraft:
        name = who.name or "lead do WhatsApp"
        lines = [f"{kind.name} com {name}", f"WhatsApp: {who.phone}", "Agendado pelo Piloto."]
        if lead_zone and not same_clock(slot.start, lead_zone, self.config.time_zone):
            # The event is in the business's zone; the seller calling the lead should know the lead's clock. The
            # zone, not a time: a reschedule moves the event without rewriting its description.
            lines.insert(2, f"Fuso horário do lead: {zone_place_name(lead_zone)} ({lead_zone})")
        if who.summary:
            lines += ["", "Resumo da conversa:", who.summary[:3000]]
        return MeetingDraft(event_id=event_id, summary=f"{kind.name} — {name}", description="\n".join(lines),
                            start=slot.start, end=slot.end, time_zone=self.config.time_zone,
                            location={MeetingPlace.VISIT: "No endereço do cliente",
                                      MeetingPlace.CALL: f"Ligação para {who.phone}"}.get(kind.place),
                            video_link=kind.place == MeetingPlace.VIDEO and self.config.allow_video_links)

    def _insert(self, slot: Slot, draft: MeetingDraft) -> CalendarEvent:
        """A calendar whose owner cannot create Meet conferences refuses the request (400 invalid): book the
        meeting without a link rather than not at all."""
        try:
            return self._calendar.insert_event(slot.calendar_id, draft)
        except CalendarError as err:
            if not draft.video_link or isinstance(err, (CalendarConflict, CalendarUnavailable)) or err.status != 400:
                raise
            log.log(logger, logging.WARNING, "calendar refused a Meet link; booking without one", reason=err.reason)
            return self._calendar.insert_event(slot.calendar_id, replace(draft, video_link=False))

    def _own_event_at(self, event_id: str, start: datetime) -> CalendarEvent | None:
        for calendar_id in self.config.calendar_ids:
            event = self._calendar.get_event(calendar_id, event_id)
            if event is not None and event.status != "cancelled" and event.start == start:
                return event
        return None

    def _reuse(self, slot: Slot, draft: MeetingDraft) -> CalendarEvent:
        """The event id exists: a retried turn (same time: keep it) or a cancelled meeting (revive it, moved)."""
        existing = self._calendar.get_event(slot.calendar_id, draft.event_id)
        if existing is None:
            raise CalendarConflict(409, "duplicate", "the event id exists on another calendar")
        if existing.status != "cancelled" and existing.start == slot.start:
            return existing
        return self._calendar.patch_event(slot.calendar_id, draft.event_id, existing.etag, start=slot.start,
                                          end=slot.end, status="confirmed", description=draft.description,
                                          time_zone=draft.time_zone)

    def _patch(self, booking: Booking, start: datetime, end: datetime) -> CalendarEvent:
        """Move the event; a 412 means someone edited it meanwhile: read it again and retry once."""
        for attempt in range(2):
            current = self._calendar.get_event(booking.calendar_id, booking.event_id)
            if current is None:
                raise CalendarPreconditionFailed(404, "notFound", "the booked event is gone from the calendar")
            try:
                return self._calendar.patch_event(booking.calendar_id, booking.event_id, current.etag, start=start,
                                                  end=end, time_zone=self.config.time_zone)
            except CalendarPreconditionFailed:
                if attempt:
                    raise
        raise AssertionError("unreachable")


def _minus(busy: Interval, ours: Interval) -> list[Interval]:
    if not busy.overlaps(ours):
        return [busy]
    pieces = []
    if busy.start < ours.start:
        pieces.append(Interval(busy.start, ours.start))
    if ours.end < busy.end:
        pieces.append(Interval(ours.end, busy.end))
    return pieces
