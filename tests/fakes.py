"""Fakes for the paid remote edges only (the model, the WhatsApp send APIs). Storage is always the real emulator."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.domain.tenancy import Channel
from shared.domain.usage import ModelCall, TokenUsage
from shared.ports import Generation, Prompt


@dataclass
class ScriptedModel:
    """Answers from a script; an Exception in the script is raised instead."""

    script: list[str | Exception] = field(default_factory=list)
    prompts: list[Prompt] = field(default_factory=list)

    def generate(self, prompt: Prompt) -> Generation:
        self.prompts.append(prompt)
        step = self.script.pop(0) if self.script else "Olá! Como posso ajudar?"
        if isinstance(step, Exception):
            raise step
        usage = TokenUsage(prompt_tokens=100 + len(prompt.turns), output_tokens=len(step) // 4)
        return Generation(text=step, call=ModelCall(model="gemini-test", backend="vertex", usage=usage,
                                                    latency_ms=12, cost_usd=0.0001))


@dataclass
class RecordingSender:
    """A MessageSender that records sends; an Exception queued in `failures` is raised for the next send."""

    sent: list[tuple[str, str, str]] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)

    def send_text(self, channel: Channel, to_phone: str, text: str) -> str:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((channel.key, to_phone, text))
        return f"wamid.FAKE{len(self.sent)}"


@dataclass
class MetaWindowSender:
    """Meta's Cloud API as a sender, with its 24-hour customer service window enforced.

    Free-form messages are only delivered within 24 h of the person's last message; outside it Meta still answers
    the send with a wamid, then reports the message `failed` with error 131047 ("Re-engagement message") in a
    status webhook, so it never reaches the person
    (https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/send-messages and
    https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes).
    Templates are allowed outside the window; `name` and `language.code` are required
    (https://developers.facebook.com/documentation/business-messaging/whatsapp/templates/overview).
    """

    clock: Callable[[], datetime]
    last_inbound: dict[str, datetime] = field(default_factory=dict)
    delivered: list[tuple[str, str]] = field(default_factory=list)
    undelivered_131047: list[tuple[str, str]] = field(default_factory=list)
    templates: list[tuple[str, str, str, list[str]]] = field(default_factory=list)

    def send_text(self, channel: Channel, to_phone: str, text: str) -> str:
        opened = self.last_inbound.get(to_phone)
        if opened is None or self.clock() - opened >= timedelta(hours=24):
            self.undelivered_131047.append((to_phone, text))
        else:
            self.delivered.append((to_phone, text))
        return f"wamid.WINDOW{len(self.delivered) + len(self.undelivered_131047)}"

    def send_media(self, channel: Channel, to_phone: str, media: object, kind: str, caption: str | None = None) -> str:
        return self.send_text(channel, to_phone, f"[{kind}] {caption or ''}".strip())

    def send_template(self, channel: Channel, to_phone: str, name: str, language: str, params: list[str]) -> str:
        if not name or not language:
            raise ValueError("template name and language.code are required")
        self.templates.append((to_phone, name, language, params))
        return f"wamid.TEMPLATE{len(self.templates)}"
