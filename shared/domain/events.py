"""Domain events: facts about a lead that other systems (CRMs, automations) subscribe to.

Every event is a versioned pydantic model and travels as JSON: on the Pub/Sub topic, in the outbox and, as
is, in the body of the generic webhook. `type` discriminates the union; `schema_version` changes only when
a field changes meaning or disappears (new optional fields keep the version).

Event ids are deterministic when the cause is: `LeadCreated` of a conversation is always the same id, so
emitting it twice (a retried agent turn) lands on the same outbox document and the CRM sees it once.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from shared.domain.errors import InvalidPayload
from shared.domain.ids import contact_key, event_id

SCHEMA_VERSION = 1

# Qualification answers are small scalars (monthly bill, property type, city...); lists and objects would
# not map onto CRM properties.
FieldValue = str | int | float | bool | None


class EventType(StrEnum):
    LEAD_CREATED = "LeadCreated"
    LEAD_QUALIFIED = "LeadQualified"
    LEAD_UPDATED = "LeadUpdated"
    LEAD_STAGE_CHANGED = "LeadStageChanged"
    MEETING_REQUESTED = "MeetingRequested"
    MEETING_SCHEDULED = "MeetingScheduled"
    MEETING_RESCHEDULED = "MeetingRescheduled"
    MEETING_CANCELLED = "MeetingCancelled"
    HANDOFF_REQUESTED = "HandoffRequested"
    LEAD_OPTED_OUT = "LeadOptedOut"
    CONVERSATION_SUMMARIZED = "ConversationSummarized"
    LEAD_ERASED = "LeadErased"


class LeadStage(StrEnum):
    """Piloto's own funnel; each CRM maps these onto its pipeline stages (configuration)."""

    NEW = "new"
    QUALIFIED = "qualified"
    MEETING = "meeting"
    PROPOSAL = "proposal"
    WON = "won"
    LOST = "lost"


class Contact(BaseModel):
    """Who the event is about. The phone is the lead's identity on WhatsApp (E.164)."""

    model_config = ConfigDict(frozen=True)

    phone: str = Field(pattern=r"^\+\d{8,15}$")
    name: str | None = None
    email: str | None = None


class BaseEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: str = Field(min_length=8, max_length=100)
    schema_version: Literal[1] = SCHEMA_VERSION
    tenant_id: str = Field(min_length=1)
    conversation_id: str = Field(min_length=1)
    channel_key: str = Field(min_length=3, description="provider:channel_id the lead wrote on")
    contact: Contact
    occurred_at: AwareDatetime

    type_name: ClassVar[EventType]

    @property
    def contact_key(self) -> str:
        """Ordering key on the topic and id of the contact's CRM link: one per tenant and phone."""
        return contact_key(self.tenant_id, self.contact.phone)

    @classmethod
    def make_id(cls, tenant_id: str, *cause: str) -> str:
        """The id of this event type for a cause (a conversation, a message, a tool call...)."""
        return event_id(cls.type_name.value, tenant_id, *cause)


class LeadCreatedPayload(BaseModel):
    agent_id: str
    first_message: str | None = Field(default=None, max_length=1000, description="the lead's first words")


class LeadCreated(BaseEvent):
    """A conversation with a new contact started: the first agent turn of a conversation."""

    type_name: ClassVar[EventType] = EventType.LEAD_CREATED
    type: Literal["LeadCreated"] = "LeadCreated"
    payload: LeadCreatedPayload


class LeadQualifiedPayload(BaseModel):
    fields: dict[str, FieldValue] = Field(default_factory=dict, description="qualification answers by name")
    score: int | None = Field(default=None, ge=0, le=100)
    summary: str | None = Field(default=None, max_length=4000)


class LeadQualified(BaseEvent):
    """The agent judged the lead qualified (it answered what the business asks for)."""

    type_name: ClassVar[EventType] = EventType.LEAD_QUALIFIED
    type: Literal["LeadQualified"] = "LeadQualified"
    payload: LeadQualifiedPayload


class LeadUpdatedPayload(BaseModel):
    fields: dict[str, FieldValue] = Field(description="fields that changed; 'name' and 'email' update the contact")


class LeadUpdated(BaseEvent):
    """Something about the lead became known or changed (an email, the city, the monthly bill...)."""

    type_name: ClassVar[EventType] = EventType.LEAD_UPDATED
    type: Literal["LeadUpdated"] = "LeadUpdated"
    payload: LeadUpdatedPayload


class LeadStageChangedPayload(BaseModel):
    from_stage: LeadStage | None = None
    to_stage: LeadStage
    reason: str | None = Field(default=None, max_length=1000)


class LeadStageChanged(BaseEvent):
    """The lead moved in the funnel."""

    type_name: ClassVar[EventType] = EventType.LEAD_STAGE_CHANGED
    type: Literal["LeadStageChanged"] = "LeadStageChanged"
    payload: LeadStageChangedPayload


class MeetingRequestedPayload(BaseModel):
    starts_at: AwareDatetime | None = Field(default=None, description="when a precise time was agreed")
    preferred_time: str | None = Field(default=None, max_length=300, description="the lead's words otherwise")
    notes: str | None = Field(default=None, max_length=2000)


class MeetingRequested(BaseEvent):
    """The lead asked for (or accepted) a meeting or visit."""

    type_name: ClassVar[EventType] = EventType.MEETING_REQUESTED
    type: Literal["MeetingRequested"] = "MeetingRequested"
    payload: MeetingRequestedPayload


ZoneSourceName = Literal["said", "client", "phone", "business"]


class LeadClock(BaseModel):
    """The lead's time zone on a meeting event, so a CRM can show the time on the lead's clock. Optional fields
    (schema_version 1 still): events written before they existed carry neither and stay readable."""

    lead_time_zone: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z_]+(?:/[A-Za-z0-9_+-]+)+$",
                                       description="the lead's IANA time zone when the meeting was booked or changed")
    lead_time_zone_source: ZoneSourceName | None = Field(
        default=None, description="where that zone came from: said (the lead's words), client (the /chat caller), "
                                  "phone (the number's area), business (nothing better known)")


class MeetingScheduledPayload(LeadClock):
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    kind: str = Field(max_length=80, description="the meeting kind's name (Visita técnica, Videochamada…)")
    place: Literal["visit", "call", "video"]
    calendar_event_id: str = Field(description="Google Calendar event id (the same for the conversation's meeting)")
    video_link: str | None = None


class MeetingScheduled(BaseEvent):
    """A meeting was booked on a seller's calendar (the agent has a calendar; else MeetingRequested)."""

    type_name: ClassVar[EventType] = EventType.MEETING_SCHEDULED
    type: Literal["MeetingScheduled"] = "MeetingScheduled"
    payload: MeetingScheduledPayload


class MeetingRescheduledPayload(LeadClock):
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    previous_starts_at: AwareDatetime | None = None
    calendar_event_id: str


class MeetingRescheduled(BaseEvent):
    """The lead moved the booked meeting."""

    type_name: ClassVar[EventType] = EventType.MEETING_RESCHEDULED
    type: Literal["MeetingRescheduled"] = "MeetingRescheduled"
    payload: MeetingRescheduledPayload


class MeetingCancelledPayload(LeadClock):
    previous_starts_at: AwareDatetime | None = None
    calendar_event_id: str
    reason: str | None = Field(default=None, max_length=1000)


class MeetingCancelled(BaseEvent):
    """The lead cancelled the booked meeting."""

    type_name: ClassVar[EventType] = EventType.MEETING_CANCELLED
    type: Literal["MeetingCancelled"] = "MeetingCancelled"
    payload: MeetingCancelledPayload


class HandoffRequestedPayload(BaseModel):
    requested_by: Literal["lead", "agent"]
    reason: str = Field(max_length=1000)


class HandoffRequested(BaseEvent):
    """A human should take the conversation over (the lead asked, or the agent decided it cannot help)."""

    type_name: ClassVar[EventType] = EventType.HANDOFF_REQUESTED
    type: Literal["HandoffRequested"] = "HandoffRequested"
    payload: HandoffRequestedPayload


class LeadOptedOutPayload(BaseModel):
    reason: str | None = Field(default=None, max_length=1000)
    keyword: str | None = Field(default=None, max_length=100, description="the word that opted out (SAIR, PARAR)")


class LeadOptedOut(BaseEvent):
    """The lead asked not to be contacted again."""

    type_name: ClassVar[EventType] = EventType.LEAD_OPTED_OUT
    type: Literal["LeadOptedOut"] = "LeadOptedOut"
    payload: LeadOptedOutPayload


class ConversationSummarizedPayload(BaseModel):
    summary: str = Field(max_length=8000)
    message_count: int = Field(ge=0)
    up_to_message_id: str | None = None


class ConversationSummarized(BaseEvent):
    """A summary of the conversation so far (for the CRM's timeline)."""

    type_name: ClassVar[EventType] = EventType.CONVERSATION_SUMMARIZED
    type: Literal["ConversationSummarized"] = "ConversationSummarized"
    payload: ConversationSummarizedPayload


class LeadErasedPayload(BaseModel):
    erasure_id: str = Field(min_length=1, max_length=100)
    reason: str | None = Field(default=None, max_length=500)


class LeadErased(BaseEvent):
    """Piloto erased everything it held about this lead (LGPD art. 18). The contact is the one field that lets the
    CRM find and erase its own copy; conversation_id is the erasure's (`erasure:<id>`), the lead's are gone."""

    type_name: ClassVar[EventType] = EventType.LEAD_ERASED
    type: Literal["LeadErased"] = "LeadErased"
    payload: LeadErasedPayload


DomainEvent = Annotated[
    LeadCreated | LeadQualified | LeadUpdated | LeadStageChanged | MeetingRequested | MeetingScheduled
    | MeetingRescheduled | MeetingCancelled | HandoffRequested | LeadOptedOut | ConversationSummarized | LeadErased,
    Field(discriminator="type"),
]

_ADAPTER: TypeAdapter[DomainEvent] = TypeAdapter(DomainEvent)


def decode_event(data: bytes | str | dict) -> DomainEvent:
    """Parse an event from its JSON (or a dict); InvalidPayload names what is wrong, never echoes the data."""
    try:
        if isinstance(data, dict):
            return _ADAPTER.validate_python(data)
        return _ADAPTER.validate_json(data)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
                             for e in err.errors(include_url=False, include_input=False)[:5])
        raise InvalidPayload(f"not a domain event: {problems}") from None


def encode_event(event: DomainEvent) -> bytes:
    return event.model_dump_json().encode()


def lead_created(*, tenant_id: str, conversation_id: str, channel_key: str, contact: Contact, agent_id: str,
                 occurred_at: datetime, first_message: str | None = None) -> LeadCreated:
    """One per conversation: its id depends on the conversation only, so a retried turn re-emits the same event."""
    return LeadCreated(
        event_id=LeadCreated.make_id(tenant_id, conversation_id),
        tenant_id=tenant_id, conversation_id=conversation_id, channel_key=channel_key, contact=contact,
        occurred_at=occurred_at,
        payload=LeadCreatedPayload(agent_id=agent_id, first_message=(first_message or None) and first_message[:1000]),
    )
