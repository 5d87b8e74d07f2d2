"""whatsapp_webhook: the public URL providers call. POST {url}/meta | /evolution | /zapi | /twilio; GET {url}/meta to
verify."""

from __future__ import annotations

import json

import flask
import functions_framework

from functions.http_errors import Response, json_errors
from shared import log
from shared.bootstrap import inbound_deps
from shared.config import get_settings
from shared.domain.errors import PayloadTooLarge
from shared.domain.inbound import Provider
from shared.ports import RawRequest
from shared.services.inbound import parse_provider, receive_webhook

log.configure("whatsapp_webhook", get_settings().log_level)


def _raw(request: flask.Request, limit: int) -> RawRequest:
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"body has {request.content_length} bytes; the limit is {limit}")
    body = request.stream.read(limit + 1)  # never buffer more than the limit, even without Content-Length
    return RawRequest(
        method=request.method,
        path=request.path,
        headers={k.lower(): v for k, v in request.headers.items()},
        query=request.args.to_dict(),
        body=body,
        # The path and query exactly as sent (gunicorn's RAW_URI), not decoded: a signature covers the raw URL.
        url=f"{request.scheme}://{request.host}{request.environ.get('RAW_URI') or request.full_path.rstrip('?')}",
    )


@functions_framework.http
@json_errors
def whatsapp_webhook(request: flask.Request) -> Response | tuple[str, int] | flask.Response:
    settings = get_settings()
    provider = parse_provider(request.path.rstrip("/").rsplit("/", 1)[-1])
    with log.bound(provider=provider.value, **log.trace_field(request.headers.get("X-Cloud-Trace-Context"),
                                                              settings.google_cloud_project)):
        if request.method == "GET" and provider is Provider.META:
            from shared.providers.meta_cloud import verify_subscription

            token = settings.meta_verify_token.get_secret_value() if settings.meta_verify_token else None
            return verify_subscription(request.args.to_dict(), token), 200
        if request.method != "POST":
            return {"error": "MethodNotAllowed", "reason": "use POST"}, 405
        outcome = receive_webhook(provider, _raw(request, settings.max_body_bytes), inbound_deps())
        if provider is Provider.TWILIO:
            # Twilio expects TwiML back; an empty <Response/> sends nothing itself (the reply goes out later).
            from shared.providers.twilio import EMPTY_TWIML

            return flask.Response(EMPTY_TWIML, 200, {"Content-Type": "text/xml; charset=utf-8",
                                                      "X-Piloto-Outcome": json.dumps(outcome.as_dict())})
        return {"ok": True, **outcome.as_dict()}, 200
