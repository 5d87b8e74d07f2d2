"""outbox_drain: private HTTP function Cloud Scheduler calls every few minutes; publishes unpublished events.

POST body (optional): {"max_events": int, "min_age_seconds": float}, bounded by the configured maximums.
"""

from __future__ import annotations

import flask
import functions_framework
from pydantic import BaseModel, Field, ValidationError

from functions.http_errors import Response, json_errors
from shared import log
from shared.bootstrap import event_deps
from shared.config import get_settings
from shared.domain.errors import InvalidPayload
from shared.services.events import drain_outbox

log.configure("outbox_drain", get_settings().log_level)


class DrainBody(BaseModel):
    max_events: int | None = Field(default=None, ge=1)
    min_age_seconds: float | None = Field(default=None, ge=0)


@functions_framework.http
@json_errors
def outbox_drain(request: flask.Request) -> Response:
    try:
        body = DrainBody.model_validate_json(request.get_data() or b"{}")
    except ValidationError as err:
        raise InvalidPayload(f"drain body: {err.errors(include_url=False, include_input=False)}") from err
    settings = get_settings()
    with log.bound(**log.trace_field(request.headers.get("X-Cloud-Trace-Context"), settings.google_cloud_project)):
        outcome = drain_outbox(
            event_deps(),
            max_events=min(body.max_events or settings.outbox_drain_max_events, settings.outbox_drain_max_events),
            page_size=settings.outbox_drain_page_size,
            min_age_seconds=settings.outbox_drain_min_age_seconds if body.min_age_seconds is None
            else body.min_age_seconds,
            time_budget_seconds=settings.outbox_drain_time_budget_seconds,
        )
    return {"ok": True, **outcome.as_dict()}, 200
