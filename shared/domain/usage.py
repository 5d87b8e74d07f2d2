"""Model-call accounting: tokens, latency and what the call is estimated to cost."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TokenUsage(BaseModel):
    prompt_tokens: int = 0
    output_tokens: int = 0
    thoughts_tokens: int = 0
    cached_tokens: int = 0

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.output_tokens + self.thoughts_tokens


class ModelPrice(BaseModel):
    """USD per one million tokens. Prices move often: they come from configuration, never code."""

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)
    cached_input_per_mtok: float | None = Field(default=None, ge=0)


class ModelCall(BaseModel):
    """One call to a model, as recorded on the message it produced and in the usage ledger."""

    model: str
    backend: str = Field(description="'vertex' or 'offline'")
    purpose: str = "reply"
    tier: str | None = Field(default=None, description="routing tier that served the call (lite/standard/advanced)")
    usage: TokenUsage
    latency_ms: int
    cost_usd: float | None
    characters: int | None = Field(default=None, description="speech synthesis: characters billed (purpose speech)")


def estimate_cost(usage: TokenUsage, price: ModelPrice | None) -> float:
    """Thinking tokens bill as output; cached prompt tokens at the cached rate when one is given."""
    if price is None:
        return 0.0
    cached = min(usage.cached_tokens, usage.prompt_tokens)
    cached_rate = price.input_per_mtok if price.cached_input_per_mtok is None else price.cached_input_per_mtok
    cost = (
        (usage.prompt_tokens - cached) * price.input_per_mtok
        + cached * cached_rate
        + (usage.output_tokens + usage.thoughts_tokens) * price.output_per_mtok
    ) / 1_000_000
    return round(cost, 8)
