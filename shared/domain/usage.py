"""Model-call accounting: tokens, latency, what each attempt cost, and how it ended."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class TokenUsage(BaseModel):
    prompt_tokens: int = 0
    output_tokens: int = 0
    thoughts_tokens: int = 0
    cached_tokens: int = 0
    audio_prompt_tokens: int = Field(default=0, description="of prompt_tokens, those the API counted as AUDIO")

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.output_tokens + self.thoughts_tokens


class ModelPrice(BaseModel):
    """USD per one million tokens. Prices move often: they come from configuration, never code.

    Vertex AI prices some models' audio input apart from text/image/video input, and cached input at a discount;
    output is one rate that includes thinking tokens (https://cloud.google.com/vertex-ai/generative-ai/pricing).
    """

    input_per_mtok: float = Field(ge=0, description="text, image, video (and audio when no audio rate is given)")
    output_per_mtok: float = Field(ge=0, description="visible answer and thinking tokens")
    cached_input_per_mtok: float | None = Field(default=None, ge=0, description="None: billed at the input rate")
    audio_input_per_mtok: float | None = Field(default=None, ge=0, description="None: audio at the input rate")


class CallOutcome(StrEnum):
    """How one model attempt ended; every attempt is one model_calls document."""

    OK = "ok"
    MAX_TOKENS = "max_tokens"  # the output limit ran out (often on thinking) before a usable answer
    BLOCKED = "blocked"  # SAFETY, RECITATION, PROHIBITED_CONTENT, a blocked prompt…: no retry will help
    RATE_LIMITED = "rate_limited"  # 429
    SERVER_ERROR = "server_error"  # 5xx
    TIMEOUT = "timeout"  # no answer within the attempt's time, or no connection
    REJECTED = "rejected"  # 4xx other than 429 (a retired model id answers 404), or an unusable answer


class ModelCall(BaseModel):
    """One attempt at a model, as recorded on the message it produced and in the usage ledger."""

    model: str
    backend: str = Field(description="'vertex', 'gemini' (Gemini Developer API) or 'offline'")
    purpose: str = "reply"
    tier: str | None = Field(default=None, description="routing tier that served the call (lite/standard/advanced)")
    usage: TokenUsage
    latency_ms: int
    cost_usd: float | None = Field(description="None when the model has no configured price: unknown, not free")
    outcome: CallOutcome = CallOutcome.OK
    error_code: int | None = Field(default=None, description="HTTP status of a failed attempt")
    finish_reason: str | None = Field(default=None, description="the API's finishReason or blockReason")
    detail: str | None = Field(default=None, description="why the attempt failed, for people reading the ledger")


def estimate_cost(usage: TokenUsage, price: ModelPrice | None) -> float | None:
    """Thinking tokens bill as output; cached prompt tokens at the cached rate; audio at the audio rate.

    None when there is no price: a call whose cost is unknown must never look free.
    """
    if price is None:
        return None
    cached = min(usage.cached_tokens, usage.prompt_tokens)
    audio = min(usage.audio_prompt_tokens, usage.prompt_tokens - cached)
    plain = usage.prompt_tokens - cached - audio
    cached_rate = price.input_per_mtok if price.cached_input_per_mtok is None else price.cached_input_per_mtok
    audio_rate = price.input_per_mtok if price.audio_input_per_mtok is None else price.audio_input_per_mtok
    cost = (
        plain * price.input_per_mtok
        + cached * cached_rate
        + audio * audio_rate
        + (usage.output_tokens + usage.thoughts_tokens) * price.output_per_mtok
    ) / 1_000_000
    return round(cost, 8)


def total_cost(calls: list[ModelCall]) -> float | None:
    """The sum of known costs; None when any call's cost is unknown (a partial sum would look cheaper)."""
    if any(c.cost_usd is None for c in calls):
        return None
    return round(sum(c.cost_usd or 0.0 for c in calls), 8)
