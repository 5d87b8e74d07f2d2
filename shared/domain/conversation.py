"""Conversation memory as stored: messages in and out, and the small state an agent turn needs."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from shared.domain.inbound import DeliveryState, Location, MediaRef, MessageKind, Provider
from shared.domain.media import MediaStatus, StoredMedia
from shared.domain.usage import ModelCall


class Role(StrEnum):
    LEAD = "lead"
    AGENT = "agent"
    HUMAN = "human"


class InboundDisposition(StrEnum):
    """What the webhook decided for an inbound message; stored so nothing is silently dropped."""

    QUEUED = "queued"  # an agent turn was enqueued for it
    HUMAN = "human"  # written by the business: recorded, bot paused
    IGNORED_GROUP = "ignored_group"
    IGNORED_BROADCAST = "ignored_broadcast"  # a broadcast list or a channel (newsletter) post: no contact behind it
    INVALID = "invalid"  # malformed inside a valid delivery: recorded with the reason, the rest was kept
    NOT_ANSWERED = "not_answered"  # stored in memory, but no turn (a reaction, unless the agent answers them)
    BOT_PAUSED = "bot_paused"  # stored, but a human owns the conversation
    ECHO = "echo"  # our own outbound reflected back by the gateway
    RELAYED = "relayed"  # a seller's answer from their own WhatsApp, sent to the lead as the business


class OutboundState(StrEnum):
    GENERATING = "generating"
    SENDING = "sending"
    SENT = DeliveryState.SENT.value
    DELIVERED = DeliveryState.DELIVERED.value
    READ = DeliveryState.READ.value
    FAILED = DeliveryState.FAILED.value
    REJECTED = "rejected"  # the provider refused for good
    SUGGESTED = "suggested"  # copilot: drafted for the seller, never sent to the lead
    UNCERTAIN = "uncertain"  # sent up to the attempt limit without a confirmed answer: not sent again, seller told


class StoredMessage(BaseModel):
    """tenants/{t}/conversations/{c}/messages/{message_id}."""

    message_id: str
    role: Role
    kind: MessageKind = MessageKind.TEXT
    text: str | None = None
    media: MediaRef | None = None
    provider: Provider
    provider_message_id: str | None = None
    contact_name: str | None = Field(default=None, description="the profile name the provider gave (lead messages)")
    sent_at: datetime = Field(description="the provider's timestamp (inbound) or when we sent (outbound)")
    stored_at: datetime | None = Field(default=None, description="Piloto's clock; orders conversation memory")
    disposition: InboundDisposition | None = None
    # What the provider said about the message's context (InboundMessage carries the same fields)
    reply_to: str | None = Field(default=None, description="provider id of the message this one quotes")
    reaction_to: str | None = Field(default=None, description="provider id of the message a reaction is on")
    choice_id: str | None = None
    choice_description: str | None = None
    location: Location | None = None
    referral: dict[str, str] | None = None
    state: OutboundState | None = None
    model_call: ModelCall | None = None
    in_reply_to: str | None = Field(default=None, description="the inbound message id this reply answers")
    tool_calls: list[dict] = Field(default_factory=list, description="tools the agent used for this reply")
    tier: str | None = None
    seller: str | None = Field(default=None, description="the seller who wrote it, when known (seller-desk relays)")
    send_attempts: int = Field(default=0, description="provider calls made for this reply (recorded before each)")
    # Media understanding (lead files): the webhook sets PENDING, the media processor the rest.
    media_status: MediaStatus | None = None
    media_text: str | None = Field(default=None, description="transcript, image description or document text")
    media_reason: str | None = Field(default=None, description="why the file was not read (failed, unsupported…)")
    media_file: StoredMedia | None = Field(default=None, description="the original, kept in Cloud Storage")
    media_model_call: ModelCall | None = None


def awaits_reply(message: StoredMessage) -> bool:
    """A lead message an agent turn answers (a reaction kept as not answered never supersedes the burst's turn)."""
    return message.role == Role.LEAD and message.disposition is not InboundDisposition.NOT_ANSWERED


class Conversation(BaseModel):
    """tenants/{t}/conversations/{c}: one per contact and channel."""

    conversation_id: str
    tenant_id: str
    channel_key: str
    agent_id: str
    contact_phone: str
    contact_name: str | None = None
    # /chat conversations (contact "api:<user>"): what the caller told us about the lead, kept for later requests
    chat_phone: str | None = Field(default=None, description="/chat: the lead's phone the caller sent (E.164)")
    chat_time_zone: str | None = Field(default=None, description="/chat: the lead's IANA time zone the caller sent")
    last_inbound_message_id: str | None = None
    last_inbound_at: datetime | None = None
    last_outbound_at: datetime | None = None
    last_replied_message_id: str | None = None
    bot_paused: bool = False
    paused_at: datetime | None = None
    handoff_reason: str | None = None
    handoff_turn: str | None = Field(default=None, description="the message whose turn handed off (its reply still goes)")
    handoff_question: str | None = None
    paused_by_seller: bool = Field(default=False, description="a seller paused this lead ('pausar'): no idle release")
    summary: str | None = Field(default=None, description="rolling summary of messages older than the window")
    summary_through: datetime | None = Field(default=None, description="stored_at of the last summarized message")
    # Follow-up cadence (issue 6)
    followup_step: int | None = Field(default=None, description="index of the next step (len(steps) = close next)")
    followup_anchor: str | None = Field(default=None, description="the lead message the cadence follows up on")
    next_followup_at: datetime | None = Field(default=None, description="when the next step (or closing) is due")
    opted_out: bool = False
    opted_out_at: datetime | None = None
    closed: bool = False
    closed_at: datetime | None = None
