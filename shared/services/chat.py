"""The /chat API: talk to an agent without WhatsApp, with the same brain, tools and memory."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass

from shared import log
from shared.domain.conversation import Conversation, InboundDisposition, Role, StoredMessage
from shared.domain.ids import contact_id, conversation_id, inbound_message_id, reply_message_id
from shared.domain.inbound import Provider
from shared.domain.usage import total_cost
from shared.ports import TurnRequest
from shared.services.agent_turn import TurnDeps, _maintain_memory, _record_calls, compose_reply
from shared.services.tools import TurnScope

logger = logging.getLogger(__name__)
API_CHANNEL = "api:chat"


@dataclass(frozen=True)
class ChatMessage:
    tenant_id: str
    user_id: str
    message: str
    agent_id: str = "default"
    message_id: str | None = None  # a client's retry with the same id is answered from memory, not re-run


def chat(request: ChatMessage, deps: TurnDeps) -> dict:
    started = time.perf_counter()
    store = deps.store
    conv_id = conversation_id(API_CHANNEL, request.user_id)
    contact = f"api:{request.user_id}"
    raw_id = request.message_id or hashlib.sha256(f"{request.message}{time.time_ns()}".encode()).hexdigest()
    message_id = inbound_message_id(Provider.API.value, request.tenant_id, raw_id)
    reply_id = reply_message_id(message_id)
    with log.bound(tenant_id=request.tenant_id, conversation_id=conv_id):
        created = store.record_inbound(request.tenant_id, conv_id, StoredMessage(
            message_id=message_id, role=Role.LEAD, text=request.message, provider=Provider.API,
            provider_message_id=raw_id, sent_at=deps.clock(), disposition=InboundDisposition.QUEUED))
        agent = deps.directory.get_agent(request.tenant_id, request.agent_id)
        stored = store.get_conversation(request.tenant_id, conv_id)
        if not created:
            claim = store.claim_reply(request.tenant_id, conv_id, reply_id, message_id, deps.clock(), 0)
            return {"response": claim.text or "", "duplicate": True}
        history = store.recent_messages(request.tenant_id, conv_id, agent.history_limit,
                                        after=stored.summary_through if stored else None)
        conversation = Conversation(conversation_id=conv_id, tenant_id=request.tenant_id, channel_key=API_CHANNEL,
                                    agent_id=request.agent_id, contact_phone=contact)
        conversation.last_inbound_message_id = message_id
        conversation.last_inbound_at = deps.clock()
        store.save_conversation(conversation)
        conversation.summary = stored.summary if stored else None
        store.claim_reply(request.tenant_id, conv_id, reply_id, message_id, deps.clock(), deps.lease_seconds)

        scope = TurnScope(tenant_id=request.tenant_id, conversation_id=conv_id, contact_id=contact_id(contact),
                          contact_phone=contact, agent_id=request.agent_id, turn_id=reply_id)
        composition = compose_reply(scope, agent, conversation, history, deps)
        turn = TurnRequest(request.tenant_id, conv_id, message_id, API_CHANNEL, contact)
        _record_calls(turn, deps, request.agent_id, composition.calls)
        store.save_generated_reply(request.tenant_id, conv_id, reply_id, composition.text,
                                   composition.calls[-1] if composition.calls else None,
                                   composition.effects.calls, composition.tier)
        store.mark_reply_sent(request.tenant_id, conv_id, reply_id, Provider.API.value, reply_id, message_id,
                              deps.clock())
        _maintain_memory(turn, deps, agent, conversation, history)
        calls = composition.calls
        return {
            "response": composition.text,
            "model": calls[-1].model if calls else composition.tier,
            "tokens_used": sum(c.usage.total for c in calls),
            "context_size": composition.prompt_tokens,
            "memory": {"summary": conversation.summary, "messages_in_window": len(history)},
            "tool_calls": composition.effects.calls,
            "cost_usd": total_cost(calls),
            "latency_ms": int((time.perf_counter() - started) * 1000),
            "tier": composition.tier,
            "cached": composition.cached,
            "handoff": composition.effects.handoff is not None,
        }
