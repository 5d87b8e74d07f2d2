"""followup_turn: private function Cloud Tasks calls with {tenant_id, conversation_id, step, anchor_message_id}."""

from __future__ import annotations

import flask
import functions_framework
from pydantic import BaseModel, Field, ValidationError

from functions.http_errors import Response, json_errors
from shared import log
from shared.bootstrap import followup_deps
from shared.config import get_settings
from shared.domain.errors import InvalidPayload
from shared.ports import FollowupRequest
from shared.services.followup import run_followup

log.configure("followup_turn", get_settings().log_level)


class FollowupBody(BaseModel):
    tenant_id: str = Field(min_length=1)
    conversation_id: str = Field(min_length=1)
    step: int = Field(ge=0, le=50)
    anchor_message_id: str = Field(min_length=1)


@functions_framework.http
@json_errors
def followup_turn(request: flask.Request) -> Response:
    try:
        body = FollowupBody.model_validate_json(request.get_data())
    except ValidationError as err:
        raise InvalidPayload(f"follow-up body: {err.errors(include_url=False, include_input=False)}") from err
    trace = log.trace_field(request.headers.get("X-Cloud-Trace-Context"), get_settings().google_cloud_project)
    with log.bound(task=request.headers.get("X-CloudTasks-TaskName"), **trace):
        result = run_followup(FollowupRequest(**body.model_dump()), followup_deps())
    return {"ok": True, **result.as_dict()}, 200
