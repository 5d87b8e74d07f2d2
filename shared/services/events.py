"""Emit domain events reliably: the tenant's outbox first, then Pub/Sub; the drain publishes what is left.

`emit` is the one call other use cases make. It never loses an event (the outbox write must succeed, or it
raises so the caller's own retry runs it again) and never blocks the caller on Pub/Sub for longer than the
publisher's timeout: an event Pub/Sub did not take stays pending and the drain (`outbox_drain`, called by
Cloud Scheduler) publishes it later, in order per contact.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from shared import log
from shared.domain.errors import EventPublishFailed
from shared.domain.events import DomainEvent
from shared.ports import EventOutbox, EventPublisher

logger = logging.getLogger(__name__)


class EmitResult(StrEnum):
    PUBLISHED = "published"
    ALREADY_PUBLISHED = "already_published"  # the same fact was emitted before (a retried turn)
    QUEUED = "queued"  # in the outbox; the drain publishes it (Pub/Sub failed, or an older event waits)


@dataclass
class EventDeps:
    outbox: EventOutbox
    publisher: EventPublisher
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


def emit(event: DomainEvent, deps: EventDeps) -> EmitResult:
    """Record the event in its tenant's outbox, then publish it unless an older event of the contact still waits."""
    with log.bound(tenant_id=event.tenant_id, conversation_id=event.conversation_id):
        if not deps.outbox.record(event) and deps.outbox.is_published(event):
            return EmitResult.ALREADY_PUBLISHED
        if deps.outbox.has_older_pending(event):
            # Publishing now would let this event overtake the older one on the contact's ordering key.
            log.log(logger, logging.INFO, "event queued behind an older unpublished event of the contact",
                    event_id=event.event_id, event_type=event.type)
            return EmitResult.QUEUED
        return _publish(event, deps)


def _publish(event: DomainEvent, deps: EventDeps) -> EmitResult:
    try:
        message_id = deps.publisher.publish(event)
    except EventPublishFailed as err:
        deps.outbox.mark_publish_failed(event, str(err))
        log.log(logger, logging.WARNING, "event not published; the outbox drain will retry it",
                event_id=event.event_id, event_type=event.type, error=str(err))
        return EmitResult.QUEUED
    deps.outbox.mark_published(event, message_id, deps.clock())
    log.log(logger, logging.INFO, "event published", event_id=event.event_id, event_type=event.type,
            pubsub_message_id=message_id)
    return EmitResult.PUBLISHED


@dataclass
class DrainOutcome:
    published: int = 0
    failed: int = 0
    held_back: int = 0  # later events of a contact whose earlier event failed in this run
    pages: int = 0
    more: bool = False  # stopped at the event or time budget with pending events left
    failed_contacts: set[str] = field(default_factory=set, repr=False)

    def as_dict(self) -> dict:
        return {"published": self.published, "failed": self.failed, "held_back": self.held_back,
                "pages": self.pages, "more": self.more}


def drain_outbox(deps: EventDeps, *, max_events: int, page_size: int, min_age_seconds: float,
                 time_budget_seconds: float) -> DrainOutcome:
    """Publish unpublished events of every tenant, oldest first, in pages, within an event and a time budget.

    Events younger than `min_age_seconds` are left to the `emit` that is publishing them right now. When one
    of a contact's events fails, that contact's later events wait for the next run, so order holds.
    """
    outcome = DrainOutcome()
    started = time.monotonic()
    older_than = deps.clock() - timedelta(seconds=min_age_seconds)
    after: DomainEvent | None = None
    while outcome.published + outcome.failed + outcome.held_back < max_events:
        if time.monotonic() - started > time_budget_seconds:
            outcome.more = True
            break
        budget = max_events - (outcome.published + outcome.failed + outcome.held_back)
        page = deps.outbox.pending(older_than, min(page_size, budget), after)
        if not page:
            return outcome
        outcome.pages += 1
        for entry in page:
            event = entry.event
            if event.contact_key in outcome.failed_contacts:
                outcome.held_back += 1
                continue
            with log.bound(tenant_id=event.tenant_id, conversation_id=event.conversation_id):
                if _publish(event, deps) is EmitResult.PUBLISHED:
                    outcome.published += 1
                else:
                    outcome.failed += 1
                    outcome.failed_contacts.add(event.contact_key)
        after = page[-1].event
        if len(page) < page_size:
            return outcome
    outcome.more = True
    return outcome
