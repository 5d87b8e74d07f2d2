"""lgpd_admin: private HTTP function (admins only, IAM) for the leads' data rights under the LGPD.

POST {"action": "export", "tenant_id", "phone"}                        → everything held about the lead, as JSON
POST {"action": "erase", "tenant_id", "phone", "requested_by"[, "reason"]} → the erasure record (no personal data)
"""

from __future__ import annotations

from typing import Literal

import flask
import functions_framework
from pydantic import BaseModel, ConfigDict, Field

from functions.http_errors import Response, json_errors, parse_body
from shared import log
from shared.bootstrap import lgpd_deps
from shared.config import get_settings
from shared.domain.errors import InvalidPayload
from shared.domain.tenancy import DOCUMENT_ID_PATTERN
from shared.services.lgpd import erase_lead, export_lead

log.configure("lgpd_admin", get_settings().log_level)


class LgpdBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["export", "erase"]
    tenant_id: str = Field(pattern=DOCUMENT_ID_PATTERN)
    phone: str = Field(min_length=8, max_length=40, description="as typed: +55 11 98765-4321, 5511987654321…")
    requested_by: str | None = Field(default=None, min_length=3, max_length=200,
                                     description="the operator who asked (recorded on the erasure)")
    reason: str | None = Field(default=None, max_length=500, description="a ticket number; no personal data")


@functions_framework.http
@json_errors
def lgpd_admin(request: flask.Request) -> Response:
    if request.method != "POST":
        return {"error": "MethodNotAllowed", "reason": "use POST with a JSON body"}, 405
    body = parse_body(LgpdBody, request.get_data(), "lgpd body")
    if body.action == "export":
        return {"ok": True, **export_lead(body.tenant_id, body.phone, lgpd_deps())}, 200
    if not body.requested_by:
        raise InvalidPayload("requested_by: an erasure records who asked for it")
    record = erase_lead(body.tenant_id, body.phone, body.requested_by, lgpd_deps(), body.reason)
    return {"ok": True, "erasure": record.model_dump(mode="json")}, 200
