"""The agent's tools. Each runs over ports and is bound to one tenant, conversation and contact: the
model chooses *what* to do, never *whom* to do it to (no tool takes a tenant, phone or contact id)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from shared import log
from shared.domain.catalog import CatalogItem, rank_items
from shared.domain.lead import QUALIFICATION_FIELDS, LeadChange, LeadProfile, Stage, apply_update
from shared.domain.errors import CalendarError
from shared.domain.meeting import MeetingRequest
from shared.domain.phone import mask_phone
from shared.domain.scheduling import (
    Booking,
    LeadZone,
    Slot,
    ZoneSource,
    describe_for_lead,
    known_zone,
    names_own_clock,
    parse_choice,
    resolve_lead_zone,
    zone_for_place,
    zone_of_words,
)
from shared.ports import ToolCall, ToolResult, ToolSpec
from shared.services.scheduling import Attendee, MeetingScheduler

logger = logging.getLogger(__name__)


class LeadStore(Protocol):
    def get_lead(self, tenant_id: str, contact_id: str) -> LeadProfile | None: ...

    def save_lead(self, tenant_id: str, contact_id: str, profile: LeadProfile) -> None: ...

    def list_catalog(self, tenant_id: str, limit: int) -> list[CatalogItem]: ...

    def record_meeting(self, tenant_id: str, meeting: MeetingRequest) -> bool:
        """False when this meeting request was already recorded (a retried turn)."""


class KnowledgeSearch(Protocol):
    def __call__(self, tenant_id: str, agent_id: str, question: str) -> dict[str, Any]: ...


class LearnAnswer(Protocol):
    """Index a question/answer pair a human gave as knowledge; returns the entry id."""

    def __call__(self, tenant_id: str, agent_id: str, question: str, answer: str, approved_by: str,
                 conversation_id: str | None) -> str: ...


@dataclass(frozen=True)
class TurnScope:
    """Who a turn acts for. Fixed by the webhook from the provider's payload, never by the model."""

    tenant_id: str
    conversation_id: str
    contact_id: str
    contact_phone: str
    agent_id: str
    turn_id: str
    # /chat only (its contact is "api:<user>"): the phone and IANA zone the caller sent for the lead, validated
    given_phone: str | None = None
    client_time_zone: str | None = None

    @property
    def reach_phone(self) -> str:
        """The lead's phone as far as it is known: their WhatsApp number, or the one they gave the website chat."""
        return self.given_phone or self.contact_phone


@dataclass(frozen=True)
class HandoffRequest:
    reason: str
    question: str | None


@dataclass(frozen=True)
class BookingChange:
    """A meeting booked, moved or cancelled on a seller's calendar during the turn."""

    action: str  # scheduled | rescheduled | cancelled
    booking: Booking
    previous_start: datetime | None = None
    lead_zone: LeadZone | None = None  # the booking's lead zone and where it came from (events, CRM notes)


@dataclass
class ToolEffects:
    """What the tools changed during one turn: drives events, notifications and the turn's result."""

    lead_changes: list[LeadChange] = field(default_factory=list)
    lead: LeadProfile | None = None
    meetings: list[MeetingRequest] = field(default_factory=list)
    bookings: list[BookingChange] = field(default_factory=list)
    handoff: HandoffRequest | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)


_STRING = {"type": "string"}

SPECS = {
    "update_lead": ToolSpec(
        name="update_lead",
        description=("Record what the lead told you about themselves (BANT qualification) and move the pipeline "
                     "stage. Only include fields the lead actually stated."),
        parameters={"type": "object", "properties": {
            **{f: {"type": "string", "description": d} for f, d in {
                "name": "lead's name", "company": "company, if buying for one",
                "need": "what they want to solve or buy", "budget": "budget or monthly bill, as stated",
                "authority": "who decides the purchase", "timeline": "when they want it"}.items()},
            "notes": {"type": "string", "description": "anything else worth remembering"},
            "location": {"type": "string", "description": "where the lead said they are (city, state or country), "
                                                          "as said: meeting times are then shown in their time"},
            "time_zone": {"type": "string", "description": "IANA time zone of that place (e.g. America/Manaus), "
                                                           "only when you are sure"},
            "stage": {"type": "string", "enum": [s.value for s in Stage]},
        }},
    ),
    "lookup_catalog": ToolSpec(
        name="lookup_catalog",
        description="Search the business's products, prices and sales figures. Use before quoting any price.",
        parameters={"type": "object", "properties": {"query": _STRING}, "required": ["query"]},
    ),
    "request_meeting": ToolSpec(
        name="request_meeting",
        description="Ask for a meeting or technical visit with the times the lead proposed.",
        parameters={"type": "object", "properties": {
            "proposed_times": {"type": "array", "items": _STRING, "description": "as the lead said them"},
            "topic": _STRING}, "required": ["proposed_times"]},
    ),
    "offer_slots": ToolSpec(
        name="offer_slots",
        description=("When the lead is ready for a meeting or visit: get two or three free times from the seller's "
                     "calendar and offer them exactly as their labels say (the lead's own time zone first). Never "
                     "invent or convert a time."),
        parameters={"type": "object", "properties": {
            "kind": {"type": "string", "description": "meeting kind, when the lead chose one"},
            "day": {"type": "string", "description": "a day the lead asked for, in their words (e.g. 'sexta')"}}},
    ),
    "book_meeting": ToolSpec(
        name="book_meeting",
        description=("Book the time the lead chose. Pass their words unchanged ('o primeiro', 'quinta às 15h', "
                     "'15h de Brasília': they are read in the lead's own time zone unless they name another) or the "
                     "ISO start of an offered slot. If that time is not free, offer the alternatives returned."),
        parameters={"type": "object", "properties": {
            "when": {"type": "string", "description": "the lead's choice, as said, or an offered ISO start"},
            "kind": _STRING}, "required": ["when"]},
    ),
    "reschedule_meeting": ToolSpec(
        name="reschedule_meeting",
        description="Move the lead's booked meeting to the time they now want.",
        parameters={"type": "object", "properties": {"when": _STRING}, "required": ["when"]},
    ),
    "cancel_meeting": ToolSpec(
        name="cancel_meeting",
        description="Cancel the lead's booked meeting when they ask to.",
        parameters={"type": "object", "properties": {"reason": _STRING}},
    ),
    "search_knowledge": ToolSpec(
        name="search_knowledge",
        description="Search the company's own documents (procedures, FAQs, policies) for an answer.",
        parameters={"type": "object", "properties": {"question": _STRING}, "required": ["question"]},
    ),
    "handoff_to_human": ToolSpec(
        name="handoff_to_human",
        description=("Hand the conversation to a human seller when you are unsure, the lead asks for a person, or "
                     "the answer is not in your tools. Then tell the lead a person will continue."),
        parameters={"type": "object", "properties": {
            "reason": _STRING, "question": {"type": "string", "description": "the lead's open question"}},
            "required": ["reason"]},
    ),
}


CALENDAR_TOOLS = ("offer_slots", "book_meeting", "reschedule_meeting", "cancel_meeting")


class ToolBox:
    """The tools of one turn, bound to its scope. With a scheduler (the agent has a calendar) the calendar tools
    replace request_meeting; without one, the lead's times are recorded for a seller to confirm."""

    def __init__(self, scope: TurnScope, leads: LeadStore, knowledge: KnowledgeSearch | None,
                 clock: Callable[[], datetime], scheduler: MeetingScheduler | None = None,
                 summary: str | None = None, contact_name: str | None = None) -> None:
        self.scope = scope
        self._leads = leads
        self._knowledge = knowledge
        self._clock = clock
        self._scheduler = scheduler
        self._summary = summary
        self._contact_name = contact_name  # the WhatsApp profile name, until the lead tells theirs
        self.effects = ToolEffects()

    @property
    def specs(self) -> tuple[ToolSpec, ...]:
        return tuple(spec for name, spec in SPECS.items() if name in self._available)

    @property
    def _available(self) -> frozenset[str]:
        if self._scheduler is None:
            return frozenset(SPECS) - set(CALENDAR_TOOLS)
        return frozenset(SPECS) - {"request_meeting"}

    def run(self, call: ToolCall) -> ToolResult:
        handler = getattr(self, f"_{call.name}", None) if call.name in self._available else None
        try:
            response = handler(call.args or {}) if handler else {"error": f"unknown tool {call.name!r}"}
        except (TypeError, ValueError) as err:  # bad arguments from the model: tell it, do not crash the turn
            response = {"error": f"invalid arguments: {err}"}
        self.effects.calls.append({"name": call.name, "args": call.args, "ok": "error" not in response})
        log.log(logger, logging.INFO, "tool call", tool=call.name, ok="error" not in response)
        return ToolResult(name=call.name, response=response, call_id=call.call_id)

    def _current_lead(self) -> LeadProfile:
        return self.effects.lead or self._leads.get_lead(self.scope.tenant_id, self.scope.contact_id) or LeadProfile(
            phone=self.scope.contact_phone)

    def _update_lead(self, args: dict[str, Any]) -> dict[str, Any]:
        profile, change = apply_update(self._current_lead(), args)
        if change.empty:
            return {"ok": True, "changed": [], "stage": profile.stage.value}
        self._leads.save_lead(self.scope.tenant_id, self.scope.contact_id, profile)
        self.effects.lead = profile
        self.effects.lead_changes.append(change)
        missing = [f for f in ("need", "budget", "authority", "timeline") if not getattr(profile, f)]
        result = {"ok": True, "changed": sorted(change.changed), "stage": profile.stage.value,
                  "still_unknown": missing}
        if args.get("location") or args.get("time_zone"):
            result["time_zone"] = profile.time_zone
            if not (known_zone(args.get("time_zone")) or zone_for_place(str(args.get("location") or ""))):
                result["note"] = ("that place's time zone is not known or spans several zones: ask the lead's city "
                                  "before offering times")
        return result

    def _lookup_catalog(self, args: dict[str, Any]) -> dict[str, Any]:
        query = str(args.get("query", ""))
        items = rank_items(self._leads.list_catalog(self.scope.tenant_id, 200), query, limit=5)
        if not items:
            return {"items": [], "note": "nothing in the catalogue matches; do not invent a price"}
        return {"items": [{"name": i.name, "description": i.description[:300], "price": i.price, **i.details}
                          for i in items]}

    def _request_meeting(self, args: dict[str, Any]) -> dict[str, Any]:
        times = [str(t)[:80] for t in args.get("proposed_times") or [] if str(t).strip()][:5]
        if not times:
            return {"error": "ask the lead for at least one time first"}
        meeting = MeetingRequest(meeting_id=f"{self.scope.turn_id}-{len(self.effects.meetings)}",
                                 tenant_id=self.scope.tenant_id, conversation_id=self.scope.conversation_id,
                                 contact_id=self.scope.contact_id, proposed_times=times,
                                 topic=str(args.get("topic") or "")[:200], requested_at=self._clock())
        self._leads.record_meeting(self.scope.tenant_id, meeting)
        self.effects.meetings.append(meeting)
        lead = self._current_lead()
        if lead.stage in (Stage.NEW, Stage.QUALIFYING, Stage.QUALIFIED):
            self._update_lead({"stage": Stage.MEETING.value})
        return {"ok": True, "status": "requested; a seller will confirm one of the times", "times": times}

    # --- the calendar (issue 19) ---------------------------------------------------------------------

    def _calendar_failed(self, tool: str, err: CalendarError, args: dict[str, Any]) -> dict[str, Any]:
        """Calendar errors never cost the lead the meeting: back to request-and-confirm, with the reason logged."""
        log.log(logger, logging.WARNING, "calendar unavailable; falling back to request-and-confirm", tool=tool,
                status=err.status, reason=err.reason, error=str(err)[:300])
        words = str(args.get("when") or args.get("day") or "").strip()
        if tool == "offer_slots" and not words:
            return {"ok": False, "fallback": "the calendar cannot be read now: ask the lead which days and times "
                    "suit them; a seller will confirm"}
        topic = {"reschedule_meeting": "remarcar a reunião", "cancel_meeting": "cancelar a reunião"}.get(tool, "")
        if tool == "cancel_meeting":
            words = words or "cancelar"
        result = self._request_meeting({"proposed_times": [words], "topic": topic or str(args.get("kind") or "")})
        return {**result, "fallback": "the calendar could not be updated; a seller will confirm with the lead"}

    def _lead_zone(self) -> LeadZone:
        """The lead's time zone: what they said (update_lead location), else the zone a /chat caller sent, else
        their number's area (or the phone they gave the chat), else the business's. Read at each calendar call: the lead may have said where they are earlier in this turn."""
        assert self._scheduler is not None
        return resolve_lead_zone(self._current_lead().time_zone, self.scope.reach_phone,
                                 self._scheduler.config.time_zone, self.scope.client_time_zone)

    @staticmethod
    def _own_clock_unknown(when: str, lead_zone: LeadZone) -> dict[str, Any] | None:
        """'15h no meu horário' from a lead whose zone is unknown: reading it on the business's clock could book
        the wrong hour, so the agent asks where the lead is first."""
        if lead_zone.source is ZoneSource.BUSINESS and names_own_clock(when):
            return {"ok": False, "status": "time_zone_unknown",
                    "note": "the lead gave a time on their own clock but where they are is unknown: ask their city, "
                            "record it with update_lead(location), then book"}
        return None

    def _offer_slots(self, args: dict[str, Any]) -> dict[str, Any]:
        assert self._scheduler is not None
        lead_zone = self._lead_zone()
        business = self._scheduler.config.time_zone
        try:
            day = None
            if args.get("day"):
                words = str(args["day"])
                zone = ZoneInfo(zone_of_words(words, lead_zone.name, business))
                choice = parse_choice(words, [], self._clock(), zone)
                day = (choice.day_only or (choice.wanted.date() if choice.wanted else None)) if choice else None
            kind, slots = self._scheduler.offer(self.scope.tenant_id, self.scope.conversation_id,
                                                self.scope.contact_phone, args.get("kind"), day, lead_zone.name)
        except CalendarError as err:
            return self._calendar_failed("offer_slots", err, args)
        if not slots:
            return {"slots": [], "note": "no free time in the coming days; offer to have a seller call the lead"}
        result = {"kind": kind.name, "minutes": kind.duration_minutes, "place": kind.place.value,
                  "slots": _slot_list(slots, lead_zone.name, business), "time_zone": lead_zone.name,
                  "business_time_zone": business, "time_zone_from": lead_zone.source.value,
                  "note": "say each time exactly as its label: the lead's own time first"}
        if lead_zone.source is ZoneSource.BUSINESS:
            result["note"] += ("; the lead's time zone is unknown, so these are the business's times: if the lead "
                               "may be elsewhere, ask where and record it with update_lead(location)")
        return result

    def _book_meeting(self, args: dict[str, Any]) -> dict[str, Any]:
        assert self._scheduler is not None
        when = str(args.get("when") or "").strip()[:120]
        if not when:
            return {"error": "ask the lead which of the offered times they prefer first"}
        lead = self._current_lead()
        who = Attendee(phone=self.scope.reach_phone, name=lead.name or self._contact_name,
                       summary=self._summary or qualification_summary(lead) or None)
        lead_zone = self._lead_zone()
        if (unknown := self._own_clock_unknown(when, lead_zone)) is not None:
            return unknown
        try:
            outcome = self._scheduler.book(self.scope.tenant_id, self.scope.conversation_id, who, when,
                                           args.get("kind"), lead_zone.name)
        except CalendarError as err:
            return self._calendar_failed("book_meeting", err, args)
        return self._booking_result(outcome)

    def _reschedule_meeting(self, args: dict[str, Any]) -> dict[str, Any]:
        assert self._scheduler is not None
        when = str(args.get("when") or "").strip()[:120]
        if not when:
            return {"error": "ask the lead for the new time first"}
        lead_zone = self._lead_zone()
        if (unknown := self._own_clock_unknown(when, lead_zone)) is not None:
            return unknown
        try:
            outcome = self._scheduler.reschedule(self.scope.tenant_id, self.scope.conversation_id, when,
                                                 lead_zone.name)
        except CalendarError as err:
            return self._calendar_failed("reschedule_meeting", err, args)
        return self._booking_result(outcome)

    def _cancel_meeting(self, args: dict[str, Any]) -> dict[str, Any]:
        assert self._scheduler is not None
        try:
            outcome = self._scheduler.cancel(self.scope.tenant_id, self.scope.conversation_id)
        except CalendarError as err:
            return self._calendar_failed("cancel_meeting", err, args)
        return self._booking_result(outcome)

    def _booking_result(self, outcome: Any) -> dict[str, Any]:  # noqa: ANN401 - BookingOutcome
        business = self._scheduler.config.time_zone
        booking = outcome.booking
        current = self._lead_zone()
        zone = (booking.lead_time_zone if booking is not None and booking.lead_time_zone else current.name)
        if outcome.status in ("booked", "rescheduled", "cancelled"):
            action = {"booked": "scheduled", "rescheduled": "rescheduled", "cancelled": "cancelled"}[outcome.status]
            # The zone the booking was read in; its source is known when it is the lead's zone now (always for a
            # booking or move made in this call, which store exactly that zone).
            booked_in = current if zone == current.name else LeadZone(zone, None)
            self.effects.bookings.append(BookingChange(action, booking, outcome.previous_start, booked_in))
            if action == "scheduled" and self._current_lead().stage in (Stage.NEW, Stage.QUALIFYING, Stage.QUALIFIED):
                self._update_lead({"stage": Stage.MEETING.value})
            log.log(logger, logging.INFO, f"meeting {action}", lead=mask_phone(self.scope.contact_phone))
        if outcome.status in ("booked", "already_booked", "rescheduled"):
            return {"ok": True, "status": outcome.status, "when": describe_for_lead(booking.start, zone, business),
                    "kind": booking.kind, **({"video_link": booking.video_link} if booking.video_link else {}),
                    "note": "confirm the day and time to the lead in one short message"}
        if outcome.status == "cancelled":
            return {"ok": True, "status": "cancelled", "note": "confirm the cancellation; offer to book another time"}
        if outcome.status == "nothing_booked":
            return {"ok": False, "status": "nothing_booked", "note": "the lead has no booked meeting"}
        return {"ok": False, "status": outcome.status, "reason": outcome.reason,
                "alternatives": _slot_list(outcome.alternatives, zone, business),
                "note": "offer these times instead; never offer a time not listed"}

    def _search_knowledge(self, args: dict[str, Any]) -> dict[str, Any]:
        if self._knowledge is None:
            return {"found": False, "note": "no knowledge base is connected for this agent yet"}
        question = str(args.get("question", ""))[:500]
        answer = self._knowledge(self.scope.tenant_id, self.scope.agent_id, question)
        if not answer.get("found") and self.effects.handoff is None:
            # Low retrieval confidence is a reason to ask a human, not to guess.
            self.effects.handoff = HandoffRequest(reason="no confident answer in the knowledge base",
                                                  question=question)
        return answer

    def _handoff_to_human(self, args: dict[str, Any]) -> dict[str, Any]:
        self.effects.handoff = HandoffRequest(reason=str(args.get("reason") or "unsure")[:300],
                                              question=(str(args["question"])[:500] if args.get("question") else None))
        return {"ok": True, "note": "a human seller was notified and will continue; tell the lead so, briefly"}


def _slot_list(slots: list[Slot], lead_zone: str, business_zone: str) -> list[dict[str, Any]]:
    """Offered times as the model passes them on: the start in the lead's zone and a label with both clocks."""
    return [{"option": i + 1, "start": s.start.astimezone(ZoneInfo(lead_zone)).isoformat(),
             "label": describe_for_lead(s, lead_zone, business_zone)} for i, s in enumerate(slots)]


def qualification_summary(profile: LeadProfile | None) -> str:
    """What the prompt should know about the lead already, so the agent does not ask twice."""
    if profile is None:
        return ""
    known = [f"{f}: {getattr(profile, f)}" for f in QUALIFICATION_FIELDS if getattr(profile, f)]
    parts = [f"Pipeline stage: {profile.stage.value}."]
    if known:
        parts.append("Known about the lead: " + "; ".join(known) + ".")
    if profile.notes:
        parts.append("Notes: " + " | ".join(profile.notes[-5:]))
    return " ".join(parts)
