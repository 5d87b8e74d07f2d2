"""One deadline per turn: in every failure mode of the model the lead gets the holding message, and a human is
called, before the function's timeout — proved in simulated time (tests/deadline_harness.py) with the real
adapter, the Vertex fake and run_agent_turn on the Firestore emulator."""

from __future__ import annotations

import pytest

from shared.domain.usage import CallOutcome
from shared.services.agent_turn import TurnResult
from tests.deadline_harness import FAILURE_MODES, FUNCTION_TIMEOUT, RESERVE, fail_every_attempt, simulated_turn
from tests.vertex_fake import FakeVertex

pytestmark = pytest.mark.emulators


@pytest.fixture
def vertex():
    fake = FakeVertex()
    yield fake
    fake.close()


@pytest.mark.parametrize("mode", FAILURE_MODES)
def test_the_holding_message_goes_out_before_the_deadline_in_every_failure_mode(db, tenant, vertex, mode):
    world, model, sent_at = simulated_turn(db, tenant, vertex)
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
    world, model, sent_at = simulated_turn(db, tenant, vertex)
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
