"""Benchmark: the routing rule against the labelled pt-BR set (tests/data/routing/messages.json).

Prints the confusion matrix (rows: expected tier, columns: chosen tier), accuracy per tier and overall,
every misrouted message, and the rule's time per message. Not a test: it prints tables.

    .venv/bin/python -m bench.routing
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from shared.domain.routing import Tier, choose_tier

SET = Path(__file__).parents[1] / "tests" / "data" / "routing" / "messages.json"


def main() -> int:
    messages = json.loads(SET.read_text(encoding="utf-8"))["messages"]
    tiers = [t.value for t in Tier]
    matrix = {expected: dict.fromkeys(tiers, 0) for expected in tiers}
    wrong = []
    started = time.perf_counter()
    for m in messages:
        chosen = choose_tier(m["text"], m.get("stage")).value
        matrix[m["tier"]][chosen] += 1
        if chosen != m["tier"]:
            wrong.append((m["text"], m.get("stage") or "-", m["tier"], chosen))
    per_message_us = (time.perf_counter() - started) / len(messages) * 1e6

    print(f"routing on {len(messages)} labelled pt-BR messages (tests/data/routing/messages.json)\n")
    print(f"{'expected / chosen':<20}" + "".join(f"{t:>10}" for t in tiers) + f"{'recall':>10}")
    for expected in tiers:
        row = matrix[expected]
        total = sum(row.values())
        print(f"{expected:<20}" + "".join(f"{row[t]:>10}" for t in tiers) + f"{row[expected] / total:>10.1%}")
    correct = sum(matrix[t][t] for t in tiers)
    print(f"\naccuracy {correct}/{len(messages)} = {correct / len(messages):.1%}; "
          f"{per_message_us:.0f} µs per message")
    if wrong:
        print("\nmisrouted:")
        for text, stage, expected, chosen in wrong:
            print(f"  {text!r} (stage {stage}): expected {expected}, chose {chosen}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
