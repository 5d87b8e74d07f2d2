"""One agent turn: read the conversation, think (tools, routing, fallback), then reply to the lead (pilot)
or draft a suggestion for the seller (copilot). Safe under redelivery."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from shared import log
from shared.domain.contact_rhythm import best_time
from shared.domain.conversation import Conversation, OutboundState, Role, StoredMessage, awaits_reply
from shared.domain.copilot import SUGGESTION_SCHEMA, Suggestion
from shared.domain.errors import InvalidConfiguration, ProviderRejected, TransientError, WaitingForMedia
from shared.domain.events import Contact, DomainEvent, lead_created
from shared.domain.followup import opt_out_choice, opt_out_keyword
from shared.domain.ids import contact_id, reply_message_id
from shared.domain.inbound import MessageKind, Provider
from shared.domain.lgpd import ERASURE_ACKNOWLEDGEMENT, ERASURE_HANDOFF_REASON, is_data_rights_request
from shared.domain.media import media_blocking_turn
from shared.domain.answer_cache import lead_specific_terms, why_not_cacheable
from shared.domain.lead import LeadProfile
from shared.domain.memory import needs_summary, split_for_summary, transcript
from shared.domain.phone import mask_phone
from shared.domain.prompt import build_prompt, render_message
from shared.domain.routing import Tier, answer_key, choose_tier, is_faq
from shared.domain.scheduling import CalendarConfig
from shared.domain.seller_desk import RefKind, draft_message, handoff_alert
from shared.domain.tenancy import AgentConfig, Channel, sends_allowed
from shared.domain.usage import ModelCall
from shared.ports import (
    AnswerCache,
    ChannelDirectory,
    ChatTurn,
    ConversationStore,
    LanguageModel,
    MediaDownloader,
    MessageSender,
    Prompt,
    SellerStore,
    ToolCall,
    TurnRequest,
    UsageLedger,
)
from shared.services.brain import AllModelsFailed, AttemptPolicy, Deadline, generate_routed, think
from shared.services.lead_events import summary_event, turn_events
from shared.services.scheduling import MeetingScheduler
from shared.services.tools import (
    BookingChange,
    KnowledgeSearch,
    LearnAnswer,
    LeadStore,
    ToolBox,
    ToolEffects,
    TurnScope,
    qualification_summary,
)
from shared.services.voice_reply import ReplyTarget, VoiceDeps, send_reply

logger = logging.getLogger(__name__)


class TurnResult(StrEnum):
    REPLIED = "replied"
    RESENT = "resent"  # the reply was written on an earlier delivery; only the send was repeated
    SUGGESTED = "suggested"  # copilot: a draft for the seller, nothing sent to the lead
    SUPERSEDED = "superseded"  # a newer message of the same burst owns the turn
    ALREADY_SENT = "already_sent"
    BOT_PAUSED = "bot_paused"
    REJECTED = "rejected"
    NO_CHANNEL = "no_channel"
    INACTIVE = "inactive"  # the tenant or channel is switched off: the message is stored, nothing is sent
    MISCONFIGURED = "misconfigured"  # a configuration document is invalid: failed, handed to a human, no retry
    OPTED_OUT = "opted_out"  # the lead asked to stop follow-ups: confirmed, nothing else
    UNCERTAIN = "uncertain"  # the send attempts ran out without a confirmed answer: not sent again, seller told


@dataclass
class TurnDeps:
    directory: ChannelDirectory
    store: ConversationStore
    model: LanguageModel
    sender_for: Callable[[Provider], MessageSender]
    ledger: UsageLedger
    leads: LeadStore
    tiers: dict[str, str]
    knowledge: KnowledgeSearch | None = None
    learn: LearnAnswer | None = None
    answers: AnswerCache | None = None
    lease_seconds: int = 120
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    emit_event: Callable[[DomainEvent], Any] | None = None  # domain events (issue 7); None emits nothing
    media_wait_seconds: float = 60.0
    max_send_attempts: int = 3  # provider calls per reply; each is recorded before it is made
    # Follow-up cadence (issue 6): called with (tenant, conversation, answered message id, sent at) after a reply
    after_reply: Callable[[str, str, str, datetime], Any] | None = None
    # Meetings on the sellers' calendars (issue 19): a scheduler for an agent's calendar; None keeps
    # request-and-confirm for every agent
    scheduler_for: Callable[[CalendarConfig], MeetingScheduler] | None = None
    # Called after a booking change: (tenant, conversation, change, the agent's calendar) → the lead's reminder
    after_booking: Callable[[str, str, BookingChange, CalendarConfig], Any] | None = None
    # The turn's deadline: the function's timeout (TURN_DEADLINE_SECONDS) minus what the holding message, the
    # seller's alert and the writes after the model need (reserve). None: no deadline (tests, local tools).
    deadline_seconds: float | None = None
    deadline_reserve_seconds: float = 25.0
    attempts: AttemptPolicy = field(default_factory=AttemptPolicy)
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    # The seller's desk (issue 14): references on alerts/drafts, seller windows, held alerts, style examples
    sellers: SellerStore | None = None
    download_media: Callable[[Provider], MediaDownloader] | None = None  # a seller's file relayed to a lead
    # Voice replies (issue 18): None sends every reply as text
    voice: VoiceDeps | None = None

    def start_deadline(self) -> Deadline:
        """Taken when the turn starts: model attempts stop in time for the reply to go out."""
        if self.deadline_seconds is None:
            return Deadline(float("inf"), self.monotonic, self.sleep)
        return Deadline.after(self.deadline_seconds - self.deadline_reserve_seconds, self.monotonic, self.sleep)


@dataclass
class TurnOutcome:
    result: TurnResult
    reply_id: str | None = None
    text: str | None = None
    tier: str | None = None
    tool_calls: list[dict] = field(default_factory=list)
    handoff: bool = False
    cached: bool = False

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v not in (None, [], False)}


def run_agent_turn(turn: TurnRequest, deps: TurnDeps) -> TurnOutcome:
    """Raises TransientError (storage, provider) so Cloud Tasks retries; everything else is final."""
    store = deps.store
    deadline = deps.start_deadline()
    with log.bound(tenant_id=turn.tenant_id, conversation_id=turn.conversation_id):
        provider, _, channel_id = turn.channel_key.partition(":")
        try:
            channel = deps.directory.find_channel(provider, channel_id)
        except InvalidConfiguration as err:
            return _misconfigured(turn, deps, None, err)
        if channel is None or channel.tenant_id != turn.tenant_id:
            log.log(logger, logging.ERROR, "the conversation's channel was removed; not replying")
            return TurnOutcome(TurnResult.NO_CHANNEL)
        try:
            if not sends_allowed(deps.directory.get_tenant(turn.tenant_id), channel):
                log.log(logger, logging.INFO, "tenant or channel inactive: message kept, nothing sent")
                return TurnOutcome(TurnResult.INACTIVE)
            agent = deps.directory.get_agent(turn.tenant_id, channel.agent_id)
        except InvalidConfiguration as err:
            return _misconfigured(turn, deps, channel, err)
        stored = store.get_conversation(turn.tenant_id, turn.conversation_id)
        history = store.recent_messages(turn.tenant_id, turn.conversation_id, agent.history_limit,
                                        after=stored.summary_through if stored else None)

        newest_lead = next((m for m in reversed(history) if awaits_reply(m)), None)
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

        conversation = Conversation(conversation_id=turn.conversation_id, tenant_id=turn.tenant_id,
                                    channel_key=turn.channel_key, agent_id=channel.agent_id,
                                    contact_phone=turn.contact_phone)
        conversation.last_inbound_message_id = newest_lead.message_id
        conversation.last_inbound_at = newest_lead.sent_at
        if newest_lead.contact_name:
            conversation.contact_name = newest_lead.contact_name
        if deps.emit_event is not None and (stored is None or stored.last_inbound_message_id is None):
            # First turn of this conversation: a new lead. Emitted before the conversation write, so a turn
            # that dies in between re-emits on retry (the event id is the conversation's: recorded once).
            first = next(m for m in history if m.role == Role.LEAD)
            deps.emit_event(lead_created(
                tenant_id=turn.tenant_id, conversation_id=turn.conversation_id, channel_key=turn.channel_key,
                contact=Contact(phone=turn.contact_phone, name=conversation.contact_name), agent_id=channel.agent_id,
                occurred_at=first.sent_at, first_message=first.text))
        if stored is not None and stored.bot_paused and _release_due(stored, history, agent, deps.clock()):
            conversation.bot_paused = False  # idle handoff: the conversation comes back to the bot
            stored.bot_paused = False
        store.save_conversation(conversation)  # the conversation's one write per burst
        paused_by_this_turn = stored is not None and stored.handoff_turn == turn.message_id
        if stored is not None and stored.bot_paused and agent.mode == "pilot" and not paused_by_this_turn:
            log.log(logger, logging.INFO, "a human owns this conversation; the bot stays quiet")
            return TurnOutcome(TurnResult.BOT_PAUSED)
        if stored is not None:
            conversation.contact_name = conversation.contact_name or stored.contact_name
            conversation.summary = stored.summary

        reply_id = reply_message_id(turn.message_id)
        claim = store.claim_reply(turn.tenant_id, turn.conversation_id, reply_id, turn.message_id,
                                  deps.clock(), deps.lease_seconds)
        if claim.state not in (OutboundState.GENERATING, OutboundState.SENDING):
            return TurnOutcome(TurnResult.ALREADY_SENT, reply_id)
        if not claim.fresh:
            return _send(turn, deps, channel, reply_id, claim.text or "", TurnOutcome(TurnResult.RESENT, reply_id))

        if is_data_rights_request(_burst_text(history)):
            return _data_rights_request(turn, deps, channel, agent, conversation, history, reply_id)
        if agent.mode == "pilot" and (keyword := _opt_out_asked(newest_lead, history, agent)):
            return _opt_out(turn, deps, channel, agent, conversation, reply_id, keyword)
        try:
            if agent.mode == "copilot":
                outcome = _suggest(turn, deps, channel, agent, conversation, history, reply_id, deadline)
            else:
                outcome = _reply(turn, deps, channel, agent, conversation, history, reply_id, deadline)
        except Exception:
            store.release_reply(turn.tenant_id, turn.conversation_id, reply_id)
            raise
        _maintain_memory(turn, deps, agent, conversation, history, deadline)
        return outcome


def _misconfigured(turn: TurnRequest, deps: TurnDeps, channel: Channel | None,
                   err: InvalidConfiguration) -> TurnOutcome:
    """A configuration document is invalid: retrying cannot help, so the turn is recorded as failed with the reason,
    the conversation goes to a human and the seller is told once per problem. Cloud Tasks gets 200: no loop."""
    reason = f"configuração inválida — {err}"
    log.log(logger, logging.ERROR, "invalid configuration document; turn failed, conversation handed to a human",
            path=err.path, problems=err.problems)
    deps.store.record_failed_turn(turn.tenant_id, turn.conversation_id, reply_message_id(turn.message_id),
                                  turn.message_id, reason)
    pause = Conversation(conversation_id=turn.conversation_id, tenant_id=turn.tenant_id,
                         channel_key=turn.channel_key, agent_id=channel.agent_id if channel else "default",
                         contact_phone=turn.contact_phone)
    pause.bot_paused = True
    pause.paused_at = deps.clock()
    pause.handoff_reason = reason[:500]
    deps.store.save_conversation(pause)
    seller = err.alert_phone
    if seller is None and channel is not None:
        try:  # an invalid tenant document: the agent's first seller, if its document is valid
            sellers = deps.directory.get_agent(turn.tenant_id, channel.agent_id).all_sellers()
            seller = sellers[0].phone if sellers else None
        except InvalidConfiguration:
            seller = None
    if channel is not None and channel.active and seller \
            and deps.store.first_config_alert(turn.tenant_id, err.path, err.problems):
        _notify_seller(deps, channel, seller,
                       f"⚠️ Piloto: a configuração {err.path} é inválida e o agente parou de responder.\n"
                       f"{'; '.join(err.problems)}\nAs conversas ficam com você até a correção.")
    return TurnOutcome(TurnResult.MISCONFIGURED)


def _release_due(stored: Conversation, history: list[StoredMessage], agent: AgentConfig, now: datetime) -> bool:
    """A handoff ends after handoff_release_minutes in which no human wrote."""
    if not agent.handoff_release_minutes or stored.paused_at is None or stored.paused_by_seller:
        return False
    humans = [m.stored_at or m.sent_at for m in history if m.role == Role.HUMAN]
    last_human = max([stored.paused_at, *humans])
    return now - last_human >= timedelta(minutes=agent.handoff_release_minutes)


def _opt_out_asked(newest_lead: StoredMessage, history: list[StoredMessage], agent: AgentConfig) -> str | None:
    """A tapped opt-out button (a marketing template's "Parar"/"Unsubscribe") always opts out; a typed keyword only
    when the agent runs a cadence (typed words are too easily a sales conversation otherwise)."""
    if newest_lead.kind in (MessageKind.BUTTON, MessageKind.INTERACTIVE) and (
            keyword := opt_out_choice(newest_lead.text, newest_lead.choice_id, agent.followup)):
        return keyword
    return opt_out_keyword(_burst_text(history), agent.followup) if agent.followup.enabled else None


def _burst_text(history: list[StoredMessage]) -> str:
    """The lead's messages since our last reply, as words: what routing judges. A voice note counts by its
    transcript (a file by its text); one that could not be read counts as a file, never as silence."""
    burst: list[str] = []
    for message in reversed(history):
        if message.role != Role.LEAD:
            break
        words = " ".join(part for part in (message.text, message.media_text) if part)
        if not words and message.kind not in (MessageKind.TEXT, MessageKind.STICKER, MessageKind.REACTION):
            words = f"[{message.kind.value}]"
        burst.append(words)
    return "\n".join(reversed(burst))


def _record_calls(turn: TurnRequest, deps: TurnDeps, agent_id: str, calls: list[ModelCall]) -> None:
    for call in calls:
        deps.ledger.record_model_call(turn.tenant_id, agent_id, turn.conversation_id, call)
        log.log(logger, logging.INFO, "model call", model=call.model, backend=call.backend, purpose=call.purpose,
                tier=call.tier, outcome=call.outcome.value, error_code=call.error_code,
                prompt_tokens=call.usage.prompt_tokens, output_tokens=call.usage.output_tokens,
                thoughts_tokens=call.usage.thoughts_tokens, latency_ms=call.latency_ms, cost_usd=call.cost_usd,
                agent_id=agent_id)


@dataclass
class Composition:
    """A reply written for a lead, with everything that went into it."""

    text: str
    tier: str
    calls: list[ModelCall]
    effects: ToolEffects
    cached: bool = False
    prompt_tokens: int = 0


def compose_reply(scope: TurnScope, agent: AgentConfig, conversation: Conversation, history: list[StoredMessage],
                  deps: TurnDeps, deadline: Deadline | None = None) -> Composition:
    """Think one reply: answer cache for FAQs, else tools + routing + fallback. Shared by WhatsApp and /chat."""
    scheduler = (deps.scheduler_for(agent.calendar)
                 if agent.calendar is not None and deps.scheduler_for is not None else None)
    toolbox = ToolBox(scope, deps.leads, deps.knowledge, deps.clock, scheduler=scheduler,
                      summary=conversation.summary or None, contact_name=conversation.contact_name)
    burst = _burst_text(history)
    cache_key = None
    if deps.answers is not None and agent.answer_cache_hours and "\n" not in burst and is_faq(burst):
        # The versions are read before thinking: an answer made while the knowledge changes is filed under the
        # old version, where nobody will look for it again.
        version = f"{agent.knowledge_version}:{deps.answers.content_version(scope.tenant_id)}"
        cache_key = answer_key(scope.agent_id, version, burst)
        if cached := deps.answers.get(scope.tenant_id, cache_key, deps.clock()):
            log.log(logger, logging.INFO, "answer served from the cache; no model call")
            return Composition(text=cached, tier="cache", calls=[], effects=toolbox.effects, cached=True)

    lead = deps.leads.get_lead(scope.tenant_id, scope.contact_id)
    offered = tuple(spec.name for spec in toolbox.specs) if agent.max_tool_steps else ()
    prompt = build_prompt(agent, conversation, history, [qualification_summary(lead)], now=deps.clock(),
                          tools=offered)
    tier = choose_tier(burst, lead.stage.value if lead else None)
    reply = think(deps.model, prompt, toolbox if agent.max_tool_steps else None, tier, deps.tiers,
                  agent.holding_message, agent.max_tool_steps, deadline or deps.start_deadline(), deps.attempts)
    text = reply.text[: agent.max_reply_chars]
    if cache_key:
        effects = toolbox.effects
        reason = why_not_cacheable(
            held=reply.held, handoff=effects.handoff is not None, tool_calls=effects.calls,
            lead_changed=bool(effects.lead_changes or effects.meetings or effects.bookings), reply=text,
            lead_terms=lead_specific_terms(_lead_material(scope, conversation, lead, history), burst,
                                           _business_text(agent)))
        if reason is None:
            deps.answers.put(scope.tenant_id, cache_key, burst, text,
                             deps.clock() + timedelta(hours=agent.answer_cache_hours),
                             conversation_id=scope.conversation_id)
        else:
            log.log(logger, logging.INFO, "answer not cached", reason=reason)
    return Composition(text=text, tier=reply.tier.value, calls=reply.calls, effects=toolbox.effects,
                       prompt_tokens=reply.calls[0].usage.prompt_tokens if reply.calls else 0)


def _lead_material(scope: TurnScope, conversation: Conversation, lead: LeadProfile | None,
                   history: list[StoredMessage]) -> list[str]:
    """Everything this lead told us: contact fields, profile, earlier messages and files (not the question)."""
    profile = [str(v) for k, v in (lead.model_dump() if lead else {}).items() if k not in ("stage",) and v]
    earlier = [render_message(m) for m in history[:-1] if m.role == Role.LEAD]
    return [scope.contact_phone, conversation.contact_name or "", conversation.summary or "", *profile, *earlier]


def _business_text(agent: AgentConfig) -> str:
    return " ".join([agent.display_name, agent.business_name, agent.business_description, agent.persona])


def _reply(turn: TurnRequest, deps: TurnDeps, channel: Channel, agent: AgentConfig, conversation: Conversation,
           history: list[StoredMessage], reply_id: str, deadline: Deadline) -> TurnOutcome:
    scope = TurnScope(tenant_id=turn.tenant_id, conversation_id=turn.conversation_id,
                      contact_id=contact_id(turn.contact_phone), contact_phone=turn.contact_phone,
                      agent_id=channel.agent_id, turn_id=reply_id)
    composition = compose_reply(scope, agent, conversation, history, deps, deadline)
    _record_calls(turn, deps, channel.agent_id, composition.calls)
    effects = composition.effects
    if deps.emit_event is not None:
        # Before the reply is saved: if emitting fails the turn is retried whole and re-emits the same ids.
        for event in turn_events(effects, scope, turn.channel_key, conversation.contact_name, deps.clock(),
                                 agent.calendar):
            deps.emit_event(event)
    deps.store.save_generated_reply(turn.tenant_id, turn.conversation_id, reply_id, composition.text,
                                    composition.calls[-1] if composition.calls else None, effects.calls,
                                    composition.tier)
    if effects.handoff is not None:
        _hand_off(turn, deps, channel, agent, conversation, effects.handoff.reason,
                  effects.handoff.question or _burst_text(history))
    outcome = TurnOutcome(TurnResult.REPLIED, reply_id, tier=composition.tier, tool_calls=effects.calls,
                          handoff=effects.handoff is not None, cached=composition.cached)
    # Before the send: a send that fails is retried as a resend only (the turn is not composed again), so
    # the seller's alert and the lead's reminder would otherwise be lost with it.
    for change in effects.bookings:
        _after_booking(turn, deps, channel, agent, conversation, change)
    return _send(turn, deps, channel, reply_id, composition.text, outcome,
                 spoken_by=(agent, _lead_sent_voice(history)))


def _lead_sent_voice(history: list[StoredMessage]) -> bool:
    """The lead's newest message was a voice note (what `voice.replies: mirror` answers by voice)."""
    newest = next((m for m in reversed(history) if m.role == Role.LEAD), None)
    return newest is not None and newest.kind == MessageKind.AUDIO


def _after_booking(turn: TurnRequest, deps: TurnDeps, channel: Channel, agent: AgentConfig,
                   conversation: Conversation, change: BookingChange) -> None:
    """The calendar's seller told on WhatsApp from the conversation's own channel; the lead's reminder scheduled."""
    from shared.services.meeting_alerts import BookedBy, announce_booking

    announce_booking(deps, channel, agent, BookedBy(turn.tenant_id, turn.conversation_id, turn.channel_key,
                                                    conversation.contact_name, turn.contact_phone), change)


def _hand_off(turn: TurnRequest, deps: TurnDeps, channel: Channel, agent: AgentConfig, conversation: Conversation,
              reason: str, question: str, learn: bool = True) -> None:
    """Pause the bot on this conversation and tell the seller. The turn's own reply still goes out.
    learn=False: the seller's answer is not an answer to learn (an LGPD request is not a product question)."""
    pause = Conversation(conversation_id=turn.conversation_id, tenant_id=turn.tenant_id,
                         channel_key=turn.channel_key, agent_id=channel.agent_id, contact_phone=turn.contact_phone)
    pause.bot_paused = True
    pause.paused_at = deps.clock()
    pause.handoff_reason = reason
    pause.handoff_question = question if learn else None
    pause.handoff_turn = turn.message_id
    deps.store.save_conversation(pause)
    log.log(logger, logging.WARNING, "handoff to a human", reason=reason)
    if agent.all_sellers():
        from shared.services.seller_desk import make_ref, notify_sellers

        who = conversation.contact_name or "Um lead"
        code = make_ref(deps, turn.tenant_id, RefKind.ALERT, f"{turn.conversation_id}:{turn.message_id}", {
            "conversation_id": turn.conversation_id, "channel_key": turn.channel_key, "agent_id": channel.agent_id})
        notify_sellers(deps, channel, agent, code, handoff_alert(f"{who} ({turn.contact_phone})", code, reason,
                                                                 question), who, alert_id=code)


def _notify_seller(deps: TurnDeps, channel: Channel, seller_phone: str, text: str) -> None:
    """Best effort: the lead's conversation must not fail because the seller's alert did."""
    try:
        deps.sender_for(channel.provider).send_text(channel, seller_phone, text)
    except Exception as err:  # noqa: BLE001 - logged; the alert is also visible on the conversation
        log.log(logger, logging.ERROR, "could not notify the seller", error=str(err),
                seller=mask_phone(seller_phone))


def _suggest(turn: TurnRequest, deps: TurnDeps, channel: Channel, agent: AgentConfig, conversation: Conversation,
             history: list[StoredMessage], reply_id: str, deadline: Deadline) -> TurnOutcome:
    """Copilot: a draft and hints for the seller, stored on the conversation; nothing reaches the lead.

    The best time to re-contact is computed from the lead's own timestamps (never invented by the model), and the
    drafts sellers accepted or edited are shown to the model as examples of their style."""
    rhythm = best_time([(m.role.value, m.sent_at) for m in history], agent.followup.time_zone)
    examples = deps.sellers.style_examples(turn.tenant_id, channel.agent_id) if deps.sellers is not None else []
    base = build_prompt(agent, conversation, history, now=deps.clock())
    style = "".join(f"\n- {e.get('sent_text', '')[:300]}" for e in examples[:3] if e.get("sent_text"))
    system = (base.system + "\nYou assist a human seller: do not answer the lead. Draft the reply the seller could "
              "send and describe the lead for them, as JSON. The summary is at most two short lines."
              f"\nBest time to re-contact, computed from the lead's own messages: {rhythm.suggestion}"
              f"{f' ({rhythm.evidence})' if rhythm.evidence else ''}. Put it in best_time_to_recontact in your words; "
              "never change the hours or days.")
    if style:
        system += f"\nMessages the sellers of this business actually sent (write drafts in this style):{style}"
    if facts := _grounding(turn, deps, channel, _burst_text(history)):
        system += ("\nWhat the business's knowledge base and catalogue say about the lead's messages (use only "
                   f"these for prices, products and policies; if they do not answer, say the seller will check):\n"
                   f"{facts}")
    prompt = Prompt(system=system, turns=base.turns, max_output_tokens=800, json_schema=SUGGESTION_SCHEMA,
                    purpose="suggestion")
    calls: list[ModelCall] = []
    tier = choose_tier(_burst_text(history))
    try:
        generation, used = generate_routed(deps.model, prompt, tier, deps.tiers, calls, deadline, deps.attempts)
        suggestion = _parse_suggestion(generation.text)
    except AllModelsFailed:
        used, suggestion = tier, Suggestion(draft_reply="", summary="the model could not draft a suggestion")
    # The computed value is what is stored and shown, whatever the model wrote.
    suggestion.best_time_to_recontact = rhythm.suggestion
    suggestion.best_time_evidence = rhythm.evidence
    _record_calls(turn, deps, channel.agent_id, calls)
    deps.store.save_suggestion(turn.tenant_id, turn.conversation_id, reply_id,
                               {**suggestion.model_dump(), "in_reply_to": turn.message_id, "tier": used.value,
                                "model_call": calls[-1].model_dump(mode="python") if calls else None})
    if agent.all_sellers() and agent.send_suggestions_to_seller and suggestion.draft_reply:
        from shared.services.seller_desk import make_ref, notify_sellers

        who = conversation.contact_name or turn.contact_phone
        code = make_ref(deps, turn.tenant_id, RefKind.DRAFT, f"{turn.conversation_id}:{reply_id}", {
            "conversation_id": turn.conversation_id, "channel_key": turn.channel_key, "agent_id": channel.agent_id,
            "suggestion_id": reply_id})
        notify_sellers(deps, channel, agent, code, draft_message(who, code, suggestion.draft_reply,
                                                                 suggestion.seller_lines()), who, alert_id=code)
    return TurnOutcome(TurnResult.SUGGESTED, reply_id, suggestion.draft_reply, tier=used.value)


def _data_rights_request(turn: TurnRequest, deps: TurnDeps, channel: Channel, agent: AgentConfig,
                         conversation: Conversation, history: list[StoredMessage], reply_id: str) -> TurnOutcome:
    """LGPD: a lead asking to erase (or see) their data goes to a human with the reason, without a model call.
    Pilot acknowledges to the lead; copilot drafts the same acknowledgement for the seller."""
    burst = _burst_text(history)
    _hand_off(turn, deps, channel, agent, conversation, ERASURE_HANDOFF_REASON, burst, learn=False)
    if agent.mode == "copilot":
        deps.store.save_suggestion(turn.tenant_id, turn.conversation_id, reply_id, {
            **Suggestion(draft_reply=ERASURE_ACKNOWLEDGEMENT, summary=ERASURE_HANDOFF_REASON).model_dump(),
            "in_reply_to": turn.message_id, "tier": "data_rights", "model_call": None})
        return TurnOutcome(TurnResult.SUGGESTED, reply_id, ERASURE_ACKNOWLEDGEMENT, tier="data_rights", handoff=True)
    deps.store.save_generated_reply(turn.tenant_id, turn.conversation_id, reply_id, ERASURE_ACKNOWLEDGEMENT, None,
                                    [], "data_rights")
    return _send(turn, deps, channel, reply_id, ERASURE_ACKNOWLEDGEMENT,
                 TurnOutcome(TurnResult.REPLIED, reply_id, tier="data_rights", handoff=True))


def _grounding(turn: TurnRequest, deps: TurnDeps, channel: Channel, burst: str) -> str:
    """The read-only tools (knowledge, catalogue) run on the lead's latest messages, so a draft quotes the
    business's own facts. No model call: the lead's words are the query."""
    if not burst.strip():
        return ""
    scope = TurnScope(tenant_id=turn.tenant_id, conversation_id=turn.conversation_id,
                      contact_id=contact_id(turn.contact_phone), contact_phone=turn.contact_phone,
                      agent_id=channel.agent_id, turn_id=f"suggestion:{turn.message_id}")
    toolbox = ToolBox(scope, deps.leads, deps.knowledge, deps.clock)
    found = []
    for name, args in (("search_knowledge", {"question": burst[:500]}), ("lookup_catalog", {"query": burst[:200]})):
        if name == "search_knowledge" and deps.knowledge is None:
            continue
        result = toolbox.run(ToolCall(name=name, args=args)).response
        if result.get("found") or result.get("items"):
            found.append(f"{name}: {json.dumps(result, ensure_ascii=False, default=str)[:1500]}")
    return "\n".join(found)


def _parse_suggestion(text: str) -> Suggestion:
    try:
        return Suggestion.model_validate(json.loads(text))
    except ValueError:
        # A model that ignored the schema still produced a usable draft.
        return Suggestion(draft_reply=text.strip()[:1000])


def _send(turn: TurnRequest, deps: TurnDeps, channel: Channel, reply_id: str, text: str,
          outcome: TurnOutcome, spoken_by: tuple[AgentConfig, bool] | None = None) -> TurnOutcome:
    """Send the stored reply, as a voice note when `spoken_by` (the agent, whether the lead sent a voice note)
    and the agent's voice settings allow it. The attempt is recorded before the provider is called, so a send
    whose answer was lost (timeout, crash) counts: none of Meta's, Evolution's or Z-API's send APIs takes an
    idempotency key, so each retry may deliver again. Past max_send_attempts the reply is `uncertain`: never
    sent again, seller told."""
    slot = deps.store.begin_send(turn.tenant_id, turn.conversation_id, reply_id, deps.max_send_attempts)
    if slot.attempt is None:
        if slot.newly_uncertain:
            _report_uncertain(turn, deps, channel, text)
            return TurnOutcome(TurnResult.UNCERTAIN, reply_id, text)
        return TurnOutcome(TurnResult.ALREADY_SENT, reply_id)
    if slot.attempt > 1:
        log.log(logger, logging.WARNING, "resending a reply whose earlier attempt may have reached the provider",
                reply_id=reply_id, attempt=slot.attempt, max_attempts=deps.max_send_attempts)
    sender = deps.sender_for(channel.provider)
    try:
        if spoken_by is None or deps.voice is None:
            provider_message_id = sender.send_text(channel, turn.contact_phone, text)
        else:
            target = ReplyTarget(tenant_id=turn.tenant_id, conversation_id=turn.conversation_id, reply_id=reply_id,
                                 agent_id=channel.agent_id, to_phone=turn.contact_phone, lead_sent_voice=spoken_by[1])
            provider_message_id = send_reply(sender, channel, spoken_by[0], text, target, deps.voice)
    except ProviderRejected as err:
        deps.store.mark_reply_rejected(turn.tenant_id, turn.conversation_id, reply_id, str(err))
        log.log(logger, logging.ERROR, "provider rejected the reply for good", provider=err.provider,
                status=err.status)
        return TurnOutcome(TurnResult.REJECTED, reply_id, text)
    deps.store.mark_reply_sent(turn.tenant_id, turn.conversation_id, reply_id, channel.provider.value,
                               provider_message_id, turn.message_id, deps.clock())
    log.log(logger, logging.INFO, "reply sent", reply_id=reply_id, contact=mask_phone(turn.contact_phone),
            provider=channel.provider.value, tier=outcome.tier)
    if deps.after_reply is not None and outcome.result is not TurnResult.OPTED_OUT:
        deps.after_reply(turn.tenant_id, turn.conversation_id, turn.message_id, deps.clock())
    outcome.text = text
    return outcome


def _report_uncertain(turn: TurnRequest, deps: TurnDeps, channel: Channel, text: str) -> None:
    """Tell the seller (once: only the delivery that marked the reply uncertain gets here) that the lead may or
    may not have received it, so a human checks instead of the bot trying forever."""
    log.log(logger, logging.ERROR, "reply marked uncertain: send attempts ran out without a confirmed answer",
            attempts=deps.max_send_attempts, contact=mask_phone(turn.contact_phone))
    agent = deps.directory.get_agent(turn.tenant_id, channel.agent_id)
    if agent.all_sellers():
        from shared.services.seller_desk import make_ref, notify_sellers

        # Through the seller desk: a reference to the lead (so 'resumo #REF' works) and Meta's 24-hour window.
        code = make_ref(deps, turn.tenant_id, RefKind.LEAD, turn.conversation_id, {
            "conversation_id": turn.conversation_id, "channel_key": turn.channel_key, "agent_id": channel.agent_id})
        notify_sellers(deps, channel, agent, code,
                       f"⚠️ Piloto: não consegui confirmar a entrega da resposta para {turn.contact_phone} depois de "
                       f"{deps.max_send_attempts} tentativas. Confira a conversa (#{code}); não vou reenviar.\n"
                       f"Resposta: {text[:300]}", turn.contact_phone, alert_id=f"uncertain-{turn.message_id[:24]}")


def _opt_out(turn: TurnRequest, deps: TurnDeps, channel: Channel, agent: AgentConfig, conversation: Conversation,
             reply_id: str, keyword: str) -> TurnOutcome:
    """The lead asked to stop: confirm (no model call), stop the cadence, tell the CRM."""
    from shared.services.followup import mark_opted_out, opted_out_event

    if deps.emit_event is not None and (event := opted_out_event(
            turn.tenant_id, turn.conversation_id, turn.channel_key, turn.contact_phone, conversation.contact_name,
            keyword, turn.message_id, deps.clock())) is not None:
        deps.emit_event(event)
    mark_opted_out(deps.store, conversation, deps.clock())
    text = agent.followup.opt_out_confirmation
    deps.store.save_generated_reply(turn.tenant_id, turn.conversation_id, reply_id, text, None, [], "opt_out")
    log.log(logger, logging.INFO, "lead opted out of follow-ups", keyword=keyword)
    return _send(turn, deps, channel, reply_id, text, TurnOutcome(TurnResult.OPTED_OUT, reply_id, tier="opt_out"))


def _maintain_memory(turn: TurnRequest, deps: TurnDeps, agent: AgentConfig, conversation: Conversation,
                     history: list[StoredMessage], deadline: Deadline | None = None) -> None:
    """After the reply: fold the older half of a full window into the rolling summary (lite tier).
    Best effort; a failure only means the next turn tries again."""
    if not needs_summary(history, agent.history_limit, agent.memory_token_budget):
        return
    older, _ = split_for_summary(history)
    previous = f"Summary so far: {conversation.summary}\n\n" if conversation.summary else ""
    prompt = Prompt(system=(f"Summarize this WhatsApp sales conversation for the agent's memory in at most 120 "
                            f"words, in {agent.language}. Keep facts: needs, budget, decisions, objections, "
                            "promises made and open questions."),
                    turns=[ChatTurn(role="user", text=previous + transcript(older))], max_output_tokens=300,
                    purpose="summary")
    calls: list[ModelCall] = []
    try:
        # After the reply went out: whatever time the turn has left (no time → the next turn summarizes).
        generation, _ = generate_routed(deps.model, prompt, Tier.LITE, deps.tiers, calls,
                                        deadline or deps.start_deadline(), deps.attempts)
    except AllModelsFailed:
        _record_calls(turn, deps, conversation.agent_id, calls)
        return
    _record_calls(turn, deps, conversation.agent_id, calls)
    update = Conversation(conversation_id=turn.conversation_id, tenant_id=turn.tenant_id,
                          channel_key=turn.channel_key, agent_id=conversation.agent_id,
                          contact_phone=turn.contact_phone)
    update.summary = generation.text.strip()[:1500]
    update.summary_through = older[-1].stored_at
    deps.store.save_conversation(update)
    if deps.emit_event is not None:
        scope = TurnScope(tenant_id=turn.tenant_id, conversation_id=turn.conversation_id,
                          contact_id=contact_id(turn.contact_phone), contact_phone=turn.contact_phone,
                          agent_id=conversation.agent_id, turn_id=older[-1].message_id)
        for event in summary_event(scope, turn.channel_key, conversation.contact_name, update.summary, len(older),
                                   older[-1].message_id, deps.clock()):
            deps.emit_event(event)
