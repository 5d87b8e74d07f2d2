"""The small interfaces the services depend on. Adapters implement them; tests swap fakes in at the paid edges."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from shared.domain.conversation import Conversation, OutboundState, StoredMessage
from shared.domain.crm import CrmConfig, CrmKind, CrmLink, CrmDeliveryState
from shared.domain.events import DomainEvent, FieldValue, LeadStage
from shared.domain.inbound import StatusUpdate, WebhookBatch
from shared.domain.tenancy import AgentConfig, Channel
from shared.domain.usage import ModelCall


@dataclass(frozen=True)
class RawRequest:
    """An HTTP request as a provider sent it: what webhook parsing and signature checks need, nothing more."""

    method: str
    path: str
    headers: Mapping[str, str]  # lower-cased names
    query: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class WebhookSecrets:
    """Platform-wide webhook secrets (Meta's app secret belongs to our Meta app, not to a tenant)."""

    meta_app_secret: str | None = field(default=None, repr=False)
    meta_verify_token: str | None = field(default=None, repr=False)


class ProviderWebhook(Protocol):
    """Pure parsing and authentication of one provider's webhook."""

    authenticates_before_parse: bool

    def authenticate(self, raw: RawRequest, channel: Channel | None, secrets: WebhookSecrets) -> None:
        """Raise MissingSignature or BadSignature unless the request is genuine."""

    def parse(self, raw: RawRequest) -> WebhookBatch:
        """Normalize the payload; raise InvalidPayload with a reason if it is not the documented shape."""


class MessageSender(Protocol):
    """Sends text to a lead through one provider; returns the provider's message id."""

    def send_text(self, channel: Channel, to_phone: str, text: str) -> str: ...


class ChannelDirectory(Protocol):
    def find_channel(self, provider: str, channel_id: str) -> Channel | None: ...

    def get_agent(self, tenant_id: str, agent_id: str) -> AgentConfig: ...


@dataclass(frozen=True)
class ReplyClaim:
    """What claim_reply found: a fresh claim, a reply already written (resend it), or one already sent."""

    state: OutboundState
    text: str | None = None
    model_call: ModelCall | None = None
    fresh: bool = False


class ConversationStore(Protocol):
    def record_inbound(self, tenant_id: str, conversation_id: str, message: StoredMessage) -> bool:
        """Create the message document; False, with nothing written, if it exists (a provider's redelivery)."""

    def save_conversation(self, conversation: Conversation) -> None:
        """Merge the fields the caller set on the conversation (unset fields are left as stored)."""

    def record_ignored(self, tenant_id: str, message_id: str, reason: str, message: StoredMessage) -> None:
        """Keep what we chose not to answer (group chats) out of conversation memory, but not lost."""

    def get_conversation(self, tenant_id: str, conversation_id: str) -> Conversation | None: ...

    def message_exists(self, tenant_id: str, conversation_id: str, message_id: str) -> bool: ...

    def recent_messages(self, tenant_id: str, conversation_id: str, limit: int) -> list[StoredMessage]:
        """The latest messages, oldest first."""

    def claim_reply(
        self, tenant_id: str, conversation_id: str, reply_id: str, in_reply_to: str, now: datetime, lease_seconds: int
    ) -> ReplyClaim: ...

    def save_generated_reply(
        self, tenant_id: str, conversation_id: str, reply_id: str, text: str, model_call: ModelCall
    ) -> None: ...

    def mark_reply_sent(
        self, tenant_id: str, conversation_id: str, reply_id: str, provider: str, provider_message_id: str,
        in_reply_to: str, at: datetime,
    ) -> None: ...

    def release_reply(self, tenant_id: str, conversation_id: str, reply_id: str) -> None:
        """Give a claimed turn back after a failure, so the next delivery need not wait out the lease."""

    def mark_reply_rejected(self, tenant_id: str, conversation_id: str, reply_id: str, reason: str) -> None: ...

    def is_own_outbound(self, tenant_id: str, conversation_id: str, provider_message_id: str) -> bool:
        """True when a gateway echoes back a message Piloto itself sent."""

    def apply_status(self, tenant_id: str, conversation_id: str, status: StatusUpdate) -> bool:
        """Move an outbound message's delivery state forward; False if no such message."""


class UsageLedger(Protocol):
    def record_model_call(self, tenant_id: str, agent_id: str, conversation_id: str, call: ModelCall) -> None: ...


@dataclass(frozen=True)
class TurnRequest:
    """The body of an agent-turn task: which conversation, and which inbound message made it due."""

    tenant_id: str
    conversation_id: str
    message_id: str
    channel_key: str
    contact_phone: str


class TurnQueue(Protocol):
    def enqueue_turn(self, turn: TurnRequest, delay_seconds: float) -> None:
        """Schedule an agent turn; a second call for the same message must not create a second task."""


@dataclass(frozen=True)
class ChatTurn:
    role: str  # "user" (the lead) or "model" (us)
    text: str


@dataclass(frozen=True)
class Prompt:
    system: str
    turns: list[ChatTurn]
    max_output_tokens: int = 512


@dataclass(frozen=True)
class Generation:
    text: str
    call: ModelCall


class LanguageModel(Protocol):
    def generate(self, prompt: Prompt) -> Generation:
        """Raise ModelUnavailable on failures a later retry may fix."""


# -- Domain events and CRM sync (issue 7) ------------------------------------------------------------

@dataclass(frozen=True)
class OutboxEntry:
    """An outbox document waiting for Pub/Sub: the event as recorded, and how often publishing failed."""

    event: DomainEvent
    attempts: int = 0


class EventOutbox(Protocol):
    """tenants/{t}/outbox/{event_id}: every event is written here first, so none is lost if Pub/Sub is down."""

    def record(self, event: DomainEvent) -> bool:
        """Create the outbox document; False, with nothing written, if the event was recorded before."""

    def is_published(self, event: DomainEvent) -> bool: ...

    def has_older_pending(self, event: DomainEvent) -> bool:
        """True when an earlier event of the same contact still waits: publishing this one now would overtake it."""

    def mark_published(self, event: DomainEvent, message_id: str, at: datetime) -> None: ...

    def mark_publish_failed(self, event: DomainEvent, error: str) -> None: ...

    def pending(self, older_than: datetime, limit: int, after: DomainEvent | None = None) -> list[OutboxEntry]:
        """Unpublished events of every tenant, oldest first, recorded before `older_than`; a page after `after`."""


class EventPublisher(Protocol):
    def publish(self, event: DomainEvent) -> str:
        """Publish with the contact as ordering key; the Pub/Sub message id. Raises EventPublishFailed."""


@dataclass(frozen=True)
class EventMessage:
    """A Pub/Sub message as a push delivery carries it."""

    data: bytes
    attributes: Mapping[str, str]
    message_id: str
    publish_time: str | None = None


@dataclass(frozen=True)
class DeliveryClaim:
    """What claiming an event for delivery found: already final (a redelivery), or ours with earlier progress."""

    state: CrmDeliveryState
    steps: Mapping[str, str] = field(default_factory=dict)
    fresh: bool = False


class CrmStore(Protocol):
    """The tenant's CRM configuration, the record of each event's delivery, and the CRM ids of each lead."""

    def get_crm_config(self, tenant_id: str) -> CrmConfig | None:
        """None when the tenant has no CRM; raises CrmMisconfigured if the document is not a valid CrmConfig."""

    def claim_delivery(self, event: DomainEvent, crm: CrmKind, now: datetime, lease_seconds: int) -> DeliveryClaim:
        """Take the event for delivery (transaction with a lease). Raises DeliveryInProgress if another holds it."""

    def record_step(self, event: DomainEvent, step: str, value: str) -> None:
        """Remember a non-idempotent CRM call made for this event (a note), so a retry does not repeat it."""

    def finish_delivery(self, event: DomainEvent, state: CrmDeliveryState, detail: str, status: int | None = None) -> None:
        ...

    def release_delivery(self, event: DomainEvent, error: str) -> None:
        """Give the event back after a failure a retry may fix, so the redelivery need not wait out the lease."""

    def record_poison(self, tenant_id: str, message_id: str, attributes: Mapping[str, str], reason: str) -> None: ...

    def get_link(self, tenant_id: str, crm: CrmKind, contact_key: str) -> CrmLink:
        """The lead's link to this CRM; an empty one (no ids yet) if none was saved."""

    def save_link(self, tenant_id: str, link: CrmLink) -> None: ...


class EventForwarder(Protocol):
    """A destination that takes whole events (the generic signed webhook)."""

    def forward(self, event: DomainEvent) -> str:
        """Deliver the event; a short receipt ('HTTP 200'). Raises CrmUnavailable or CrmRejected."""


class CrmRecords(Protocol):
    """A CRM with contacts, deals and notes (HubSpot, Pipedrive, RD Station CRM), configured for one tenant.

    Raises CrmUnavailable for 429/5xx/timeouts and CrmRejected for refusals a retry cannot fix.
    """

    kind: CrmKind

    def find_contact(self, phone: str) -> str | None: ...

    def create_contact(self, fields: Mapping[str, FieldValue], phone: str) -> str: ...

    def update_contact(self, contact_id: str, fields: Mapping[str, FieldValue]) -> None: ...

    def unplaced(self, fields: Mapping[str, FieldValue]) -> dict[str, FieldValue]:
        """The fields this CRM's mapping does not put on a contact property (they go into the note)."""

    def maps_stage(self, stage: LeadStage) -> bool: ...

    def create_deal(self, contact_id: str, title: str, stage: LeadStage) -> str: ...

    def move_deal(self, deal_id: str, stage: LeadStage) -> None: ...

    def add_note(self, contact_id: str, deal_id: str | None, text: str) -> str | None:
        """The note's id; None where the CRM keeps notes on deals only and the lead has no deal yet."""
