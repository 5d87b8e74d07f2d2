"""Pure rules about Gemini model families: how each controls thinking, how much room an answer needs, which
finish reasons are blocks, and what to do with an answer the output limit cut. No SDK here: the adapter turns
these decisions into request fields.

Sources (read 2026-11-29):
- Thinking: https://docs.cloud.google.com/vertex-ai/generative-ai/docs/thinking — Gemini 2.5 takes
  `thinking_budget` (tokens), Gemini 3 takes `thinking_level`; thinking tokens count against the output limit.
- Gemini 3: https://docs.cloud.google.com/vertex-ai/generative-ai/docs/start/get-started-with-gemini-3 — levels,
  temperature left at its default of 1.0.
- Gemini 4: https://docs.cloud.google.com/gemini-enterprise-agent-platform/models/start/get-started-with-gemini-4
  — Argon takes thinking_level low/medium/high only (no budget, no minimal).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Effort(StrEnum):
    """How hard a call should think, independent of the model family."""

    MINIMAL = "minimal"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


_ORDER = [Effort.MINIMAL, Effort.LOW, Effort.MEDIUM, Effort.HIGH]
# Our allowance for thinking at each effort, on top of the visible answer's budget. The docs give no token count
# per level; these leave room for what the level typically spends on short chat turns.
THINKING_ALLOWANCE = {Effort.MINIMAL: 256, Effort.LOW: 1024, Effort.MEDIUM: 4096, Effort.HIGH: 8192}
# Gemini 2.5 budgets per effort; Flash and Flash-Lite accept 0 (thinking off), Pro at least 128.
_BUDGET_25 = {Effort.MINIMAL: 0, Effort.LOW: 1024, Effort.MEDIUM: 4096, Effort.HIGH: 8192}


@dataclass(frozen=True)
class ThinkingPlan:
    """What to send for one call: a level (Gemini 3+), a budget (2.5) or nothing, and the output limit."""

    level: str | None
    budget: int | None
    max_output_tokens: int
    temperature_default_only: bool  # Gemini 3 guidance: leave temperature at its default


def family(model: str) -> str:
    """'gemini-3' for Gemini 3.x and 4.x (thinking_level, thought signatures), 'gemini-2.5', or 'other'."""
    name = model.rsplit("/", 1)[-1].lower()
    if re.match(r"gemini-(?:[3-9]|\d\d)(?:[.-]|$)", name):
        return "gemini-3"
    if name.startswith("gemini-2.5"):
        return "gemini-2.5"
    return "other"


def requires_thought_signatures(model: str) -> bool:
    """Gemini 3 and later reject a function call sent back without its thought signature (400)."""
    return family(model) == "gemini-3"


def _levels(model: str) -> list[Effort]:
    name = model.rsplit("/", 1)[-1].lower()
    if name.startswith("gemini-4"):
        return [Effort.LOW, Effort.MEDIUM, Effort.HIGH]
    if "-pro" in name:
        return [Effort.LOW, Effort.HIGH]
    return list(_ORDER)


def _supported(effort: Effort, levels: list[Effort]) -> Effort:
    """The requested level if the model has it, else the next higher one, else the highest it has."""
    for candidate in _ORDER[_ORDER.index(effort):]:
        if candidate in levels:
            return candidate
    return levels[-1]


def effort_for(purpose: str, tier: str | None) -> Effort:
    """Replies, summaries, transcriptions and follow-ups think little; the advanced tier (objections,
    negotiation) may think more."""
    if tier == "advanced" and purpose in ("reply", "suggestion"):
        return Effort.MEDIUM
    return Effort.LOW


def plan_thinking(model: str, visible_tokens: int, effort: Effort, room: int = 1) -> ThinkingPlan:
    """The thinking control and the output limit: the visible budget plus the thinking allowance (× room, which
    grows when an attempt ran out of tokens)."""
    kind = family(model)
    if kind == "gemini-3":
        level = _supported(effort, _levels(model))
        allowance = THINKING_ALLOWANCE[level] * room
        return ThinkingPlan(level=level.value, budget=None, max_output_tokens=visible_tokens + allowance,
                            temperature_default_only=True)
    if kind == "gemini-2.5":
        budget = _BUDGET_25[effort]
        if "-pro" in model and budget < 128:
            budget = 128
        budget *= room
        return ThinkingPlan(level=None, budget=budget, max_output_tokens=visible_tokens + budget,
                            temperature_default_only=False)
    return ThinkingPlan(level=None, budget=None, max_output_tokens=visible_tokens * room,
                        temperature_default_only=False)


# finishReason values that mean the answer was withheld for policy reasons: a retry or another tier sends the
# same conversation to the same filters (FinishReason in the Vertex AI REST reference).
BLOCK_REASONS = frozenset({"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
                           "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "LANGUAGE"})

_SENTENCE_END = re.compile(r"[.!?…](?:[\"'”’)\]]*)(?=\s|$)|[\U0001F300-\U0001FAFF](?=\s|$)")


def complete_sentences(text: str, min_chars: int = 40, min_share: float = 0.5) -> str | None:
    """A reply the output limit cut: keep it up to its last complete sentence when that is a real answer (at
    least `min_chars`, or most of the text); None when only a fragment would be left (the attempt then counts as
    out of tokens)."""
    stripped = text.rstrip()
    ends = list(_SENTENCE_END.finditer(stripped))
    if not ends:
        return None
    kept = stripped[: ends[-1].end()].rstrip()
    return kept if len(kept) >= min_chars or len(kept) >= len(stripped) * min_share else None
