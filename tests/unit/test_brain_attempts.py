"""The brain's attempt policy on simulated time, without I/O: what is retried, what falls back, what stops, and
that no attempt is given more time than the turn has left."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from shared.adapters.offline_model import OfflineModel
from shared.domain.errors import ModelBlocked, ModelOutOfTokens, ModelRejected, ModelTransient
from shared.domain.routing import Tier
from shared.domain.usage import CallOutcome, ModelCall, TokenUsage
from shared.ports import ChatTurn, Generation, Prompt, ToolSpec
from shared.services.brain import AllModelsFailed, AnswerBlocked, AttemptPolicy, Deadline, generate_routed
from tests.deadline_harness import SimulatedClock

TIERS = {"lite": "m-lite", "standard": "m-standard", "advanced": "m-advanced"}
PROMPT = Prompt(system="s", turns=[ChatTurn("user", "oi")])


def failure(kind: type, outcome: CallOutcome, model: str = "m") -> Exception:
    call = ModelCall(model=model, backend="vertex", usage=TokenUsage(), latency_ms=1, cost_usd=0.0, outcome=outcome)
    return kind(outcome.value, call)


@dataclass
class Scripted:
    """Each attempt takes `seconds` of simulated time (a hang: the attempt's whole timeout), then answers or
    raises the next scripted failure."""

    clock: SimulatedClock
    script: list[Exception | str] = field(default_factory=list)
    seconds: float = 2.0
    prompts: list[Prompt] = field(default_factory=list)

    def generate(self, prompt: Prompt) -> Generation:
        self.prompts.append(prompt)
        step = self.script.pop(0) if self.script else "ok"
        hang = isinstance(step, ModelTransient) and step.call.outcome == CallOutcome.TIMEOUT
        self.clock.now += prompt.timeout_seconds if hang else self.seconds
        if isinstance(step, Exception):
            raise step
        return Generation(text=step, call=ModelCall(model=prompt.model or "m", backend="vertex", usage=TokenUsage(),
                                                    latency_ms=1, cost_usd=0.0))


def run(model: Scripted, seconds_left: float, tier: Tier = Tier.STANDARD) -> tuple[Generation, list[ModelCall]]:
    calls: list[ModelCall] = []
    deadline = Deadline.after(seconds_left, model.clock.monotonic, model.clock.sleep)
    generation, _ = generate_routed(model, PROMPT, tier, TIERS, calls, deadline,
                                    AttemptPolicy(attempt_seconds=30, min_attempt_seconds=5, attempts_per_tier=2))
    return generation, calls


def test_a_server_error_is_retried_on_the_same_tier_and_a_429_moves_on():
    model = Scripted(SimulatedClock(), [failure(ModelTransient, CallOutcome.SERVER_ERROR),
                                        failure(ModelTransient, CallOutcome.RATE_LIMITED)])
    _, calls = run(model, 120)
    assert [p.model for p in model.prompts] == ["m-standard", "m-standard", "m-lite"]
    assert [c.outcome for c in calls] == [CallOutcome.SERVER_ERROR, CallOutcome.RATE_LIMITED, CallOutcome.OK]
    assert [c.tier for c in calls] == ["standard", "standard", "lite"]


def test_out_of_tokens_gets_one_more_try_with_more_room_then_falls_back():
    model = Scripted(SimulatedClock(), [failure(ModelOutOfTokens, CallOutcome.MAX_TOKENS)] * 2)
    run(model, 120)
    assert [(p.model, p.room) for p in model.prompts] == [("m-standard", 1), ("m-standard", 2), ("m-lite", 1)]


def test_a_rejected_model_falls_back_at_once_and_a_block_stops_everything():
    model = Scripted(SimulatedClock(), [failure(ModelRejected, CallOutcome.REJECTED)])
    run(model, 120)
    assert [p.model for p in model.prompts] == ["m-standard", "m-lite"]
    blocked = Scripted(SimulatedClock(), [failure(ModelBlocked, CallOutcome.BLOCKED)])
    with pytest.raises(AnswerBlocked):
        run(blocked, 120)
    assert len(blocked.prompts) == 1


def test_no_attempt_gets_more_time_than_is_left_and_none_starts_without_enough():
    hang = failure(ModelTransient, CallOutcome.TIMEOUT)
    model = Scripted(SimulatedClock(), [hang] * 10)
    start = model.clock.now
    with pytest.raises(AllModelsFailed, match="no time left"):
        run(model, 70)
    assert all(p.timeout_seconds <= 30 for p in model.prompts)
    assert model.clock.now - start <= 70, "model work ended by the deadline"
    assert model.prompts[-1].timeout_seconds < 30, "the last attempt was cut to the time left"


def test_the_offline_model_writes_words_when_calls_are_forbidden():
    spec = ToolSpec("lookup_catalog", "catalogue", {"type": "object"})
    prompt = Prompt(system="s", turns=[ChatTurn("user", "quanto custa o kit?")], tools=(spec,))
    assert OfflineModel().generate(prompt).tool_calls
    forced = OfflineModel().generate(replace(prompt, force_text=True))
    assert forced.tool_calls == () and forced.text
