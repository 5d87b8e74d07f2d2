"""An offline stand-in for Gemini, for local runs without Google credentials.

It is not a model: it answers with a deterministic template built from the lead's last messages, says
so in every reply and logs backend='offline', so nobody mistakes it for the real thing.
"""

from __future__ import annotations

import time

from shared.domain.usage import ModelCall, TokenUsage
from shared.ports import Generation, Prompt

OFFLINE_MODEL_ID = "offline-template"


def _estimate_tokens(text: str) -> int:
    # Roughly four characters per token for Portuguese and English: enough to exercise the accounting.
    return max(1, len(text) // 4)


class OfflineModel:
    backend = "offline"

    def generate(self, prompt: Prompt) -> Generation:
        started = time.perf_counter()
        last_user = next((turn.text for turn in reversed(prompt.turns) if turn.role == "user"), "")
        lines = [line.strip() for line in last_user.splitlines() if line.strip()]
        quoted = " / ".join(lines[-3:])
        plural = "suas mensagens" if len(lines) > 1 else "sua mensagem"
        text = (
            f"Olá! Recebi {plural}: “{quoted}”. Já vou te ajudar com isso. "
            "[resposta do modelo offline — sem Gemini nesta execução local]"
        )
        prompt_text = prompt.system + "".join(turn.text for turn in prompt.turns)
        usage = TokenUsage(prompt_tokens=_estimate_tokens(prompt_text), output_tokens=_estimate_tokens(text))
        latency_ms = int((time.perf_counter() - started) * 1000)
        call = ModelCall(model=OFFLINE_MODEL_ID, backend=self.backend, usage=usage, latency_ms=latency_ms, cost_usd=0.0)
        return Generation(text=text, call=call)
