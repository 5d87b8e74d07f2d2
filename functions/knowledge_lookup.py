"""knowledge_lookup: private HTTP function.

POST {tenant_id, agent_id, question, k} → passages with sources and distances, or no confident match.
POST /approve {tenant_id, candidate_id, approved_by} → a seller's reviewed answer becomes knowledge.
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


class ApproveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant_id: str
    candidate_id: str = Field(max_length=100)
    approved_by: str = Field(min_length=1, max_length=200)


@functions_framework.http
@json_errors
def knowledge_lookup(request: flask.Request) -> Response:
    if request.method != "POST":
        return {"error": "MethodNotAllowed", "reason": "use POST with a JSON body"}, 405
    if request.path.rstrip("/").endswith("/approve"):
        return _approve(request)
    try:
        body = LookupBody.model_validate_json(request.get_data())
    except ValidationError as err:
        raise InvalidPayload(f"lookup body: {err.errors(include_url=False, include_input=False)}") from err
    with log.bound(**log.trace_field(request.headers.get("X-Cloud-Trace-Context"),
                                     get_settings().google_cloud_project)):
        result = knowledge_base().search(body.tenant_id, body.agent_id, body.question, body.k, body.conversation_id)
    return {"ok": True, **result.model_dump(mode="json")}, 200


def _approve(request: flask.Request) -> Response:
    from shared.adapters.firestore_client import firestore_client
    from shared.adapters.firestore_conversations import FirestoreConversationStore
    from shared.services.learning import approve_candidate

    try:
        body = ApproveBody.model_validate_json(request.get_data())
    except ValidationError as err:
        raise InvalidPayload(f"approve body: {err.errors(include_url=False, include_input=False)}") from err
    store = FirestoreConversationStore(firestore_client(get_settings().google_cloud_project))
    entry = approve_candidate(body.tenant_id, body.candidate_id, body.approved_by, store,
                              lambda *args: knowledge_base().add_learned_answer(*args[:5], conversation_id=args[5]))
    return {"ok": True, "entry_id": entry}, 200
