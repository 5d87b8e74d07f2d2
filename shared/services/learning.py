"""Handoff that learns: the seller's answer to the question the agent handed off becomes knowledge, so the
agent answers it next time instead of asking again."""

from __future__ import annotations

import hashlib
import json
import logging

from shared import log
from shared.domain.conversation import Conversation, Role, StoredMessage
from shared.domain.errors import NotFound
from shared.domain.memory import transcript
from shared.domain.routing import Tier
from shared.domain.seller_desk import RefKind, learning_preview
from shared.domain.tenancy import AgentConfig
from shared.domain.usage import ModelCall
from shared.ports import ChatTurn, ConversationStore, Prompt, TurnRequest
from shared.services.agent_turn import TurnDeps, TurnOutcome, TurnResult
from shared.services.brain import AllModelsFailed, generate_routed
from shared.services.tools import LearnAnswer

logger = logging.getLogger(__name__)


LEARNING_SCHEMA = {
    "type": "object",
    "properties": {
        "learn": {"type": "boolean", "description": "true only if the seller's answer holds reusable business "
                  "knowledge that answers the question"},
        "question": {"type": "string", "description": "the question, general and self-contained (no names)"},
        "answer": {"type": "string", "description": "the seller's answer, distilled, self-contained, no names"},
        "reason": {"type": "string", "description": "why there is (or is nothing) to learn"},
    },
    "required": ["learn", "reason"],
}

_DISTIL = ("A sales agent could not answer a lead and handed the conversation to a human seller. From the exchange, "
           "decide whether the seller's answer teaches the agent something it can reuse for other leads (products, "
           "prices, policies, how the business works). Small talk, greetings, scheduling with this lead, personal "
           "matters or promises to come back later are nothing to learn. If there is something, write the question "
           "and the answer as a general, self-contained FAQ entry in {language}, without the lead's name or data.")


def learn_from_human(turn: TurnRequest, deps: TurnDeps) -> TurnOutcome:
    """turn.message_id is the seller's message. The model distils question and answer from the exchange, or decides
    there is nothing to learn (recorded with its reason; the question stays open for the seller's next message).
    Idempotent: the open question is cleared once captured, and a decision is recorded per message."""
    store = deps.store
    with log.bound(tenant_id=turn.tenant_id, conversation_id=turn.conversation_id):
        conversation = store.get_conversation(turn.tenant_id, turn.conversation_id)
        answer = store.get_message(turn.tenant_id, turn.conversation_id, turn.message_id)
        if conversation is None or not conversation.handoff_question or answer is None or answer.role != Role.HUMAN \
                or not (answer.text or "").strip():
            return TurnOutcome(TurnResult.ALREADY_SENT)
        agent = deps.directory.get_agent(turn.tenant_id, conversation.agent_id)
        if agent.learn_from_humans == "off":
            return TurnOutcome(TurnResult.ALREADY_SENT)
        question, text = conversation.handoff_question, answer.text.strip()
        history = store.recent_messages(turn.tenant_id, turn.conversation_id, 10)
        decision = _distil(turn, deps, agent, conversation, history, question, text)
        candidate = hashlib.sha256(f"{conversation.agent_id}\x1f{question}".encode()).hexdigest()[:24]
        if decision is not None and not decision.get("learn"):
            store.save_learning_candidate(turn.tenant_id, f"none-{turn.message_id[:24]}", {
                "agent_id": conversation.agent_id, "question": question, "answer": text, "status": "nothing_to_learn",
                "reason": str(decision.get("reason") or "")[:300], "conversation_id": turn.conversation_id,
                "message_id": turn.message_id})
            log.log(logger, logging.INFO, "nothing to learn from the seller's message", reason=decision.get("reason"))
            return TurnOutcome(TurnResult.ALREADY_SENT)
        learned_q = (decision or {}).get("question") or question
        learned_a = (decision or {}).get("answer") or text
        # A verbatim answer (the model was unavailable) is never learned without a person approving it.
        mode = agent.learn_from_humans if decision is not None else "review"
        if mode == "auto" and deps.learn is not None:
            entry = deps.learn(turn.tenant_id, conversation.agent_id, learned_q, learned_a, "seller (auto-approved)",
                               turn.conversation_id)
            log.log(logger, logging.INFO, "learned a seller's answer", entry_id=entry)
        else:
            store.save_learning_candidate(turn.tenant_id, candidate, {
                "agent_id": conversation.agent_id, "question": learned_q, "answer": learned_a, "status": "pending",
                "original_question": question, "original_answer": text, "distilled": decision is not None,
                "reason": str((decision or {}).get("reason") or "model unavailable: verbatim")[:300],
                "conversation_id": turn.conversation_id, "message_id": turn.message_id})
            log.log(logger, logging.INFO, "a seller's answer awaits approval to become knowledge",
                    candidate_id=candidate)
            _ask_review(turn, deps, agent, conversation, candidate, learned_q, learned_a)
        closed = Conversation(conversation_id=turn.conversation_id, tenant_id=turn.tenant_id,
                              channel_key=conversation.channel_key, agent_id=conversation.agent_id,
                              contact_phone=conversation.contact_phone)
        closed.handoff_question = None
        store.save_conversation(closed)
        return TurnOutcome(TurnResult.REPLIED)


def _distil(turn: TurnRequest, deps: TurnDeps, agent: AgentConfig, conversation: Conversation,
            history: list[StoredMessage], question: str, text: str) -> dict | None:
    """The model's decision as a dict, or None when no model could answer."""
    exchange = transcript(history) if history else ""
    prompt = Prompt(system=_DISTIL.format(language=agent.language),
                    turns=[ChatTurn(role="user", text=f"Open question: {question}\n\nExchange:\n{exchange}\n\n"
                                                      f"The seller's answer: {text}")],
                    max_output_tokens=400, json_schema=LEARNING_SCHEMA, purpose="learning")
    calls: list[ModelCall] = []
    try:
        generation, _ = generate_routed(deps.model, prompt, Tier.STANDARD, deps.tiers, calls)
    except AllModelsFailed:
        return None
    finally:
        for call in calls:
            deps.ledger.record_model_call(turn.tenant_id, conversation.agent_id, turn.conversation_id, call)
    try:
        decision = json.loads(generation.text)
    except ValueError:
        return None
    return decision if isinstance(decision, dict) and isinstance(decision.get("learn"), bool) else None


def _ask_review(turn: TurnRequest, deps: TurnDeps, agent: AgentConfig, conversation: Conversation, candidate: str,
                question: str, answer: str) -> None:
    """Review on WhatsApp: the sellers get a short preview and approve or reject it with its code."""
    if not agent.all_sellers():
        return
    from shared.services.seller_desk import make_ref, notify_sellers

    provider, _, channel_id = conversation.channel_key.partition(":")
    channel = deps.directory.find_channel(provider, channel_id)
    if channel is None:
        return
    code = make_ref(deps, turn.tenant_id, RefKind.LEARNING, candidate, {
        "candidate_id": candidate, "agent_id": conversation.agent_id, "conversation_id": turn.conversation_id,
        "channel_key": conversation.channel_key})
    notify_sellers(deps, channel, agent, code, learning_preview(code, question, answer), "aprendizado",
                   alert_id=f"learn-{code}")


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
