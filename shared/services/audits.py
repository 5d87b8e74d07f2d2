"""Audits of conversations a human seller handled, once they go quiet (conversation_audit, Cloud Scheduler).

Runs apart from every reply path: it reads stored conversations and writes audits, never a message to a
lead. An audit covers a conversation up to its last message (`through`); the audit id is derived from it,
so a second run finds it done before paying for the model, and a conversation that starts again gets a new
audit later. Insights a seller could reuse (arguments that moved a lead) become knowledge candidates in the
same review queue as learned answers (tenants/{t}/learned_candidates, approved by an admin).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from pydantic import ValidationError

from shared import log
from shared.domain.audit import (
    RUBRIC_INSTRUCTION,
    RUBRIC_SCHEMA,
    AuditMessage,
    ConversationAudit,
    Rubric,
    SellerWeek,
    audit_id,
    check_evidence,
    iso_week,
    measure,
    seller_weeks,
    transcript,
)
from shared.domain.errors import PilotoError
from shared.ports import ChatTurn, LanguageModel, Prompt, UsageLedger

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QuietConversation:
    tenant_id: str
    conversation_id: str
    agent_id: str


class AuditSource(Protocol):
    def active_tenants(self) -> list[str]: ...

    def human_conversations(self, tenant_id: str, since: datetime, limit: int) -> list[QuietConversation]:
        """Conversations a human took over since `since` (conversations.paused_at)."""
        ...

    def audit_messages(self, tenant_id: str, conversation_id: str, limit: int) -> list[AuditMessage]: ...


class AuditStore(Protocol):
    def audit_exists(self, tenant_id: str, audit_id: str) -> bool: ...

    def create_audit(self, tenant_id: str, audit: ConversationAudit) -> bool: ...

    def audits_of_week(self, tenant_id: str, week: str) -> list[ConversationAudit]: ...

    def save_candidate(self, tenant_id: str, candidate_id: str, candidate: dict) -> None: ...


@dataclass
class AuditDeps:
    source: AuditSource
    store: AuditStore
    model: LanguageModel
    model_id: str | None
    ledger: UsageLedger | None = None
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    quiet_hours: float = 12.0
    lookback_days: int = 7
    max_per_run: int = 50
    max_messages: int = 200


@dataclass
class AuditRun:
    audited: int = 0
    already_audited: int = 0
    without_rubric: int = 0
    candidates: int = 0

    def as_dict(self) -> dict:
        return {"audited": self.audited, "already_audited": self.already_audited,
                "without_rubric": self.without_rubric, "candidates": self.candidates}


def audit_quiet_conversations(deps: AuditDeps) -> AuditRun:
    """Every tenant's human-handled conversations that went quiet, audited once each, at most max_per_run."""
    run = AuditRun()
    now = deps.now()
    budget = deps.max_per_run
    for tenant_id in deps.source.active_tenants():
        if budget <= 0:
            break  # the next run continues: audits are never urgent
        found = deps.source.human_conversations(tenant_id, now - timedelta(days=deps.lookback_days),
                                                deps.max_per_run * 4)
        for conversation in found:
            with log.bound(tenant_id=tenant_id, conversation_id=conversation.conversation_id):
                outcome = audit_conversation(conversation, deps, quiet_before=now - timedelta(hours=deps.quiet_hours))
            if outcome is None:
                run.already_audited += 1
                continue
            budget -= 1
            run.audited += 1
            run.without_rubric += outcome.rubric is None
            run.candidates += _propose_candidates(tenant_id, outcome, deps)
    return run


def audit_conversation(conversation: QuietConversation, deps: AuditDeps,
                       quiet_before: datetime | None = None) -> ConversationAudit | None:
    """The audit of a conversation up to its last message; None when it exists already or is not quiet yet."""
    messages = deps.source.audit_messages(conversation.tenant_id, conversation.conversation_id, deps.max_messages)
    if not any(m.role == "human" for m in messages):
        return None
    through = max(m.at for m in messages)
    if quiet_before is not None and through > quiet_before:
        return None  # still going: the conversation document's times miss the seller's later messages
    this_id = audit_id(conversation.conversation_id, through)
    if deps.store.audit_exists(conversation.tenant_id, this_id):
        return None
    text = transcript(messages)
    rubric, error = _score(conversation, text, deps)
    audit = ConversationAudit(
        audit_id=this_id, conversation_id=conversation.conversation_id, agent_id=conversation.agent_id,
        sellers=sorted({m.seller for m in messages if m.role == "human" and m.seller}), through=through,
        facts=measure(messages), rubric=rubric, rubric_error=error, week=iso_week(through))
    if not deps.store.create_audit(conversation.tenant_id, audit):
        return None  # a concurrent run wrote it first
    log.log(logger, logging.INFO, "conversation audited", audit_id=this_id, score=audit.average_score,
            rubric=rubric.scored_by if rubric else None, reason=error)
    return audit


def _score(conversation: QuietConversation, text: str, deps: AuditDeps) -> tuple[Rubric | None, str | None]:
    prompt = Prompt(system=RUBRIC_INSTRUCTION, turns=[ChatTurn(role="user", text=text)], json_schema=RUBRIC_SCHEMA,
                    purpose="audit", model=deps.model_id, max_output_tokens=2048)
    try:
        generation = deps.model.generate(prompt)
    except PilotoError as err:
        return None, f"the model could not score the conversation: {type(err).__name__}"
    if deps.ledger is not None:
        deps.ledger.record_model_call(conversation.tenant_id, conversation.agent_id, conversation.conversation_id,
                                      generation.call)
    try:
        rubric = Rubric.model_validate(json.loads(generation.text))
    except (ValueError, ValidationError) as err:
        return None, f"the model's rubric was not in the expected shape: {str(err)[:200]}"
    return check_evidence(rubric, text), None


def _propose_candidates(tenant_id: str, audit: ConversationAudit, deps: AuditDeps) -> int:
    """Arguments that moved the lead forward, for review: the same queue and approval as learned answers."""
    if audit.rubric is None or audit.rubric.scored_by != "model":
        return 0  # rule-based offline rubrics are not insights
    proposed = 0
    for argument in audit.rubric.winning_arguments[:3]:
        candidate_id = hashlib.sha256(f"{audit.agent_id}\x1faudit\x1f{argument}".encode()).hexdigest()[:24]
        deps.store.save_candidate(tenant_id, candidate_id, {
            "agent_id": audit.agent_id, "question": "Um argumento que fez o lead avançar numa conversa auditada",
            "answer": argument[:2000], "status": "pending", "origin": "audit",
            "conversation_id": audit.conversation_id, "audit_id": audit.audit_id})
        proposed += 1
    return proposed


def week_by_seller(tenant_id: str, week: str, store: AuditStore) -> list[SellerWeek]:
    """The per-seller summary of a week's audits (the digest and the report show it)."""
    return seller_weeks(store.audits_of_week(tenant_id, week))
