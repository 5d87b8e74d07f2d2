"""The owner's numbers: one agent's business day, computed from the facts Piloto already stores.

A daily rollup is a pure function of stored documents (messages, domain events, model calls), never a
counter bumped on the way: every one of those documents is itself written once (a `create()`, an
event id, a claimed reply), so recomputing a day any number of times gives the same rollup, and a
retried task, a redelivered event or a second run of the job can never count a fact twice.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from shared.domain.audit import SellerWeek

# Samples kept per list on a rollup document, enough for p50/p90 over a week of an SMB's days while keeping
# the document far below Firestore's 1 MiB limit. A day with more replies keeps an evenly spread subset.
MAX_SAMPLES = 2000

_SENT_STATES = {"sent", "delivered", "read"}


class AgentClock(BaseModel):
    """An agent and the time zone its days are counted in (its follow-up cadence's time zone)."""

    agent_id: str
    time_zone: str


class MessageFact(BaseModel):
    """What a rollup needs of one stored message (tenants/{t}/conversations/{c}/messages/{m})."""

    role: str = Field(description="lead, agent or human")
    at: datetime = Field(description="stored_at: Piloto's clock, the order of the conversation")
    state: str | None = Field(default=None, description="outbound delivery state; None for inbound")
    followup: bool = Field(default=False, description="an agent message sent by the follow-up cadence")

    @property
    def is_outbound(self) -> bool:
        """A message that reached the lead: a sent agent reply, or a human's message from the business phone."""
        return self.role == "human" or (self.role == "agent" and (self.state or "") in _SENT_STATES)


class ConversationFacts(BaseModel):
    """One conversation's messages around the day (ordered by `at`) and whether it began before them."""

    conversation_id: str
    agent_id: str
    messages: list[MessageFact]
    began_before: bool = Field(description="an earlier message exists before the first one given here")


class EventFact(BaseModel):
    """A domain event from the outbox: its type, when it happened, whose contact, and a reason where it has one."""

    type: str
    occurred_at: datetime
    conversation_id: str
    contact_key: str
    requested_by: str | None = None
    reason: str | None = None


class CostFact(BaseModel):
    """One model call from the usage ledger; cost_usd None means the model has no configured price."""

    agent_id: str
    at: datetime
    cost_usd: float | None


class Percentiles(BaseModel):
    """Response times in seconds: how many, the median, the 90th percentile and the samples behind them."""

    count: int = 0
    p50: float | None = None
    p90: float | None = None
    samples: list[float] = Field(default_factory=list, description="kept so a week can be re-aggregated exactly")

    @classmethod
    def of(cls, samples: Iterable[float]) -> Percentiles:
        ordered = sorted(samples)
        kept = _spread(ordered, MAX_SAMPLES)
        return cls(count=len(ordered), p50=percentile(ordered, 50), p90=percentile(ordered, 90), samples=kept)


class DailyRollup(BaseModel):
    """tenants/{t}/daily_metrics/{agent_id}:{YYYY-MM-DD}: one agent's day, in the agent's time zone."""

    agent_id: str
    day: date
    time_zone: str
    new_leads: int = 0
    conversations_answered: int = 0
    leads_qualified: int = 0
    meetings_requested: int = 0
    handoffs: dict[str, int] = Field(default_factory=dict, description="by reason category (HANDOFF_CATEGORIES)")
    human_takeovers: int = 0
    leads_answered_by_human: int = 0
    opt_outs: int = 0
    followups_sent: int = 0
    followups_answered: int = 0
    first_reply_bot: Percentiles = Field(default_factory=Percentiles,
                                         description="a new conversation's first lead message → the bot's reply")
    first_reply_human: Percentiles = Field(default_factory=Percentiles,
                                           description="a new conversation's first lead message → a human's reply")
    human_response: Percentiles = Field(default_factory=Percentiles,
                                        description="any lead burst → the human seller's answer")
    model_cost_usd: float = 0.0
    unpriced_model_calls: int = Field(default=0, description="calls whose model has no price: cost unknown, not 0")
    model_calls: int = 0

    @property
    def handoffs_total(self) -> int:
        return sum(self.handoffs.values())

    @property
    def cost_per_lead_usd(self) -> float | None:
        return _ratio(self.model_cost_usd, self.new_leads)

    @property
    def cost_per_qualified_lead_usd(self) -> float | None:
        return _ratio(self.model_cost_usd, self.leads_qualified)


HANDOFF_CATEGORIES = ("lead_asked", "knowledge_gap", "model_failure", "agent_unsure")


def handoff_category(requested_by: str | None, reason: str | None) -> str:
    """A closed set of reasons for the dashboard; the free text the model gave stays on the event."""
    text = (reason or "").lower()
    if requested_by == "lead":
        return "lead_asked"
    if "knowledge base" in text:
        return "knowledge_gap"  # the search_knowledge tool found no confident answer (services/tools.py)
    if "model could not answer" in text:
        return "model_failure"  # every tier failed (services/brain.py): the holding message went out
    if any(word in text for word in ("human", "humano", "atendente", "vendedor", "pessoa", "asked", "pediu")):
        return "lead_asked"
    return "agent_unsure"


def local_day_bounds(day: date, time_zone: str) -> tuple[datetime, datetime]:
    """[start, end) of a calendar day in a time zone, as aware datetimes (23 or 25 hours around DST changes)."""
    zone = ZoneInfo(time_zone)
    start = datetime.combine(day, time.min, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    return start, end


def local_day(at: datetime, time_zone: str) -> date:
    return at.astimezone(ZoneInfo(time_zone)).date()


def compute_daily_rollup(agent_id: str, day: date, time_zone: str, conversations: Sequence[ConversationFacts],
                         events: Sequence[EventFact], costs: Sequence[CostFact]) -> DailyRollup:
    """The agent's day. Facts of other agents or days may be passed: only this agent's day counts."""
    start, end = local_day_bounds(day, time_zone)

    def today(at: datetime) -> bool:
        return start <= at < end

    mine = [c for c in conversations if c.agent_id == agent_id]
    my_conversations = {c.conversation_id for c in mine}
    rollup = DailyRollup(agent_id=agent_id, day=day, time_zone=time_zone)
    _count_events(rollup, [e for e in events if e.conversation_id in my_conversations and today(e.occurred_at)])

    bot_first, human_first, human_any = [], [], []
    for conversation in mine:
        facts = _ConversationDay.read(conversation, today)
        rollup.conversations_answered += facts.answered
        rollup.human_takeovers += facts.takeovers
        rollup.leads_answered_by_human += facts.answered_by_human
        rollup.followups_sent += facts.followups_sent
        rollup.followups_answered += facts.followups_answered
        human_any += facts.human_response
        if facts.first_reply is not None:
            (bot_first if facts.first_reply[0] == "agent" else human_first).append(facts.first_reply[1])
    rollup.first_reply_bot = Percentiles.of(bot_first)
    rollup.first_reply_human = Percentiles.of(human_first)
    rollup.human_response = Percentiles.of(human_any)

    for cost in costs:
        if cost.agent_id != agent_id or not today(cost.at):
            continue
        rollup.model_calls += 1
        if cost.cost_usd is None:
            rollup.unpriced_model_calls += 1
        else:
            rollup.model_cost_usd += cost.cost_usd
    rollup.model_cost_usd = round(rollup.model_cost_usd, 6)
    return rollup


def _count_events(rollup: DailyRollup, events: Sequence[EventFact]) -> None:
    """Each fact once per contact and day: a lead qualified twice in a day is one qualified lead."""
    seen: dict[str, set[str]] = {}
    handoffs: Counter[str] = Counter()
    for event in events:
        if event.type == "HandoffRequested":
            handoffs[handoff_category(event.requested_by, event.reason)] += 1
            continue
        contacts = seen.setdefault(event.type, set())
        if event.contact_key in contacts:
            continue
        contacts.add(event.contact_key)
    rollup.new_leads = len(seen.get("LeadCreated", ()))
    rollup.leads_qualified = len(seen.get("LeadQualified", ()))
    rollup.meetings_requested = len(seen.get("MeetingRequested", ()))
    rollup.opt_outs = len(seen.get("LeadOptedOut", ()))
    rollup.handoffs = dict(sorted(handoffs.items()))


class _ConversationDay:
    """One pass over a conversation's messages: the day's facts, attributed to the day the lead wrote."""

    def __init__(self) -> None:
        self.answered = 0
        self.takeovers = 0
        self.answered_by_human = 0
        self.followups_sent = 0
        self.followups_answered = 0
        self.human_response: list[float] = []
        self.first_reply: tuple[str, float] | None = None

    @classmethod
    def read(cls, conversation: ConversationFacts, in_day: Callable[[datetime], bool]) -> _ConversationDay:
        facts = cls()
        messages = sorted(conversation.messages, key=lambda m: m.at)
        burst_start: datetime | None = None  # first lead message not yet answered
        first_burst = not conversation.began_before
        last_speaker: str | None = None  # role of the business's last outbound message
        pending_followup = False
        answered_today = False
        for message in messages:
            if message.role == "lead":
                if pending_followup and in_day(message.at):
                    facts.followups_answered += 1
                pending_followup = False
                burst_start = burst_start or message.at
            elif message.is_outbound:
                if message.followup:
                    pending_followup = True
                    if in_day(message.at):
                        facts.followups_sent += 1
                if in_day(message.at):
                    answered_today = True
                # A takeover is the seller speaking where the bot spoke last (or before anyone did); the
                # seller's later messages continue the conversation they took.
                if message.role == "human" and last_speaker != "human" and in_day(message.at):
                    facts.takeovers += 1
                last_speaker = message.role
                if burst_start is not None:
                    delay = (message.at - burst_start).total_seconds()
                    if in_day(burst_start):
                        if first_burst and not message.followup:
                            facts.first_reply = (message.role, delay)
                        if message.role == "human":
                            facts.human_response.append(delay)
                            facts.answered_by_human += 1
                    burst_start = None
                    first_burst = False
        facts.answered = int(answered_today)
        return facts


def percentile(ordered: Sequence[float], p: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None for no samples."""
    if not ordered:
        return None
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    value = ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
    return round(value, 3)


def _spread(ordered: Sequence[float], limit: int) -> list[float]:
    if len(ordered) <= limit:
        return list(ordered)
    step = len(ordered) / limit
    return [ordered[int(i * step)] for i in range(limit)]


def _ratio(total: float, count: int) -> float | None:
    return round(total / count, 6) if count else None


class PeriodReport(BaseModel):
    """Several days of one tenant (all agents or one), summed, with percentiles over every sample."""

    tenant_id: str
    agent_id: str | None = None
    start: date
    end: date = Field(description="inclusive")
    days: int
    new_leads: int = 0
    conversations_answered: int = 0
    leads_qualified: int = 0
    meetings_requested: int = 0
    handoffs: dict[str, int] = Field(default_factory=dict)
    human_takeovers: int = 0
    leads_answered_by_human: int = 0
    opt_outs: int = 0
    followups_sent: int = 0
    followups_answered: int = 0
    first_reply_bot: Percentiles = Field(default_factory=Percentiles)
    first_reply_human: Percentiles = Field(default_factory=Percentiles)
    human_response: Percentiles = Field(default_factory=Percentiles)
    model_cost_usd: float = 0.0
    unpriced_model_calls: int = 0
    model_calls: int = 0
    cost_per_lead_usd: float | None = None
    cost_per_qualified_lead_usd: float | None = None

    def public(self) -> dict:
        """JSON for the report API and the digest: percentiles without their raw samples."""
        body = self.model_dump(mode="json")
        for key in ("first_reply_bot", "first_reply_human", "human_response"):
            body[key].pop("samples", None)
        return body


_SUMMED = ("new_leads", "conversations_answered", "leads_qualified", "meetings_requested", "human_takeovers",
           "leads_answered_by_human", "opt_outs", "followups_sent", "followups_answered", "unpriced_model_calls",
           "model_calls")


def aggregate(tenant_id: str, start: date, end: date, rollups: Iterable[DailyRollup],
              agent_id: str | None = None) -> PeriodReport:
    """Sum days [start, end] (inclusive); percentiles are recomputed from the kept samples, never averaged."""
    report = PeriodReport(tenant_id=tenant_id, agent_id=agent_id, start=start, end=end,
                          days=(end - start).days + 1)
    samples: dict[str, list[float]] = {"first_reply_bot": [], "first_reply_human": [], "human_response": []}
    handoffs: Counter[str] = Counter()
    cost = 0.0
    for rollup in rollups:
        if not start <= rollup.day <= end or (agent_id is not None and rollup.agent_id != agent_id):
            continue
        for name in _SUMMED:
            setattr(report, name, getattr(report, name) + getattr(rollup, name))
        handoffs.update(rollup.handoffs)
        cost += rollup.model_cost_usd
        for name, bucket in samples.items():
            bucket.extend(getattr(rollup, name).samples)
    report.handoffs = dict(sorted(handoffs.items()))
    report.model_cost_usd = round(cost, 6)
    for name, bucket in samples.items():
        setattr(report, name, Percentiles.of(bucket))
    report.cost_per_lead_usd = _ratio(report.model_cost_usd, report.new_leads)
    report.cost_per_qualified_lead_usd = _ratio(report.model_cost_usd, report.leads_qualified)
    return report


# --- The owner's weekly digest -----------------------------------------------------------------------------

# Meta refuses template parameters holding a newline, a tab or more than four consecutive spaces (Graph API
# error "Param text cannot have new-line/tab characters or more than 4 consecutive spaces";
# https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes/).
_TEMPLATE_SPACES = re.compile(r"\s+")


def _change(now: int, before: int) -> str:
    if before == 0:
        return "novo" if now else "="
    delta = round((now - before) * 100 / before)
    return f"{delta:+d}%" if delta else "="


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _money(usd: float | None) -> str:
    return "—" if usd is None else f"US$ {usd:.2f}"


def compose_digest(business_name: str, week: PeriodReport, previous: PeriodReport,
                   unanswered: Sequence[str], sellers: Sequence[SellerWeek] = ()) -> str:
    """The owner's WhatsApp summary of a week, in Portuguese, without links: short enough to read on a phone."""
    bot, human = week.first_reply_bot, week.human_response
    lines = [
        f"📊 *{business_name}* — semana de {week.start:%d/%m} a {week.end:%d/%m}",
        f"Leads novos: {week.new_leads} ({_change(week.new_leads, previous.new_leads)} vs. semana anterior)",
        f"Qualificados: {week.leads_qualified} ({_change(week.leads_qualified, previous.leads_qualified)})",
        f"Reuniões pedidas: {week.meetings_requested} "
        f"({_change(week.meetings_requested, previous.meetings_requested)})",
        f"Encaminhados a um vendedor: {sum(week.handoffs.values())}; assumidos por vendedor: {week.human_takeovers}",
        f"1ª resposta do robô: mediana {_duration(bot.p50)}, mais rápida {_duration(min(bot.samples, default=None))},"
        f" mais lenta {_duration(max(bot.samples, default=None))}",
        f"Resposta dos vendedores: mediana {_duration(human.p50)}, mais lenta "
        f"{_duration(max(human.samples, default=None))}",
        f"Custo de IA: {_money(week.model_cost_usd)} ({_money(week.cost_per_lead_usd)} por lead)",
    ]
    if week.unpriced_model_calls:
        lines.append(f"({week.unpriced_model_calls} chamadas sem preço configurado não entram no custo)")
    for seller in sellers[:5]:
        score = "—" if seller.average_score is None else f"{seller.average_score:.1f}/5"
        lines.append(f"Auditoria de {seller.seller}: {seller.conversations} conversa(s), nota {score}, "
                     f"1ª resposta mediana {_duration(seller.first_response_p50_s)}, próximo passo combinado em "
                     f"{round((seller.next_step_rate or 0) * 100)}%")
    if unanswered:
        lines.append("Perguntas que o robô não soube responder:")
        lines += [f"• {question[:120]}" for question in unanswered[:3]]
    return "\n".join(lines)


def digest_template_params(business_name: str, week: PeriodReport, previous: PeriodReport) -> list[str]:
    """The same week as one-line values for an approved template's {{1}}…{{6}} (Meta, outside the 24 h window)."""
    values = [business_name, f"{week.start:%d/%m} a {week.end:%d/%m}",
              f"{week.new_leads} ({_change(week.new_leads, previous.new_leads)})",
              f"{week.leads_qualified} ({_change(week.leads_qualified, previous.leads_qualified)})",
              str(week.meetings_requested), _money(week.model_cost_usd)]
    return [_TEMPLATE_SPACES.sub(" ", value).strip() or "—" for value in values]


def top_questions(questions: Iterable[str], limit: int = 3) -> list[str]:
    """The most asked open questions first (case- and space-insensitive), each in the words first seen."""
    counts: Counter[str] = Counter()
    first_words: dict[str, str] = {}
    for question in questions:
        key = " ".join(question.lower().split())
        if not key:
            continue
        counts[key] += 1
        first_words.setdefault(key, question.strip())
    return [first_words[key] for key, _ in counts.most_common(limit)]
