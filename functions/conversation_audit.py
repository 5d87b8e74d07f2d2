"""conversation_audit: private HTTP function Cloud Scheduler calls hourly. Audits conversations a human seller
handled once they have gone quiet: measured facts plus a rubric the model scores with quoted evidence. It never
writes to a lead and runs apart from every reply path."""

from __future__ import annotations

import flask
import functions_framework

from functions.http_errors import Response, json_errors
from shared import log
from shared.bootstrap import audit_deps
from shared.config import get_settings
from shared.services.audits import audit_quiet_conversations

log.configure("conversation_audit", get_settings().log_level)


@functions_framework.http
@json_errors
def conversation_audit(request: flask.Request) -> Response:
    settings = get_settings()
    with log.bound(**log.trace_field(request.headers.get("X-Cloud-Trace-Context"), settings.google_cloud_project)):
        run = audit_quiet_conversations(audit_deps())
    return {"ok": True, **run.as_dict()}, 200
