"""Structured logs in Cloud Logging's format: one JSON object per line, with tenant, conversation and function."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("piloto_log_context", default={})

_SEVERITY = {"DEBUG": "DEBUG", "INFO": "INFO", "WARNING": "WARNING", "ERROR": "ERROR", "CRITICAL": "CRITICAL"}
_TRACE_KEY = "logging.googleapis.com/trace"


class CloudLoggingFormatter(logging.Formatter):
    """Cloud Logging reads `severity`, `message` and the trace key from a JSON line on stdout."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelname, "DEFAULT"),
            "message": record.getMessage(),
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "logger": record.name,
        }
        entry.update(_context.get())
        fields = getattr(record, "fields", None)
        if fields:
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure(function_name: str, level: str = "INFO") -> None:
    """Install the JSON handler once per process and name the function every line belongs to."""
    root = logging.getLogger()
    if not any(isinstance(h.formatter, CloudLoggingFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(CloudLoggingFormatter())
        root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every request URL at INFO; Z-API URLs carry the instance token and media URLs a signature.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    _context.set({**_context.get(), "function": function_name})


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Attach fields (tenant_id, conversation_id, trace…) to every log line inside the block."""
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def trace_field(header: str | None, project: str) -> dict[str, str]:
    """Turn X-Cloud-Trace-Context ('TRACE_ID/SPAN;o=1') into Cloud Logging's trace field."""
    if not header:
        return {}
    trace_id = header.split("/", 1)[0].strip()
    return {_TRACE_KEY: f"projects/{project}/traces/{trace_id}"} if trace_id else {}


def log(logger: logging.Logger, level: int, message: str, **fields: Any) -> None:
    """Log with structured fields, which land as top-level keys of the JSON line."""
    logger.log(level, message, extra={"fields": fields})
