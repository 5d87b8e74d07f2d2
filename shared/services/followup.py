"""Follow-up cadence: schedule the next nudge after each reply, send it when its task fires (if the lead is
still silent and nobody else owns the conversation), and sweep for cadences whose task was lost.

Time lives in Cloud Tasks and the state in Firestore: every task re-checks the conversation, so duplicate or
stale deliveries (the local emulator does not dedupe names) are harmless."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared import log
from shared.domain.conversation import Conversation, OutboundState, StoredMessage, awaits_reply
from shared.domain.errors import ProviderRejected
from shared.domain.events import Contact, DomainEvent, LeadOptedOut, LeadOptedOutPayload
from shared.domain.followup import (
    FollowupCadence,
    FollowupOutcome,
    SendMode,
    close_due,
    fill_template_params,
    next_business_moment,
    send_mode,
    step_due,
    within_business_hours,
    within_service_window,
)
from shared.domain.ids import followup_message_id
from shared.domain.inbound import Provider
from shared.domain.phone import mask_phone
from shared.domain.prompt import build_prompt
from shared.domain.routing import Tier
from shared.domain.tenancy import AgentConfig, Channel
from shared.ports import (
    ChannelDirectory,
    ConversationStore,
    FollowupQueue,
    FollowupRequest,
    FollowupStore,
    LanguageModel,
    MessageSender,
    Prompt,
    UsageLedger,
)
from shared.services.brain import AllModelsFailed, Deadline, generate_routed

logger = logging.getLogger(__name__)


@dataclass
class FollowupDeps:
    directory: ChannelDirectory
    store: ConversationStore
    queue: FollowupQueue
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    # Only the follow-up turn needs these; scheduling after a reply and the sweep never call the model.
    model: LanguageModel | None = None
    tiers: dict[str, str] | None = None
    sender_for: Callable[[Provider], MessageSender] | None = None
    ledger: UsageLedger | None = None
    due: FollowupStore | None = None
    lease_seconds: int = 120
    max_send_attempts: int = 3  # provider calls per follow-up message, each recorded before it is made
    # Seconds the model may use per follow-up (the function's timeout minus the send's reserve); None: unbounded.
    model_seconds: float | None = None


def _conversation_update(conversation: Conversation) -> Conversation:
    """A partial document: only the fields set afterwards are written (save_conversation merges what is set)."""
    return Conversation(conversation_id=conversation.conversation_id, tenant_id=conversation.tenant_id,
                        channel_key=conversation.channel_key, agent_id=conversation.agent_id,
                        contact_phone=conversation.contact_phone)


def _plan(conversation: Conversation, cadence: FollowupCadence, step: int, after: datetime,
          anchor: str, deps: FollowupDeps) -> datetime:
    """Record which step is next and when (the sweep's view), then create its task (best effort)."""
    due = step_due(after, cadence.steps[step], cadence) if step < len(cadence.steps) else close_due(after, cadence)
    update = _conversation_update(conversation)
    update.followup_step = step
    update.followup_anchor = anchor
    update.next_followup_at = due
    deps.store.save_conversation(update)
    request = FollowupRequest(conversation.tenant_id, conversation.conversation_id, step, anchor)
    try:
        deps.queue.schedule_followup(request, due)
    except Exception as err:  # noqa: BLE001 - next_followup_at is stored: the sweep creates the task later
        log.log(logger, logging.WARNING, "could not create the follow-up task; the sweep will", error=str(err))
    return due


def schedule_after_reply(tenant_id: str, conversation_id: str, anchor_message_id: str, sent_at: datetime,
                         deps: FollowupDeps) -> datetime | None:
    """After an agent reply: the cadence restarts at step 0 from this reply. Never fails the turn."""
    try:
        conversation = deps.store.get_conversation(tenant_id, conversation_id)
        if conversation is None or conversation.opted_out:
            return None
        cadence = deps.directory.get_agent(tenant_id, conversation.agent_id).followup
        if not cadence.enabled or not cadence.steps:
            return None
        due = _plan(conversation, cadence, 0, sent_at, anchor_message_id, deps)
        log.log(logger, logging.INFO, "follow-up scheduled", step=0, due=due.isoformat())
        return due
    except Exception as err:  # noqa: BLE001 - the reply went out; a missing follow-up is not worth a resend
        log.log(logger, logging.ERROR, "could not plan the follow-up after a reply", error=str(err))
        return None


@dataclass
class FollowupResult:
    outcome: FollowupOutcome
    step: int | None = None
    text: str | None = None
    next_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"outcome": self.outcome}
        if self.step is not None:
            body["step"] = self.step
        if self.text is not None:
            body["text"] = self.text
        if self.next_at is not None:
            body["next_at"] = self.next_at.isoformat()
        return body


def run_followup(request: FollowupRequest, deps: FollowupDeps) -> FollowupResult:
    """A follow-up task fired. Raises TransientError (storage, provider, model) so Cloud Tasks retries."""
    with log.bound(tenant_id=request.tenant_id, conversation_id=request.conversation_id):
        conversation = deps.store.get_conversation(request.tenant_id, request.conversation_id)
        if conversation is None:
            return FollowupResult("no_conversation")
        stop = _stop_reason(conversation, request)
        if stop is not None:
            log.log(logger, logging.INFO, "follow-up not sent", reason=stop, step=request.step)
            return FollowupResult(stop, request.step)
        agent = deps.directory.get_agent(request.tenant_id, conversation.agent_id)
        cadence = agent.followup
        if not cadence.enabled:
            return FollowupResult("disabled", request.step)
        history = deps.store.recent_messages(request.tenant_id, request.conversation_id, agent.history_limit,
                                             after=conversation.summary_through)
        newest_lead = next((m for m in reversed(history) if awaits_reply(m)), None)
        if newest_lead is not None and newest_lead.message_id != request.anchor_message_id:
            # The lead wrote after the reply we follow up on: that message's turn owns the conversation now.
            return FollowupResult("lead_replied", request.step)
        now = deps.clock()
        if request.step >= len(cadence.steps):
            return _close(conversation, deps, now)
        if not within_business_hours(now, cadence):
            opening = next_business_moment(now, cadence)
            update = _conversation_update(conversation)
            update.next_followup_at = opening
            deps.store.save_conversation(update)
            deps.queue.schedule_followup(request, opening, attempt_key=opening.isoformat())
            log.log(logger, logging.INFO, "quiet hours: follow-up deferred", step=request.step,
                    until=opening.isoformat())
            return FollowupResult("deferred", request.step, next_at=opening)
        provider, _, channel_id = conversation.channel_key.partition(":")
        channel = deps.directory.find_channel(provider, channel_id)
        if channel is None:
            return FollowupResult("no_channel", request.step)
        step = cadence.steps[request.step]
        mode = send_mode(channel.provider, within_service_window(conversation.last_inbound_at, now), step, cadence)
        outcome: FollowupOutcome
        text: str | None = None
        if mode is SendMode.SKIP:
            outcome = "skipped"
            log.log(logger, logging.INFO, "outside the 24 h window and no template allowed: step skipped",
                    step=request.step, provider=channel.provider.value)
        else:
            outcome, text = _send_step(request, deps, channel, agent, conversation, history, mode, now)
        next_at = _plan(conversation, cadence, request.step + 1, now, request.anchor_message_id, deps)
        return FollowupResult(outcome, request.step, text, next_at)


def _stop_reason(conversation: Conversation, request: FollowupRequest) -> FollowupOutcome | None:
    if conversation.opted_out:
        return "opted_out"
    if conversation.closed:
        return "already_closed"
    if conversation.bot_paused:
        return "human"
    if conversation.followup_anchor != request.anchor_message_id or conversation.followup_step != request.step:
        return "stale"  # a duplicate delivery, or a cadence that moved on (the lead wrote, a step was sent)
    return None


def _close(conversation: Conversation, deps: FollowupDeps, now: datetime) -> FollowupResult:
    update = _conversation_update(conversation)
    update.closed = True
    update.closed_at = now
    update.next_followup_at = None
    deps.store.save_conversation(update)
    log.log(logger, logging.INFO, "cadence exhausted: conversation closed")
    return FollowupResult("closed")


def _send_step(request: FollowupRequest, deps: FollowupDeps, channel: Channel, agent: AgentConfig,
               conversation: Conversation, history: list[StoredMessage], mode: SendMode,
               now: datetime) -> tuple[FollowupOutcome, str | None]:
    """Claim the step's message (one per anchor and step), write it, send it, record it like any reply."""
    assert deps.sender_for is not None
    message_id = followup_message_id(request.anchor_message_id, request.step)
    claim = deps.store.claim_reply(request.tenant_id, request.conversation_id, message_id,
                                   request.anchor_message_id, now, deps.lease_seconds)
    if claim.state not in (OutboundState.GENERATING, OutboundState.SENDING):
        return "sent", claim.text  # sent by an earlier delivery that died before advancing the cadence
    step = agent.followup.steps[request.step]
    sender = deps.sender_for(channel.provider)
    try:
        if mode is SendMode.TEMPLATE:
            assert step.template is not None
            params = fill_template_params(step.template, conversation.contact_name, agent.business_name)
            shown = [f"{k}={v}" for k, v in params.items()] if isinstance(params, dict) else params
            text = f"[template {step.template.name}] " + " | ".join(shown)
            if claim.fresh:
                deps.store.save_generated_reply(request.tenant_id, request.conversation_id, message_id, text, None,
                                                [], "template")
            if not _may_send(request, deps, message_id):
                return "uncertain", None
            provider_message_id = sender.send_template(  # type: ignore[attr-defined]
                channel, conversation.contact_phone, step.template.name, step.template.language, params)
            outcome: FollowupOutcome = "template_sent"
        else:
            text = claim.text if not claim.fresh else _write(request, deps, agent, conversation, history, message_id,
                                                             step.instruction)
            if not _may_send(request, deps, message_id):
                return "uncertain", None
            provider_message_id = sender.send_text(channel, conversation.contact_phone, text or "")
            outcome = "sent"
    except ProviderRejected as err:
        deps.store.mark_reply_rejected(request.tenant_id, request.conversation_id, message_id, str(err))
        log.log(logger, logging.ERROR, "provider rejected the follow-up for good", provider=err.provider,
                status=err.status)
        return "rejected", None
    except Exception:
        if claim.fresh:
            deps.store.release_reply(request.tenant_id, request.conversation_id, message_id)
        raise
    deps.store.mark_reply_sent(request.tenant_id, request.conversation_id, message_id, channel.provider.value,
                               provider_message_id, request.anchor_message_id, now)
    log.log(logger, logging.INFO, "follow-up sent", step=request.step, mode=mode.value,
            contact=mask_phone(conversation.contact_phone))
    return outcome, text


def _may_send(request: FollowupRequest, deps: FollowupDeps, message_id: str) -> bool:
    """Record the send attempt before the provider call (as agent turns do): a follow-up whose earlier answers were
    lost is sent at most max_send_attempts times, then left `uncertain` (a nudge is not worth alerting a seller)."""
    slot = deps.store.begin_send(request.tenant_id, request.conversation_id, message_id, deps.max_send_attempts)
    if slot.attempt is None:
        log.log(logger, logging.WARNING, "follow-up not sent again: its send attempts ran out unconfirmed",
                step=request.step, attempts=deps.max_send_attempts)
        return False
    return True


def _write(request: FollowupRequest, deps: FollowupDeps, agent: AgentConfig, conversation: Conversation,
           history: list[StoredMessage], message_id: str, instruction: str) -> str:
    """The model writes the nudge from the conversation itself, not a canned "any news?"."""
    assert deps.model is not None and deps.ledger is not None
    base = build_prompt(agent, conversation, history, now=deps.clock())
    prompt = Prompt(system=base.system + (
        "\n\nThe lead has not answered your last message. Write ONE short WhatsApp follow-up message in "
        f"{agent.language} that continues this conversation naturally, refers to what the lead said, and ends with "
        f"an easy question. Do not repeat earlier messages. Goal of this follow-up: {instruction}"),
        turns=base.turns, max_output_tokens=300, purpose="followup")
    calls: list = []
    try:
        deadline = Deadline.after(deps.model_seconds) if deps.model_seconds is not None else None
        generation, _ = generate_routed(deps.model, prompt, Tier.STANDARD, deps.tiers or {}, calls, deadline)
    except AllModelsFailed as err:
        from shared.domain.errors import TransientError

        raise TransientError("no model could write the follow-up") from err
    finally:
        for call in calls:  # every attempt, failed ones included
            deps.ledger.record_model_call(request.tenant_id, agent.agent_id, request.conversation_id, call)
            log.log(logger, logging.INFO, "model call", model=call.model, backend=call.backend, purpose=call.purpose,
                    tier=call.tier, outcome=call.outcome.value, error_code=call.error_code,
                    prompt_tokens=call.usage.prompt_tokens, output_tokens=call.usage.output_tokens,
                    latency_ms=call.latency_ms, cost_usd=call.cost_usd, agent_id=agent.agent_id)
    text = generation.text.strip()[: agent.max_reply_chars]
    deps.store.save_generated_reply(request.tenant_id, request.conversation_id, message_id, text,
                                    calls[-1] if calls else None, [], "followup")
    return text


# --- Opt-out ---------------------------------------------------------------------------------------------


def opted_out_event(tenant_id: str, conversation_id: str, channel_key: str, contact_phone: str,
                    contact_name: str | None, keyword: str, message_id: str, at: datetime) -> DomainEvent | None:
    """One per opting-out message, so a retried turn re-emits the same id."""
    if not contact_phone.startswith("+"):
        return None  # the /chat API has no WhatsApp contact to sync
    return LeadOptedOut(event_id=LeadOptedOut.make_id(tenant_id, message_id), tenant_id=tenant_id,
                        conversation_id=conversation_id, channel_key=channel_key,
                        contact=Contact(phone=contact_phone, name=contact_name), occurred_at=at,
                        payload=LeadOptedOutPayload(reason="the lead asked to stop follow-ups",
                                                    keyword=keyword[:100]))


def mark_opted_out(store: ConversationStore, conversation: Conversation, at: datetime) -> None:
    update = _conversation_update(conversation)
    update.opted_out = True
    update.opted_out_at = at
    update.next_followup_at = None
    store.save_conversation(update)


# --- Sweep (Cloud Scheduler) ----------------------------------------------------------------------------


@dataclass
class SweepReport:
    scheduled: int = 0
    closed: int = 0
    cleared: int = 0
    pages: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def sweep_due_followups(deps: FollowupDeps, page_size: int, max_pages: int, grace_seconds: float) -> SweepReport:
    """Due for longer than the grace (a task normally fires on time): create the task again under its own
    name (Cloud Tasks answers ALREADY_EXISTS while one is live); close exhausted cadences. Bounded per run."""
    assert deps.due is not None
    now = deps.clock()
    report = SweepReport()
    after: Conversation | None = None
    while report.pages < max_pages:
        page = deps.due.due_followups(now - timedelta(seconds=grace_seconds), page_size, after)
        report.pages += 1
        for conversation in page:
            with log.bound(tenant_id=conversation.tenant_id, conversation_id=conversation.conversation_id):
                _sweep_one(conversation, deps, now, report)
        if len(page) < page_size:
            break
        after = page[-1]
    log.log(logger, logging.INFO, "follow-up sweep done", **report.as_dict())
    return report


def _sweep_one(conversation: Conversation, deps: FollowupDeps, now: datetime, report: SweepReport) -> None:
    step, anchor = conversation.followup_step, conversation.followup_anchor
    if conversation.opted_out or conversation.closed or step is None or anchor is None:
        update = _conversation_update(conversation)
        update.next_followup_at = None  # nothing to follow up: leave the sweep's index
        deps.store.save_conversation(update)
        report.cleared += 1
        return
    cadence = deps.directory.get_agent(conversation.tenant_id, conversation.agent_id).followup
    if not cadence.enabled:
        update = _conversation_update(conversation)
        update.next_followup_at = None  # the business turned follow-ups off
        deps.store.save_conversation(update)
        report.cleared += 1
        return
    if step >= len(cadence.steps):
        _close(conversation, deps, now)
        report.closed += 1
        return
    request = FollowupRequest(conversation.tenant_id, conversation.conversation_id, step, anchor)
    deps.queue.schedule_followup(request, now)
    report.scheduled += 1
