"""A local stand-in for the WhatsApp providers' send APIs, so outbound messages can be seen.

It answers the documented request shapes of Meta's Graph API (/{version}/{phone-number-id}/messages),
Evolution API v2 (/message/sendText/{instance}) and Z-API (/instances/{id}/token/{token}/send-text)
with their documented response shapes, records every send, and can be told to fail the next sends.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_META = re.compile(r"^/meta/(?P<version>v[\d.]+)/(?P<channel>[^/]+)/messages$")
_EVOLUTION = re.compile(r"^/evolution/message/sendText/(?P<channel>[^/]+)$")
_ZAPI = re.compile(r"^/zapi/instances/(?P<channel>[^/]+)/token/(?P<token>[^/]+)/send-text$")


class ProviderSandbox:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sent: list[dict[str, Any]] = []
        self._failures: list[tuple[int, dict]] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ProviderSandbox:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, count: int, status: int = 500, body: dict | None = None) -> None:
        """Make the next `count` sends answer `status` (for retry tests and the demo)."""
        with self._lock:
            self._failures.extend([(status, body or {"error": {"message": "sandbox failure"}})] * count)

    def sends_to(self, phone_digits: str) -> list[dict[str, Any]]:
        return [s for s in self.sent if s["to"] == phone_digits]

    def _record(self, path: str, headers: dict[str, str], body: dict) -> tuple[int, dict]:
        with self._lock:
            if self._failures:
                return self._failures.pop(0)
            n = next(self._ids)
        if match := _META.match(path):
            wamid = f"wamid.SANDBOX{n:06d}"
            entry = {"provider": "meta", "channel": match["channel"], "to": body.get("to"),
                     "text": (body.get("text") or {}).get("body"), "id": wamid,
                     "authorized": headers.get("authorization", "").startswith("Bearer ")}
            response = {"messaging_product": "whatsapp", "contacts": [{"input": body.get("to"), "wa_id": body.get("to")}],
                        "messages": [{"id": wamid}]}
        elif match := _EVOLUTION.match(path):
            key_id = f"3EB0SANDBOX{n:06d}"
            entry = {"provider": "evolution", "channel": match["channel"], "to": body.get("number"),
                     "text": body.get("text"), "id": key_id, "authorized": bool(headers.get("apikey"))}
            response = {"key": {"remoteJid": f"{body.get('number')}@s.whatsapp.net", "fromMe": True, "id": key_id},
                        "message": {"extendedTextMessage": {"text": body.get("text")}},
                        "messageTimestamp": "1732233600", "status": "PENDING"}
        elif match := _ZAPI.match(path):
            message_id = f"SANDBOXZ{n:06d}"
            entry = {"provider": "zapi", "channel": match["channel"], "to": body.get("phone"),
                     "text": body.get("message"), "id": message_id, "authorized": bool(headers.get("client-token"))}
            response = {"zaapId": f"zaap-{n}", "messageId": message_id, "id": message_id}
        else:
            return 404, {"error": f"sandbox has no route {path}"}
        with self._lock:
            self.sent.append(entry)
        return 200, response

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sandbox = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path == "/sent":
                    self._reply(200, sandbox.sent)
                else:
                    self._reply(404, {"error": "not found"})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    self._reply(400, {"error": "body is not JSON"})
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                self._reply(*sandbox._record(self.path, headers, body))

            def log_message(self, *args: Any) -> None:
                pass

        return Handler
