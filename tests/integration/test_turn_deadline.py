"""One deadline per turn: in every failure mode of the model the lead gets the holding message, and a human is
called, before the function's timeout — proved in simulated time (tests/deadline_harness.py) with the real
adapter, the Vertex fake and run_agent_turn on the Firestore emulator."""

from __future__ import annotations

import pytest

from shared.domain.usage import CallOutcome
from shared.services.agent_turn import TurnResult
from shared.services.brain import AttemptPolicy
from tests.deadline_harness import FAILURE_MODES, SimulatedClock, SimulatedLatency, fail_every_attempt
from tests.integration.test_agent_turn_service import World
from tests.vertex_fake import FakeVertex, gemini_model

pytestmark = pytest.mark.emulators
FUNCTION_TIMEOUT = 150.0  # agent_turn's timeout in terraform/functions.tf
RESERVE = 25.0  # 2 × PROVIDER_TIMEOUT_SECONDS (10) + 5: the seller's alert, the lead's send, the writes
TIERS = {"lite": "gemini-3.5-flash-lite", "standard": "gemini-3.5-flash", "advanced": "gemini-3.8-flash"}


@pytest.fixture
def vertex():
    fake = FakeVertex()
    yield fake
    fake.close()


def simulated_world(db, tenant, vertex) -> tuple[World, SimulatedClock, SimulatedLatency, list[float]]:  # noqa: ANN001
    world = World(db, tenant, vertex)
    clock = SimulatedClock()
    model = SimulatedLatency(gemini_model(vertex, timeout_seconds=5), clock)
    sent_at: list[float] = []
    record = world.sender.send_text

    def send_and_note_the_time(channel, to_phone, text):  # noqa: ANN001, ANN202
        sent_at.append(clock.now - start)
        return record(channel, to_phone, text)

    world.sender.send_text = send_and_note_the_time
    world.deps.model = model
    world.deps.tiers = TIERS
    world.deps.deadline_seconds = FUNCTION_TIMEOUT
    world.deps.deadline_reserve_seconds = RESERVE
    world.deps.attempts = AttemptPolicy(attempt_seconds=30, min_attempt_seconds=5, attempts_per_tier=2)
    world.deps.monotonic = clock.monotonic
    world.deps.sleep = clock.sleep
    start = clock.now
    return world, clock, model, sent_at


@pytest.mark.parametrize("mode", FAILURE_MODES)
def test_the_holding_message_goes_out_before_the_deadline_in_every_failure_mode(db, tenant, vertex, mode):
    world, clock, model, sent_at = simulated_world(db, tenant, vertex)
    world.agent(seller_phone="+5511900001111", holding_message="Um instante, já te respondo!")
    fail_every_attempt(vertex, mode)

    outcome = world.turn(world.lead("Achei caro, a outra empresa me deu desconto"))  # advanced tier first

    assert outcome.result == TurnResult.REPLIED and outcome.handoff is True
    assert world.sent_texts() == ["Um instante, já te respondo!"]
    assert sent_at and max(sent_at) <= FUNCTION_TIMEOUT - RESERVE, "model work stops in time for the sends"
    calls = world.model_calls()
    assert len(calls) == len(model.attempts) >= 1, "every attempt is one model_calls document"
    expected = {"429": "rate_limited", "5xx": "server_error", "hang": "timeout", "max_tokens": "max_tokens",
                "blocked": "blocked"}[mode]
    assert {c["outcome"] for c in calls} == {expected}
    if mode == "blocked":
        assert len(calls) == 1, "a block is not retried on other tiers"
        assert "SAFETY" in world.conversation().handoff_reason
    if mode == "max_tokens":
        assert all(c["usage"]["thoughts_tokens"] > 0 for c in calls)


def test_a_slow_first_tier_leaves_time_for_a_fallback_that_answers(db, tenant, vertex):
    world, clock, model, sent_at = simulated_world(db, tenant, vertex)
    fail_every_attempt(vertex, "hang")
    vertex.script = [vertex.default, vertex.default]  # the advanced tier hangs twice
    from tests.vertex_fake import text_response

    vertex.default = text_response("Entendo! Posso te mostrar como o financiamento cabe na sua conta.")

    outcome = world.turn(world.lead("Achei caro, a outra empresa me deu desconto"))

    assert outcome.tier == "standard" and outcome.handoff is False
    assert [c["outcome"] for c in sorted(world.model_calls(), key=lambda c: c["latency_ms"])]
    assert [a[1] for a in model.attempts] == ["timeout", "timeout", "ok"]
    assert sent_at[0] <= FUNCTION_TIMEOUT - RESERVE
    assert CallOutcome.OK.value in {c["outcome"] for c in world.model_calls()}
