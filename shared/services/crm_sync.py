"""Deliver one domain event to the tenant's CRM, exactly once in effect, whatever Pub/Sub redelivers.

Failure semantics (the caller maps them onto the Pub/Sub ack):
- a message that is not a domain event is logged, recorded when its tenant is known, and acknowledged;
- a CRM's 429/5xx/timeout raises CrmUnavailable (a TransientError): not acknowledged, Pub/Sub retries with
  backoff and, after the subscription's attempts, dead-letters it. When the CRM said when to come back
  (Retry-After, a rate-limit reset, a daily limit), the tenant's CRM is paused until then: redeliveries in
  the meantime are refused without calling it, so the CRM's allowance is not spent on retries;
- another event of the same lead being applied (LeadSyncInProgress): retried, so one lead's events never
  create two contacts or two deals;
- a refusal a retry cannot fix (credentials, validation, a misconfigured CRM) is recorded on the event's
  delivery with the CRM's message and acknowledged;
- an event already delivered or rejected (a redelivery) is acknowledged without calling the CRM.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from shared import log
from shared.domain.crm import (
    CrmConfig,
    CrmKind,
    CrmLink,
    NOTE_PREFIX,
    CrmDeliveryState,
    is_stale_stage,
    lead_fields,
    note_for,
    stage_target,
)
from shared.domain.errors import CrmMisconfigured, CrmRejected, CrmUnavailable, InvalidPayload
from shared.domain.events import DomainEvent, LeadStage, decode_event
from shared.domain.phone import mask_phone, mask_phones_in
from shared.ports import CrmRecords, CrmStore, EventForwarder, EventMessage

logger = logging.getLogger(__name__)

_TENANT_ID = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


class SyncResult(StrEnum):
    DELIVERED = "delivered"
    DUPLICATE = "duplicate"  # delivered or rejected on an earlier delivery of the same event
    REJECTED = "rejected"
    NOT_CONFIGURED = "not_configured"
    NOT_SUBSCRIBED = "not_subscribed"  # the tenant's CRM configuration does not take this event type
    POISON = "poison"


@dataclass
class SyncOutcome:
    result: SyncResult
    detail: str | None = None

    def as_dict(self) -> dict:
        """For logs: a CRM's message in `detail` may echo the lead's number, so numbers are masked."""
        detail = mask_phones_in(self.detail) if self.detail else None
        return {k: v for k, v in {"result": self.result.value, "detail": detail}.items() if v}


@dataclass
class CrmSyncDeps:
    store: CrmStore
    destination_for: Callable[[CrmConfig], EventForwarder | CrmRecords]
    lease_seconds: int = 120
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


def process_message(message: EventMessage, deps: CrmSyncDeps) -> SyncOutcome:
    """Decode a Pub/Sub message and sync its event; a message that is no event is poison: recorded, acknowledged."""
    try:
        event = decode_event(message.data)
    except InvalidPayload as err:
        tenant_id = message.attributes.get("tenant_id", "")
        # Attributes are ours (event id, type, tenant); the body may hold a lead's data, so only its size is logged.
        log.log(logger, logging.ERROR, "poison message acknowledged without delivery", reason=str(err),
                pubsub_message_id=message.message_id, size=len(message.data),
                attributes={k: v for k, v in message.attributes.items() if k in ("event_id", "event_type", "tenant_id")})
        if _TENANT_ID.match(tenant_id):
            deps.store.record_poison(tenant_id, message.message_id, message.attributes, str(err))
        return SyncOutcome(SyncResult.POISON, str(err))
    return sync_event(event, deps)


def sync_event(event: DomainEvent, deps: CrmSyncDeps) -> SyncOutcome:
    """Deliver the event through the tenant's CRM adapter once; raises TransientError when a retry may help."""
    with log.bound(tenant_id=event.tenant_id, conversation_id=event.conversation_id, event_id=event.event_id,
                   event_type=event.type):
        try:
            config = deps.store.get_crm_config(event.tenant_id)
        except CrmMisconfigured as err:
            log.log(logger, logging.ERROR, "the tenant's CRM configuration is invalid; event not delivered",
                    reason=str(err))
            return SyncOutcome(SyncResult.NOT_CONFIGURED, str(err))
        if config is None or not config.enabled:
            log.log(logger, logging.INFO, "tenant has no CRM enabled; nothing to deliver")
            return SyncOutcome(SyncResult.NOT_CONFIGURED)
        if not config.wants(event.type):
            return SyncOutcome(SyncResult.NOT_SUBSCRIBED)
        paused_until = deps.store.crm_paused_until(event.tenant_id)
        if paused_until is not None and paused_until > deps.clock():
            raise CrmUnavailable(config.kind.value, None, "paused by the CRM's rate limit", paused_until)

        claim = deps.store.claim_delivery(event, config.kind, deps.clock(), deps.lease_seconds)
        if not claim.fresh:
            log.log(logger, logging.INFO, "event already handled; redelivery acknowledged", state=claim.state.value)
            return SyncOutcome(SyncResult.DUPLICATE, claim.state.value)
        try:
            destination = deps.destination_for(config)
            if config.kind is CrmKind.WEBHOOK:
                detail = destination.forward(event)  # type: ignore[union-attr]
            else:
                detail = apply_to_crm(event, config, destination, claim.steps, deps)  # type: ignore[arg-type]
        except (CrmRejected, CrmMisconfigured) as err:
            status = getattr(err, "status", None)
            deps.store.finish_delivery(event, CrmDeliveryState.REJECTED, str(err), status)
            log.log(logger, logging.ERROR, "CRM refused the event for good; recorded and acknowledged",
                    crm=config.kind.value, status=status, reason=mask_phones_in(str(err)))
            return SyncOutcome(SyncResult.REJECTED, str(err))
        except Exception as err:
            deps.store.release_delivery(event, f"{type(err).__name__}: {err}")
            if isinstance(err, CrmUnavailable) and err.retry_at is not None:
                deps.store.pause_crm(event.tenant_id, err.retry_at, str(err)[:300])
            raise
        deps.store.finish_delivery(event, CrmDeliveryState.DELIVERED, detail)
        log.log(logger, logging.INFO, "event delivered to the CRM", crm=config.kind.value, detail=detail,
                contact=mask_phone(event.contact.phone))
        return SyncOutcome(SyncResult.DELIVERED, detail)


def apply_to_crm(event: DomainEvent, config: CrmConfig, crm: CrmRecords, steps: dict | None,
                 deps: CrmSyncDeps) -> str:
    """The same plan for every record-based CRM: the contact, then the deal's stage, then a timeline note.

    One event of a lead at a time (`hold_lead`): the first events of a lead often arrive together, and a CRM's
    search may not show a contact created a second ago, so only the holder may create records. External ids
    go on the lead's CRM link as soon as a record is created, so later events (and a retry of this one) update
    the same records. Contact and deal updates are idempotent; the note is not, so it is remembered as a step
    of this event's delivery.
    """
    store = deps.store
    store.hold_lead(event.tenant_id, crm.kind, event.contact_key, event.event_id, deps.clock(), deps.lease_seconds)
    try:
        return _apply(event, config, crm, dict(steps or {}), deps)
    finally:
        store.release_lead(event.tenant_id, crm.kind, event.contact_key, event.event_id)


def _apply(event: DomainEvent, config: CrmConfig, crm: CrmRecords, steps: dict, deps: CrmSyncDeps) -> str:
    store = deps.store
    link = store.get_link(event.tenant_id, crm.kind, event.contact_key)
    fields = lead_fields(event)
    policy = {name: config.policy_for(name) for name in fields}
    done: list[str] = []
    remarks: list[str] = []

    if link.contact_id is None:
        found = crm.find_contact(event.contact.phone, event.contact.email)
        if found is None:
            link.contact_id = crm.create_contact(fields, event.contact.phone)
            done.append("contact created")
        else:
            link.contact_id = found
            remarks.append(crm.update_contact(found, fields, policy) or "")
            done.append("contact found")
        store.save_link(event.tenant_id, link)
    elif _has_contact_news(fields):
        remarks.append(crm.update_contact(link.contact_id, fields, policy) or "")
        done.append("contact updated")

    stage = stage_target(event)
    if stage is not None:
        done.append(_apply_stage(event, config, crm, link, stage, deps))

    remarks = [r for r in remarks if r]
    text = note_for(event, crm.unplaced(fields))
    if remarks:
        done.extend(remarks)
        text = (text or NOTE_PREFIX) + "\n" + "\n".join(f"Atenção: {r}" for r in remarks)
    if text and "note" not in steps:
        note_id = crm.add_note(link.contact_id, link.deal_id, text.strip())
        if note_id:
            store.record_step(event, "note", note_id)
            done.append("note added")
        else:
            done.append("no note (this CRM keeps notes on deals; the lead has none yet)")
    return ", ".join(d for d in done if d) or "nothing to change"


def _has_contact_news(fields: dict) -> bool:
    # Every event carries the contact's name; only events that bring more than that are worth an update call.
    return any(name != "name" for name in fields)


def _apply_stage(event: DomainEvent, config: CrmConfig, crm: CrmRecords, link: CrmLink, stage: LeadStage,
                 deps: CrmSyncDeps) -> str:
    if not crm.maps_stage(stage):
        return f"stage {stage.value} not mapped"
    if is_stale_stage(link, event):
        return f"stage {stage.value} older than the deal's current stage; skipped"
    if link.deal_id is None:
        link.deal_id = crm.create_deal(link.contact_id or "", config.title_for(event.contact.name, event.contact.phone),
                                       stage)
        outcome = f"deal created at {stage.value}"
    elif link.stage != stage:
        crm.move_deal(link.deal_id, stage, link.stage)
        outcome = f"deal moved to {stage.value}"
    else:
        outcome = ""
    link.stage, link.stage_changed_at = stage, event.occurred_at
    deps.store.save_link(event.tenant_id, link)
    return outcome
