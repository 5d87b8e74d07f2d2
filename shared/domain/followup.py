"""Follow-up cadence rules: when the next nudge is due, whether it may be free text, and who asked to stop.

Pure functions over the agent's cadence configuration and the conversation's times; the clock is a parameter.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator

from shared.domain.config_document import ConfigDocument
from shared.domain.inbound import Provider

SERVICE_WINDOW = timedelta(hours=24)  # Meta's customer service window after the lead's last message
# A keyword inside a long message ("não vou parar de pensar nisso") is conversation, not an opt-out.
_MAX_OPT_OUT_WORDS = 6


class TemplateRef(ConfigDocument):
    """An approved WhatsApp message template. A list fills a positional body's {{1}}, {{2}}…; a mapping fills a
    template created with named parameters ({{first_name}} ← params["first_name"]). "{contact_name}" and
    "{business_name}" are replaced before sending."""

    name: str = Field(min_length=1, max_length=512,
                      description="Meta: the template's name; Twilio: its Content SID (HX…) in the Content API")
    language: str = Field(default="pt_BR", description="the template's language code as approved on Meta")
    params: list[str] | dict[str, str] = Field(
        default_factory=list, description="positional values, or parameter_name -> value for a NAMED template")

    @field_validator("params")
    @classmethod
    def _named_like_meta(cls, params: list[str] | dict[str, str]) -> list[str] | dict[str, str]:
        # Meta: parameter names are lowercase letters, digits and underscores ("Template fundamentals").
        bad = [k for k in params if isinstance(params, dict) and not re.fullmatch(r"[a-z0-9_]+", k)]
        if bad:
            raise ValueError(f"named template parameters must be lowercase letters, digits and _: {bad}")
        return params


class FollowupStep(ConfigDocument):
    """One nudge: sent delay after our last outbound message if the lead stayed silent."""

    delay_minutes: float = Field(gt=0, description="after the last outbound message (or the previous step)")
    instruction: str = Field(default="Retome a conversa de forma natural e útil, com base no que o lead disse.",
                             max_length=1000, description="what the model should aim for inside the 24 h window")
    template: TemplateRef | None = Field(default=None, description="sent on the Meta Cloud API outside the window")


class OutsideWindowPolicy(StrEnum):
    """Unofficial gateways have no templates and no enforced window; the business chooses."""

    FREE_FORM = "free_form"  # the model writes the follow-up anyway
    SKIP = "skip"  # the step is skipped (the cadence moves on)


class FollowupCadence(ConfigDocument):
    """AgentConfig.followup: ordered steps, business hours and stop words."""

    enabled: bool = Field(default=False, description="follow-ups are off unless the business turns them on")
    steps: list[FollowupStep] = Field(description="the nudges, in order (below)", default_factory=lambda: [
        FollowupStep(delay_minutes=60),
        FollowupStep(delay_minutes=24 * 60),
        FollowupStep(delay_minutes=3 * 24 * 60)])
    time_zone: str = Field(default="America/Sao_Paulo", description="IANA zone of the business hours")
    business_start: time = Field(default=time(9, 0), description="HH:MM; a step due earlier waits until then")
    business_end: time = Field(default=time(18, 0), description="HH:MM; a step due later waits for the next day")
    business_days: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4, 5],
                                     description="0 = Monday … 6 = Sunday")
    close_after_minutes: float = Field(default=3 * 24 * 60, ge=0,
                                       description="after the last step the conversation is closed this much later")
    outside_window_policy: OutsideWindowPolicy = Field(
        default=OutsideWindowPolicy.SKIP, description="Evolution/Z-API outside the 24 h window: skip or free_form")
    opt_out_keywords: list[str] = Field(
        default_factory=lambda: ["parar", "sair", "não quero mais", "pare", "descadastrar", "stop", "unsubscribe",
                                 "cancelar inscrição"],
        description="a short message opening with one of these opts the lead out")
    opt_out_confirmation: str = Field(
        default="Tudo bem! Não vou mais te enviar mensagens de acompanhamento. Se precisar, é só chamar.",
        description="sent once to a lead who opts out")

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (KeyError, ValueError) as err:  # ZoneInfoNotFoundError is a KeyError
            raise ValueError(f"unknown time zone {value!r}") from err
        return value

    @model_validator(mode="after")
    def _business_hours_make_sense(self) -> FollowupCadence:
        if self.business_start >= self.business_end:
            raise ValueError("business_start must be before business_end")
        if not self.business_days or any(d not in range(7) for d in self.business_days):
            raise ValueError("business_days must be weekday numbers 0..6")
        return self


def cadence_with_defaults(own: Mapping[str, Any] | None, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """An agent's `followup` fields over the platform's defaults (FOLLOWUP_DEFAULTS), field by field: the
    agent's own win, and its `steps` replace the default steps whole (a cadence is one sequence)."""
    return {**defaults, **(own or {})}


def without_nulls(value: Any) -> Any:
    """Terraform's jsonencode writes an unset optional attribute as null: "not set", never a value."""
    if isinstance(value, Mapping):
        return {key: without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value


def within_business_hours(at: datetime, cadence: FollowupCadence) -> bool:
    local = at.astimezone(ZoneInfo(cadence.time_zone))
    return (local.weekday() in cadence.business_days
            and cadence.business_start <= local.time().replace(tzinfo=None) < cadence.business_end)


def next_business_moment(at: datetime, cadence: FollowupCadence) -> datetime:
    """`at` itself when the business is open; else the next opening (a nudge due at night waits for the morning)."""
    if within_business_hours(at, cadence):
        return at
    zone = ZoneInfo(cadence.time_zone)
    local = at.astimezone(zone)
    day = local.date()
    if local.time().replace(tzinfo=None) >= cadence.business_start:
        day += timedelta(days=1)
    for _ in range(8):
        if day.weekday() in cadence.business_days:
            return datetime.combine(day, cadence.business_start, tzinfo=zone).astimezone(at.tzinfo)
        day += timedelta(days=1)
    raise AssertionError("business_days is validated non-empty")


def step_due(after: datetime, step: FollowupStep, cadence: FollowupCadence) -> datetime:
    """When a step goes out: its delay after `after`, moved into business hours."""
    return next_business_moment(after + timedelta(minutes=step.delay_minutes), cadence)


def close_due(after: datetime, cadence: FollowupCadence) -> datetime:
    return after + timedelta(minutes=cadence.close_after_minutes)


def within_service_window(last_inbound_at: datetime | None, now: datetime) -> bool:
    """Free-form messages are allowed for 24 h after the lead's last message."""
    return last_inbound_at is not None and now - last_inbound_at < SERVICE_WINDOW


class SendMode(StrEnum):
    FREE_FORM = "free_form"
    TEMPLATE = "template"
    SKIP = "skip"


def send_mode(provider: Provider, in_window: bool, step: FollowupStep, cadence: FollowupCadence) -> SendMode:
    """Inside the window: model-written text. Outside: the official API (Meta, or Meta through Twilio) only delivers
    an approved template; gateways follow policy."""
    if in_window:
        return SendMode.FREE_FORM
    if provider in (Provider.META, Provider.TWILIO):
        return SendMode.TEMPLATE if step.template is not None else SendMode.SKIP
    return SendMode(cadence.outside_window_policy.value)


def _normalized(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w\s]", " ", plain).split())


def opt_out_keyword(text: str | None, cadence: FollowupCadence) -> str | None:
    """The keyword a short message opens with to ask to stop ("PARAR", "não quero mais!"), or None."""
    if not text:
        return None
    message = _normalized(text)
    if not message or len(message.split()) > _MAX_OPT_OUT_WORDS:
        return None
    # The message must open with the keyword: "sair" stops, "quero sair do aluguel" is a sales conversation.
    padded = f"{message} "
    for keyword in cadence.opt_out_keywords:
        wanted = _normalized(keyword)
        if wanted and padded.startswith(f"{wanted} "):
            return keyword
    return None


def opt_out_choice(text: str | None, choice_id: str | None, cadence: FollowupCadence) -> str | None:
    """The keyword a tapped button (a template's quick reply "Parar", "Unsubscribe") matches, by its text or its
    payload, case and accents ignored: a button is a deliberate choice, so the whole label must match."""
    wanted = {_normalized(keyword): keyword for keyword in cadence.opt_out_keywords if _normalized(keyword)}
    for candidate in (text, choice_id):
        if candidate and (keyword := wanted.get(_normalized(candidate.replace("_", " ")))):
            return keyword
    return None


def fill_template_params(template: TemplateRef, contact_name: str | None,
                         business_name: str, **extra: str) -> list[str] | dict[str, str]:
    """`extra` adds placeholders (a meeting reminder's "{meeting_time}")."""
    values = {"contact_name": (contact_name or "").split(" ")[0] or "tudo bem", "business_name": business_name,
              **extra}
    if isinstance(template.params, dict):
        return {name: param.format_map(_Defaulting(values)) for name, param in template.params.items()}
    return [param.format_map(_Defaulting(values)) for param in template.params]


class _Defaulting(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


FollowupOutcome = Literal["sent", "template_sent", "skipped", "deferred", "closed", "lead_replied", "human",
                          "opted_out", "stale", "already_closed", "no_conversation", "no_channel", "disabled",
                          "rejected", "uncertain", "inactive", "misconfigured"]
