"""Benchmark: the webhook under hostile input and under a stalled Firestore. Not a test: it prints numbers.

1. Posts N generated bodies per provider (Meta, Evolution, Z-API, Twilio: recorded-shape payloads, Twilio's as
   signed forms, with one value replaced by an overflowing number, a lone surrogate, a Unicode digit, an over-long
   id, deep nesting; raw garbage), correctly authenticated (keyed gateway URLs) so they reach the parser and
   storage, and prints the status-code histogram. Goal: 0 × 5xx.
2. Pauses the Firestore emulator (SIGSTOP) for --pause seconds while valid messages keep arriving, and prints
   the ack latency (p50/p99/max) and, per answer, whether a 2xx was given for a message that is not stored.
   Goal: 503 within WEBHOOK_DEADLINE_SECONDS (+ one call timeout), never a 2xx without the message stored.

    .venv/bin/python -m bench.webhook_fuzz [--per-provider 500] [--pause 5] [--seed 13]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
from google.cloud import firestore

from dev import payloads
from dev.fuzz import authenticated, random_mutation, valid_payloads
from dev.seed import seed
from dev.stack import DEMO_META_APP_SECRET, PROJECT, ROOT, LocalStack
from shared.domain.ids import conversation_id, inbound_message_id
from shared.domain.tenancy import channel_key

PROVIDERS = ("meta", "evolution", "zapi", "twilio")


def fuzz(http: httpx.Client, stack: LocalStack, tenant, n: int, rng: random.Random) -> dict[str, Counter]:  # noqa: ANN001
    histogram: dict[str, Counter] = {}
    for provider in PROVIDERS:
        counts: Counter = Counter()
        for i in range(n):
            document = valid_payloads(tenant, "5511" + f"{rng.randrange(10**9):09d}", i)[provider]
            body = random_mutation(rng, document, provider)
            headers, url = authenticated(provider, body, tenant, DEMO_META_APP_SECRET, stack.webhook_url)
            try:
                counts[http.post(url, content=body, headers=headers).status_code] += 1
            except httpx.HTTPError as err:
                counts[type(err).__name__] += 1
        histogram[provider] = counts
    return histogram


def stall(stack: LocalStack, http: httpx.Client, url: str, tenant, db: firestore.Client,  # noqa: ANN001
          pause: float, rate: float) -> list[tuple[str, float, int, bool]]:
    """Messages at `rate`/s before, during and after a Firestore pause; (phase, latency ms, status, stored?) each."""
    emulator = next(p for p in stack.processes if p.name == "firestore")
    results: list[tuple[str, float, int, str]] = []
    lock = threading.Lock()
    run = uuid.uuid4().hex[:8]

    def one(i: int, phase: str) -> None:
        phone = f"55118{i:08d}"
        wamid = f"wamid.STALL.{run}.{i}"
        payload = payloads.meta_text(tenant.meta_phone_number_id, phone, "Stall", wamid, "oi")
        body, headers = payloads.signed_meta(payload, DEMO_META_APP_SECRET)
        started = time.perf_counter()
        try:
            status = http.post(f"{url}meta", content=body, headers=headers).status_code
        except httpx.HTTPError:
            status = 0
        with lock:
            results.append((phase, (time.perf_counter() - started) * 1000, status, f"{phone}|{wamid}"))

    total = int((pause + 4) * rate)
    paused_at = resumed_at = None
    with ThreadPoolExecutor(32) as pool:
        for i in range(total):
            now = time.monotonic()
            if i == int(2 * rate):
                os.killpg(emulator.popen.pid, signal.SIGSTOP)  # the emulator this benchmark started
                paused_at = now
            if paused_at is not None and resumed_at is None and now - paused_at >= pause:
                os.killpg(emulator.popen.pid, signal.SIGCONT)
                resumed_at = now
            phase = "before" if paused_at is None else "during" if resumed_at is None else "after"
            pool.submit(one, i, phase)
            time.sleep(1 / rate)
        if resumed_at is None:
            os.killpg(emulator.popen.pid, signal.SIGCONT)
    time.sleep(pause + 1)
    checked = []
    key = channel_key("meta", tenant.meta_phone_number_id)
    for phase, latency, status, ident in results:
        phone, wamid = ident.split("|")
        message_id = inbound_message_id("meta", tenant.meta_phone_number_id, wamid)
        stored = (db.collection("tenants").document(tenant.tenant_id).collection("conversations")
                  .document(conversation_id(key, f"+{phone}")).collection("messages").document(message_id)
                  .get().exists)
        checked.append((phase, latency, status, stored))
    return checked


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-provider", type=int, default=500, help="generated bodies per provider")
    parser.add_argument("--pause", type=float, default=5.0, help="seconds the Firestore emulator is paused")
    parser.add_argument("--rate", type=float, default=20.0, help="messages per second during the stall run")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()

    stack = LocalStack(run_dir=ROOT / ".run" / "bench-fuzz", functions={"whatsapp_webhook": "whatsapp_webhook"},
                       extra_env={"AGENT_TURN_URL": "http://127.0.0.1:9/", "LOG_LEVEL": "WARNING",
                                  "CHANNEL_CACHE_SECONDS": "300", "THREADS": "16"})
    with stack:
        db = firestore.Client(project=PROJECT)
        assert stack.sandbox is not None
        tenant = seed(db, stack.sandbox.url)
        http = httpx.Client(timeout=30, limits=httpx.Limits(max_connections=32))
        url = stack.function_url("whatsapp_webhook")
        histogram = fuzz(http, stack, tenant, args.per_provider, random.Random(args.seed))
        deadline = float(stack.client_env().get("WEBHOOK_DEADLINE_SECONDS", "3"))
        stalled = stall(stack, http, url, tenant, db, args.pause, args.rate)

    print(f"\n1. generated bodies, {args.per_provider} per provider (seed {args.seed})")
    errors = busy = 0
    for provider, counts in histogram.items():
        errors += sum(c for status, c in counts.items() if isinstance(status, int) and status >= 500 and status != 503)
        busy += counts.get(503, 0)
        print(f"   {provider:<10}" + "  ".join(f"{status}: {c}" for status, c in sorted(counts.items(), key=str)))
    print(f"   5xx other than 503: {errors} (goal 0); 503 (a dependency slower than the deadline): {busy}")

    acked_unstored = sum(1 for _, _, status, stored in stalled if 200 <= status < 300 and not stored)
    print(f"\n2. Firestore paused {args.pause:g} s while {len(stalled)} messages arrived at {args.rate:g}/s "
          f"(WEBHOOK_DEADLINE_SECONDS {deadline:g})")
    print(f"   {'sent':<8}{'n':>5}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}   statuses")
    for phase in ("before", "during", "after"):
        rows = [(latency, status) for p, latency, status, _ in stalled if p == phase]
        if not rows:
            continue
        latencies = [latency for latency, _ in rows]
        q = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else latencies * 99
        statuses = "  ".join(f"{s}: {c}" for s, c in sorted(Counter(status for _, status in rows).items()))
        print(f"   {phase:<8}{len(rows):>5}{q[49]:>9.0f}{q[98]:>9.0f}{max(latencies):>9.0f}   {statuses}")
    print(f"   2xx for a message not stored: {acked_unstored} (goal 0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
