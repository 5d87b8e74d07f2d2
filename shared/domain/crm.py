"""A tenant's CRM: its configuration, the ids Piloto keeps of its records, and the pure rules of a sync.

The configuration is one Firestore document, tenants/{tenant_id}/integrations/crm (schema: `CrmConfig`).
Which qualification field goes to which CRM property, and which Piloto stage is which pipeline stage, is
configuration with defaults: nothing about a tenant's CRM account is in code.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import StrEnum
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, model_validator

from shared.domain.config_document import ConfigDocument
from shared.domain.errors import CrmMisconfigured
from shared.domain.events import (
    ConversationSummarized,
    DomainEvent,
    EventType,
    FieldValue,
    HandoffRequested,
    LeadCreated,
    LeadOptedOut,
    LeadQualified,
    LeadStage,
    LeadStageChanged,
    LeadUpdated,
    MeetingCancelled,
    MeetingRequested,
    MeetingRescheduled,
    MeetingScheduled,
)
from shared.domain.phone import same_whatsapp_number
from shared.domain.scheduling import zone_place_name

BRAZIL_TIME = ZoneInfo("America/Sao_Paulo")
SIGNATURE_HEADER = "X-Piloto-Signature-256"
NOTE_PREFIX = "[Piloto]"
# Fields every CRM has natively; everything else needs a mapping to a property (or lands in a note).
CONTACT_NATIVE_FIELDS = {"name", "email"}


class CrmKind(StrEnum):
    WEBHOOK = "webhook"  # Make, n8n, Zapier... anything that takes a signed JSON POST
    HUBSPOT = "hubspot"
    PIPEDRIVE = "pipedrive"
    RDSTATION = "rdstation"


class FieldPolicy(StrEnum):
    """What a lead's field does to a CRM record that already has a value for it."""

    FILL_EMPTY = "fill_empty"  # write only where the CRM has nothing yet: the seller's edits win
    OVERWRITE = "overwrite"  # Piloto's latest answer replaces the CRM's value


# The CRM's own name and e-mail are the seller's: WhatsApp data only fills them in unless the tenant says so.
# Qualification answers are Piloto's own questions, so their latest answer replaces the older one.
_DEFAULT_FIELD_POLICY = {"name": FieldPolicy.FILL_EMPTY, "email": FieldPolicy.FILL_EMPTY}


class WebhookSettings(ConfigDocument):
    url: str = Field(description="https URL that receives each event as a JSON POST")
    secret: str = Field(min_length=16, repr=False, description="HMAC-SHA256 key of the signature header")
    headers: dict[str, str] = Field(default_factory=dict, repr=False,
                                    description="extra static headers (e.g. an n8n header-auth credential)")


# HubSpot's default sales pipeline stage ids (the "default" pipeline of every account).
HUBSPOT_DEFAULT_STAGES: dict[LeadStage, str] = {
    LeadStage.QUALIFIED: "qualifiedtobuy",
    LeadStage.MEETING: "appointmentscheduled",
    LeadStage.PROPOSAL: "contractsent",
    LeadStage.WON: "closedwon",
    LeadStage.LOST: "closedlost",
}


class HubSpotSettings(ConfigDocument):
    access_token: str = Field(repr=False, description="private app token (crm.objects.contacts/deals write)")
    pipeline: str = Field(default="default", description="the deals' pipeline id")
    stage_map: dict[LeadStage, str] = Field(default_factory=lambda: dict(HUBSPOT_DEFAULT_STAGES))
    contact_properties: dict[str, str] = Field(
        default_factory=dict, description="Piloto field -> HubSpot contact property internal name")
    owner_id: str | None = Field(default=None, description="hubspot_owner_id of new contacts and deals")


class PipedriveSettings(ConfigDocument):
    api_token: str = Field(repr=False, description="Pipedrive API token")
    stage_map: dict[LeadStage, int] = Field(
        default_factory=dict, description="Piloto stage -> Pipedrive stage_id (stage ids are per account)")
    person_fields: dict[str, str] = Field(
        default_factory=dict, description="Piloto field -> person custom field key (the 40-character hash)")
    owner_id: int | None = Field(default=None, description="owner (user id) of new persons and deals")


class RdStationSettings(ConfigDocument):
    token: str = Field(repr=False, description="RD Station CRM API token (Perfil → Token da instância)")
    stage_map: dict[LeadStage, str] = Field(
        default_factory=dict,
        description="Piloto stage -> deal_stage_id; WON and LOST need none (RD closes a deal with `win`)")
    lost_reason_id: str | None = Field(
        default=None, description="deal_lost_reason_id set when Piloto marks a deal lost (Configurações → Motivos "
                                  "de perda); without it the deal is closed as lost with no reason")
    contact_custom_fields: dict[str, str] = Field(
        default_factory=dict, description="Piloto field -> contact custom_field_id")
    user_id: str | None = Field(default=None, description="owner (user_id) of new deals and notes")


class CrmConfig(ConfigDocument):
    """tenants/{tenant_id}/integrations/crm: where this tenant's lead events go."""

    kind: CrmKind = Field(description="where events go; the section of the same name configures it")
    enabled: bool = Field(default=True, description="false pauses delivery (events are acknowledged, not queued)")
    events: list[EventType] = Field(default_factory=lambda: list(EventType),
                                    description="event types to deliver; all by default")
    deal_title: str = Field(default="{name} — WhatsApp", description="template; {name} and {phone} are filled in")
    field_policy: dict[str, FieldPolicy] = Field(
        default_factory=dict,
        description="Piloto field -> fill_empty | overwrite; name and email default to fill_empty, the "
                    "qualification answers to overwrite")
    webhook: WebhookSettings | None = Field(default=None, description="kind webhook: Make, n8n, Zapier, your endpoint")
    hubspot: HubSpotSettings | None = Field(default=None, description="kind hubspot")
    pipedrive: PipedriveSettings | None = Field(default=None, description="kind pipedrive")
    rdstation: RdStationSettings | None = Field(default=None, description="kind rdstation (RD Station CRM)")

    @model_validator(mode="after")
    def _has_its_section(self) -> CrmConfig:
        if getattr(self, self.kind.value) is None:
            raise ValueError(f"kind is {self.kind.value!r} but the {self.kind.value!r} section is missing")
        return self

    def wants(self, event_type: str) -> bool:
        return self.enabled and event_type in {str(e) for e in self.events}

    def title_for(self, name: str | None, phone: str) -> str:
        return self.deal_title.replace("{name}", name or phone).replace("{phone}", phone)[:200]

    def policy_for(self, field_name: str) -> FieldPolicy:
        return self.field_policy.get(field_name) or _DEFAULT_FIELD_POLICY.get(field_name, FieldPolicy.OVERWRITE)


class CrmLink(BaseModel):
    """tenants/{t}/crm_links/{kind}:{contact_key}: the CRM's ids for one lead, so updates reach the same records."""

    contact_key: str
    crm: CrmKind
    contact_id: str | None = None
    deal_id: str | None = None
    stage: LeadStage | None = None
    stage_changed_at: datetime | None = Field(default=None, description="occurred_at of the last stage applied")

    @property
    def doc_id(self) -> str:
        return link_id(self.crm, self.contact_key)


def link_id(crm: CrmKind | str, contact_key: str) -> str:
    return f"{CrmKind(crm).value}:{contact_key}"


class CrmDeliveryState(StrEnum):
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    REJECTED = "rejected"  # the CRM refused for good; its message is kept
    POISON = "poison"  # the message was not a domain event


FINAL_DELIVERY_STATES = {CrmDeliveryState.DELIVERED, CrmDeliveryState.REJECTED, CrmDeliveryState.POISON}


# -- signed webhook -----------------------------------------------------------------------------

def webhook_signature(secret: str, body: bytes) -> str:
    """'sha256=' + hex HMAC-SHA256 of the raw body: the same scheme as Meta's X-Hub-Signature-256."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_webhook_signature(secret: str, body: bytes, header: str | None) -> bool:
    """For receivers (and tests): constant-time comparison with the expected signature."""
    return bool(header) and hmac.compare_digest(webhook_signature(secret, body), header or "")


def check_webhook_url(url: str, allow_http: bool) -> None:
    """Refuse URLs that would make crm_sync call into Google's metadata server or a private network."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise CrmMisconfigured(f"webhook url must be an absolute https URL, got scheme {parts.scheme!r}")
    if parts.scheme == "http" and not allow_http:
        raise CrmMisconfigured("webhook url must use https")
    host = parts.hostname.lower()
    if host in ("metadata.google.internal", "metadata") or host.endswith(".internal"):
        raise CrmMisconfigured("webhook url points at an internal host")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return
    if address.is_link_local or ((address.is_private or address.is_loopback) and not allow_http):
        raise CrmMisconfigured("webhook url points at a private address")


# -- contact data ---------------------------------------------------------------------------------

def crm_phone_matches(stored: str, lead_phone: str) -> bool:
    """A phone as a CRM stores it ('(11) 98765-4321', '+55 11 8765-4321', '5511987654321') is the lead's line.

    Sellers type numbers without the country code; a Brazilian national number (10 or 11 digits) is read as
    +55. Both ninth-digit forms match (same_whatsapp_number).
    """
    digits = "".join(ch for ch in stored if ch.isdigit()).lstrip("0")
    if not digits:
        return False
    if len(digits) in (10, 11) and lead_phone.lstrip("+").startswith("55"):
        digits = "55" + digits
    return same_whatsapp_number(f"+{digits}", lead_phone)


def is_same_lead(lead_phone: str, lead_email: str | None, phones: list[str], emails: list[str]) -> bool:
    """Evidence that a CRM record found by search is this lead: one of its phones is the lead's line, or its
    e-mail is the lead's. A search hit without it is someone else (a CRM may ignore a filter it does not know)."""
    if any(crm_phone_matches(p, lead_phone) for p in phones if p):
        return True
    wanted = (lead_email or "").strip().lower()
    return bool(wanted) and any((e or "").strip().lower() == wanted for e in emails)


def fields_under_policy(fields: Mapping[str, FieldValue], policy: Mapping[str, FieldPolicy] | None,
                        read_current: Callable[[], dict[str, FieldValue | None]]) -> dict[str, FieldValue]:
    """The fields an update sends; the record is read (`read_current`) only when a FILL_EMPTY field needs it."""
    policy = dict(policy or {})
    if not any(policy.get(k) is FieldPolicy.FILL_EMPTY for k in fields):
        return dict(fields)
    return fields_to_write(dict(fields), read_current(), policy)


def fields_to_write(fields: dict[str, FieldValue], current: dict[str, FieldValue | None],
                    policy: dict[str, FieldPolicy]) -> dict[str, FieldValue]:
    """The lead's fields an update may send: a FILL_EMPTY field only where the record has no value yet.

    `current` is the record's value per Piloto field name (absent or None/'' = empty); `policy` per field.
    """
    def empty(value: FieldValue | None) -> bool:
        return value is None or (isinstance(value, str) and not value.strip())

    return {name: value for name, value in fields.items()
            if policy.get(name, FieldPolicy.OVERWRITE) is FieldPolicy.OVERWRITE or empty(current.get(name))}

def split_name(name: str | None) -> tuple[str | None, str | None]:
    """First word and the rest: what CRMs with first/last name fields expect."""
    words = (name or "").split()
    if not words:
        return None, None
    return words[0], " ".join(words[1:]) or None


def lead_fields(event: DomainEvent) -> dict[str, FieldValue]:
    """Name, email and the qualification answers the event carries, by Piloto field name."""
    fields: dict[str, FieldValue] = {}
    if event.contact.name:
        fields["name"] = event.contact.name
    if event.contact.email:
        fields["email"] = event.contact.email
    if isinstance(event, LeadQualified | LeadUpdated):
        fields.update({k: v for k, v in event.payload.fields.items() if v is not None and v != ""})
    return fields


def stage_target(event: DomainEvent) -> LeadStage | None:
    """Where in the funnel the event puts the lead's deal, if anywhere (a CRM that maps no deal stage to NEW
    creates its deal at qualification; one that keeps every lead as a deal, like RD Station, maps NEW)."""
    if isinstance(event, LeadCreated):
        return LeadStage.NEW
    if isinstance(event, LeadQualified):
        return LeadStage.QUALIFIED
    if isinstance(event, LeadStageChanged):
        return event.payload.to_stage
    return None


def is_stale_stage(link: CrmLink, event: DomainEvent) -> bool:
    """An older stage change arriving after a newer one (a redelivery, a drained backlog) must not undo it."""
    return link.stage_changed_at is not None and event.occurred_at < link.stage_changed_at


_STAGE_PT = {LeadStage.NEW: "novo", LeadStage.QUALIFIED: "qualificado", LeadStage.MEETING: "reunião",
             LeadStage.PROPOSAL: "proposta", LeadStage.WON: "ganho", LeadStage.LOST: "perdido"}


def _fields_text(fields: dict[str, FieldValue]) -> str:
    return "; ".join(f"{name}: {value}" for name, value in sorted(fields.items()))


def _brazil(moment: datetime) -> str:
    return moment.astimezone(BRAZIL_TIME).strftime("%d/%m/%Y %H:%M (horário de Brasília)")


def _meeting_time(moment: datetime, lead_zone: str | None) -> str:
    """Brasília's time, and the lead's own when their clock differs then ('10:00 no horário do lead, Manaus')."""
    text = _brazil(moment)
    if not lead_zone:
        return text
    try:
        theirs = moment.astimezone(ZoneInfo(lead_zone))
    except (ZoneInfoNotFoundError, ValueError):
        return text  # a zone this runtime does not know: Brasília's time alone is still right
    if theirs.utcoffset() == moment.astimezone(BRAZIL_TIME).utcoffset():
        return text
    day = "" if theirs.date() == moment.astimezone(BRAZIL_TIME).date() else f"{theirs:%d/%m} "
    return f"{text}; {day}{theirs:%H:%M} no horário do lead ({zone_place_name(lead_zone)}, {lead_zone})"


def note_for(event: DomainEvent, unplaced: dict[str, FieldValue]) -> str | None:
    """The timeline note (pt-BR, for the business's sellers) an event leaves in the CRM; None if it leaves none.

    `unplaced` are the lead's fields the CRM's mapping did not put on a property: they go in the note rather
    than being lost.
    """
    lines: list[str] = []
    if isinstance(event, LeadCreated):
        provider = event.channel_key.split(":", 1)[0]
        lines.append(f"Novo lead pelo WhatsApp ({provider}).")
        if event.payload.first_message:
            lines.append(f"Primeira mensagem: “{event.payload.first_message}”")
    elif isinstance(event, LeadQualified):
        score = f" (nota {event.payload.score}/100)" if event.payload.score is not None else ""
        lines.append(f"Lead qualificado pelo agente{score}.")
        if event.payload.summary:
            lines.append(f"Resumo: {event.payload.summary}")
        answers = {k: v for k, v in event.payload.fields.items() if v is not None and v != ""}
        if answers:
            lines.append(f"Respostas: {_fields_text(answers)}")
        unplaced = {}
    elif isinstance(event, LeadUpdated):
        if not unplaced:
            return None
        lines.append(f"Dados do lead: {_fields_text(unplaced)}")
        unplaced = {}
    elif isinstance(event, LeadStageChanged):
        came_from = f"{_STAGE_PT[event.payload.from_stage]} → " if event.payload.from_stage else ""
        lines.append(f"Etapa: {came_from}{_STAGE_PT[event.payload.to_stage]}.")
        if event.payload.reason:
            lines.append(f"Motivo: {event.payload.reason}")
    elif isinstance(event, MeetingRequested):
        when = (event.payload.starts_at.astimezone(BRAZIL_TIME).strftime("%d/%m/%Y %H:%M (horário de Brasília)")
                if event.payload.starts_at else event.payload.preferred_time or "horário a combinar")
        lines.append(f"Reunião solicitada: {when}.")
        if event.payload.notes:
            lines.append(event.payload.notes)
    elif isinstance(event, MeetingScheduled):
        lines.append(f"Reunião agendada: {_meeting_time(event.payload.starts_at, event.payload.lead_time_zone)} "
                     f"({event.payload.kind}).")
        if event.payload.video_link:
            lines.append(f"Link: {event.payload.video_link}")
    elif isinstance(event, MeetingRescheduled):
        lines.append(f"Reunião remarcada para "
                     f"{_meeting_time(event.payload.starts_at, event.payload.lead_time_zone)}.")
    elif isinstance(event, MeetingCancelled):
        previous = event.payload.previous_starts_at
        lines.append(f"Reunião de {_meeting_time(previous, event.payload.lead_time_zone)} cancelada pelo lead."
                     if previous else "Reunião cancelada pelo lead.")
    elif isinstance(event, HandoffRequested):
        who = "pelo lead" if event.payload.requested_by == "lead" else "pelo agente"
        lines.append(f"Atendimento humano solicitado {who}: {event.payload.reason}")
    elif isinstance(event, LeadOptedOut):
        keyword = f" (mensagem: {event.payload.keyword})" if event.payload.keyword else ""
        lines.append(f"O lead pediu para não ser mais contatado{keyword}.")
        if event.payload.reason:
            lines.append(f"Motivo: {event.payload.reason}")
    elif isinstance(event, ConversationSummarized):
        lines.append(f"Resumo da conversa ({event.payload.message_count} mensagens):")
        lines.append(event.payload.summary)
    if unplaced:
        lines.append(f"Dados do lead: {_fields_text(unplaced)}")
    return f"{NOTE_PREFIX} " + "\n".join(lines) if lines else None
