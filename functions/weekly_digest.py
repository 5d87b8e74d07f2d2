"""weekly_digest: private HTTP function Cloud Scheduler calls on Monday mornings. Each active tenant's owner gets
last week's numbers on WhatsApp once (an approved template on Meta). Answers 503 when a tenant's digest failed
for a reason worth retrying, so Cloud Scheduler retries; the ones already sent are not sent again."""

from __future__ import annotations

import flask
import functions_framework

from functions.http_errors import Response, json_errors
from shared import log
from shared.bootstrap import weekly_digest_deps
from shared.config import get_settings
from shared.services.business_metrics import send_weekly_digests

log.configure("weekly_digest", get_settings().log_level)


@functions_framework.http
@json_errors
def weekly_digest(request: flask.Request) -> Response:
    settings = get_settings()
    with log.bound(**log.trace_field(request.headers.get("X-Cloud-Trace-Context"), settings.google_cloud_project)):
        run = send_weekly_digests(weekly_digest_deps())
    return {"ok": run.failed == 0, **run.as_dict()}, (503 if run.failed else 200)
