"""tenant_report: private HTTP function. The owner's numbers for a date range, as JSON.

POST {"tenant_id", "start": "YYYY-MM-DD", "end": "YYYY-MM-DD", "agent_id"?} → the funnel (new leads,
qualified, meetings), handoffs by reason, human takeovers, opt-outs, follow-ups, response times
(p50/p90, bot and human), model cost, cost per lead and per qualified lead. Days are the agents' local days.
"""

from __future__ import annotations

from datetime import date

import flask
import functions_framework
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from functions.http_errors import Response, json_errors
from shared import log
from shared.bootstrap import business_metrics_deps
from shared.config import get_settings
from shared.domain.errors import InvalidPayload
from shared.services.business_metrics import tenant_report as build_report

log.configure("tenant_report", get_settings().log_level)

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"  # a Firestore document id Piloto would create: no '/', no '__x__'


class ReportBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant_id: str = Field(pattern=_ID)
    start: date
    end: date
    agent_id: str | None = Field(default=None, pattern=_ID)


@functions_framework.http
@json_errors
def tenant_report(request: flask.Request) -> Response:
    if request.method != "POST":
        return {"error": "MethodNotAllowed", "reason": "use POST with a JSON body"}, 405
    try:
        body = ReportBody.model_validate_json(request.get_data() or b"{}")
    except ValidationError as err:
        raise InvalidPayload(f"report body: {err.errors(include_url=False, include_input=False)}") from err
    with log.bound(tenant_id=body.tenant_id):
        report = build_report(body.tenant_id, body.start, body.end, business_metrics_deps(), agent_id=body.agent_id)
    return report.public(), 200
