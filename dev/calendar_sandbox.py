"""The contract fake of Google Calendar (tests/calendar_fake.py) served over HTTP on 127.0.0.1, for the demo
and the end-to-end tests: functions reach it through CALENDAR_EMULATOR_HOST, as they would reach the real API."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler

import httpx

from dev.json_http import JsonHandler, serve_in_background
from tests.calendar_fake import FakeGoogleCalendar


class CalendarSandbox:
    def __init__(self) -> None:
        self.fake = FakeGoogleCalendar()
        self._lock = threading.Lock()  # the fake is a plain object; the server is threaded
        self._server = None

    @property
    def host(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def start(self) -> CalendarSandbox:
        self._server, _ = serve_in_background(self._handler())
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sandbox = self

        class Handler(JsonHandler):
            def _serve(self) -> None:
                request = httpx.Request(self.command, f"http://{sandbox.host}{self.path}",
                                        headers=dict(self.headers.items()), content=self.read_body())
                with sandbox._lock:
                    response = sandbox.fake.handle(request)
                self.send_response(response.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(response.content)))
                self.end_headers()
                self.wfile.write(response.content)

            do_GET = do_POST = do_PATCH = do_DELETE = _serve  # noqa: N815 - http.server's naming

        return Handler
