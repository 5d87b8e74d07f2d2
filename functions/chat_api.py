"""chat_api: private HTTP function to talk to an agent without WhatsApp (testing, integrations).

POST {"tenant_id", "user_id", "message"[, "agent_id", "message_id"]}
→ {"response", "model", "tokens_used", "context_size", "memory", "tool_calls", "cost_usd", "latency_ms", …}
"""

from __future__ import annotations

import flask
import functions_framework
from pydantic import BaseModel, Field, ValidationError

from functions.http_errors import Response, json_errors
from shared import log
from shared.bootstrap import chat_deps
from shared.config import get_settings
from shared.domain.errors import InvalidPayload
from shared.services.chat import ChatMessage, chat

log.configure("chat_api", get_settings().log_level)


class ChatBody(BaseModel):
    tenant_id: str = Field(min_length=1, max_length=100)
    user_id: str = Field(min_length=1, max_length=200)
    message: str = Field(min_length=1, max_length=4000)
    agent_id: str = Field(default="default", max_length=100)
    message_id: str | None = Field(default=None, max_length=200)


@functions_framework.http
@json_errors
def chat_api(request: flask.Request) -> Response:
    if request.method != "POST":
        return {"error": "MethodNotAllowed", "reason": "use POST"}, 405
    try:
        body = ChatBody.model_validate_json(request.get_data())
    except ValidationError as err:
        raise InvalidPayload(f"chat body: {err.errors(include_url=False, include_input=False)}") from err
    return chat(ChatMessage(**body.model_dump()), chat_deps()), 200
