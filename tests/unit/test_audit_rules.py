"""Audits of human-handled conversations: measured facts, evidence checks, the offline rubric, weekly summaries,
and the audit service over in-memory ports (the model port returns what a model would)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from shared.domain.audit import (
    AuditMessage,
    ConversationAudit,
    CriterionScore,
    Rubric,
    check_evidence,
    measure,
    offline_rubric,
    seller_weeks,
    transcript,
)
from shared.domain.errors import ModelUnavailable
from shared.domain.usage import ModelCall, TokenUsage
from shared.ports import Generation, Prompt
from shared.services.audits import AuditDeps, QuietConversation, audit_quiet_conversations

T0 = datetime(2026, 11, 20, 13, 0, tzinfo=UTC)


def msg(role: str, minutes: float, text: str, seller: str | None = None) -> AuditMessage:
    return AuditMessage(role=role, at=T0 + timedelta(minutes=minutes), text=text, seller=seller)


CONVERSATION = [
    msg("lead", 0, "Oi, quanto custa o kit para casa?"),
    msg("agent", 0.1, "Olá! Vou chamar um especialista."),
    msg("lead", 1, "Vocês parcelam?"),
    msg("human", 21, "Oi, aqui é o João! Parcelamos em até 60x. Quanto vem sua conta de luz?", seller="João"),
    msg("lead", 30, "Uns R$ 450"),
    msg("human", 35, "Perfeito, posso agendar uma visita técnica amanhã às 10h?", seller="João"),
    msg("lead", 90, "Pode sim"),
]


def test_measured_facts_come_from_timestamps_and_roles() -> None:
    facts = measure(CONVERSATION)
    assert (facts.lead_messages, facts.human_messages, facts.bot_messages) == (4, 2, 1)
    assert facts.first_human_response_s == 1200.0  # "Vocês parcelam?" at 1 min → João at 21 min
    assert facts.longest_wait_s == 1200.0
    assert facts.unanswered_at_end is True and facts.last_writer == "lead"
    assert facts.next_step_set is True and "visita técnica amanhã" in (facts.next_step_evidence or "")


def test_no_next_step_when_the_seller_never_proposes_one() -> None:
    facts = measure([msg("lead", 0, "Oi"), msg("human", 5, "Olá, tudo bem?")])
    assert facts.next_step_set is False and facts.unanswered_at_end is False


def test_evidence_not_in_the_transcript_is_marked_as_such() -> None:
    text = transcript(CONVERSATION)
    rubric = Rubric(scores=[
        CriterionScore(criterion="next_step", score=5, evidence="“posso agendar uma VISITA técnica amanha às 10h?”"),
        CriterionScore(criterion="accuracy", score=2, evidence="Garantimos 40% de desconto"),
    ])
    checked = check_evidence(rubric, text)
    assert [s.evidence_found for s in checked.scores] == [True, False]


def test_the_offline_rubric_is_deterministic_and_says_it_is_offline() -> None:
    text = transcript(CONVERSATION)
    first, second = offline_rubric(text), offline_rubric(text)
    assert first == second and first.scored_by == "offline"
    scores = {s.criterion: s.score for s in first.scores}
    assert scores["next_step"] == 5 and scores["qualification"] == 4
    assert "offline" in first.summary.lower()
    assert all(s.evidence_found for s in check_evidence(first, text).scores)


def _audit(conversation: str, seller: str, week: str, score: int, first_s: float, next_step: bool) -> ConversationAudit:
    facts = measure([msg("lead", 0, "Oi?"), msg("human", first_s / 60, "amanhã às 10h" if next_step else "ok")])
    return ConversationAudit(
        audit_id=conversation, conversation_id=conversation, agent_id="vendas", sellers=[seller],
        through=T0, facts=facts, week=week,
        rubric=Rubric(scores=[CriterionScore(criterion="tone", score=score, evidence="ok")]))


def test_a_sellers_week_averages_scores_and_rates_next_steps() -> None:
    weeks = seller_weeks([_audit("a", "João", "2026-W47", 4, 60, True), _audit("b", "João", "2026-W47", 2, 180, False),
                          _audit("c", "Ana", "2026-W47", 5, 30, True)])
    by_seller = {w.seller: w for w in weeks}
    assert by_seller["João"].conversations == 2 and by_seller["João"].average_score == 3.0
    assert by_seller["João"].first_response_p50_s == 120.0 and by_seller["João"].next_step_rate == 0.5
    assert by_seller["Ana"].by_criterion == {"tone": 5.0}


class _Source:
    def __init__(self, messages: list[AuditMessage]) -> None:
        self.messages = messages

    def active_tenants(self) -> list[str]:
        return ["t1"]

    def human_conversations(self, tenant_id: str, since: datetime, limit: int) -> list[QuietConversation]:
        return [QuietConversation(tenant_id, "c1", "vendas")]

    def audit_messages(self, tenant_id: str, conversation_id: str, limit: int) -> list[AuditMessage]:
        return self.messages


class _Store:
    def __init__(self) -> None:
        self.audits: dict[str, ConversationAudit] = {}
        self.candidates: dict[str, dict] = {}

    def audit_exists(self, tenant_id: str, audit_id: str) -> bool:
        return audit_id in self.audits

    def create_audit(self, tenant_id: str, audit: ConversationAudit) -> bool:
        return self.audits.setdefault(audit.audit_id, audit) is audit

    def audits_of_week(self, tenant_id: str, week: str) -> list[ConversationAudit]:
        return [a for a in self.audits.values() if a.week == week]

    def save_candidate(self, tenant_id: str, candidate_id: str, candidate: dict) -> None:
        self.candidates.setdefault(candidate_id, candidate)


class _Model:
    def __init__(self, answer: str | Exception) -> None:
        self.answer, self.prompts = answer, []

    def generate(self, prompt: Prompt) -> Generation:
        self.prompts.append(prompt)
        if isinstance(self.answer, Exception):
            raise self.answer
        return Generation(text=self.answer, call=ModelCall(model="m", backend="vertex", purpose=prompt.purpose,
                                                           usage=TokenUsage(), latency_ms=1, cost_usd=0.001))


def _deps(model: _Model, store: _Store, messages: list[AuditMessage] = CONVERSATION) -> AuditDeps:
    return AuditDeps(source=_Source(messages), store=store, model=model, model_id="gemini-x",
                     now=lambda: T0 + timedelta(days=1))


MODEL_RUBRIC = json.dumps({
    "scores": [{"criterion": c, "score": 4, "evidence": "Parcelamos em até 60x"}
               for c in ("qualification", "objections", "tone", "next_step", "accuracy")],
    "promises": ["visita amanhã às 10h"], "errors": [], "unanswered_questions": [],
    "winning_arguments": ["Parcelamento em até 60x"], "summary": "Boa condução."})


def test_a_quiet_conversation_is_audited_once_and_its_arguments_go_to_review() -> None:
    store, model = _Store(), _Model(MODEL_RUBRIC)
    first = audit_quiet_conversations(_deps(model, store))
    second = audit_quiet_conversations(_deps(model, store))
    assert (first.audited, first.candidates, second.audited, second.already_audited) == (1, 1, 0, 1)
    assert len(model.prompts) == 1  # the second run pays for no model call
    prompt = model.prompts[0]
    assert prompt.purpose == "audit" and prompt.json_schema is not None and prompt.model == "gemini-x"
    assert "Vendedor: Oi, aqui é o João!" in prompt.turns[0].text
    audit = next(iter(store.audits.values()))
    assert audit.sellers == ["João"] and audit.average_score == 4.0 and audit.week == "2026-W47"
    assert next(iter(store.candidates.values()))["answer"] == "Parcelamento em até 60x"


def test_a_conversation_still_going_is_not_audited_yet() -> None:
    store = _Store()
    recent = [msg("lead", 0, "Oi"), msg("human", 1, "Olá")]
    deps = _deps(_Model(MODEL_RUBRIC), store, recent)
    deps.now = lambda: T0 + timedelta(hours=2)  # quiet_hours is 12
    assert audit_quiet_conversations(deps).audited == 0 and not store.audits


def test_a_model_failure_still_records_the_measured_facts_with_the_reason() -> None:
    store = _Store()
    run = audit_quiet_conversations(_deps(_Model(ModelUnavailable("503")), store))
    audit = next(iter(store.audits.values()))
    assert (run.audited, run.without_rubric, run.candidates) == (1, 1, 0)
    assert audit.rubric is None and "ModelUnavailable" in (audit.rubric_error or "")
    assert audit.facts.first_human_response_s == 1200.0


def test_a_rubric_in_the_wrong_shape_is_refused_not_stored() -> None:
    store = _Store()
    audit_quiet_conversations(_deps(_Model('{"scores": [{"criterion": "charm", "score": 9}]}'), store))
    audit = next(iter(store.audits.values()))
    assert audit.rubric is None and "expected shape" in (audit.rubric_error or "")


def test_a_conversation_without_a_human_is_not_audited() -> None:
    store = _Store()
    bot_only = [msg("lead", 0, "Oi"), msg("agent", 1, "Olá!")]
    assert audit_quiet_conversations(_deps(_Model(MODEL_RUBRIC), store, bot_only)).audited == 0
