"""media_processor: private function Cloud Tasks calls with {tenant_id, conversation_id, message_id, …} to read a
lead's file (voice note, image, PDF, DOCX) and write its text onto the message."""

from __future__ import annotations

import flask
import functions_framework
from pydantic import BaseModel, ValidationError

from functions.http_errors import Response, json_errors
from shared import log
from shared.bootstrap import media_deps
from shared.config import get_settings
from shared.domain.errors import InvalidPayload
from shared.ports import MediaRequest
from shared.services.media import process_media

log.configure("media_processor", get_settings().log_level)


class MediaBody(BaseModel):
    tenant_id: str
    conversation_id: str
    message_id: str
    channel_key: str
    contact_phone: str


@functions_framework.http
@json_errors
def media_processor(request: flask.Request) -> Response:
    try:
        body = MediaBody.model_validate_json(request.get_data())
    except ValidationError as err:
        raise InvalidPayload(f"media task body: {err.errors(include_url=False, include_input=False)}") from err
    retries = request.headers.get("X-CloudTasks-TaskRetryCount", "0")
    trace = log.trace_field(request.headers.get("X-Cloud-Trace-Context"), get_settings().google_cloud_project)
    with log.bound(task=request.headers.get("X-CloudTasks-TaskName"), **trace):
        outcome = process_media(MediaRequest(**body.model_dump()), media_deps(),
                                attempt=int(retries) if retries.isdigit() else 0)
    return {"ok": True, **outcome.as_dict()}, 200
