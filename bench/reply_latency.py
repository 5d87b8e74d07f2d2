"""Benchmark: the pipeline's own share of a reply's latency. Leads write through the real webhook on the local
stack (emulators, functions under functions-framework); the model is the Gemini fake (tests/vertex_fake.py) behind
the real adapter (LLM_BACKEND=gemini pointed at it) answering after a fixed latency. For each conversation:

    overhead = (reply reaching the provider sandbox − message posted to the webhook) − debounce window − model time

printed as p50/p95/p99 at 1 and at 20 concurrent conversations. Goal: p50 ≤ 300 ms on the emulators. Not a test.

    .venv/bin/python -m bench.reply_latency [--model-latency 0.5] [--sequential 15] [--rounds 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
from google.cloud import firestore

from dev import payloads
from dev.seed import DemoTenant, seed
from dev.stack import DEMO_META_APP_SECRET, LocalStack
from tests.vertex_fake import FakeVertex, text_response

DEBOUNCE = 1.0
FUNCTIONS = {"whatsapp_webhook": "whatsapp_webhook", "agent_turn": "agent_turn", "followup_turn": "followup_turn"}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


class Run:
    def __init__(self, stack: LocalStack, tenant: DemoTenant, fake: FakeVertex, model_latency: float) -> None:
        self.stack, self.tenant, self.fake, self.model_latency = stack, tenant, fake, model_latency
        self.http = httpx.Client(timeout=30)
        self.webhook = stack.function_url("whatsapp_webhook") + "meta"

    def conversation(self, _: int = 0) -> float:
        """One lead writes once; the overhead of the reply in seconds."""
        assert self.stack.sandbox is not None
        phone = "55119" + str(uuid.uuid4().int)[:8]
        marker = uuid.uuid4().hex[:8]
        text = f"Tenho interesse no kit solar para minha casa, referência {marker}"
        payload = payloads.meta_text(self.tenant.meta_phone_number_id, phone, "Lead", f"wamid.{marker}", text)
        body, headers = payloads.signed_meta(payload, DEMO_META_APP_SECRET)
        posted = time.time()
        response = self.http.post(self.webhook, content=body, headers=headers)
        response.raise_for_status()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            sends = self.stack.sandbox.sends_to(phone)
            if sends:
                model_calls = sum(1 for _, request in list(self.fake.requests) if marker in str(request))
                return sends[0]["received_at"] - posted - DEBOUNCE - model_calls * self.model_latency
            time.sleep(0.01)
        raise TimeoutError(f"no reply for {marker}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-latency", type=float, default=0.5, help="the fake model's fixed latency (s)")
    parser.add_argument("--sequential", type=int, default=15, help="conversations at concurrency 1")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of 20 concurrent conversations")
    args = parser.parse_args()
    fake = FakeVertex(latency_seconds=args.model_latency)
    fake.default = text_response("Olá! Que bom seu interesse. Qual o valor médio da sua conta de luz?")
    env = {"LLM_BACKEND": "gemini", "GEMINI_API_KEY": "bench-key", "GEMINI_BASE_URL": fake.url}
    results: dict[int, list[float]] = {}
    try:
        with LocalStack(debounce_seconds=DEBOUNCE, functions=dict(FUNCTIONS), extra_env=env) as stack:
            assert stack.sandbox is not None
            db = firestore.Client(project=stack.client_env()["GOOGLE_CLOUD_PROJECT"])
            suffix = uuid.uuid4().hex[:10]
            tenant = seed(db, stack.sandbox.url, DemoTenant(
                tenant_id=f"bench-{suffix}", meta_phone_number_id=str(int(suffix, 16))[:15],
                evolution_copilot_instance=f"evo-copilot-{suffix}", evolution_instance=f"evo-{suffix}",
                zapi_instance=f"Z{suffix.upper()}"))
            run = Run(stack, tenant, fake, args.model_latency)
            run.conversation()  # warm-up: cold start of both functions and of the clients
            results[1] = [run.conversation() for _ in range(args.sequential)]
            with ThreadPoolExecutor(max_workers=20) as pool:
                results[20] = [o for _ in range(args.rounds) for o in pool.map(run.conversation, range(20))]
    finally:
        fake.close()
    print(f"\nPipeline overhead of one reply (ms): reply at the provider sandbox − webhook POST − debounce "
          f"({DEBOUNCE:.1f} s) − model time ({args.model_latency * 1000:.0f} ms per call, fake)")
    print(f"{'concurrent':>10}{'samples':>9}{'p50':>8}{'p95':>8}{'p99':>8}{'mean':>8}")
    for concurrency, values in results.items():
        ms = [v * 1000 for v in values]
        print(f"{concurrency:>10}{len(ms):>9}{percentile(ms, 0.50):>8.0f}{percentile(ms, 0.95):>8.0f}"
              f"{percentile(ms, 0.99):>8.0f}{statistics.mean(ms):>8.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
