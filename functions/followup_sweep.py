"""followup_sweep: private HTTP function Cloud Scheduler calls every few minutes. Re-schedules follow-ups whose
task was lost and closes exhausted cadences. POST body (optional): {"max_pages": int}, bounded by configuration."""

from __future__ import annotations

import flask
import functions_framework
from pydantic import BaseModel, Field, ValidationError

from functions.http_errors import Response, json_errors
from shared import log
from shared.bootstrap import followup_sweep_deps
from shared.config import get_settings
from shared.domain.errors import InvalidPayload
from shared.services.followup import sweep_due_followups

log.configure("followup_sweep", get_settings().log_level)


class SweepBody(BaseModel):
    max_pages: int | None = Field(default=None, ge=1)


@functions_framework.http
@json_errors
def followup_sweep(request: flask.Request) -> Response:
    try:
        body = SweepBody.model_validate_json(request.get_data() or b"{}")
    except ValidationError as err:
        raise InvalidPayload(f"sweep body: {err.errors(include_url=False, include_input=False)}") from err
    settings = get_settings()
    with log.bound(**log.trace_field(request.headers.get("X-Cloud-Trace-Context"), settings.google_cloud_project)):
        report = sweep_due_followups(
            followup_sweep_deps(), page_size=settings.followup_sweep_page_size,
            max_pages=min(body.max_pages or settings.followup_sweep_max_pages, settings.followup_sweep_max_pages),
            grace_seconds=settings.followup_sweep_grace_seconds)
    return {"ok": True, **report.as_dict()}, 200
