"""Benchmark: in each failure mode of the model, when does the lead get the holding message, after how many
attempts, next to the function's timeout. Not a test: it prints a table.

The real Gemini adapter talks to the Vertex fake (tests/vertex_fake.py) answering 429, 503, a hang, thinking past
the output limit or a SAFETY block on every attempt; run_agent_turn runs on the Firestore emulator; time is
simulated (tests/deadline_harness.py): each attempt advances the clock by what it would take in production
(a hang: the attempt's whole timeout). The "SDK retries" column is the design before this change (3 tiers × 3
SDK attempts × LLM_TIMEOUT_SECONDS, no deadline), computed, for comparison.

    .venv/bin/python -m bench.turn_deadline [--function-timeout 150] [--attempt-seconds 30]
"""

from __future__ import annotations

import argparse
import uuid

from google.cloud import firestore

from dev.seed import DemoTenant, seed
from dev.stack import LocalStack
from shared.services.brain import AttemptPolicy
from tests.deadline_harness import FAILURE_MODES, RESERVE, SIMULATED_SECONDS, fail_every_attempt, simulated_turn
from tests.vertex_fake import FakeVertex


def old_design_seconds(mode: str, attempt_seconds: float) -> float:
    """3 tiers × 3 SDK attempts each, backoff 1 s, 2 s between attempts, no deadline."""
    per_attempt = attempt_seconds if mode == "hang" else SIMULATED_SECONDS.get(mode, 2.0)
    attempts = 1 if mode in ("blocked", "max_tokens") else 3  # the SDK retries only 429/5xx/timeouts
    return 3 * (attempts * per_attempt + (3.0 if attempts == 3 else 0.0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--function-timeout", type=float, default=150.0)
    parser.add_argument("--attempt-seconds", type=float, default=30.0)
    args = parser.parse_args()
    policy = AttemptPolicy(attempt_seconds=args.attempt_seconds, min_attempt_seconds=5, attempts_per_tier=2)
    rows = []
    with LocalStack(functions={}) as stack:
        db = firestore.Client(project=stack.client_env()["GOOGLE_CLOUD_PROJECT"])
        for mode in FAILURE_MODES:
            suffix = uuid.uuid4().hex[:10]
            assert stack.sandbox is not None
            tenant = seed(db, stack.sandbox.url, DemoTenant(
                tenant_id=f"bench-{suffix}", meta_phone_number_id=str(int(suffix, 16))[:15],
                evolution_copilot_instance=f"evo-copilot-{suffix}", evolution_instance=f"evo-{suffix}",
                zapi_instance=f"Z{suffix.upper()}"))
            fake = FakeVertex()
            try:
                world, model, sent_at = simulated_turn(db, tenant, fake, args.function_timeout, RESERVE, policy)
                world.agent(seller_phone="+5511900001111", holding_message="Um instante, já te respondo!")
                fail_every_attempt(fake, mode)
                outcome = world.turn(world.lead("Achei caro, a outra empresa me deu desconto"))
            finally:
                fake.close()
            held = world.sent_texts() == ["Um instante, já te respondo!"] and outcome.handoff
            rows.append((mode, len(model.attempts), max(sent_at) if sent_at else float("nan"), held,
                         old_design_seconds(mode, args.attempt_seconds)))
    print(f"\nTime to the holding message (simulated seconds since the turn started), function timeout "
          f"{args.function_timeout:.0f} s, LLM_TIMEOUT_SECONDS {args.attempt_seconds:.0f}, reserve {RESERVE:.0f} s")
    print(f"{'failure mode':<14}{'attempts':>9}{'holding at':>12}{'timeout':>9}{'margin':>8}  {'held+handoff':<13}"
          f"{'SDK retries (before)':>21}")
    for mode, attempts, at, held, old in rows:
        old_note = f"{old:.0f} s" + (" KILLED" if old >= args.function_timeout else "")
        print(f"{mode:<14}{attempts:>9}{at:>11.1f}s{args.function_timeout:>8.0f}s{args.function_timeout - at:>7.1f}s  "
              f"{'yes' if held else 'NO':<13}{old_note:>21}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
