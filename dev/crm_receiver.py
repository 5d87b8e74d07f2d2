"""A local stand-in for a tenant's Make/n8n/Zapier webhook, to watch domain events arrive (demo and tests).

Each hook has its own path and secret, verifies Piloto's X-Piloto-Signature-256 like a careful receiver
would, keeps the first delivery of each Idempotency-Key (later ones are marked duplicates, as an n8n flow
deduplicating on it would), records every attempt and can be told to fail its next requests.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from dev.json_http import JsonHandler
from shared.domain.crm import SIGNATURE_HEADER, verify_webhook_signature


@dataclass
class Hook:
    name: str
    secret: str
    url: str
    attempts: list[dict[str, Any]] = field(default_factory=list)  # every request, failed ones included
    deliveries: list[dict[str, Any]] = field(default_factory=list)  # accepted, first time per Idempotency-Key
    _failures: list[tuple[int, dict]] = field(default_factory=list)

    def fail_next(self, count: int, status: int = 503, body: dict | None = None) -> None:
        """Answer `status` to the next `count` requests (for retry and rejection tests)."""
        self._failures.extend([(status, body or {"message": "receiver unavailable"})] * count)

    def event_types(self) -> list[str]:
        return [d["body"]["type"] for d in self.deliveries]


class WebhookReceiver:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._hooks: dict[str, Hook] = {}
        self._lock = threading.Lock()
        self._names = itertools.count(1)
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add_hook(self, secret: str, name: str | None = None) -> Hook:
        name = name or f"hook-{next(self._names)}"
        hook = Hook(name=name, secret=secret, url=f"{self.url}/hooks/{name}")
        with self._lock:
            self._hooks[name] = hook
        return hook

    def _receive(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict]:
        name = path.rstrip("/").rsplit("/", 1)[-1]
        with self._lock:
            hook = self._hooks.get(name)
            if hook is None:
                return 404, {"message": f"no hook {name}"}
            signature_ok = verify_webhook_signature(hook.secret, raw, headers.get(SIGNATURE_HEADER.lower()))
            key = headers.get("idempotency-key")
            attempt = {"at": time.time(), "idempotency_key": key, "signature_ok": signature_ok,
                       "event_type": headers.get("x-piloto-event-type")}
            hook.attempts.append(attempt)
            if hook._failures:
                status, body = hook._failures.pop(0)
                attempt["status"] = status
                return status, body
            if not signature_ok:
                attempt["status"] = 401
                return 401, {"message": "bad signature"}
            attempt["status"] = 200
            if any(d["idempotency_key"] == key for d in hook.deliveries):
                return 200, {"ok": True, "duplicate": True}
            hook.deliveries.append({"idempotency_key": key, "signature_ok": signature_ok, "headers": headers,
                                    "body": json.loads(raw)})
            return 200, {"ok": True}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                headers = {k.lower(): v for k, v in self.headers.items()}
                self.reply_json(*receiver._receive(self.path, headers, self.read_body()))

        return Handler
