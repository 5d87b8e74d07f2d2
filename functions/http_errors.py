"""One place that maps Piloto's exceptions to HTTP answers: a JSON reason, never a stack trace."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from shared import log
from shared.domain import errors

logger = logging.getLogger(__name__)

# Order matters: subclasses before their parents.
_STATUS: list[tuple[type[errors.PilotoError], int]] = [
    (errors.PayloadTooLarge, 413),
    (errors.InvalidPayload, 400),
    (errors.MissingSignature, 401),
    (errors.BadSignature, 403),
    (errors.UnknownTenant, 404),
    (errors.UnknownProvider, 404),
    (errors.NotFound, 404),
    (errors.TurnInProgress, 409),
    (errors.MediaInProgress, 409),
    (errors.WaitingForMedia, 425),  # Too Early: an expected wait, retried by Cloud Tasks, not an outage
    (errors.TransientError, 503),
]

Response = tuple[dict[str, Any], int] | tuple[dict[str, Any], int, dict[str, str]]

# Seconds a 503 asks the caller to wait (Retry-After, RFC 9110 §10.2.3). Providers and Cloud Tasks retry
# with their own backoff anyway; the header tells any caller that honours it that the failure is temporary.
RETRY_AFTER_SECONDS = 5


def status_for(error: errors.PilotoError) -> int:
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return 500


def json_errors(handler: Callable[..., Response]) -> Callable[..., Response]:
    """Wrap an entry point: expected errors become their status; anything else a logged, opaque 500."""

    @wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            return handler(*args, **kwargs)
        except errors.PilotoError as err:
            status = status_for(err)
            level = logging.WARNING if status < 500 else logging.ERROR
            log.log(logger, level, "request refused", status=status, error=type(err).__name__, reason=str(err))
            if status == 503:
                return ({"error": type(err).__name__, "reason": str(err)}, status,
                        {"Retry-After": str(RETRY_AFTER_SECONDS)})
            return {"error": type(err).__name__, "reason": str(err)}, status
        except Exception:
            logger.exception("unexpected error")
            return {"error": "InternalError", "reason": "unexpected error; it was logged"}, 500

    return wrapper
