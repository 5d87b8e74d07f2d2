"""Benchmark: how fast the webhook acknowledges a provider, next to the raw storage calls it makes and to a
naive design that calls the model inline. Not a test: it prints a table.

    .venv/bin/python -m bench.webhook_ack [--requests 300]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from google.cloud import firestore

from dev import payloads
from dev.seed import seed
from dev.stack import DEMO_META_APP_SECRET, PROJECT, REGION, ROOT, LocalStack, free_port, wait_for_port
from shared.adapters.cloud_tasks import CloudTasksScheduler, CloudTasksTurnQueue, tasks_client
from shared.adapters.firestore_conversations import FirestoreConversationStore
from shared.domain.conversation import InboundDisposition, Role, StoredMessage
from shared.domain.ids import conversation_id, inbound_message_id, task_name
from shared.domain.inbound import MessageKind, Provider
from shared.ports import TurnRequest


def sink() -> ThreadingHTTPServer:
    """Where the benchmark's agent-turn tasks land: acknowledges and forgets."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


_ids = itertools.count()


def measure(call: Callable[[int], None], n: int, concurrency: int) -> dict[str, float]:
    """Each call gets an id never used before in this run (message ids, document ids)."""
    latencies: list[float] = []
    lock = threading.Lock()

    def one(_: int) -> None:
        i = next(_ids)
        started = time.perf_counter()
        call(i)
        elapsed = (time.perf_counter() - started) * 1000
        with lock:
            latencies.append(elapsed)

    for _ in range(min(5, n)):  # warm connections and caches
        call(next(_ids))
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(n)))
    wall = time.perf_counter() - started
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"n": n, "p50": q[49], "p95": q[94], "p99": q[98], "rps": n / wall}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300, help="requests per fast scenario")
    parser.add_argument("--naive-requests", type=int, default=32)
    args = parser.parse_args()

    target = sink()
    turn_url = f"http://127.0.0.1:{target.server_address[1]}/"
    stack = LocalStack(run_dir=ROOT / ".run" / "bench", functions={"whatsapp_webhook": "whatsapp_webhook"},
                       extra_env={"AGENT_TURN_URL": turn_url, "CHANNEL_CACHE_SECONDS": "300", "LOG_LEVEL": "WARNING",
                                  "WORKERS": os.environ.get("WORKERS", "1"), "THREADS": os.environ.get("THREADS", "16")})
    rows: list[tuple[str, int, dict[str, float]]] = []
    naive_proc = None
    with stack:
        db = firestore.Client(project=PROJECT)
        assert stack.sandbox is not None
        tenant = seed(db, stack.sandbox.url)
        scheduler = CloudTasksScheduler(tasks_client(stack.client_env()["TASKS_EMULATOR_HOST"]), PROJECT, REGION, None)
        http = httpx.Client(timeout=30, limits=httpx.Limits(max_connections=32))
        webhook_url = f"{stack.function_url('whatsapp_webhook')}meta"
        run_id = uuid.uuid4().hex[:8]

        def raw_storage(i: int) -> None:
            doc = db.collection("tenants").document("bench").collection("raw").document(f"{run_id}-{i}")
            doc.create({"i": i, "at": firestore.SERVER_TIMESTAMP})
            scheduler.schedule("agent-turns", turn_url, task_name("bench", run_id, str(i)), {"i": i},
                               datetime.now(UTC) + timedelta(seconds=1))

        store = FirestoreConversationStore(db)
        turns = CloudTasksTurnQueue(scheduler, "agent-turns", turn_url)
        channel_key = f"meta:{tenant.meta_phone_number_id}"

        def raw_same_writes(i: int) -> None:
            """Exactly the webhook's storage calls and documents, made directly and one after the other."""
            phone = f"+55118{i:08d}"
            conv_id = conversation_id(channel_key, phone)
            message_id = inbound_message_id("meta", tenant.meta_phone_number_id, f"wamid.raw.{run_id}.{i}")
            store.record_inbound(tenant.tenant_id, conv_id, StoredMessage(
                message_id=message_id, role=Role.LEAD, kind=MessageKind.TEXT, text="oi", provider=Provider.META,
                provider_message_id=f"wamid.raw.{run_id}.{i}", contact_name="Bench", sent_at=datetime.now(UTC),
                disposition=InboundDisposition.QUEUED))
            turns.enqueue_turn(TurnRequest(tenant.tenant_id, conv_id, message_id, channel_key, phone), 1.0)

        def webhook(i: int) -> None:
            phone = f"55119{(i * 7919) % 100_000_000:08d}"
            payload = payloads.meta_text(tenant.meta_phone_number_id, phone, "Bench", f"wamid.{run_id}.{i}", "oi")
            body, headers = payloads.signed_meta(payload, DEMO_META_APP_SECRET)
            response = http.post(webhook_url, content=body, headers=headers)
            assert response.status_code == 200, response.text

        for concurrency in (1, 16):
            rows.append(("raw Firestore create + Tasks create", concurrency, measure(raw_storage, args.requests,
                                                                                     concurrency)))
            rows.append(("raw: the webhook's own writes, sequential", concurrency,
                         measure(raw_same_writes, args.requests, concurrency)))
            rows.append(("webhook ack (Piloto)", concurrency, measure(webhook, args.requests, concurrency)))

        naive_port = free_port()
        naive_proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "functions-framework"), "--target", "naive_webhook", "--source",
             str(ROOT / "bench" / "naive_webhook.py"), "--host", "127.0.0.1", "--port", str(naive_port)],
            env={**stack.client_env(), "PATH": "/usr/bin:/bin", "THREADS": "16", "XDG_RUNTIME_DIR": str(stack.run_dir)},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_for_port(naive_port, "naive webhook", proc=naive_proc)

            def naive(i: int) -> None:
                response = http.post(f"http://127.0.0.1:{naive_port}/", content=b'{"bench": true}')
                assert response.status_code == 200, response.text

            for concurrency in (1, 16):
                n = max(5, args.naive_requests // (4 if concurrency == 1 else 1))
                rows.append(("naive: model called inside webhook (2 s)", concurrency, measure(naive, n, concurrency)))
        finally:
            naive_proc.terminate()
            naive_proc.wait(timeout=10)
    target.shutdown()

    print(f"\n{'scenario':<42}{'conc':>5}{'n':>6}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'req/s':>8}")
    for name, concurrency, r in rows:
        print(f"{name:<42}{concurrency:>5}{r['n']:>6}{r['p50']:>9.1f}{r['p95']:>9.1f}{r['p99']:>9.1f}{r['rps']:>8.1f}")
    by = {(name, c): r for name, c, r in rows}
    for concurrency in (1, 16):
        ack = by[("webhook ack (Piloto)", concurrency)]["p99"]
        same = by[("raw: the webhook's own writes, sequential", concurrency)]["p99"]
        minimal = by[("raw Firestore create + Tasks create", concurrency)]["p99"]
        print(f"concurrency {concurrency}: ack p99 / own-writes p99 = {ack / same:.2f}x (goal <= 1.5x); "
              f"ack p99 / minimal create p99 = {ack / minimal:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
