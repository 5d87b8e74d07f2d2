"""followup_turn: private function Cloud Tasks calls with {tenant_id, conversation_id, step, anchor_message_id}, or
with {kind: "meeting_reminder", tenant_id, conversation_id, event_id, starts_at} for a meeting reminder."""

from __future__ import annotations

import json
from typing import Literal

import flask
import functions_framework
from pydantic import AwareDatetime, BaseModel, Field, ValidationError

from functions.http_errors import Response, json_errors
from shared import log
from shared.bootstrap import followup_deps, reminder_deps
from shared.config import get_settings
from shared.domain.errors import InvalidPayload
from shared.ports import FollowupRequest, MeetingReminderRequest
from shared.services.followup import run_followup

log.configure("followup_turn", get_settings().log_level)


class FollowupBody(BaseModel):
    tenant_id: str = Field(min_length=1)
    conversation_id: str = Field(min_length=1)
    step: int = Field(ge=0, le=50)
    anchor_message_id: str = Field(min_length=1)


class ReminderBody(BaseModel):
    kind: Literal["meeting_reminder"]
    tenant_id: str = Field(min_length=1)
    conversation_id: str = Field(min_length=1)
    event_id: str = Field(min_length=5, max_length=1024)
    starts_at: AwareDatetime


@functions_framework.http
@json_errors
def followup_turn(request: flask.Request) -> Response:
    raw = request.get_data()
    if _is_reminder(raw):
        return _reminder(request, raw)
    try:
        body = FollowupBody.model_validate_json(raw)
    except ValidationError as err:
        raise InvalidPayload(f"follow-up body: {err.errors(include_url=False, include_input=False)}") from err
    trace = log.trace_field(request.headers.get("X-Cloud-Trace-Context"), get_settings().google_cloud_project)
    with log.bound(task=request.headers.get("X-CloudTasks-TaskName"), **trace):
        result = run_followup(FollowupRequest(**body.model_dump()), followup_deps())
    return {"ok": True, **result.as_dict()}, 200


def _is_reminder(raw: bytes) -> bool:
    try:
        data = json.loads(raw)
    except ValueError:
        return False  # FollowupBody's validation answers 400 with the reason
    return isinstance(data, dict) and data.get("kind") == "meeting_reminder"


def _reminder(request: flask.Request, raw: bytes) -> Response:
    from shared.services.reminders import run_meeting_reminder  # only reminder tasks load the calendar code

    try:
        body = ReminderBody.model_validate_json(raw)
    except ValidationError as err:
        raise InvalidPayload(f"reminder body: {err.errors(include_url=False, include_input=False)}") from err
    with log.bound(task=request.headers.get("X-CloudTasks-TaskName")):
        outcome = run_meeting_reminder(MeetingReminderRequest(
            tenant_id=body.tenant_id, conversation_id=body.conversation_id, event_id=body.event_id,
            starts_at=body.starts_at.isoformat()), reminder_deps())
    return {"ok": True, "reminder": outcome}, 200
