"""The /chat API: talk to an agent without WhatsApp, with the same brain, tools and memory."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, replace

from shared import log
from shared.domain.api_keys import key_matches, split_key
from shared.domain.errors import Forbidden, InvalidPayload, NotFound, Unauthorized, UnknownTenant
from shared.domain.conversation import Conversation, InboundDisposition, Role, StoredMessage
from shared.domain.events import Contact, lead_created
from shared.domain.ids import contact_id, conversation_id, inbound_message_id, reply_message_id
from shared.domain.inbound import Provider
from shared.domain.phone import to_e164
from shared.domain.scheduling import known_zone
from shared.domain.tenancy import AgentConfig
from shared.domain.usage import total_cost
from shared.ports import ApiKeyStore, ChannelDirectory, TurnRequest
from shared.services.agent_turn import Composition, TurnDeps, _maintain_memory, _record_calls, compose_reply
from shared.services.lead_events import turn_events
from shared.services.tools import BookingChange, TurnScope

logger = logging.getLogger(__name__)
API_CHANNEL = "api:chat"


@dataclass(frozen=True)
class ChatMessage:
    tenant_id: str
    user_id: str
    message: str
    agent_id: str = "default"
    message_id: str | None = None  # a client's retry with the same id is answered from memory, not re-run
    # The lead's contact and clock, when the caller knows them (E.164, IANA; checked here and by the entry point).
    # Kept on the conversation: a later request without them still books in that zone and alerts with that phone.
    phone: str | None = None
    time_zone: str | None = None

    def __post_init__(self) -> None:
        """Stored and shown in one form: E.164 and the IANA name (a caller other than chat_api is checked too)."""
        if self.phone is not None:
            try:
                object.__setattr__(self, "phone", to_e164(self.phone))
            except ValueError as err:
                raise InvalidPayload(f"phone: {err}") from None
        if self.time_zone is not None:
            if known_zone(self.time_zone) is None:
                raise InvalidPayload("time_zone: not an IANA zone name (America/Manaus)")
            object.__setattr__(self, "time_zone", known_zone(self.time_zone))


def authorize(tenant_id: str, agent_id: str, api_key: str | None, directory: ChannelDirectory,
              keys: ApiKeyStore) -> None:
    """A caller reaches only the tenant its key was issued for. Reads only: nothing is written for a refused call."""
    if not api_key:
        raise Unauthorized("missing X-Piloto-Api-Key header (a key issued for this tenant)")
    key_id, secret = split_key(api_key)
    tenant = directory.get_tenant(tenant_id)
    if tenant is None:
        raise UnknownTenant(f"no tenant {tenant_id!r}")
    entry = keys.get_api_key(tenant_id, key_id)
    if entry is None or entry.get("revoked_at") is not None or not key_matches(secret, entry.get("secret_hash", "")):
        raise Forbidden("this API key is not valid for this tenant (unknown, revoked or another tenant's)")
    if not tenant.active:
        raise Forbidden(f"tenant {tenant_id!r} is inactive")
    if directory.find_agent(tenant_id, agent_id) is None:
        raise NotFound(f"tenant {tenant_id!r} has no agent {agent_id!r}")


def chat_as_tenant(request: ChatMessage, api_key: str | None, deps: TurnDeps, keys: ApiKeyStore) -> dict:
    """The /chat API's use case: authorize the caller for the tenant, then talk to its agent."""
    authorize(request.tenant_id, request.agent_id, api_key, deps.directory, keys)
    return chat(request, deps)


def _announce(deps: TurnDeps, agent: AgentConfig, scope: TurnScope, user_id: str, composition: Composition,
              change: BookingChange) -> None:
    """A meeting booked, moved or cancelled on the website chat: the calendar's seller hears of it on WhatsApp,
    from a channel of the tenant that serves this agent. Never fails the chat reply."""
    from shared.services.meeting_alerts import BookedBy, alert_channel, announce_booking

    contact = f"telefone {scope.given_phone}" if scope.given_phone else f"sem telefone; usuário {user_id} do chat"
    try:
        lead = composition.effects.lead or deps.leads.get_lead(scope.tenant_id, scope.contact_id)
        by = BookedBy(scope.tenant_id, scope.conversation_id, API_CHANNEL, lead.name if lead else None, contact,
                      website_chat=True)
        announce_booking(deps, alert_channel(deps, scope.tenant_id, scope.agent_id), agent, by, change)
    except Exception as err:  # noqa: BLE001 - the lead's booking and reply stand; the seller desk is best effort
        log.log(logger, logging.ERROR, "could not alert the seller of a chat booking", error=str(err)[:300],
                action=change.action)


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
        if request.phone:
            conversation.chat_phone = request.phone
        if request.time_zone:
            conversation.chat_time_zone = request.time_zone
        if deps.emit_event is not None and request.phone and not (stored and stored.chat_phone):
            # A website lead becomes a CRM lead once the caller gives their phone (the CRM matches contacts by
            # phone; without one there is nobody to sync). The event id is the conversation's: recorded once.
            deps.emit_event(lead_created(
                tenant_id=request.tenant_id, conversation_id=conv_id, channel_key=API_CHANNEL,
                contact=Contact(phone=request.phone), agent_id=request.agent_id, occurred_at=deps.clock(),
                first_message=request.message))
        store.save_conversation(conversation)
        conversation.summary = stored.summary if stored else None
        given_phone = request.phone or (stored.chat_phone if stored else None)
        given_zone = request.time_zone or (stored.chat_time_zone if stored else None)
        store.claim_reply(request.tenant_id, conv_id, reply_id, message_id, deps.clock(), deps.lease_seconds)

        scope = TurnScope(tenant_id=request.tenant_id, conversation_id=conv_id, contact_id=contact_id(contact),
                          contact_phone=contact, agent_id=request.agent_id, turn_id=reply_id,
                          given_phone=given_phone, client_time_zone=given_zone)
        composition = compose_reply(scope, agent, conversation, history, deps)
        turn = TurnRequest(request.tenant_id, conv_id, message_id, API_CHANNEL, contact)
        _record_calls(turn, deps, request.agent_id, composition.calls)
        if deps.emit_event is not None and given_phone:
            # The same events a WhatsApp turn emits (qualification, stage, meetings), for the phone the caller gave.
            for event in turn_events(composition.effects, replace(scope, contact_phone=given_phone), API_CHANNEL,
                                     None, deps.clock(), agent.calendar):
                deps.emit_event(event)
        store.save_generated_reply(request.tenant_id, conv_id, reply_id, composition.text,
                                   composition.calls[-1] if composition.calls else None,
                                   composition.effects.calls, composition.tier)
        for change in composition.effects.bookings:
            _announce(deps, agent, scope, request.user_id, composition, change)
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
