"""metrics_rollup: private HTTP function Cloud Scheduler calls (hourly). Recomputes every active tenant's daily
business rollups for yesterday and today, and seals closed days once for the dashboard."""

from __future__ import annotations

import flask
import functions_framework

from functions.http_errors import Response, json_errors
from shared import log
from shared.bootstrap import business_metrics_deps
from shared.config import get_settings
from shared.services.business_metrics import roll_up

log.configure("metrics_rollup", get_settings().log_level)


@functions_framework.http
@json_errors
def metrics_rollup(request: flask.Request) -> Response:
    settings = get_settings()
    with log.bound(**log.trace_field(request.headers.get("X-Cloud-Trace-Context"), settings.google_cloud_project)):
        report = roll_up(business_metrics_deps())
    # A tenant that failed is logged with its stack; the job still succeeds for the others and retries next hour.
    return {"ok": not report.failed_tenants, **report.as_dict()}, 200
