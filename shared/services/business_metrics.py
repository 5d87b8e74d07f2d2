"""The owner's numbers: daily rollups per tenant and agent, recomputed from stored facts, and reports over them.

`roll_up` is what Cloud Scheduler runs (metrics_rollup): for every active tenant and agent it recomputes
yesterday and today in the agent's time zone and writes the rollup documents with `set()`. Recomputing
is the idempotency: the same facts give the same document, whatever retried. Once a day is over (plus a
grace for late writes), its rollup is *sealed*: a `create()` marker lets exactly one run log the
"business day closed" line that the log-based metrics and the dashboard read, so a second run or a
retry never counts a day twice in Cloud Monitoring either.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from shared import log
from shared.domain.business_metrics import (
    AgentClock,
    ConversationFacts,
    CostFact,
    DailyRollup,
    EventFact,
    PeriodReport,
    aggregate,
    compose_digest,
    compute_daily_rollup,
    digest_template_params,
    local_day,
    local_day_bounds,
    top_questions,
)
from shared.domain.audit import iso_week
from shared.domain.errors import InvalidConfiguration, InvalidPayload, ProviderRejected, UnknownTenant
from shared.domain.inbound import Provider
from shared.domain.phone import mask_phone
from shared.services.audits import week_by_seller

if TYPE_CHECKING:
    from collections.abc import Callable

    from shared.domain.tenancy import Channel, Tenant
    from shared.services.audits import AuditStore
    from shared.ports import MessageSender

logger = logging.getLogger(__name__)

# Messages before the day are read this far back, so a burst the lead started late the evening before is
# still attributed correctly and a conversation's first message is recognised.
CONTEXT = timedelta(days=1)
# A day is sealed (logged once for the dashboard) this long after it ends: late status callbacks and
# follow-ups of the last minutes are in by then.
SEAL_GRACE = timedelta(hours=2)
MAX_REPORT_DAYS = 92


class BusinessFacts(Protocol):
    """Reads the stored facts of one tenant (Firestore in production)."""

    def active_tenants(self) -> list[str]: ...

    def tenant_exists(self, tenant_id: str) -> bool: ...

    def agent_clocks(self, tenant_id: str) -> list[AgentClock]: ...

    def conversations(self, tenant_id: str, since: datetime, until: datetime) -> list[ConversationFacts]: ...

    def events(self, tenant_id: str, since: datetime, until: datetime) -> list[EventFact]: ...

    def model_costs(self, tenant_id: str, since: datetime, until: datetime) -> list[CostFact]: ...


class RollupStore(Protocol):
    """tenants/{t}/daily_metrics/{agent}:{day} and the seal markers."""

    def save_rollup(self, tenant_id: str, rollup: DailyRollup) -> None: ...

    def rollups(self, tenant_id: str, start: date, end: date) -> list[DailyRollup]: ...

    def seal(self, tenant_id: str, agent_id: str, day: date) -> bool:
        """True for the one caller that sealed the day (create()), False when it already was."""
        ...


@dataclass
class MetricsDeps:
    facts: BusinessFacts
    rollups: RollupStore
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


@dataclass
class RollupReport:
    tenants: int = 0
    rollups_written: int = 0
    days_sealed: int = 0
    failed_tenants: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"tenants": self.tenants, "rollups_written": self.rollups_written, "days_sealed": self.days_sealed,
                "failed_tenants": len(self.failed_tenants)}


def roll_up(deps: MetricsDeps) -> RollupReport:
    """Every active tenant: yesterday and today recomputed, yesterday sealed once it is safely over."""
    report = RollupReport()
    now = deps.now()
    for tenant_id in deps.facts.active_tenants():
        report.tenants += 1
        try:
            with log.bound(tenant_id=tenant_id):
                written, sealed = roll_up_tenant(tenant_id, deps, now)
        except Exception:  # noqa: BLE001 - one tenant's bad data must not stop the others' numbers
            logger.exception("business rollup failed for a tenant")
            report.failed_tenants.append(tenant_id)
            continue
        report.rollups_written += written
        report.days_sealed += sealed
    return report


def roll_up_tenant(tenant_id: str, deps: MetricsDeps, now: datetime) -> tuple[int, int]:
    """Recompute the tenant's agents' yesterday and today; returns (rollups written, days sealed)."""
    clocks = deps.facts.agent_clocks(tenant_id)
    days_by_agent = {c.agent_id: _recent_days(c.time_zone, now) for c in clocks}
    all_days = [d for days in days_by_agent.values() for d in days]
    if not all_days:
        return 0, 0
    since, until = _window(clocks, min(all_days), max(all_days))
    conversations = deps.facts.conversations(tenant_id, since - CONTEXT, until)
    events = deps.facts.events(tenant_id, since, until)
    costs = deps.facts.model_costs(tenant_id, since, until)
    written = sealed = 0
    for clock in clocks:
        for day in days_by_agent[clock.agent_id]:
            rollup = compute_daily_rollup(clock.agent_id, day, clock.time_zone, conversations, events, costs)
            deps.rollups.save_rollup(tenant_id, rollup)
            written += 1
            if now >= local_day_bounds(day, clock.time_zone)[1] + SEAL_GRACE \
                    and deps.rollups.seal(tenant_id, clock.agent_id, day):
                _log_closed_day(rollup)
                sealed += 1
    return written, sealed


def tenant_report(tenant_id: str, start: date, end: date, deps: MetricsDeps,
                  agent_id: str | None = None) -> PeriodReport:
    """The tenant's numbers for [start, end] (inclusive, agents' local days). Recent days are recomputed live."""
    if end < start:
        raise InvalidPayload("end: must not be before start")
    if (end - start).days + 1 > MAX_REPORT_DAYS:
        raise InvalidPayload(f"end: a report covers at most {MAX_REPORT_DAYS} days")
    if not deps.facts.tenant_exists(tenant_id):
        raise UnknownTenant(f"no tenant {tenant_id}")
    stored = {(r.agent_id, r.day): r for r in deps.rollups.rollups(tenant_id, start, end)}
    now = deps.now()
    clocks = deps.facts.agent_clocks(tenant_id)
    live = [(c, d) for c in clocks for d in _recent_days(c.time_zone, now) if start <= d <= end]
    if live:
        since, until = _window([c for c, _ in live], min(d for _, d in live), max(d for _, d in live))
        conversations = deps.facts.conversations(tenant_id, since - CONTEXT, until)
        events = deps.facts.events(tenant_id, since, until)
        costs = deps.facts.model_costs(tenant_id, since, until)
        for clock, day in live:
            stored[(clock.agent_id, day)] = compute_daily_rollup(clock.agent_id, day, clock.time_zone,
                                                                 conversations, events, costs)
    return aggregate(tenant_id, start, end, stored.values(), agent_id=agent_id)


def _recent_days(time_zone: str, now: datetime) -> list[date]:
    today = local_day(now, time_zone)
    return [today - timedelta(days=1), today]


def _window(clocks: list[AgentClock], first: date, last: date) -> tuple[datetime, datetime]:
    """The UTC span covering [first, last] in every agent's zone."""
    starts = [local_day_bounds(first, c.time_zone)[0] for c in clocks]
    ends = [local_day_bounds(last, c.time_zone)[1] for c in clocks]
    return min(starts).astimezone(UTC), max(ends).astimezone(UTC)


def _log_closed_day(rollup: DailyRollup) -> None:
    """One line per agent and closed day: the log-based metrics of the business dashboard count these."""
    log.log(logger, logging.INFO, "business day closed", agent_id=rollup.agent_id, day=rollup.day.isoformat(),
            new_leads=rollup.new_leads, conversations_answered=rollup.conversations_answered,
            leads_qualified=rollup.leads_qualified, meetings_requested=rollup.meetings_requested,
            handoffs=rollup.handoffs_total, human_takeovers=rollup.human_takeovers,
            opt_outs=rollup.opt_outs, followups_sent=rollup.followups_sent,
            first_reply_bot_p50_s=rollup.first_reply_bot.p50, first_reply_bot_p90_s=rollup.first_reply_bot.p90,
            human_response_p50_s=rollup.human_response.p50, model_cost_usd=rollup.model_cost_usd,
            cost_per_lead_usd=rollup.cost_per_lead_usd)


# --- The owner's weekly digest -----------------------------------------------------------------------------

class DigestDirectory(Protocol):
    """The tenant, its channels and the open questions of a week (Firestore in production)."""

    def tenant(self, tenant_id: str) -> Tenant | None: ...

    def channels(self, tenant_id: str) -> list[Channel]: ...

    def unanswered_questions(self, tenant_id: str, since: datetime, until: datetime) -> list[str]: ...


class DigestLog(Protocol):
    """tenants/{t}/digests/{week}: one digest per tenant and week, claimed before it is sent."""

    def claim(self, tenant_id: str, week_id: str) -> bool: ...

    def release(self, tenant_id: str, week_id: str) -> None: ...

    def finish(self, tenant_id: str, week_id: str, outcome: str, detail: str) -> None: ...


@dataclass
class DigestDeps:
    metrics: MetricsDeps
    directory: DigestDirectory
    log: DigestLog
    sender_for: Callable[[Provider], MessageSender]
    audits: AuditStore | None = None


@dataclass
class DigestRun:
    sent: int = 0
    skipped: int = 0
    already_sent: int = 0
    failed: int = 0

    def as_dict(self) -> dict:
        return {"sent": self.sent, "skipped": self.skipped, "already_sent": self.already_sent, "failed": self.failed}


DIGEST_TIME_ZONE = "America/Sao_Paulo"


def last_full_week(now: datetime, time_zone: str = DIGEST_TIME_ZONE) -> tuple[date, date]:
    """Monday to Sunday of the week before the one `now` is in."""
    today = local_day(now, time_zone)
    this_monday = today - timedelta(days=today.weekday())
    return this_monday - timedelta(days=7), this_monday - timedelta(days=1)


def send_weekly_digests(deps: DigestDeps) -> DigestRun:
    """Every active tenant with an owner phone gets last week's numbers once; a failure is retried next run."""
    run = DigestRun()
    now = deps.metrics.now()
    start, end = last_full_week(now)
    week_id = f"{start.isocalendar().year}-W{start.isocalendar().week:02d}"
    for tenant_id in deps.metrics.facts.active_tenants():
        with log.bound(tenant_id=tenant_id):
            try:
                outcome = _send_digest(tenant_id, week_id, start, end, deps)
            except Exception:  # noqa: BLE001 - one tenant's failure must not stop the others' digests
                logger.exception("weekly digest failed; it is retried on the next run")
                run.failed += 1
                continue
        setattr(run, outcome, getattr(run, outcome) + 1)
    return run


def _send_digest(tenant_id: str, week_id: str, start: date, end: date, deps: DigestDeps) -> str:
    try:
        tenant = deps.directory.tenant(tenant_id)
    except InvalidConfiguration as err:
        # Only an admin's edit fixes it: a retry would fail the same way, so it is skipped and said, not retried.
        log.log(logger, logging.WARNING, "weekly digest not sent", reason="invalid tenant document",
                path=err.path, problems=err.problems)
        return "skipped"
    if tenant is None or not tenant.owner_phone:
        return "skipped"
    channel = _digest_channel(tenant, deps.directory.channels(tenant_id))
    if channel is None:
        log.log(logger, logging.WARNING, "weekly digest not sent", reason="the tenant has no active channel")
        return "skipped"
    if channel.provider is Provider.META and not tenant.digest_template:
        log.log(logger, logging.WARNING, "weekly digest not sent",
                reason="Meta numbers need an approved template outside the 24 h window: set digest_template")
        return "skipped"
    if not deps.log.claim(tenant_id, week_id):
        return "already_sent"
    try:
        week = tenant_report(tenant_id, start, end, deps.metrics)
        previous = tenant_report(tenant_id, start - timedelta(days=7), start - timedelta(days=1), deps.metrics)
        sender = deps.sender_for(channel.provider)
        if channel.provider is Provider.META:
            params = digest_template_params(tenant.name, week, previous)
            message_id = sender.send_template(  # type: ignore[attr-defined]
                channel, tenant.owner_phone, tenant.digest_template, tenant.digest_template_language, params)
        else:
            since, until = local_day_bounds(start, DIGEST_TIME_ZONE)[0], local_day_bounds(end, DIGEST_TIME_ZONE)[1]
            questions = top_questions(deps.directory.unanswered_questions(tenant_id, since, until))
            audit_week = iso_week(datetime.combine(start, datetime.min.time()))
            sellers = week_by_seller(tenant_id, audit_week, deps.audits) if deps.audits is not None else []
            message_id = sender.send_text(channel, tenant.owner_phone,
                                          compose_digest(tenant.name, week, previous, questions, sellers))
    except ProviderRejected as err:
        deps.log.finish(tenant_id, week_id, "rejected", str(err)[:500])
        log.log(logger, logging.ERROR, "weekly digest rejected by the provider", reason=str(err)[:200])
        return "skipped"
    except Exception:
        deps.log.release(tenant_id, week_id)  # nothing was sent for sure only when the call raised before it
        raise
    deps.log.finish(tenant_id, week_id, "sent", message_id)
    log.log(logger, logging.INFO, "weekly digest sent", week=week_id, owner=mask_phone(tenant.owner_phone))
    return "sent"


def _digest_channel(tenant: Tenant, channels: list[Channel]) -> Channel | None:
    active = [c for c in channels if c.active]
    if tenant.digest_channel:
        return next((c for c in active if c.key == tenant.digest_channel), None)
    return active[0] if active else None
