"""agent_turn: private function Cloud Tasks calls with {tenant_id, conversation_id, message_id}."""

from __future__ import annotations

from typing import Literal

import flask
import functions_framework
from pydantic import BaseModel, ValidationError

from functions.http_errors import Response, json_errors
from shared import log
from shared.bootstrap import turn_deps
from shared.config import get_settings
from shared.domain.errors import InvalidPayload
from shared.ports import TurnRequest
from shared.services.agent_turn import run_agent_turn
from shared.services.learning import learn_from_human
from shared.services.seller_desk import handle_seller_message

log.configure("agent_turn", get_settings().log_level)


class TurnBody(BaseModel):
    tenant_id: str
    conversation_id: str
    message_id: str
    channel_key: str
    contact_phone: str
    purpose: Literal["reply", "learn", "seller"] = "reply"


@functions_framework.http
@json_errors
def agent_turn(request: flask.Request) -> Response:
    try:
        body = TurnBody.model_validate_json(request.get_data())
    except ValidationError as err:
        raise InvalidPayload(f"agent turn body: {err.errors(include_url=False, include_input=False)}") from err
    trace = log.trace_field(request.headers.get("X-Cloud-Trace-Context"), get_settings().google_cloud_project)
    with log.bound(task=request.headers.get("X-CloudTasks-TaskName"), **trace):
        turn = TurnRequest(**body.model_dump())
        if turn.purpose == "seller":
            outcome = handle_seller_message(turn, turn_deps())
        elif turn.purpose == "learn":
            outcome = learn_from_human(turn, turn_deps())
        else:
            outcome = run_agent_turn(turn, turn_deps())
    return {"ok": True, **outcome.as_dict()}, 200
