"""The small interfaces the services depend on. Adapters implement them; tests swap fakes in at the paid edges."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from shared.domain.conversation import Conversation, OutboundState, StoredMessage
from shared.domain.crm import CrmConfig, CrmDeliveryState, CrmKind, CrmLink, FieldPolicy
from shared.domain.events import DomainEvent, FieldValue, LeadStage
from shared.domain.inbound import StatusUpdate, WebhookBatch
from shared.domain.media import MediaStatus, StoredMedia
from shared.domain.knowledge import (
    Chunk,
    KnowledgeObject,
    KnowledgePassage,
    KnowledgeResult,
    SourceRecord,
    SourceState,
    TextBlock,
)
from shared.domain.lgpd import ErasureRecord, LeadKeys
from shared.domain.scheduling import CalendarEvent, Interval, MeetingDraft
from shared.domain.tenancy import AgentConfig, Channel, Tenant
from shared.domain.usage import ModelCall


@dataclass(frozen=True)
class RawRequest:
    """An HTTP request as a provider sent it: what webhook parsing and signature checks need, nothing more."""

    method: str
    path: str
    headers: Mapping[str, str]  # lower-cased names
    query: Mapping[str, str]
    body: bytes
    url: str = ""  # scheme://host/path?query as this server received it (Twilio signs the public URL)


@dataclass(frozen=True)
class WebhookSecrets:
    """Platform-wide webhook secrets (Meta's app secret belongs to our Meta app, not to a tenant)."""

    meta_app_secret: str | None = field(default=None, repr=False)
    meta_verify_token: str | None = field(default=None, repr=False)


class ProviderWebhook(Protocol):
    """Pure parsing and authentication of one provider's webhook.

    A provider checked after parsing (authenticates_before_parse False) may also define
    `require_credential(raw)`: raise MissingSignature when the request carries no credential at all. The webhook
    calls it before the body is parsed or any channel is read (after the URL key, which comes first).
    """

    authenticates_before_parse: bool
    # For a gateway (not authenticated before parsing): True when the keyed webhook URL (shared/domain/webhook_key.py)
    # is the whole proof, so the channel's own credential is not compared (Z-API); False keeps that comparison.
    url_key_suffices: bool

    def authenticate(self, raw: RawRequest, channel: Channel | None, secrets: WebhookSecrets) -> None:
        """Raise MissingSignature or BadSignature unless the request is genuine."""

    def parse(self, raw: RawRequest) -> WebhookBatch:
        """Normalize the payload; raise InvalidPayload with a reason if it is not the documented shape."""


class MessageSender(Protocol):
    """Sends text to a lead through one provider; returns the provider's message id."""

    def send_text(self, channel: Channel, to_phone: str, text: str) -> str: ...


class ChannelDirectory(Protocol):
    """Configuration documents, validated: each method raises InvalidConfiguration for an invalid document."""

    def find_channel(self, provider: str, channel_id: str) -> Channel | None:
        """The channel the global registry assigns the number to (inactive ones too); None if unregistered."""

    def get_agent(self, tenant_id: str, agent_id: str) -> AgentConfig:
        """The agent's document, or the defaults when there is none."""

    def find_agent(self, tenant_id: str, agent_id: str) -> AgentConfig | None: ...

    def get_tenant(self, tenant_id: str) -> Tenant | None: ...

    def channels_for_agent(self, tenant_id: str, agent_id: str) -> list[Channel]:
        """The tenant's WhatsApp channels answered by that agent (inactive ones too), by key."""


@dataclass(frozen=True)
class ReplyClaim:
    """What claim_reply found: a fresh claim, a reply already written (resend it), or one already sent."""

    state: OutboundState
    text: str | None = None
    model_call: ModelCall | None = None
    fresh: bool = False


@dataclass(frozen=True)
class SendSlot:
    """What begin_send decided: the number of the attempt about to be made, or None (no send: the reply is not
    waiting to be sent, or it ran out of attempts — newly_uncertain for the one caller that marked it so)."""

    attempt: int | None
    newly_uncertain: bool = False


class ConversationStore(Protocol):
    def record_inbound(self, tenant_id: str, conversation_id: str, message: StoredMessage) -> bool:
        """Create the message document; False, with nothing written, if it exists (a provider's redelivery)."""

    def save_conversation(self, conversation: Conversation) -> None:
        """Merge the fields the caller set on the conversation (unset fields are left as stored)."""

    def record_ignored(self, tenant_id: str, message_id: str, reason: str, message: StoredMessage,
                       contact_phone: str | None = None) -> None:
        """Keep what we chose not to answer (group chats) out of conversation memory, but not lost. The sender's
        phone is kept beside it, so an LGPD erasure finds it."""

    def get_conversation(self, tenant_id: str, conversation_id: str) -> Conversation | None: ...

    def message_exists(self, tenant_id: str, conversation_id: str, message_id: str) -> bool: ...

    def get_message(self, tenant_id: str, conversation_id: str, message_id: str) -> StoredMessage | None: ...

    def save_learning_candidate(self, tenant_id: str, candidate_id: str, candidate: dict) -> None:
        """A seller's answer waiting for an admin's approval (tenants/{t}/learned_candidates/{id})."""

    def get_learning_candidate(self, tenant_id: str, candidate_id: str) -> dict | None: ...

    def record_failed_turn(self, tenant_id: str, conversation_id: str, reply_id: str, in_reply_to: str,
                           reason: str) -> None:
        """The reply document of a turn that cannot run (invalid configuration): state failed, with the reason."""

    def first_config_alert(self, tenant_id: str, path: str, problems: list[str]) -> bool:
        """Record that this configuration problem was reported; True only the first time (alert the seller once)."""

    def recent_messages(self, tenant_id: str, conversation_id: str, limit: int,
                        after: datetime | None = None) -> list[StoredMessage]:
        """The latest messages (stored after `after`, if given), oldest first."""

    def claim_reply(
        self, tenant_id: str, conversation_id: str, reply_id: str, in_reply_to: str, now: datetime, lease_seconds: int
    ) -> ReplyClaim: ...

    def save_generated_reply(
        self, tenant_id: str, conversation_id: str, reply_id: str, text: str, model_call: ModelCall | None,
        tool_calls: list[dict] | None = None, tier: str | None = None,
    ) -> None: ...

    def save_suggestion(self, tenant_id: str, conversation_id: str, reply_id: str, suggestion: dict) -> None:
        """Copilot: store the draft for the seller and close the turn without sending to the lead."""

    def latest_suggestion(self, tenant_id: str, conversation_id: str) -> tuple[str, dict] | None: ...

    def mark_suggestion(self, tenant_id: str, conversation_id: str, suggestion_id: str, feedback: dict) -> None: ...

    def mark_reply_sent(
        self, tenant_id: str, conversation_id: str, reply_id: str, provider: str, provider_message_id: str,
        in_reply_to: str, at: datetime,
    ) -> None: ...

    def begin_send(self, tenant_id: str, conversation_id: str, reply_id: str, max_attempts: int) -> SendSlot:
        """Record a send attempt before calling the provider; past max_attempts mark the reply `uncertain`."""

    def release_reply(self, tenant_id: str, conversation_id: str, reply_id: str) -> None:
        """Give a claimed turn back after a failure, so the next delivery need not wait out the lease."""

    def mark_reply_rejected(self, tenant_id: str, conversation_id: str, reply_id: str, reason: str) -> None: ...

    def is_own_outbound(self, tenant_id: str, conversation_id: str, provider_message_id: str) -> bool:
        """True when a gateway echoes back a message Piloto itself sent."""

    def apply_status(self, tenant_id: str, conversation_id: str, status: StatusUpdate) -> bool:
        """Move an outbound message's delivery state forward; False if no such message."""


class SellerStore(Protocol):
    """The seller's desk: seller messages, short references on alerts and drafts, seller windows, held alerts and
    the sellers' style examples. Everything under tenants/{t}."""

    def record_seller_message(self, tenant_id: str, message_id: str, message: dict) -> bool:
        """Create tenants/{t}/seller_messages/{id}; False, nothing written, on a provider's redelivery."""

    def claim_seller_message(self, tenant_id: str, message_id: str, now: datetime, lease_seconds: int) -> dict | None:
        """The message if this delivery may act on it; None if it was handled already. Raises TurnInProgress."""

    def release_seller_message(self, tenant_id: str, message_id: str) -> None:
        """Give a claimed seller message back after a failure (the retry need not wait out the lease)."""

    def finish_seller_message(self, tenant_id: str, message_id: str, outcome: str) -> None: ...

    def save_ref(self, tenant_id: str, code: str, ref: dict) -> str:
        """Store what a short code points at; returns the code (longer if the short one names something else)."""

    def get_ref(self, tenant_id: str, code: str) -> dict | None: ...

    def find_ref_by_provider_id(self, tenant_id: str, provider_message_id: str) -> dict | None: ...

    def attach_provider_id(self, tenant_id: str, code: str, provider_message_id: str) -> None: ...

    def get_seller_state(self, tenant_id: str, seller_key: str) -> dict: ...

    def save_seller_state(self, tenant_id: str, seller_key: str, fields: dict) -> None: ...

    def hold_alert(self, tenant_id: str, seller_key: str, alert_id: str, alert: dict, state: str = "held") -> None:
        """Keep an alert the seller's closed 24-hour window would refuse (held: delivered when the seller writes),
        or one already sent (sent: held again if the provider reports it failed for the window)."""

    def requeue_alert(self, tenant_id: str, seller_key: str, provider_message_id: str) -> bool:
        """A sent alert the provider failed for the window is held again; False if no alert has that id."""

    def held_alerts(self, tenant_id: str, seller_key: str) -> list[tuple[str, dict]]: ...

    def mark_alert_delivered(self, tenant_id: str, seller_key: str, alert_id: str, provider_message_id: str) -> None: ...

    def style_examples(self, tenant_id: str, agent_id: str) -> list[dict]:
        """The latest drafts sellers accepted or edited for this agent, newest first."""

    def add_style_example(self, tenant_id: str, agent_id: str, example: dict, keep: int) -> None: ...

    def waiting_conversations(self, tenant_id: str, agent_id: str, since: datetime, limit: int) -> list[Conversation]:
        """Conversations of this agent handed to a human since `since` and still paused."""


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
    purpose: str = "reply"  # "learn": capture a seller's answer to a handed-off question; "seller": a seller's message


class TurnQueue(Protocol):
    def enqueue_turn(self, turn: TurnRequest, delay_seconds: float) -> None:
        """Schedule an agent turn; a second call for the same message must not create a second task."""


@dataclass(frozen=True)
class ToolCall:
    """The model asks Piloto to run a tool."""

    name: str
    args: dict[str, Any]
    call_id: str | None = None


@dataclass(frozen=True)
class ToolResult:
    """What a tool answered, sent back to the model."""

    name: str
    response: dict[str, Any]
    call_id: str | None = None


@dataclass(frozen=True)
class ToolSpec:
    """A tool the model may call: name, description and a JSON schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class ChatTurn:
    role: str  # "user" (the lead, or tool results) or "model" (us, or our tool calls)
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_results: tuple[ToolResult, ...] = ()
    # A model turn exactly as the model sent it (the adapter's own object, thought signatures included): sent back
    # unchanged on the next tool step, as the API requires. Opaque to everything but the adapter that made it.
    raw: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Prompt:
    system: str
    turns: list[ChatTurn]
    max_output_tokens: int = 512
    tools: tuple[ToolSpec, ...] = ()
    model: str | None = None  # None: the adapter's default model
    json_schema: dict[str, Any] | None = None  # ask for JSON output of this shape
    purpose: str = "reply"
    tier: str | None = None  # routing tier being tried: the advanced tier may think more
    force_text: bool = False  # keep the tools declared but forbid calling them (the loop's last step)
    room: int = 1  # multiplies the thinking allowance after an attempt ran out of output tokens
    timeout_seconds: float | None = None  # this attempt's share of the turn's deadline; None: the adapter's own


@dataclass(frozen=True)
class Generation:
    text: str
    call: ModelCall
    tool_calls: tuple[ToolCall, ...] = ()
    raw: Any = field(default=None, compare=False, repr=False)  # the model's content as received (see ChatTurn.raw)


class LanguageModel(Protocol):
    def generate(self, prompt: Prompt) -> Generation:
        """Raise ModelUnavailable on failures a later retry may fix."""


class AnswerCache(Protocol):
    """FAQ answers reused for the same agent, knowledge and catalogue until they expire."""

    def content_version(self, tenant_id: str) -> str:
        """Moves whenever the tenant's documents, learned answers or catalogue change."""

    def get(self, tenant_id: str, key: str, now: datetime) -> str | None: ...

    def put(self, tenant_id: str, key: str, question: str, answer: str, expire_at: datetime,
            conversation_id: str | None = None) -> None:
        """conversation_id: where the question came from (an LGPD erasure of that lead removes the entry)."""


# -- Knowledge base (RAG) ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Embeddings:
    """Vectors in the order of the texts given, and the accounting of the call(s) that made them."""

    vectors: list[list[float]]
    call: ModelCall


class Embedder(Protocol):
    """Turns text into vectors. Documents and questions are embedded differently by retrieval models."""

    model: str
    dimensions: int

    def embed_documents(self, texts: list[str], title: str | None = None) -> Embeddings:
        """Raise ModelUnavailable on failures a later retry may fix."""

    def embed_query(self, text: str) -> Embeddings: ...


class ScanReader(Protocol):
    """Reads the text of a scanned (image-only) PDF. Raises ScanUnreadable when it cannot."""

    def read_scan(self, pdf: bytes, file_name: str) -> tuple[list[TextBlock], ModelCall | None]: ...


class ObjectReader(Protocol):
    def read(self, bucket: str, name: str, generation: int, max_bytes: int) -> bytes | None:
        """The bytes of exactly that generation; None if it no longer exists (overwritten or deleted since)."""


class KnowledgeIndex(Protocol):
    """Where chunks, learned answers and per-file state live, and the vector search over them."""

    def get_source(self, tenant_id: str, source_id: str) -> SourceRecord | None: ...

    def write_chunks(self, obj: KnowledgeObject, chunks: list[Chunk], vectors: list[list[float]],
                     embedding_model: str) -> list[str]:
        """Write a generation's chunks (ids carry the generation, so the live ones stay untouched)."""

    def activate(self, obj: KnowledgeObject, chunk_ids: list[str], state: SourceState, reason: str | None,
                 embedding_model: str | None) -> bool:
        """Make this generation the live one (transaction); False if the index already holds it or a later one."""

    def remove_chunks(self, tenant_id: str, source_id: str, before_generation: int) -> int:
        """Delete the source's chunks of generations below before_generation; never a newer upload's."""

    def mark_removed(self, obj: KnowledgeObject) -> bool:
        """Record the source as deleted at this generation (transaction); False if a later one is live."""

    def save_learned(self, tenant_id: str, entry_id: str, agent_scope: str, question: str, answer: str,
                     approved_by: str, vector: list[float], embedding_model: str,
                     conversation_id: str | None) -> None: ...

    def nearest(self, tenant_id: str, agent_scopes: list[str], vector: list[float],
                k: int) -> list[KnowledgePassage]:
        """The k closest entries of each scope (tenant implicit in the path), closest first."""


class KnowledgeBase(Protocol):
    """What the agent's search_knowledge tool and the lookup function call."""

    def search(self, tenant_id: str, agent_id: str, question: str, k: int = 3,
               conversation_id: str | None = None) -> KnowledgeResult: ...

    def add_learned_answer(self, tenant_id: str, agent_id: str, question: str, answer: str, approved_by: str,
                           conversation_id: str | None = None, shared: bool = False) -> str:
        """Store an approved question/answer pair as a knowledge entry; returns its id (same question → same id)."""


# --- Media understanding -------------------------------------------------------------------------


@dataclass(frozen=True)
class MediaRequest:
    """The body of a media task: which lead message carries a file to read."""

    tenant_id: str
    conversation_id: str
    message_id: str
    channel_key: str
    contact_phone: str


class MediaQueue(Protocol):
    def enqueue_media(self, request: MediaRequest) -> None:
        """Schedule reading one message's file; a second call for the same message must not create a second task."""


class TurnWakeups(Protocol):
    def wake_turn(self, turn: TurnRequest, delay_seconds: float, because_of: str) -> None:
        """Schedule an agent turn again (a file it waited for was read); named after `because_of`, so once each."""


@dataclass(frozen=True)
class DownloadedMedia:
    content: bytes = field(repr=False)
    mime_type: str | None = None
    filename: str | None = None


class MediaDownloader(Protocol):
    """Fetches a lead's file from one WhatsApp provider."""

    def download(self, channel: Channel, message: StoredMessage, max_bytes: int) -> DownloadedMedia:
        """Raise MediaTooLarge over max_bytes, MediaUnavailable when the provider will never hand it over,
        TransientError when a retry may work."""


class MediaStorage(Protocol):
    """Originals of the leads' files (Cloud Storage)."""

    def save(self, path: str, content: bytes, content_type: str, metadata: Mapping[str, str]) -> str:
        """Write the object; returns the bucket name."""

    def load(self, bucket: str, path: str) -> bytes | None: ...


@dataclass(frozen=True)
class Extraction:
    """Text a model read from a file, with the call's accounting."""

    text: str
    call: ModelCall


class MediaModel(Protocol):
    """Reads what only a model can: speech, pictures, scanned pages. Raise ModelUnavailable on retryable failures."""

    def transcribe(self, audio: bytes, mime_type: str, language: str) -> Extraction: ...

    def describe_image(self, image: bytes, mime_type: str, language: str) -> Extraction: ...

    def read_scanned_document(self, pdf: bytes, language: str) -> Extraction: ...


class MediaStore(Protocol):
    """The message document's media fields."""

    def claim_media(self, tenant_id: str, conversation_id: str, message_id: str, now: datetime,
                    lease_seconds: int) -> StoredMessage | None:
        """The message, leased to this delivery while pending (MediaInProgress if another holds it); None if the
        message is not stored (yet). A message whose media is final is returned without a lease."""

    def save_media_file(self, tenant_id: str, conversation_id: str, message_id: str, stored: StoredMedia) -> None: ...

    def finish_media(self, tenant_id: str, conversation_id: str, message_id: str, status: MediaStatus,
                     text: str | None, reason: str | None, call: ModelCall | None) -> None:
        """Write the final state and release the lease."""

    def release_media(self, tenant_id: str, conversation_id: str, message_id: str) -> None:
        """Give a leased task back after a transient failure, so the retry need not wait out the lease."""


class DocumentText(Protocol):
    """Text of documents read locally, without a model. Raise MediaUnreadable for corrupt or locked files."""

    def pdf_text(self, pdf: bytes) -> tuple[str, bool]:
        """The text layer, and whether the PDF is scanned (no usable text layer: a model must read it)."""

    def docx_text(self, docx: bytes) -> str: ...

    def plain_text(self, data: bytes) -> str: ...


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

    def hold_lead(self, tenant_id: str, crm: CrmKind, contact_key: str, holder: str, now: datetime,
                  lease_seconds: int) -> None:
        """Make `holder` the one applying events of this lead to the CRM (transaction with a lease), so two events
        never both create its contact or deal. Raises LeadSyncInProgress while another holds it."""

    def release_lead(self, tenant_id: str, crm: CrmKind, contact_key: str, holder: str) -> None: ...

    def crm_paused_until(self, tenant_id: str) -> datetime | None:
        """When the tenant's CRM said to come back (rate limit); None when it is not paused."""

    def pause_crm(self, tenant_id: str, until: datetime, reason: str) -> None: ...


class EventForwarder(Protocol):
    """A destination that takes whole events (the generic signed webhook)."""

    def forward(self, event: DomainEvent) -> str:
        """Deliver the event; a short receipt ('HTTP 200'). Raises CrmUnavailable or CrmRejected."""


class CrmRecords(Protocol):
    """A CRM with contacts, deals and notes (HubSpot, Pipedrive, RD Station CRM), configured for one tenant.

    Raises CrmUnavailable for 429/5xx/timeouts and CrmRejected for refusals a retry cannot fix.
    """

    kind: CrmKind

    def find_contact(self, phone: str, email: str | None = None) -> str | None:
        """A record that is this lead by evidence (one of its phones is the lead's line, or its e-mail is the
        lead's); None when the search finds none. A hit without evidence is someone else."""

    def create_contact(self, fields: Mapping[str, FieldValue], phone: str) -> str: ...

    def update_contact(self, contact_id: str, fields: Mapping[str, FieldValue],
                       policy: Mapping[str, FieldPolicy] | None = None) -> str | None:
        """Write the fields (FILL_EMPTY ones only where the record has no value); a remark for the note when a
        field had to be left out (HubSpot: the e-mail belongs to another contact), else None."""

    def unplaced(self, fields: Mapping[str, FieldValue]) -> dict[str, FieldValue]:
        """The fields this CRM's mapping does not put on a contact property (they go into the note)."""

    def maps_stage(self, stage: LeadStage) -> bool: ...

    def create_deal(self, contact_id: str, title: str, stage: LeadStage) -> str: ...

    def move_deal(self, deal_id: str, stage: LeadStage, from_stage: LeadStage | None = None) -> None:
        """Put the deal at `stage` the CRM's way (a stage, a status, `win`); from a won/lost stage it reopens."""

    def add_note(self, contact_id: str, deal_id: str | None, text: str) -> str | None:
        """The note's id; None where the CRM keeps notes on deals only and the lead has no deal yet."""


# --- Follow-up cadence (issue 6) -----------------------------------------------------------------


@dataclass(frozen=True)
class FollowupRequest:
    """The body of a follow-up task: which step of which cadence (anchored to the lead's last message) is due."""

    tenant_id: str
    conversation_id: str
    step: int
    anchor_message_id: str


class FollowupQueue(Protocol):
    def schedule_followup(self, request: FollowupRequest, at: datetime, attempt_key: str = "") -> bool:
        """Create the named task due at `at`; False when that name exists. `attempt_key` names a re-schedule
        (quiet hours) apart from the original task."""


class TemplateSender(Protocol):
    """Providers with approved templates (the Meta Cloud API): the only message allowed outside the 24 h window."""

    def send_template(self, channel: Channel, to_phone: str, name: str, language: str,
                      params: list[str] | Mapping[str, str]) -> str:
        """A list fills a positional template; a mapping a NAMED one (each value with its parameter_name)."""


class FollowupStore(Protocol):
    """Conversations whose next follow-up (or closing) is due, across tenants, oldest first, paged."""

    def due_followups(self, now: datetime, limit: int, after: Conversation | None = None) -> list[Conversation]: ...


# -- Tenancy: API keys and the LGPD rights of leads (issue 13) ----------------------------------------


class ApiKeyStore(Protocol):
    """tenants/{t}/api_keys/{key_id}: hashed per-tenant keys of the /chat API."""

    def get_api_key(self, tenant_id: str, key_id: str) -> dict[str, Any] | None:
        """{secret_hash, label, created_at, revoked_at} or None."""

    def save_api_key(self, tenant_id: str, key_id: str, secret_hash: str, label: str) -> None: ...

    def revoke_api_key(self, tenant_id: str, key_id: str) -> bool: ...

    def list_api_keys(self, tenant_id: str) -> list[dict[str, Any]]:
        """Every key's id, label and dates (never the hash)."""


@dataclass(frozen=True)
class LeadDocument:
    """One document about a lead: its collection (as listed in shared/domain/lgpd.LEAD_COLLECTIONS), path and data."""

    collection: str
    path: str
    data: dict[str, Any] = field(repr=False)


class LeadDataStore(Protocol):
    """A lead's documents across the tenant's collections (LGPD export and erasure)."""

    def channel_keys(self, tenant_id: str) -> list[str]: ...

    def find(self, tenant_id: str, keys: LeadKeys) -> list[LeadDocument]: ...

    def delete(self, documents: list[LeadDocument]) -> None: ...

    def record_erasure(self, tenant_id: str, record: ErasureRecord) -> None: ...


class MediaFiles(Protocol):
    """The media bucket's objects of a conversation (LGPD export and erasure)."""

    def list_paths(self, prefix: str) -> list[str]: ...

    def delete(self, bucket: str, path: str) -> bool: ...


class CalendarApi(Protocol):
    """The sellers' calendars (Google Calendar). Raises shared.domain.errors.CalendarError subclasses."""

    def busy(self, calendar_ids: list[str], start: datetime, end: datetime, time_zone: str
             ) -> dict[str, list[Interval]]:
        """Busy intervals per calendar; a calendar Calendar could not read is left out (never offered)."""

    def get_event(self, calendar_id: str, event_id: str) -> CalendarEvent | None: ...

    def insert_event(self, calendar_id: str, draft: MeetingDraft) -> CalendarEvent:
        """CalendarConflict when draft.event_id exists already (also when it was cancelled)."""

    def patch_event(self, calendar_id: str, event_id: str, etag: str, *, start: datetime | None = None,
                    end: datetime | None = None, status: str | None = None, description: str | None = None,
                    time_zone: str | None = None) -> CalendarEvent:
        """CalendarPreconditionFailed when the event changed since `etag` was read."""

    def delete_event(self, calendar_id: str, event_id: str) -> None:
        """Idempotent: an event already deleted is not an error."""


@dataclass(frozen=True)
class MeetingReminderRequest:
    """The body of a meeting-reminder task (on the follow-up queue): which booking, at which start."""

    tenant_id: str
    conversation_id: str
    event_id: str
    starts_at: str  # ISO; a reminder whose meeting moved or was cancelled finds another start and does nothing


class ReminderQueue(Protocol):
    def schedule_reminder(self, request: MeetingReminderRequest, at: datetime) -> bool:
        """Create the named task due at `at`; False when that name exists."""
