"""The Cloud Tasks adapter against the emulator: a task is dispatched to its URL with its body, not before its time."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dev.stack import PROJECT, REGION, wait_until
from shared.adapters.cloud_tasks import CloudTasksScheduler, CloudTasksTurnQueue, tasks_client
from shared.ports import TurnRequest

pytestmark = pytest.mark.emulators


@pytest.fixture
def receiver():
    received: list[tuple[float, dict, dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append((time.time(), dict(self.headers), body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:  # noqa: ANN002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", received
    server.shutdown()


def test_an_enqueued_turn_reaches_its_url_after_the_debounce_delay(stack, receiver):
    url, received = receiver
    scheduler = CloudTasksScheduler(tasks_client(stack.client_env()["TASKS_EMULATOR_HOST"]), PROJECT, REGION, None)
    turn = TurnRequest(tenant_id="t1", conversation_id=uuid.uuid4().hex, message_id="m1", channel_key="meta:1",
                       contact_phone="+5511987654321")
    queued_at = time.time()

    CloudTasksTurnQueue(scheduler, "agent-turns", url).enqueue_turn(turn, delay_seconds=1.0)

    wait_until(lambda: any(body["conversation_id"] == turn.conversation_id for _, _, body in received), 15, "dispatch")
    at, headers, body = next(r for r in received if r[2]["conversation_id"] == turn.conversation_id)
    assert body == {"tenant_id": "t1", "conversation_id": turn.conversation_id, "message_id": "m1",
                    "channel_key": "meta:1", "contact_phone": "+5511987654321", "purpose": "reply"}
    assert at - queued_at >= 0.9
    headers = {k.lower(): v for k, v in headers.items()}
    assert headers["content-type"] == "application/json"
    assert headers["x-cloudtasks-queuename"].endswith("agent-turns")


def test_scheduling_on_a_missing_queue_fails_loudly(stack):
    from google.api_core import exceptions as gexc

    scheduler = CloudTasksScheduler(tasks_client(stack.client_env()["TASKS_EMULATOR_HOST"]), PROJECT, REGION, None)
    with pytest.raises(gexc.GoogleAPICallError):
        scheduler.schedule("no-such-queue", "http://127.0.0.1:9/", "x", {}, datetime.now(UTC) + timedelta(seconds=1))
