"""Failure modes of the model, in simulated time: the real Gemini adapter talks to the Vertex fake (which answers
429, 503, a hang, thinking past the limit, or a SAFETY block), and a simulated clock advances by what each attempt
would have taken in production. Shared by tests/integration/test_turn_deadline.py and bench/turn_deadline.py."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from shared.domain.errors import ModelAttemptFailed
from shared.domain.usage import CallOutcome
from shared.ports import Generation, LanguageModel, Prompt
from tests.vertex_fake import FakeVertex, Hang, blocked_response, error_response, gemini_model

# Seconds an attempt takes in production before it fails this way (a hang takes the attempt's whole timeout).
SIMULATED_SECONDS = {"429": 0.4, "5xx": 8.0, "max_tokens": 12.0, "blocked": 3.0, "ok": 4.0}
FAILURE_MODES = ("429", "5xx", "hang", "max_tokens", "blocked")


@dataclass
class SimulatedClock:
    now: float = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def fail_every_attempt(fake: FakeVertex, mode: str) -> None:
    """Make every answer of the fake fail the way `mode` names."""
    if mode == "429":
        fake.default = error_response(429, "RESOURCE_EXHAUSTED", "Resource exhausted. Please try again later.")
    elif mode == "5xx":
        fake.default = error_response(503, "UNAVAILABLE", "The service is currently unavailable.")
    elif mode == "hang":
        fake.default = Hang(1.3)  # past the adapter's shortest real timeout (1 s)
    elif mode == "max_tokens":
        fake.thinking_at = dict.fromkeys(fake.thinking_at, 10**6)
    elif mode == "blocked":
        fake.default = blocked_response("SAFETY")
    else:
        raise ValueError(mode)


@dataclass
class SimulatedLatency:
    """Wraps a LanguageModel: each attempt really goes to the fake (with a short real timeout) and the simulated
    clock advances by its production duration."""

    inner: LanguageModel
    clock: SimulatedClock
    real_timeout_seconds: float = 0.3
    attempts: list[tuple[float, str]] = field(default_factory=list)  # (clock at start, outcome)

    def generate(self, prompt: Prompt) -> Generation:
        started = self.clock.now
        budget = prompt.timeout_seconds if prompt.timeout_seconds is not None else 30.0
        try:
            generation = self.inner.generate(replace(prompt, timeout_seconds=self.real_timeout_seconds))
        except ModelAttemptFailed as err:
            outcome = err.call.outcome if err.call is not None else CallOutcome.REJECTED
            took = budget if outcome == CallOutcome.TIMEOUT else min(budget, SIMULATED_SECONDS.get(
                {CallOutcome.RATE_LIMITED: "429", CallOutcome.SERVER_ERROR: "5xx"}.get(outcome, outcome.value), 2.0))
            self.clock.now += took
            self.attempts.append((started, outcome.value))
            raise
        self.clock.now += min(budget, SIMULATED_SECONDS["ok"])
        self.attempts.append((started, "ok"))
        return generation


FUNCTION_TIMEOUT = 150.0  # agent_turn's timeout in terraform/functions.tf
RESERVE = 25.0  # 2 × PROVIDER_TIMEOUT_SECONDS (10) + 5: the seller's alert, the lead's send, the writes
CURRENT_TIERS = {"lite": "gemini-3.5-flash-lite", "standard": "gemini-3.5-flash", "advanced": "gemini-3.8-flash"}


def simulated_turn(db, tenant, vertex: FakeVertex, function_timeout: float = FUNCTION_TIMEOUT,  # noqa: ANN001
                   reserve: float = RESERVE, policy: object | None = None):  # noqa: ANN201
    """An agent-turn world (tests/integration/test_agent_turn_service.World) on simulated time: returns the world,
    the model wrapper (its attempts) and the list of sends' times since the turn started."""
    from shared.services.brain import AttemptPolicy
    from tests.integration.test_agent_turn_service import World

    world = World(db, tenant, vertex)
    clock = SimulatedClock()
    model = SimulatedLatency(gemini_model(vertex, timeout_seconds=5), clock)
    sent_at: list[float] = []
    record = world.sender.send_text
    start = clock.now

    def send_and_note_the_time(channel, to_phone, text):  # noqa: ANN001, ANN202
        sent_at.append(clock.now - start)
        return record(channel, to_phone, text)

    world.sender.send_text = send_and_note_the_time
    world.deps.model = model
    world.deps.tiers = CURRENT_TIERS
    world.deps.deadline_seconds = function_timeout
    world.deps.deadline_reserve_seconds = reserve
    world.deps.attempts = policy or AttemptPolicy(attempt_seconds=30, min_attempt_seconds=5, attempts_per_tier=2)
    world.deps.monotonic = clock.monotonic
    world.deps.sleep = clock.sleep
    return world, model, sent_at
