"""chat_api: private HTTP function to talk to an agent without WhatsApp (testing, integrations).

POST {"tenant_id", "user_id", "message"[, "agent_id", "message_id", "phone", "time_zone"]} with header X-Piloto-Api-Key: pk_<id>.<secret>
(a key issued for that tenant; Cloud Run's own IAM check uses the Authorization header, so the key has its own)
→ {"response", "model", "tokens_used", "context_size", "memory", "tool_calls", "cost_usd", "latency_ms", …}
"""

from __future__ import annotations

import flask
import functions_framework
from pydantic import BaseModel, ConfigDict, Field, field_validator

from functions.http_errors import Response, json_errors, parse_body
from shared import log
from shared.bootstrap import chat_api_keys, chat_deps
from shared.config import get_settings
from shared.domain.tenancy import DOCUMENT_ID_PATTERN
from shared.services.chat import ChatMessage, chat_as_tenant

log.configure("chat_api", get_settings().log_level)


class ChatBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Ids become Firestore paths or parts of them: letters, digits and ._:@+- only (no '/', '..', '__x__').
    tenant_id: str = Field(pattern=DOCUMENT_ID_PATTERN)
    user_id: str = Field(pattern=DOCUMENT_ID_PATTERN)
    message: str = Field(min_length=1, max_length=4000)
    agent_id: str = Field(default="default", pattern=DOCUMENT_ID_PATTERN)
    message_id: str | None = Field(default=None, pattern=DOCUMENT_ID_PATTERN)
    # The lead's contact and clock, when the widget knows them: the seller's meeting alert names the phone, and
    # meeting times are read and offered in the zone (what the lead says in the chat still wins).
    phone: str | None = Field(default=None, max_length=32, description="the lead's phone, E.164 (+5592…)")
    time_zone: str | None = Field(default=None, max_length=64, description="the lead's IANA zone (America/Manaus)")

    @field_validator("phone")
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith("+"):
            raise ValueError("phone must be E.164: '+', country code and number (+5511987654321)")
        from shared.domain.phone import to_e164  # noqa: PLC0415 - libphonenumber loads only when a phone is sent

        return to_e164(value)

    @field_validator("time_zone")
    @classmethod
    def _iana(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from shared.domain.scheduling import known_zone  # noqa: PLC0415

        if known_zone(value) is None:
            raise ValueError("time_zone must be an IANA zone name such as America/Sao_Paulo")
        return known_zone(value)


@functions_framework.http
@json_errors
def chat_api(request: flask.Request) -> Response:
    if request.method != "POST":
        return {"error": "MethodNotAllowed", "reason": "use POST"}, 405
    body = parse_body(ChatBody, request.get_data(), "chat body")
    api_key = request.headers.get("X-Piloto-Api-Key")
    return chat_as_tenant(ChatMessage(**body.model_dump()), api_key, chat_deps(), chat_api_keys()), 200
