"""Fakes for the paid remote edges only (the model, the WhatsApp send APIs). Storage is always the real emulator."""

from __future__ import annotations

from dataclasses import dataclass, field

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
