"""The agent's thinking for one turn: pick a model tier, let the model call tools (bounded), fall back to
another tier when a model fails, and never leave the lead in silence."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

from shared import log
from shared.domain.errors import PilotoError
from shared.domain.routing import Tier, fallback_order
from shared.domain.usage import ModelCall
from shared.ports import ChatTurn, Generation, LanguageModel, Prompt
from shared.services.tools import HandoffRequest, ToolBox

logger = logging.getLogger(__name__)


@dataclass
class BrainReply:
    text: str
    tier: Tier
    model: str | None
    calls: list[ModelCall] = field(default_factory=list)
    fell_back: bool = False
    held: bool = False  # every model failed: the text is the agent's holding message


class AllModelsFailed(PilotoError):
    """Every tier failed for this prompt."""


def generate_routed(model: LanguageModel, prompt: Prompt, tier: Tier, tiers: dict[str, str],
                    calls: list[ModelCall]) -> tuple[Generation, Tier]:
    """Try the chosen tier, then the fallbacks; the SDK already retried each with backoff."""
    last: Exception | None = None
    for candidate in fallback_order(tier):
        model_id = tiers.get(candidate.value)
        if not model_id:
            continue
        try:
            generation = model.generate(replace(prompt, model=model_id))
        except PilotoError as err:  # ModelUnavailable, ModelRejected
            log.log(logger, logging.WARNING, "model failed; trying the next tier", tier=candidate.value,
                    model=model_id, error=str(err))
            last = err
            continue
        generation.call.tier = candidate.value
        calls.append(generation.call)
        return generation, candidate
    raise AllModelsFailed(f"every tier failed for {prompt.purpose}") from last


def think(model: LanguageModel, prompt: Prompt, toolbox: ToolBox | None, tier: Tier, tiers: dict[str, str],
          holding_message: str, max_steps: int = 4) -> BrainReply:
    """The manual function-calling loop. Tool results go back to the model until it writes text."""
    calls: list[ModelCall] = []
    turns = list(prompt.turns)
    tools = toolbox.specs if toolbox else ()
    used = tier
    try:
        for step in range(max_steps + 1):
            # The last step offers no tools: the loop ends with words for the lead, not another call.
            offered = tools if step < max_steps else ()
            generation, used = generate_routed(model, replace(prompt, turns=turns, tools=offered), tier, tiers,
                                               calls)
            if not generation.tool_calls or toolbox is None or not offered:
                if generation.text.strip():
                    return BrainReply(text=generation.text.strip(), tier=used, model=generation.call.model,
                                      calls=calls, fell_back=used != tier)
                continue
            results = tuple(toolbox.run(call) for call in generation.tool_calls)
            turns += [ChatTurn(role="model", text=generation.text, tool_calls=generation.tool_calls),
                      ChatTurn(role="user", tool_results=results)]
    except AllModelsFailed:
        log.log(logger, logging.ERROR, "all model tiers failed; sending the holding message and handing off")
    if toolbox is not None and toolbox.effects.handoff is None:
        toolbox.effects.handoff = HandoffRequest(reason="the model could not answer", question=None)
    return BrainReply(text=holding_message, tier=used, model=None, calls=calls, held=True)
