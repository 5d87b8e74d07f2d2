"""Who owns a WhatsApp number and how their agent should behave. Admins edit these as Firestore documents."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from shared.domain.config_document import ConfigDocument
from shared.domain.followup import FollowupCadence
from shared.domain.inbound import Provider
from shared.domain.phone import same_whatsapp_number, to_e164
from shared.domain.scheduling import CalendarConfig
from shared.domain.voice import VoiceSettings

QualificationField = Literal["name", "company", "need", "budget", "authority", "timeline"]

# Document ids Piloto accepts from outside (tenant, agent, user ids): Firestore forbids '/', '.' and '..' alone and
# names matching __.*__ (https://firebase.google.com/docs/firestore/quotas#collections_documents_and_fields).
# Starting with a letter or digit rules out '.', '..' and '__x__'; the narrow alphabet rules out '/'.
DOCUMENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$"


class ChannelCredentials(ConfigDocument):
    """Per-channel secrets. Stored on the channel document, never logged (repr hides them)."""

    access_token: str | None = Field(default=None, repr=False, description="Meta: system-user token")
    api_key: str | None = Field(default=None, repr=False, description="Evolution: instance apikey")
    server_url: str | None = Field(default=None, description="Evolution: base URL of the Evolution server")
    instance_token: str | None = Field(default=None, repr=False, description="Z-API: instance token (in the URL)")
    client_token: str | None = Field(default=None, repr=False, description="Z-API: account security token")
    webhook_token: str | None = Field(default=None, repr=False, description="Z-API: legacy webhook token, read only "
                                      "for an unkeyed URL while WEBHOOK_URL_KEY_MODE=optional")
    account_sid: str | None = Field(default=None, description="Twilio: the account (or subaccount) SID, AC…")
    auth_token: str | None = Field(default=None, repr=False,
                                   description="Twilio: the account's auth token (signs webhooks, authenticates sends)")


class Channel(ConfigDocument):
    """A connected WhatsApp number: tenants/{tenant_id}/channels/{provider}:{channel_id}."""

    tenant_id: str = Field(pattern=DOCUMENT_ID_PATTERN, description="the tenant that owns the number")
    provider: Provider = Field(description="meta, evolution, zapi or twilio")
    channel_id: str = Field(min_length=1, max_length=200,
                            description="Meta phone_number_id, Evolution instance name, Z-API instance id, "
                                        "Twilio WhatsApp sender number (E.164)")
    channel_key: str | None = Field(default=None, repr=False, description="provider:channel_id, exactly the document id")
    agent_id: str = Field(default="default", pattern=DOCUMENT_ID_PATTERN, description="the agent that answers")
    display_phone: str | None = Field(default=None, description="the number as people see it (informative)")
    credentials: ChannelCredentials = Field(default_factory=ChannelCredentials,
                                            description="per-provider secrets (below)")
    active: bool = Field(default=True, description="false: messages are stored, nothing is sent")

    @model_validator(mode="after")
    def _key_matches(self) -> Channel:
        if not self.provider.is_whatsapp:
            raise ValueError(f"provider {self.provider.value!r} is not a WhatsApp provider")
        if self.channel_key is not None and self.channel_key != self.key:
            raise ValueError(f"channel_key must be {self.key!r} (provider:channel_id)")
        return self

    @property
    def key(self) -> str:
        return channel_key(self.provider, self.channel_id)


def channel_key(provider: Provider | str, channel_id: str) -> str:
    """The lookup key a webhook knows before it knows the tenant."""
    return f"{Provider(provider).value}:{channel_id}"


class Seller(ConfigDocument):
    """A person who sells for the business. Their phone writing to the business number is a seller, never a lead."""

    name: str = Field(min_length=1, max_length=80)
    phone: str = Field(description="E.164; matched with and without Brazil's ninth digit")
    role: str = Field(default="seller", max_length=40, description="seller, manager… (shown, not enforced)")
    calendar_id: str | None = Field(
        default=None, description="the Google Calendar id (one of calendar.calendar_ids) whose meetings this seller "
        "takes: they alone are told of bookings on it; a calendar no seller names alerts every seller")

    @field_validator("phone")
    @classmethod
    def _canonical(cls, value: str) -> str:
        return to_e164(value)


class AgentConfig(ConfigDocument):
    """tenants/{tenant_id}/agents/{agent_id}: the persona and rules of one sales agent."""

    agent_id: str = Field(default="default", pattern=DOCUMENT_ID_PATTERN, description="= the document id")
    display_name: str = Field(default="Piloto", description="the agent's name in the conversation")
    business_name: str = Field(default="", description="the business the agent speaks for")
    business_description: str = Field(default="", description="what the business sells, where, how")
    persona: str = Field(
        default="Você é um SDR cordial e objetivo. Responda em mensagens curtas, como no WhatsApp.",
        description="system instructions written by the business",
    )
    language: str = Field(default="pt-BR", description="language of replies and summaries")
    history_limit: int = Field(default=20, ge=4, le=100, description="latest messages put in the prompt")
    max_reply_chars: int = Field(default=700, ge=50, le=4096, description="longer replies are cut")
    mode: Literal["pilot", "copilot"] = Field(
        default="pilot", description="pilot answers the lead; copilot drafts a suggestion for the seller")
    seller_phone: str | None = Field(default=None, description="E.164; handoff alerts and copilot drafts go here "
                                    "(kept for older documents: it counts as one more seller)")
    sellers: list[Seller] = Field(default_factory=list, description="people who answer leads from their own WhatsApp")
    seller_template: str | None = Field(
        default=None, description="Meta: approved utility template that invites a seller outside their 24-hour window "
        "to open the chat (body parameters: seller name, lead name); the alert itself waits until the seller writes")
    seller_template_language: str = "pt_BR"
    send_suggestions_to_seller: bool = Field(default=True, description="copilot: drafts also go to the sellers")
    holding_message: str = Field(default="Só um instante, já te respondo! 🙂",
                                 description="sent when no model can answer; the conversation goes to a human")
    max_tool_steps: int = Field(default=4, ge=0, le=8, description="tool rounds per turn; 0 turns tools off")
    handoff_release_minutes: int = Field(
        default=240, ge=0, description="a handed-off conversation returns to the bot after this long without a human")
    learn_from_humans: Literal["auto", "review", "off"] = Field(
        default="review", description="a seller's answer to a handed-off question becomes knowledge: at once (auto), "
        "after an admin approves it (review), or never")
    answer_cache_hours: int = Field(default=24, ge=0, description="FAQ answers are reused this long; 0 turns it off")
    knowledge_version: str = Field(
        default="1", description="optional manual reset of the answer cache; documents, approved answers and the "
        "catalogue already move the cache's key by themselves")
    answer_reactions: bool = Field(
        default=False, description="reply to a lead's reaction (👍 on our message) as to a message; off: kept, not answered")
    memory_token_budget: int = Field(default=2500, ge=200, description="recent messages above this are summarized")
    sales_goal: str = Field(
        default="qualificar o lead e, quando fizer sentido, propor uma visita técnica, uma reunião ou o próximo passo "
        "da compra", max_length=300, description="what the conversation is for; stated in the system instruction")
    qualification_order: list[QualificationField] = Field(
        default_factory=lambda: ["need", "budget", "authority", "timeline"],
        description="what the agent learns about a lead, in this order, one question at a time")
    # Follow-up cadence (issue 6); its time zone and business hours are also the ones the prompt states
    followup: FollowupCadence = Field(default_factory=FollowupCadence,
                                      description="follow-up cadence, off unless turned on (see Follow-ups)")

    # Voice replies (issue 18): off unless the business turns them on
    voice: VoiceSettings = Field(default_factory=VoiceSettings,
                                 description="voice notes for leads who talk (see Replying with voice)")

    # Meetings booked on the sellers' Google Calendars (issue 19): off when absent (request-and-confirm)
    calendar: CalendarConfig | None = Field(
        default=None, description="the sellers' calendars, meeting kinds and hours (see Meetings on Google Calendar)")

    @model_validator(mode="after")
    def _one_entry_per_seller_phone(self) -> AgentConfig:
        phones = [s.phone for s in self.sellers]
        for i, phone in enumerate(phones):
            if any(same_whatsapp_number(phone, other) for other in phones[i + 1:]):
                raise ValueError("sellers: the same phone is listed twice (with or without the ninth digit)")
        calendars = self.calendar.calendar_ids if self.calendar is not None else []
        for seller in self.sellers:
            if seller.calendar_id is not None and seller.calendar_id not in calendars:
                raise ValueError(f"sellers: {seller.name}'s calendar_id is not one of calendar.calendar_ids")
        return self

    def all_sellers(self) -> list[Seller]:
        """The sellers list, plus the legacy seller_phone when it is not already in it."""
        sellers = list(self.sellers)
        if self.seller_phone and not any(same_whatsapp_number(self.seller_phone, s.phone) for s in sellers):
            sellers.append(Seller(name="Vendedor", phone=self.seller_phone))
        return sellers

    def sellers_for_calendar(self, calendar_id: str | None) -> list[Seller]:
        """Who is told of a meeting on that calendar: the sellers who name it, else every seller."""
        named = [s for s in self.sellers if calendar_id is not None and s.calendar_id == calendar_id]
        return named or self.all_sellers()

    def seller_for(self, phone: str) -> Seller | None:
        """The seller writing from this phone, if any (ninth digit or not)."""
        return next((s for s in self.all_sellers() if same_whatsapp_number(s.phone, phone)), None)


class Tenant(ConfigDocument):
    """tenants/{tenant_id}: a business using Piloto."""

    tenant_id: str = Field(pattern=DOCUMENT_ID_PATTERN, description="= the document id")
    name: str = Field(min_length=1, description="the business's name")
    active: bool = Field(default=True, description="false: messages are stored, nothing is sent")
    # The owner's weekly digest (functions/weekly_digest.py): off while owner_phone is unset.
    owner_phone: str | None = Field(default=None, description="E.164; the owner's weekly numbers go here")
    digest_channel: str | None = Field(
        default=None, description="provider:channel_id the digest is sent from; default: the first active channel")
    digest_template: str | None = Field(
        default=None, description="Meta only: an approved utility template with six body parameters "
        "(business, week, leads, qualified, meetings, cost); Meta sends nothing else to a number outside its 24 h window")
    digest_template_language: str = Field(default="pt_BR", description="the template's language code")


def tenant_path(tenant_id: str) -> str:
    return f"tenants/{tenant_id}"


def agent_path(tenant_id: str, agent_id: str) -> str:
    return f"tenants/{tenant_id}/agents/{agent_id}"


def channel_path(tenant_id: str, key: str) -> str:
    return f"tenants/{tenant_id}/channels/{key}"


def sends_allowed(tenant: Tenant | None, channel: Channel) -> bool:
    """`active: false` on the tenant or the channel: messages are still stored, nothing is sent.
    A tenant with no document is not switched off (channels registered before tenant documents existed)."""
    return channel.active and (tenant is None or tenant.active)
