"""What a provider's webhook tells us, normalized: one shape for Meta, Evolution and Z-API."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class Provider(StrEnum):
    META = "meta"
    EVOLUTION = "evolution"
    ZAPI = "zapi"
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


class WebhookBatch(BaseModel):
    """Everything one webhook request carried. Meta batches several entries per POST."""

    messages: list[InboundMessage] = []
    statuses: list[StatusUpdate] = []
    ignored: list[str] = Field(default=[], description="why parts of the payload were skipped (event names)")

    @property
    def channel_ids(self) -> set[str]:
        return {m.channel_id for m in self.messages} | {s.channel_id for s in self.statuses}
