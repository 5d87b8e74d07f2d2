"""Handoff that learns: the seller's answer to the question the agent handed off becomes knowledge, so the
agent answers it next time instead of asking again."""

from __future__ import annotations

import hashlib
import logging

from shared import log
from shared.domain.conversation import Conversation, Role
from shared.domain.errors import NotFound
from shared.ports import ConversationStore, TurnRequest
from shared.services.agent_turn import TurnDeps, TurnOutcome, TurnResult
from shared.services.tools import LearnAnswer

logger = logging.getLogger(__name__)


def learn_from_human(turn: TurnRequest, deps: TurnDeps) -> TurnOutcome:
    """turn.message_id is the seller's message. Idempotent: the open question is cleared once captured."""
    store = deps.store
    with log.bound(tenant_id=turn.tenant_id, conversation_id=turn.conversation_id):
        conversation = store.get_conversation(turn.tenant_id, turn.conversation_id)
        answer = store.get_message(turn.tenant_id, turn.conversation_id, turn.message_id)
        if conversation is None or not conversation.handoff_question or answer is None or answer.role != Role.HUMAN \
                or not (answer.text or "").strip():
            return TurnOutcome(TurnResult.ALREADY_SENT)
        agent = deps.directory.get_agent(turn.tenant_id, conversation.agent_id)
        question, text = conversation.handoff_question, answer.text.strip()
        if agent.learn_from_humans == "auto" and deps.learn is not None:
            entry = deps.learn(turn.tenant_id, conversation.agent_id, question, text, "seller (auto-approved)",
                               turn.conversation_id)
            log.log(logger, logging.INFO, "learned a seller's answer", entry_id=entry)
        elif agent.learn_from_humans != "off":
            candidate = hashlib.sha256(f"{conversation.agent_id}\x1f{question}".encode()).hexdigest()[:24]
            store.save_learning_candidate(turn.tenant_id, candidate, {
                "agent_id": conversation.agent_id, "question": question, "answer": text, "status": "pending",
                "conversation_id": turn.conversation_id, "message_id": turn.message_id})
            log.log(logger, logging.INFO, "a seller's answer awaits approval to become knowledge",
                    candidate_id=candidate)
        closed = Conversation(conversation_id=turn.conversation_id, tenant_id=turn.tenant_id,
                              channel_key=conversation.channel_key, agent_id=conversation.agent_id,
                              contact_phone=conversation.contact_phone)
        closed.handoff_question = None
        store.save_conversation(closed)
        return TurnOutcome(TurnResult.REPLIED if agent.learn_from_humans != "off" else TurnResult.ALREADY_SENT)


def approve_candidate(tenant_id: str, candidate_id: str, approved_by: str, store: ConversationStore,
                      learn: LearnAnswer) -> str:
    """An admin approves a reviewed answer: it is indexed as knowledge. Approving twice indexes it once."""
    candidate = store.get_learning_candidate(tenant_id, candidate_id)
    if candidate is None:
        raise NotFound(f"no learning candidate {candidate_id[:40]!r} under this tenant")
    if candidate.get("status") == "approved" and candidate.get("entry_id"):
        return candidate["entry_id"]
    entry = learn(tenant_id, candidate["agent_id"], candidate["question"], candidate["answer"], approved_by,
                  candidate.get("conversation_id"))
    store.save_learning_candidate(tenant_id, candidate_id,
                                  {"status": "approved", "approved_by": approved_by, "entry_id": entry})
    log.log(logger, logging.INFO, "learning candidate approved and indexed", candidate_id=candidate_id)
    return entry
