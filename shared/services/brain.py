"""The agent's thinking for one turn: pick a model tier, let the model call tools (bounded), retry and fall back
to another tier when a model fails — all inside the turn's deadline — and never leave the lead in silence.

Attempt policy (each attempt is metered, failed or not):
- 429 → the next tier at once (another model has its own quota);
- 5xx, timeout → the same tier again after a short backoff, up to `attempts_per_tier`, then the next tier;
- MAX_TOKENS → the same tier once more with twice the thinking room, then the next tier;
- rejected (400, 404 unknown/retired id, empty answer) → the next tier;
- blocked (SAFETY, RECITATION…) → stop: the holding message and a handoff, with the reason;
- no attempt starts when the time left is under `min_attempt_seconds`, and each attempt's timeout is the
  smaller of `attempt_seconds` and the time left, so the holding message always goes out before the deadline.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from shared import log
from shared.domain.errors import ModelAttemptFailed, ModelBlocked, ModelOutOfTokens, ModelTransient, PilotoError
from shared.domain.routing import Tier, fallback_order
from shared.domain.usage import CallOutcome, ModelCall
from shared.ports import ChatTurn, Generation, LanguageModel, Prompt
from shared.services.tools import HandoffRequest, ToolBox

logger = logging.getLogger(__name__)


@dataclass
class Deadline:
    """The moment (monotonic seconds) by which model work must stop so the reply — or the holding message —
    can still be sent before the function's timeout."""

    ends_at: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    @classmethod
    def after(cls, seconds: float, clock: Callable[[], float] = time.monotonic,
              sleep: Callable[[float], None] = time.sleep) -> Deadline:
        return cls(clock() + seconds, clock, sleep)

    @classmethod
    def unbounded(cls) -> Deadline:
        return cls(float("inf"))

    def remaining(self) -> float:
        return self.ends_at - self.clock()


@dataclass(frozen=True)
class AttemptPolicy:
    attempt_seconds: float = 30.0  # one attempt at most (LLM_TIMEOUT_SECONDS)
    min_attempt_seconds: float = 5.0  # below this much time left, no attempt starts
    attempts_per_tier: int = 2  # for 5xx and timeouts
    backoff_seconds: float = 1.0


@dataclass
class BrainReply:
    text: str
    tier: Tier
    model: str | None
    calls: list[ModelCall] = field(default_factory=list)
    fell_back: bool = False
    held: bool = False  # every model failed: the text is the agent's holding message
    failure: str | None = None  # why the models could not answer (for the handoff reason)


class AllModelsFailed(PilotoError):
    """Every tier failed for this prompt, or no time was left to try another."""


class AnswerBlocked(AllModelsFailed):
    """The model blocked the answer (safety, recitation…): no other tier is tried."""


def generate_routed(model: LanguageModel, prompt: Prompt, tier: Tier, tiers: dict[str, str],
                    calls: list[ModelCall], deadline: Deadline | None = None,
                    policy: AttemptPolicy = AttemptPolicy()) -> tuple[Generation, Tier]:
    """Try the chosen tier, then the fallbacks, recording every attempt in `calls`."""
    deadline = deadline or Deadline.unbounded()
    last: Exception | None = None
    for candidate in fallback_order(tier):
        model_id = tiers.get(candidate.value)
        if not model_id:
            continue
        room, transient = 1, 0
        while True:
            left = deadline.remaining()
            if left < policy.min_attempt_seconds:
                log.log(logger, logging.WARNING, "no time left for another model attempt", seconds_left=round(left, 1))
                raise AllModelsFailed(f"no time left for {prompt.purpose} ({left:.1f} s)") from last
            attempt = replace(prompt, model=model_id, tier=candidate.value, room=room,
                              timeout_seconds=min(policy.attempt_seconds, left))
            try:
                generation = model.generate(attempt)
            except ModelAttemptFailed as err:
                last = err
                if err.call is not None:
                    err.call.tier = candidate.value
                    calls.append(err.call)
                log.log(logger, logging.WARNING, "model attempt failed", tier=candidate.value, model=model_id,
                        outcome=getattr(err.call, "outcome", None), error=str(err))
                if isinstance(err, ModelBlocked):
                    raise AnswerBlocked(str(err)) from err
                if isinstance(err, ModelOutOfTokens) and room == 1:
                    room = 2
                    continue
                if isinstance(err, ModelTransient) and getattr(err.call, "outcome", None) != CallOutcome.RATE_LIMITED:
                    transient += 1
                    if transient < policy.attempts_per_tier and \
                            deadline.remaining() - policy.backoff_seconds >= policy.min_attempt_seconds:
                        deadline.sleep(policy.backoff_seconds * transient)
                        continue
                break
            except PilotoError as err:  # a model without per-attempt records (ModelUnavailable from a test double)
                log.log(logger, logging.WARNING, "model failed; trying the next tier", tier=candidate.value,
                        model=model_id, error=str(err))
                last = err
                break
            generation.call.tier = candidate.value
            calls.append(generation.call)
            return generation, candidate
    raise AllModelsFailed(f"every tier failed for {prompt.purpose}") from last


def think(model: LanguageModel, prompt: Prompt, toolbox: ToolBox | None, tier: Tier, tiers: dict[str, str],
          holding_message: str, max_steps: int = 4, deadline: Deadline | None = None,
          policy: AttemptPolicy = AttemptPolicy()) -> BrainReply:
    """The manual function-calling loop. Tool results go back to the model until it writes text."""
    calls: list[ModelCall] = []
    turns = list(prompt.turns)
    tools = toolbox.specs if toolbox else ()
    used = tier
    failure = "the model could not answer"
    try:
        for step in range(max_steps + 1):
            # The last step keeps the declarations (the history holds calls to them) and forbids new calls
            # (function calling mode NONE): the loop ends with words for the lead.
            last = step == max_steps
            generation, used = generate_routed(
                model, replace(prompt, turns=turns, tools=tools, force_text=last and bool(tools)), tier, tiers,
                calls, deadline, policy)
            if not generation.tool_calls or toolbox is None or last:
                if generation.text.strip():
                    return BrainReply(text=generation.text.strip(), tier=used, model=generation.call.model,
                                      calls=calls, fell_back=used != tier)
                continue
            results = tuple(toolbox.run(call) for call in generation.tool_calls)
            # The model's turn goes back exactly as received (raw): thought signatures included.
            turns += [ChatTurn(role="model", text=generation.text, tool_calls=generation.tool_calls,
                               raw=generation.raw),
                      ChatTurn(role="user", tool_results=results)]
    except AnswerBlocked as err:
        failure = f"the model blocked the answer: {err}"
        log.log(logger, logging.ERROR, "the model blocked the answer; sending the holding message and handing off")
    except AllModelsFailed as err:
        failure = f"the model could not answer: {err}"
        log.log(logger, logging.ERROR, "all model tiers failed; sending the holding message and handing off",
                error=str(err))
    if toolbox is not None and toolbox.effects.handoff is None:
        toolbox.effects.handoff = HandoffRequest(reason=failure, question=None)
    return BrainReply(text=holding_message, tier=used, model=None, calls=calls, held=True, failure=failure)
