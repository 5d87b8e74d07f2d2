"""One agent turn: read the conversation, ask the model once, send one reply. Safe under redelivery."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from shared import log
from shared.domain.conversation import Conversation, OutboundState, Role
from shared.domain.errors import ProviderRejected, TransientError, WaitingForMedia
from shared.domain.ids import reply_message_id
from shared.domain.inbound import Provider
from shared.domain.media import media_blocking_turn
from shared.domain.phone import mask_phone
from shared.domain.prompt import build_prompt
from shared.ports import ChannelDirectory, ConversationStore, LanguageModel, MessageSender, TurnRequest, UsageLedger

logger = logging.getLogger(__name__)


class TurnResult(StrEnum):
    REPLIED = "replied"
    RESENT = "resent"  # the reply was written on an earlier delivery; only the send was repeated
    SUPERSEDED = "superseded"  # a newer message of the same burst owns the turn
    ALREADY_SENT = "already_sent"
    BOT_PAUSED = "bot_paused"
    REJECTED = "rejected"
    NO_CHANNEL = "no_channel"


@dataclass
class TurnDeps:
    directory: ChannelDirectory
    store: ConversationStore
    model: LanguageModel
    sender_for: Callable[[Provider], MessageSender]
    ledger: UsageLedger
    lease_seconds: int = 120
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    media_wait_seconds: float = 60.0


@dataclass
class TurnOutcome:
    result: TurnResult
    reply_id: str | None = None
    text: str | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def run_agent_turn(turn: TurnRequest, deps: TurnDeps) -> TurnOutcome:
    """Raises TransientError (model, provider, storage) so Cloud Tasks retries; everything else is final."""
    store = deps.store
    with log.bound(tenant_id=turn.tenant_id, conversation_id=turn.conversation_id):
        provider, _, channel_id = turn.channel_key.partition(":")
        channel = deps.directory.find_channel(provider, channel_id)
        if channel is None:
            log.log(logger, logging.ERROR, "the conversation's channel was removed; not replying")
            return TurnOutcome(TurnResult.NO_CHANNEL)
        agent = deps.directory.get_agent(turn.tenant_id, channel.agent_id)
        history = store.recent_messages(turn.tenant_id, turn.conversation_id, agent.history_limit)

        newest_lead = next((m for m in reversed(history) if m.role == Role.LEAD), None)
        if newest_lead is None or newest_lead.message_id != turn.message_id:
            # Debounce: every message of a burst scheduled a turn; only the newest one's turn answers.
            # The webhook enqueues while it stores, so a message not found at all is not stored *yet*.
            if any(m.message_id == turn.message_id for m in history) or store.message_exists(
                    turn.tenant_id, turn.conversation_id, turn.message_id):
                return TurnOutcome(TurnResult.SUPERSEDED)
            raise TransientError("the turn's message is not stored yet")
        # Never answer over a voice note or file still being read; past the bound the prompt says so instead.
        if waiting := media_blocking_turn(history, deps.clock(), deps.media_wait_seconds):
            raise WaitingForMedia(f"{len(waiting)} file(s) of this burst are still being read")

        stored = store.get_conversation(turn.tenant_id, turn.conversation_id)
        conversation = Conversation(conversation_id=turn.conversation_id, tenant_id=turn.tenant_id,
                                    channel_key=turn.channel_key, agent_id=channel.agent_id,
                                    contact_phone=turn.contact_phone)
        conversation.last_inbound_message_id = newest_lead.message_id
        conversation.last_inbound_at = newest_lead.sent_at
        if newest_lead.contact_name:
            conversation.contact_name = newest_lead.contact_name
        store.save_conversation(conversation)  # the conversation's one write per burst
        if stored is not None and stored.bot_paused:
            log.log(logger, logging.INFO, "a human owns this conversation; the bot stays quiet")
            return TurnOutcome(TurnResult.BOT_PAUSED)
        if conversation.contact_name is None and stored is not None:
            conversation.contact_name = stored.contact_name

        reply_id = reply_message_id(turn.message_id)
        claim = store.claim_reply(turn.tenant_id, turn.conversation_id, reply_id, turn.message_id,
                                  deps.clock(), deps.lease_seconds)
        if claim.state not in (OutboundState.GENERATING, OutboundState.SENDING):
            return TurnOutcome(TurnResult.ALREADY_SENT, reply_id)

        if claim.fresh:
            try:
                generation = deps.model.generate(build_prompt(agent, conversation, history))
            except Exception:
                store.release_reply(turn.tenant_id, turn.conversation_id, reply_id)
                raise
            text, call = generation.text.strip()[: agent.max_reply_chars], generation.call
            deps.ledger.record_model_call(turn.tenant_id, channel.agent_id, turn.conversation_id, call)
            store.save_generated_reply(turn.tenant_id, turn.conversation_id, reply_id, text, call)
            log.log(logger, logging.INFO, "model call", model=call.model, backend=call.backend,
                    prompt_tokens=call.usage.prompt_tokens, output_tokens=call.usage.output_tokens,
                    thoughts_tokens=call.usage.thoughts_tokens, latency_ms=call.latency_ms, cost_usd=call.cost_usd,
                    agent_id=channel.agent_id, purpose=call.purpose)
            result = TurnResult.REPLIED
        else:
            text, result = claim.text or "", TurnResult.RESENT

        try:
            provider_message_id = deps.sender_for(channel.provider).send_text(channel, turn.contact_phone, text)
        except ProviderRejected as err:
            store.mark_reply_rejected(turn.tenant_id, turn.conversation_id, reply_id, str(err))
            log.log(logger, logging.ERROR, "provider rejected the reply for good", provider=err.provider,
                    status=err.status)
            return TurnOutcome(TurnResult.REJECTED, reply_id, text)
        store.mark_reply_sent(turn.tenant_id, turn.conversation_id, reply_id, channel.provider.value,
                              provider_message_id, turn.message_id, deps.clock())
        log.log(logger, logging.INFO, "reply sent", reply_id=reply_id, contact=mask_phone(turn.contact_phone),
                provider=channel.provider.value)
        return TurnOutcome(result, reply_id, text)
