"""The owner's numbers: each counter of a daily rollup, from facts, in the agent's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from shared.domain.business_metrics import (
    ConversationFacts,
    CostFact,
    DailyRollup,
    EventFact,
    MessageFact,
    Percentiles,
    aggregate,
    compute_daily_rollup,
    handoff_category,
    local_day_bounds,
    percentile,
)

SP = "America/Sao_Paulo"  # UTC-3, no DST since 2019
DAY = date(2026, 11, 24)
NOON = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # 12:00 in São Paulo


def at(minutes: float, base: datetime = NOON) -> datetime:
    return base + timedelta(minutes=minutes)


def lead(minutes: float, base: datetime = NOON) -> MessageFact:
    return MessageFact(role="lead", at=at(minutes, base))


def bot(minutes: float, base: datetime = NOON, state: str = "sent", followup: bool = False) -> MessageFact:
    return MessageFact(role="agent", at=at(minutes, base), state=state, followup=followup)


def human(minutes: float) -> MessageFact:
    return MessageFact(role="human", at=at(minutes))


def conversation(*messages: MessageFact, cid: str = "c1", agent: str = "vendas",
                 began_before: bool = False) -> ConversationFacts:
    return ConversationFacts(conversation_id=cid, agent_id=agent, messages=list(messages), began_before=began_before)


def event(kind: str, minutes: float = 0, cid: str = "c1", contact: str = "k1", **extra: str) -> EventFact:
    return EventFact(type=kind, occurred_at=at(minutes), conversation_id=cid, contact_key=contact, **extra)


def rollup(conversations=(), events=(), costs=(), agent: str = "vendas", day: date = DAY) -> DailyRollup:  # noqa: ANN001
    return compute_daily_rollup(agent, day, SP, list(conversations), list(events), list(costs))


def test_new_leads_count_each_contact_once_and_only_on_its_local_day() -> None:
    convs = [conversation(lead(0), cid="c1"), conversation(lead(0), cid="c2")]
    late_evening = datetime(2026, 11, 25, 2, 30, tzinfo=UTC)  # 23:30 on the 24th in São Paulo
    events = [event("LeadCreated", cid="c1", contact="k1"), event("LeadCreated", 5, cid="c1", contact="k1"),
              EventFact(type="LeadCreated", occurred_at=late_evening, conversation_id="c2", contact_key="k2"),
              event("LeadCreated", 60 * 24, cid="c2", contact="k3")]  # the next day
    assert rollup(convs, events).new_leads == 2


def test_facts_of_another_agent_are_not_counted() -> None:
    convs = [conversation(lead(0), bot(1), cid="c1", agent="suporte")]
    result = rollup(convs, [event("LeadCreated")], [CostFact(agent_id="suporte", at=at(1), cost_usd=0.5)])
    assert (result.new_leads, result.conversations_answered, result.model_cost_usd) == (0, 0, 0.0)


def test_leads_qualified_meetings_and_opt_outs_count_distinct_contacts() -> None:
    convs = [conversation(lead(0), cid="c1"), conversation(lead(0), cid="c2")]
    events = [event("LeadQualified", contact="k1"), event("LeadQualified", 3, contact="k1"),
              event("LeadQualified", cid="c2", contact="k2"), event("MeetingRequested", contact="k1"),
              event("LeadOptedOut", cid="c2", contact="k2")]
    result = rollup(convs, events)
    assert (result.leads_qualified, result.meetings_requested, result.opt_outs) == (2, 1, 1)


def test_handoffs_are_counted_by_reason_category() -> None:
    convs = [conversation(lead(0))]
    events = [event("HandoffRequested", requested_by="agent", reason="no confident answer in the knowledge base"),
              event("HandoffRequested", 1, requested_by="agent", reason="the model could not answer"),
              event("HandoffRequested", 2, requested_by="lead", reason="quer falar com alguém"),
              event("HandoffRequested", 3, requested_by="agent", reason="o cliente pediu um humano"),
              event("HandoffRequested", 4, requested_by="agent", reason="preço fora da tabela")]
    result = rollup(convs, events)
    assert result.handoffs == {"agent_unsure": 1, "knowledge_gap": 1, "lead_asked": 2, "model_failure": 1}
    assert result.handoffs_total == 5


def test_a_conversation_is_answered_when_a_reply_reached_the_lead_that_day() -> None:
    convs = [conversation(lead(0), bot(1), cid="answered"),
             conversation(lead(0), bot(1, state="failed"), cid="failed"),
             conversation(lead(0), bot(1, state="suggested"), cid="copilot-draft"),
             conversation(lead(0), human(5), cid="by-human")]
    assert rollup(convs).conversations_answered == 2


def test_time_to_first_reply_is_split_between_bot_and_human_for_new_conversations() -> None:
    convs = [conversation(lead(0), lead(0.5), bot(1), cid="a"),   # 60 s by the bot
             conversation(lead(0), bot(3), cid="b"),              # 180 s by the bot
             conversation(lead(0), human(10), cid="c"),           # 600 s by a human
             conversation(lead(0), bot(2), cid="old", began_before=True)]  # not a new conversation
    result = rollup(convs)
    assert result.first_reply_bot.count == 2
    assert result.first_reply_bot.p50 == pytest.approx(120.0)
    assert result.first_reply_bot.p90 == pytest.approx(168.0)
    assert (result.first_reply_human.count, result.first_reply_human.p50) == (1, 600.0)


def test_human_response_time_and_leads_answered_by_a_human() -> None:
    convs = [conversation(lead(0), bot(1), lead(5), human(8), lead(20), lead(21), human(30), cid="a",
                          began_before=True)]
    result = rollup(convs)
    assert result.human_response.samples == [180.0, 600.0]
    assert result.leads_answered_by_human == 2


def test_a_takeover_is_a_human_stepping_in_after_the_bot_or_the_lead() -> None:
    convs = [conversation(lead(0), bot(1), lead(2), human(3), human(4), lead(5), human(6), cid="a"),
             conversation(lead(0), bot(1), cid="b")]
    assert rollup(convs).human_takeovers == 1  # h(3) steps in; h(4) and h(6) continue the seller's conversation


def test_followups_sent_and_answered() -> None:
    convs = [conversation(lead(0), bot(1), bot(60, followup=True), lead(90), cid="answered", began_before=True),
             conversation(lead(0), bot(1), bot(60, followup=True), bot(180, followup=True), cid="silent",
                          began_before=True)]
    result = rollup(convs)
    assert (result.followups_sent, result.followups_answered) == (3, 1)


def test_model_cost_sums_priced_calls_and_counts_unpriced_ones_apart() -> None:
    costs = [CostFact(agent_id="vendas", at=at(0), cost_usd=0.0012),
             CostFact(agent_id="vendas", at=at(5), cost_usd=0.0008),
             CostFact(agent_id="vendas", at=at(6), cost_usd=None),
             CostFact(agent_id="vendas", at=at(60 * 24), cost_usd=9.0)]  # tomorrow
    result = rollup([conversation(lead(0))], [event("LeadCreated"), event("LeadQualified")], costs)
    assert (result.model_calls, result.unpriced_model_calls) == (3, 1)
    assert result.model_cost_usd == pytest.approx(0.002)
    assert result.cost_per_lead_usd == pytest.approx(0.002)
    assert result.cost_per_qualified_lead_usd == pytest.approx(0.002)


def test_cost_per_lead_is_unknown_without_leads() -> None:
    result = rollup(costs=[CostFact(agent_id="vendas", at=at(0), cost_usd=0.01)])
    assert result.cost_per_lead_usd is None and result.cost_per_qualified_lead_usd is None


def test_a_day_is_the_agents_local_day() -> None:
    start, end = local_day_bounds(DAY, SP)
    assert start.astimezone(UTC) == datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
    assert (end - start) == timedelta(hours=24)
    before_midnight = datetime(2026, 11, 25, 2, 59, tzinfo=UTC)
    costs = [CostFact(agent_id="vendas", at=before_midnight, cost_usd=1.0)]
    assert rollup(costs=costs).model_cost_usd == 1.0
    assert rollup(costs=costs, day=date(2026, 11, 25)).model_cost_usd == 0.0


def test_a_burst_started_the_evening_before_belongs_to_that_day() -> None:
    evening = datetime(2026, 11, 24, 2, 50, tzinfo=UTC)  # 23:50 on the 23rd in São Paulo
    conv = ConversationFacts(conversation_id="c", agent_id="vendas", began_before=False, messages=[
        MessageFact(role="lead", at=evening), MessageFact(role="agent", at=evening + timedelta(minutes=20),
                                                          state="sent")])
    assert rollup([conv]).first_reply_bot.count == 0
    assert rollup([conv], day=date(2026, 11, 23)).first_reply_bot.samples == [1200.0]


def test_recomputing_a_day_gives_the_same_rollup() -> None:
    convs = [conversation(lead(0), bot(1), human(5))]
    events = [event("LeadCreated"), event("HandoffRequested", requested_by="lead", reason="x")]
    assert rollup(convs, events) == rollup(convs, events)


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([], 50) is None
    assert percentile([10.0], 90) == 10.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert Percentiles.of([5.0, 1.0, 3.0]).samples == [1.0, 3.0, 5.0]


def test_a_week_aggregates_days_and_recomputes_percentiles_from_samples() -> None:
    monday = rollup([conversation(lead(0), bot(1), cid="a")], [event("LeadCreated", cid="a")],
                    [CostFact(agent_id="vendas", at=at(0), cost_usd=0.01)])
    tuesday_convs = [conversation(lead(0, NOON + timedelta(days=1)), bot(5, NOON + timedelta(days=1)), cid="b")]
    tuesday = compute_daily_rollup("vendas", DAY + timedelta(days=1), SP, tuesday_convs,
                                   [event("LeadCreated", 60 * 24, cid="b", contact="k2")], [])
    report = aggregate("t1", DAY, DAY + timedelta(days=6), [monday, tuesday])
    assert (report.days, report.new_leads, report.conversations_answered) == (7, 2, 2)
    assert report.first_reply_bot.samples == [60.0, 300.0]
    assert report.first_reply_bot.p50 == pytest.approx(180.0)
    assert report.cost_per_lead_usd == pytest.approx(0.005)
    assert "samples" not in report.public()["first_reply_bot"]
    assert aggregate("t1", DAY, DAY, [monday, tuesday]).new_leads == 1


def test_handoff_category_defaults_to_the_agent_being_unsure() -> None:
    assert handoff_category("agent", "") == "agent_unsure"
    assert handoff_category("lead", "anything") == "lead_asked"


def _week(**numbers: object) -> "PeriodReport":
    from shared.domain.business_metrics import PeriodReport

    return PeriodReport(tenant_id="t1", start=date(2026, 11, 16), end=date(2026, 11, 22), days=7, **numbers)


def test_the_digest_shows_the_funnel_with_the_change_from_the_week_before() -> None:
    from shared.domain.business_metrics import compose_digest

    week = _week(new_leads=12, leads_qualified=5, meetings_requested=2, handoffs={"knowledge_gap": 3},
                 human_takeovers=1, model_cost_usd=1.2, cost_per_lead_usd=0.1,
                 first_reply_bot=Percentiles.of([4.0, 6.0, 300.0]), human_response=Percentiles.of([1800.0]))
    text = compose_digest("Solar Prime", week, _week(new_leads=10, leads_qualified=5), ["Vocês instalam em Goiás?"])
    assert "semana de 16/11 a 22/11" in text
    assert "Leads novos: 12 (+20% vs. semana anterior)" in text
    assert "Qualificados: 5 (=)" in text and "Reuniões pedidas: 2 (novo)" in text
    assert "mais rápida 4 s" in text and "mais lenta 5 min" in text
    assert "Resposta dos vendedores: mediana 30 min" in text
    assert "US$ 1.20 (US$ 0.10 por lead)" in text
    assert "• Vocês instalam em Goiás?" in text
    assert "http" not in text


def test_digest_template_parameters_hold_no_newline_tab_or_long_space_run() -> None:
    from shared.domain.business_metrics import digest_template_params

    params = digest_template_params("Solar\tPrime     Energia\n", _week(new_leads=3), _week(new_leads=0))
    assert params == ["Solar Prime Energia", "16/11 a 22/11", "3 (novo)", "0 (=)", "0", "US$ 0.00"]


def test_top_questions_rank_by_how_often_they_were_asked() -> None:
    from shared.domain.business_metrics import top_questions

    asked = ["Tem garantia?", "Instalam em Goiás?", "tem  garantia?", "Aceitam PIX?", "TEM GARANTIA?", "", "Aceitam pix?"]
    assert top_questions(asked, 2) == ["Tem garantia?", "Aceitam PIX?"]


def test_the_digest_covers_the_last_full_week_in_sao_paulo() -> None:
    from shared.services.business_metrics import last_full_week

    monday_morning = datetime(2026, 11, 30, 11, 0, tzinfo=UTC)  # 08:00 in São Paulo
    assert last_full_week(monday_morning) == (date(2026, 11, 23), date(2026, 11, 29))
    sunday_night_utc = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # still Sunday 22:00 in São Paulo
    assert last_full_week(sunday_night_utc) == (date(2026, 11, 16), date(2026, 11, 22))


def test_an_invalid_tenant_document_skips_that_owners_digest_without_failing_the_run() -> None:
    from shared.domain.errors import InvalidConfiguration
    from shared.services.business_metrics import DigestDeps, MetricsDeps, send_weekly_digests

    class Facts:
        def active_tenants(self) -> list[str]:
            return ["broken"]

        def tenant(self, tenant_id: str):  # noqa: ANN201
            raise InvalidConfiguration(f"tenants/{tenant_id}", ["actve: Extra inputs are not permitted"])

    facts = Facts()
    deps = DigestDeps(metrics=MetricsDeps(facts=facts, rollups=None), directory=facts,  # type: ignore[arg-type]
                      log=None, sender_for=lambda provider: None)  # type: ignore[arg-type]
    run = send_weekly_digests(deps)
    assert (run.skipped, run.failed) == (1, 0)
