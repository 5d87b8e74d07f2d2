"""Who owns a WhatsApp number and how their agent should behave. Admins edit these as Firestore documents."""

from __future__ import annotations

from typing import Literal

QualificationField = Literal["name", "company", "need", "budget", "authority", "timeline"]

from pydantic import BaseModel, Field

from shared.domain.followup import FollowupCadence
from shared.domain.inbound import Provider
from shared.domain.scheduling import CalendarConfig


class ChannelCredentials(BaseModel):
    """Per-channel secrets. Stored on the channel document, never logged (repr hides them)."""

    access_token: str | None = Field(default=None, repr=False, description="Meta: system-user token")
    api_key: str | None = Field(default=None, repr=False, description="Evolution: instance apikey")
    server_url: str | None = Field(default=None, description="Evolution: base URL of the Evolution server")
    instance_token: str | None = Field(default=None, repr=False, description="Z-API: instance token (in the URL)")
    client_token: str | None = Field(default=None, repr=False, description="Z-API: account security token")
    webhook_token: str | None = Field(default=None, repr=False, description="Z-API: token expected on our webhook")
    account_sid: str | None = Field(default=None, description="Twilio: the account (or subaccount) SID, AC…")
    auth_token: str | None = Field(default=None, repr=False,
                                   description="Twilio: the account's auth token (signs webhooks, authenticates sends)")


class Channel(BaseModel):
    """A connected WhatsApp number: tenants/{tenant_id}/channels/{provider}:{channel_id}."""

    tenant_id: str
    provider: Provider
    channel_id: str = Field(description="Meta phone_number_id, Evolution instance name, Z-API instance id, "
                                        "Twilio WhatsApp sender number (E.164)")
    agent_id: str = "default"
    display_phone: str | None = None
    credentials: ChannelCredentials = ChannelCredentials()
    active: bool = True

    @property
    def key(self) -> str:
        return channel_key(self.provider, self.channel_id)


def channel_key(provider: Provider | str, channel_id: str) -> str:
    """The lookup key a webhook knows before it knows the tenant."""
    return f"{Provider(provider).value}:{channel_id}"


class AgentConfig(BaseModel):
    """tenants/{tenant_id}/agents/{agent_id}: the persona and rules of one sales agent."""

    agent_id: str = "default"
    display_name: str = "Piloto"
    business_name: str = ""
    business_description: str = ""
    persona: str = Field(
        default="Você é um SDR cordial e objetivo. Responda em mensagens curtas, como no WhatsApp.",
        description="system instructions written by the business",
    )
    language: str = "pt-BR"
    history_limit: int = Field(default=20, ge=4, le=100, description="latest messages put in the prompt")
    max_reply_chars: int = Field(default=700, ge=50, le=4096)
    mode: Literal["pilot", "copilot"] = Field(
        default="pilot", description="pilot answers the lead; copilot drafts a suggestion for the seller")
    seller_phone: str | None = Field(default=None, description="E.164; handoff alerts and copilot drafts go here")
    send_suggestions_to_seller: bool = True
    holding_message: str = Field(default="Só um instante, já te respondo! 🙂",
                                 description="sent when no model can answer; the conversation goes to a human")
    max_tool_steps: int = Field(default=4, ge=0, le=8)
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
    # Follow-up cadence (issue 6); its time zone and business hours are also the ones the prompt states: off unless the business turns it on
    followup: FollowupCadence = Field(default_factory=FollowupCadence)
    # Meetings booked on the sellers' Google Calendars (issue 19): off when absent (request-and-confirm)
    calendar: CalendarConfig | None = None


class Tenant(BaseModel):
    """tenants/{tenant_id}: a business using Piloto."""

    tenant_id: str
    name: str
    active: bool = True
