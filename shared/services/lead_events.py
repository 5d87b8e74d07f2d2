"""Domain events for what a turn changed (the tools' effects), so the CRM learns what the agent learned."""

from __future__ import annotations

from datetime import datetime

from shared.domain.events import (
    Contact,
    ConversationSummarized,
    ConversationSummarizedPayload,
    DomainEvent,
    HandoffRequested,
    HandoffRequestedPayload,
    LeadQualified,
    LeadQualifiedPayload,
    LeadStage,
    LeadStageChanged,
    LeadStageChangedPayload,
    LeadUpdated,
    LeadUpdatedPayload,
    MeetingCancelled,
    MeetingCancelledPayload,
    MeetingRequested,
    MeetingRequestedPayload,
    MeetingRescheduled,
    MeetingRescheduledPayload,
    MeetingScheduled,
    MeetingScheduledPayload,
)
from shared.domain.scheduling import CalendarConfig
from shared.domain.lead import QUALIFICATION_FIELDS, Stage
from shared.services.tools import ToolEffects, TurnScope

# Piloto's pipeline has finer steps than the funnel CRMs are told about.
_FUNNEL = {
    Stage.NEW: LeadStage.NEW, Stage.QUALIFYING: LeadStage.NEW, Stage.QUALIFIED: LeadStage.QUALIFIED,
    Stage.MEETING: LeadStage.MEETING, Stage.PROPOSAL: LeadStage.PROPOSAL, Stage.NEGOTIATION: LeadStage.PROPOSAL,
    Stage.WON: LeadStage.WON, Stage.LOST: LeadStage.LOST,
}


def turn_events(effects: ToolEffects, scope: TurnScope, channel_key: str, contact_name: str | None,
                at: datetime, calendar: CalendarConfig | None = None) -> list[DomainEvent]:
    """Ids derive from the turn (its reply id) and the change's position: a retried turn re-emits the same ids."""
    if not scope.contact_phone.startswith("+"):
        return []  # the /chat API has no WhatsApp contact to sync
    common = {"tenant_id": scope.tenant_id, "conversation_id": scope.conversation_id, "channel_key": channel_key,
              "contact": Contact(phone=scope.contact_phone, name=(effects.lead.name if effects.lead else None)
                                 or contact_name), "occurred_at": at}
    events: list[DomainEvent] = []
    for index, change in enumerate(effects.lead_changes):
        cause = (scope.turn_id, str(index))
        if change.changed:
            events.append(LeadUpdated(event_id=LeadUpdated.make_id(scope.tenant_id, *cause), **common,
                                      payload=LeadUpdatedPayload(fields=dict(change.changed))))
        if change.became_qualified and effects.lead is not None:
            known = {f: getattr(effects.lead, f) for f in QUALIFICATION_FIELDS if getattr(effects.lead, f)}
            events.append(LeadQualified(event_id=LeadQualified.make_id(scope.tenant_id, *cause), **common,
                                        payload=LeadQualifiedPayload(fields=known)))
        if change.stage_to is not None:
            old = _FUNNEL[change.stage_from] if change.stage_from else None
            new = _FUNNEL[change.stage_to]
            if old != new:
                events.append(LeadStageChanged(
                    event_id=LeadStageChanged.make_id(scope.tenant_id, *cause), **common,
                    payload=LeadStageChangedPayload(from_stage=old, to_stage=new, reason=f"stage {change.stage_to}")))
    for meeting in effects.meetings:
        events.append(MeetingRequested(
            event_id=MeetingRequested.make_id(scope.tenant_id, meeting.meeting_id), **common,
            payload=MeetingRequestedPayload(preferred_time=", ".join(meeting.proposed_times)[:300],
                                            notes=meeting.topic or None)))
    for change in effects.bookings:
        # One id per change of the conversation's meeting: a retried turn re-emits the same ids.
        booking = change.booking
        cause = (booking.event_id or "", str(booking.changes))
        zone = change.lead_zone
        clock = ({"lead_time_zone": zone.name, "lead_time_zone_source": zone.source.value if zone.source else None}
                 if zone is not None else {})
        if change.action == "scheduled":
            place = calendar.kind(booking.kind).place.value if calendar else "call"
            events.append(MeetingScheduled(
                event_id=MeetingScheduled.make_id(scope.tenant_id, *cause), **common,
                payload=MeetingScheduledPayload(starts_at=booking.start, ends_at=booking.end, kind=booking.kind,
                                                place=place, calendar_event_id=booking.event_id,
                                                video_link=booking.video_link, **clock)))
        elif change.action == "rescheduled":
            events.append(MeetingRescheduled(
                event_id=MeetingRescheduled.make_id(scope.tenant_id, *cause), **common,
                payload=MeetingRescheduledPayload(starts_at=booking.start, ends_at=booking.end,
                                                  previous_starts_at=change.previous_start,
                                                  calendar_event_id=booking.event_id, **clock)))
        else:
            events.append(MeetingCancelled(
                event_id=MeetingCancelled.make_id(scope.tenant_id, *cause), **common,
                payload=MeetingCancelledPayload(previous_starts_at=change.previous_start,
                                                calendar_event_id=booking.event_id, **clock)))
    if effects.handoff is not None:
        events.append(HandoffRequested(
            event_id=HandoffRequested.make_id(scope.tenant_id, scope.turn_id), **common,
            payload=HandoffRequestedPayload(requested_by="agent", reason=effects.handoff.reason[:1000])))
    return events


def summary_event(scope: TurnScope, channel_key: str, contact_name: str | None, summary: str, messages: int,
                  through: str, at: datetime) -> list[DomainEvent]:
    if not scope.contact_phone.startswith("+"):
        return []
    return [ConversationSummarized(
        event_id=ConversationSummarized.make_id(scope.tenant_id, scope.conversation_id, through),
        tenant_id=scope.tenant_id, conversation_id=scope.conversation_id, channel_key=channel_key,
        contact=Contact(phone=scope.contact_phone, name=contact_name), occurred_at=at,
        payload=ConversationSummarizedPayload(summary=summary[:8000], message_count=messages,
                                              up_to_message_id=through))]
