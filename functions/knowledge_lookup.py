"""knowledge_lookup: private HTTP function.

POST {tenant_id, agent_id, question, k} → passages with sources and distances, or no confident match.
"""

from __future__ import annotations

import flask
import functions_framework
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from functions.http_errors import Response, json_errors
from shared import log
from shared.bootstrap import knowledge_base
from shared.config import get_settings
from shared.domain.errors import InvalidPayload

log.configure("knowledge_lookup", get_settings().log_level)


class LookupBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant_id: str
    agent_id: str = "default"
    question: str = Field(max_length=4000)
    k: int = 3
    conversation_id: str | None = None


@functions_framework.http
@json_errors
def knowledge_lookup(request: flask.Request) -> Response:
    if request.method != "POST":
        return {"error": "MethodNotAllowed", "reason": "use POST with a JSON body"}, 405
    try:
        body = LookupBody.model_validate_json(request.get_data())
    except ValidationError as err:
        raise InvalidPayload(f"lookup body: {err.errors(include_url=False, include_input=False)}") from err
    with log.bound(**log.trace_field(request.headers.get("X-Cloud-Trace-Context"),
                                     get_settings().google_cloud_project)):
        result = knowledge_base().search(body.tenant_id, body.agent_id, body.question, body.k, body.conversation_id)
    return {"ok": True, **result.model_dump(mode="json")}, 200
