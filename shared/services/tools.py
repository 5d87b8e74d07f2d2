"""The agent's tools. Each runs over ports and is bound to one tenant, conversation and contact: the
model chooses *what* to do, never *whom* to do it to (no tool takes a tenant, phone or contact id)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from shared import log
from shared.domain.catalog import CatalogItem, rank_items
from shared.domain.lead import QUALIFICATION_FIELDS, LeadChange, LeadProfile, Stage, apply_update
from shared.domain.meeting import MeetingRequest
from shared.ports import ToolCall, ToolResult, ToolSpec

logger = logging.getLogger(__name__)


class LeadStore(Protocol):
    def get_lead(self, tenant_id: str, contact_id: str) -> LeadProfile | None: ...

    def save_lead(self, tenant_id: str, contact_id: str, profile: LeadProfile) -> None: ...

    def list_catalog(self, tenant_id: str, limit: int) -> list[CatalogItem]: ...

    def record_meeting(self, tenant_id: str, meeting: MeetingRequest) -> bool:
        """False when this meeting request was already recorded (a retried turn)."""


class KnowledgeSearch(Protocol):
    def __call__(self, tenant_id: str, agent_id: str, question: str) -> dict[str, Any]: ...


class LearnAnswer(Protocol):
    """Index a question/answer pair a human gave as knowledge; returns the entry id."""

    def __call__(self, tenant_id: str, agent_id: str, question: str, answer: str, approved_by: str,
                 conversation_id: str | None) -> str: ...


@dataclass(frozen=True)
class TurnScope:
    """Who a turn acts for. Fixed by the webhook from the provider's payload, never by the model."""

    tenant_id: str
    conversation_id: str
    contact_id: str
    contact_phone: str
    agent_id: str
    turn_id: str


@dataclass(frozen=True)
class HandoffRequest:
    reason: str
    question: str | None


@dataclass
class ToolEffects:
    """What the tools changed during one turn: drives events, notifications and the turn's result."""

    lead_changes: list[LeadChange] = field(default_factory=list)
    lead: LeadProfile | None = None
    meetings: list[MeetingRequest] = field(default_factory=list)
    handoff: HandoffRequest | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)


_STRING = {"type": "string"}

SPECS = {
    "update_lead": ToolSpec(
        name="update_lead",
        description=("Record what the lead told you about themselves (BANT qualification) and move the pipeline "
                     "stage. Only include fields the lead actually stated."),
        parameters={"type": "object", "properties": {
            **{f: {"type": "string", "description": d} for f, d in {
                "name": "lead's name", "company": "company, if buying for one",
                "need": "what they want to solve or buy", "budget": "budget or monthly bill, as stated",
                "authority": "who decides the purchase", "timeline": "when they want it"}.items()},
            "notes": {"type": "string", "description": "anything else worth remembering"},
            "stage": {"type": "string", "enum": [s.value for s in Stage]},
        }},
    ),
    "lookup_catalog": ToolSpec(
        name="lookup_catalog",
        description="Search the business's products, prices and sales figures. Use before quoting any price.",
        parameters={"type": "object", "properties": {"query": _STRING}, "required": ["query"]},
    ),
    "request_meeting": ToolSpec(
        name="request_meeting",
        description="Ask for a meeting or technical visit with the times the lead proposed.",
        parameters={"type": "object", "properties": {
            "proposed_times": {"type": "array", "items": _STRING, "description": "as the lead said them"},
            "topic": _STRING}, "required": ["proposed_times"]},
    ),
    "search_knowledge": ToolSpec(
        name="search_knowledge",
        description="Search the company's own documents (procedures, FAQs, policies) for an answer.",
        parameters={"type": "object", "properties": {"question": _STRING}, "required": ["question"]},
    ),
    "handoff_to_human": ToolSpec(
        name="handoff_to_human",
        description=("Hand the conversation to a human seller when you are unsure, the lead asks for a person, or "
                     "the answer is not in your tools. Then tell the lead a person will continue."),
        parameters={"type": "object", "properties": {
            "reason": _STRING, "question": {"type": "string", "description": "the lead's open question"}},
            "required": ["reason"]},
    ),
}


class ToolBox:
    """The tools of one turn, bound to its scope."""

    def __init__(self, scope: TurnScope, leads: LeadStore, knowledge: KnowledgeSearch | None,
                 clock: Callable[[], datetime]) -> None:
        self.scope = scope
        self._leads = leads
        self._knowledge = knowledge
        self._clock = clock
        self.effects = ToolEffects()

    @property
    def specs(self) -> tuple[ToolSpec, ...]:
        return tuple(SPECS.values())

    def run(self, call: ToolCall) -> ToolResult:
        handler = getattr(self, f"_{call.name}", None) if call.name in SPECS else None
        try:
            response = handler(call.args or {}) if handler else {"error": f"unknown tool {call.name!r}"}
        except (TypeError, ValueError) as err:  # bad arguments from the model: tell it, do not crash the turn
            response = {"error": f"invalid arguments: {err}"}
        self.effects.calls.append({"name": call.name, "args": call.args, "ok": "error" not in response})
        log.log(logger, logging.INFO, "tool call", tool=call.name, ok="error" not in response)
        return ToolResult(name=call.name, response=response, call_id=call.call_id)

    def _current_lead(self) -> LeadProfile:
        return self.effects.lead or self._leads.get_lead(self.scope.tenant_id, self.scope.contact_id) or LeadProfile(
            phone=self.scope.contact_phone)

    def _update_lead(self, args: dict[str, Any]) -> dict[str, Any]:
        profile, change = apply_update(self._current_lead(), args)
        if change.empty:
            return {"ok": True, "changed": [], "stage": profile.stage.value}
        self._leads.save_lead(self.scope.tenant_id, self.scope.contact_id, profile)
        self.effects.lead = profile
        self.effects.lead_changes.append(change)
        missing = [f for f in ("need", "budget", "authority", "timeline") if not getattr(profile, f)]
        return {"ok": True, "changed": sorted(change.changed), "stage": profile.stage.value,
                "still_unknown": missing}

    def _lookup_catalog(self, args: dict[str, Any]) -> dict[str, Any]:
        query = str(args.get("query", ""))
        items = rank_items(self._leads.list_catalog(self.scope.tenant_id, 200), query, limit=5)
        if not items:
            return {"items": [], "note": "nothing in the catalogue matches; do not invent a price"}
        return {"items": [{"name": i.name, "description": i.description[:300], "price": i.price, **i.details}
                          for i in items]}

    def _request_meeting(self, args: dict[str, Any]) -> dict[str, Any]:
        times = [str(t)[:80] for t in args.get("proposed_times") or [] if str(t).strip()][:5]
        if not times:
            return {"error": "ask the lead for at least one time first"}
        meeting = MeetingRequest(meeting_id=f"{self.scope.turn_id}-{len(self.effects.meetings)}",
                                 tenant_id=self.scope.tenant_id, conversation_id=self.scope.conversation_id,
                                 contact_id=self.scope.contact_id, proposed_times=times,
                                 topic=str(args.get("topic") or "")[:200], requested_at=self._clock())
        self._leads.record_meeting(self.scope.tenant_id, meeting)
        self.effects.meetings.append(meeting)
        lead = self._current_lead()
        if lead.stage in (Stage.NEW, Stage.QUALIFYING, Stage.QUALIFIED):
            self._update_lead({"stage": Stage.MEETING.value})
        return {"ok": True, "status": "requested; a seller will confirm one of the times", "times": times}

    def _search_knowledge(self, args: dict[str, Any]) -> dict[str, Any]:
        if self._knowledge is None:
            return {"found": False, "note": "no knowledge base is connected for this agent yet"}
        question = str(args.get("question", ""))[:500]
        answer = self._knowledge(self.scope.tenant_id, self.scope.agent_id, question)
        if not answer.get("found") and self.effects.handoff is None:
            # Low retrieval confidence is a reason to ask a human, not to guess.
            self.effects.handoff = HandoffRequest(reason="no confident answer in the knowledge base",
                                                  question=question)
        return answer

    def _handoff_to_human(self, args: dict[str, Any]) -> dict[str, Any]:
        self.effects.handoff = HandoffRequest(reason=str(args.get("reason") or "unsure")[:300],
                                              question=(str(args["question"])[:500] if args.get("question") else None))
        return {"ok": True, "note": "a human seller was notified and will continue; tell the lead so, briefly"}


def qualification_summary(profile: LeadProfile | None) -> str:
    """What the prompt should know about the lead already, so the agent does not ask twice."""
    if profile is None:
        return ""
    known = [f"{f}: {getattr(profile, f)}" for f in QUALIFICATION_FIELDS if getattr(profile, f)]
    parts = [f"Pipeline stage: {profile.stage.value}."]
    if known:
        parts.append("Known about the lead: " + "; ".join(known) + ".")
    if profile.notes:
        parts.append("Notes: " + " | ".join(profile.notes[-5:]))
    return " ".join(parts)
