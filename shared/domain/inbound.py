"""What a provider's webhook tells us, normalized: one shape for Meta, Evolution, Z-API and Twilio."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from shared.domain.errors import InvalidPayload

# Longest provider id (message, instance, phone_number_id) accepted from a webhook. Real ones are tens of
# characters; ids become Firestore query values and hashed document ids, where an over-long one fails.
MAX_ID_CHARS = 256


class Provider(StrEnum):
    META = "meta"
    EVOLUTION = "evolution"
    ZAPI = "zapi"
    TWILIO = "twilio"
    API = "api"  # the /chat function: testing an agent without WhatsApp

    @property
    def is_whatsapp(self) -> bool:
        return self is not Provider.API


class MessageKind(StrEnum):
    TEXT = "text"
    AUDIO = "audio"
    IMAGE = "image"
    VIDEO = "video"
    DOCUMENT = "document"
    STICKER = "sticker"
    INTERACTIVE = "interactive"
    BUTTON = "button"
    LOCATION = "location"
    CONTACTS = "contacts"
    REACTION = "reaction"
    UNSUPPORTED = "unsupported"

    @property
    def has_media(self) -> bool:
        return self in _MEDIA_KINDS


_MEDIA_KINDS = {MessageKind.AUDIO, MessageKind.IMAGE, MessageKind.VIDEO, MessageKind.DOCUMENT, MessageKind.STICKER}


class MediaRef(BaseModel):
    """Where the media lives at the provider: a Meta media id, or a URL, or inline base64."""

    media_id: str | None = None
    url: str | None = None
    mime_type: str | None = None
    filename: str | None = None
    sha256: str | None = None
    voice: bool = False
    file_size: int | None = Field(default=None, description="bytes, when the webhook says (Evolution fileLength)")
    encrypted: bool = Field(default=False, description="url is WhatsApp's end-to-end encrypted CDN: not fetchable")
    provider_message: dict | None = Field(
        default=None, description="Evolution: the webhook's own key and message, sent back to the server so it "
                                  "decrypts the file without a stored copy")
    inline_base64: str | None = Field(
        default=None, repr=False, description="Evolution: the file itself, when the webhook carried it (instance "
                                              "set to send base64) and it is small enough to keep")


class Location(BaseModel):
    """A shared location as the provider describes it: coordinates, and the place's name and address if given."""

    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None


class InboundMessage(BaseModel):
    """A message a provider delivered, already tied to the channel it arrived on."""

    provider: Provider
    channel_id: str = Field(description="phone_number_id (Meta) or instance id/name (Evolution, Z-API)")
    provider_message_id: str
    contact_phone: str = Field(description="E.164, '+' and digits")
    contact_name: str | None = None
    kind: MessageKind
    text: str | None = Field(default=None, description="body, caption, button title, reaction emoji…")
    media: MediaRef | None = None
    from_business: bool = Field(default=False, description="sent from the business's own phone")
    is_group: bool = False
    sent_at: datetime
    raw_type: str | None = Field(default=None, description="the provider's own type name, kept for unsupported kinds")
    reply_to: str | None = Field(default=None, description="provider id of the message this one quotes (reply context)")
    reaction_to: str | None = Field(default=None, description="provider id of the message a reaction is on")
    choice_id: str | None = Field(default=None, description="id or payload of the button or list row the lead chose")
    choice_description: str | None = Field(default=None, description="description of the chosen list row")
    location: Location | None = None
    referral: dict[str, str] | None = Field(default=None, description="the click-to-WhatsApp ad the lead came from")
    not_a_chat: str | None = Field(default=None, description="broadcast list or channel post: recorded, never a contact")


class DeliveryState(StrEnum):
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


class StatusUpdate(BaseModel):
    """The provider's word on a message *we* sent: never a reason to reply."""

    provider: Provider
    channel_id: str
    provider_message_id: str
    state: DeliveryState
    recipient_phone: str | None = None
    at: datetime
    error: str | None = None


class RejectedPart(BaseModel):
    """One malformed message inside an otherwise valid delivery: recorded with the reason, the rest is kept."""

    channel_id: str
    provider_message_id: str | None = None
    reason: str


class WebhookBatch(BaseModel):
    """Everything one webhook request carried. Meta batches several entries per POST."""

    messages: list[InboundMessage] = []
    statuses: list[StatusUpdate] = []
    ignored: list[str] = Field(default=[], description="why parts of the payload were skipped (event names)")
    rejected: list[RejectedPart] = Field(default=[], description="messages of a batch that are malformed")

    @property
    def channel_ids(self) -> set[str]:
        return ({m.channel_id for m in self.messages} | {s.channel_id for s in self.statuses}
                | {r.channel_id for r in self.rejected})

    @property
    def size(self) -> int:
        """Parts of the request Piloto does work for: messages, statuses and skipped events."""
        return len(self.messages) + len(self.statuses) + len(self.ignored) + len(self.rejected)

    def distinct(self) -> WebhookBatch:
        """The batch with repeats removed, first occurrence kept: a message is one (channel, provider id), a status
        one (channel, provider id, state). A signed body repeating one message 2,000 times is one write."""
        seen_messages: set[tuple[str, str]] = set()
        messages = []
        for message in self.messages:
            key = (message.channel_id, message.provider_message_id)
            if key not in seen_messages:
                seen_messages.add(key)
                messages.append(message)
        seen_statuses: set[tuple[str, str, str]] = set()
        statuses = []
        for status in self.statuses:
            key = (status.channel_id, status.provider_message_id, status.state.value)
            if key not in seen_statuses:
                seen_statuses.add(key)
                statuses.append(status)
        return WebhookBatch(messages=messages, statuses=statuses, ignored=self.ignored, rejected=self.rejected)

    def check_ids(self, max_chars: int) -> None:
        """Refuse ids longer than max_chars (InvalidPayload naming the part): they become Firestore query values
        and document-id hashes, and Firestore refuses over-long values with an error of its own."""
        parts = [("messages", i, m) for i, m in enumerate(self.messages)]
        parts += [("statuses", i, s) for i, s in enumerate(self.statuses)]
        parts += [("rejected", i, r) for i, r in enumerate(self.rejected)]
        for name, i, part in parts:
            for field in ("channel_id", "provider_message_id"):
                value = getattr(part, field) or ""
                if len(value) > max_chars:
                    raise InvalidPayload(f"{name}[{i}].{field} is too long ({len(value)} characters; "
                                         f"at most {max_chars})")
