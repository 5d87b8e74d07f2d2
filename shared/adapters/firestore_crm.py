"""The CRM side of a tenant: its configuration, deliveries, links, lead holds and pause (issue 7)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from google.cloud import firestore
from pydantic import ValidationError

from shared.adapters.firestore_client import _tenant
from shared.adapters.google_errors import TRANSIENT_GOOGLE_ERRORS
from shared.domain.config_document import config_problems
from shared.domain.crm import FINAL_DELIVERY_STATES, CrmConfig, CrmDeliveryState, CrmKind, CrmLink, link_id
from shared.domain.errors import CrmMisconfigured, DeliveryInProgress, LeadSyncInProgress, TransientError
from shared.domain.events import DomainEvent
from shared.ports import DeliveryClaim


class FirestoreCrmStore:
    """The CRM side of a tenant: tenants/{t}/integrations/crm (configuration, cached per instance),
    tenants/{t}/crm_deliveries/{event_id} (one per event: the apply-once record) and
    tenants/{t}/crm_links/{kind}:{contact_key} (the CRM's ids for a lead)."""

    def __init__(self, db: firestore.Client, cache_seconds: float = 60.0, retention_days: int = 30) -> None:
        self._db = db
        self._ttl = cache_seconds
        self._retention = timedelta(days=retention_days)
        self._configs: dict[str, tuple[float, CrmConfig | None]] = {}

    def _delivery(self, tenant_id: str, delivery_id: str) -> firestore.DocumentReference:
        return _tenant(self._db, tenant_id).collection("crm_deliveries").document(delivery_id)

    def get_crm_config(self, tenant_id: str) -> CrmConfig | None:
        hit = self._configs.get(tenant_id)
        now = time.monotonic()
        if hit and now - hit[0] < self._ttl:
            return hit[1]
        snap = _tenant(self._db, tenant_id).collection("integrations").document("crm").get()
        try:
            config = CrmConfig.model_validate(snap.to_dict()) if snap.exists else None
        except ValidationError as err:
            problems = "; ".join(config_problems(err))
            raise CrmMisconfigured(f"tenants/{tenant_id}/integrations/crm: {problems}") from None
        self._configs[tenant_id] = (now, config)
        return config

    def save_crm_config(self, tenant_id: str, config: CrmConfig) -> None:
        """Admin/seed helper."""
        _tenant(self._db, tenant_id).collection("integrations").document("crm").set(config.model_dump(mode="json"))
        self._configs.pop(tenant_id, None)

    def claim_delivery(self, event: DomainEvent, crm: CrmKind, now: datetime, lease_seconds: int) -> DeliveryClaim:
        ref = self._delivery(event.tenant_id, event.event_id)

        @firestore.transactional
        def claim(tx: firestore.Transaction) -> DeliveryClaim:
            snap = ref.get(transaction=tx)
            data = snap.to_dict() if snap.exists else None
            if data is not None:
                state = CrmDeliveryState(data["state"])
                if state in FINAL_DELIVERY_STATES:
                    return DeliveryClaim(state=state)
                if data.get("lease_until") and data["lease_until"] > now:
                    raise DeliveryInProgress(f"event {event.event_id} is being delivered by another attempt")
            tx.set(ref, {"event_id": event.event_id, "type": event.type, "crm": crm.value,
                         "contact_key": event.contact_key, "state": CrmDeliveryState.DELIVERING.value,
                         "lease_until": now + timedelta(seconds=lease_seconds), "attempts": firestore.Increment(1),
                         "first_attempt_at": (data or {}).get("first_attempt_at", now)}, merge=True)
            return DeliveryClaim(state=CrmDeliveryState.DELIVERING, steps=(data or {}).get("steps", {}), fresh=True)

        try:
            return claim(self._db.transaction())
        except TRANSIENT_GOOGLE_ERRORS as err:
            raise TransientError("firestore unavailable while claiming a CRM delivery") from err

    def record_step(self, event: DomainEvent, step: str, value: str) -> None:
        self._delivery(event.tenant_id, event.event_id).update({f"steps.{step}": value})

    def finish_delivery(self, event: DomainEvent, state: CrmDeliveryState, detail: str, status: int | None = None) -> None:
        at = datetime.now(UTC)
        update: dict[str, Any] = {"state": state.value, "detail": detail[:1000], "finished_at": at,
                                  "lease_until": firestore.DELETE_FIELD, "expire_at": at + self._retention}
        if status is not None:
            update["http_status"] = status
        self._delivery(event.tenant_id, event.event_id).update(update)

    def release_delivery(self, event: DomainEvent, error: str) -> None:
        self._delivery(event.tenant_id, event.event_id).update(
            {"lease_until": firestore.DELETE_FIELD, "last_error": error[:1000],
             "last_attempt_at": firestore.SERVER_TIMESTAMP})

    def record_poison(self, tenant_id: str, message_id: str, attributes: Mapping[str, str], reason: str) -> None:
        at = datetime.now(UTC)
        self._delivery(tenant_id, f"poison-{message_id}").set({
            "state": CrmDeliveryState.POISON.value, "pubsub_message_id": message_id, "detail": reason[:1000],
            "attributes": {k: str(v)[:200] for k, v in attributes.items()}, "finished_at": at,
            "expire_at": at + self._retention})

    def get_link(self, tenant_id: str, crm: CrmKind, contact_key: str) -> CrmLink:
        snap = _tenant(self._db, tenant_id).collection("crm_links").document(link_id(crm, contact_key)).get()
        if not snap.exists:
            return CrmLink(contact_key=contact_key, crm=crm)
        return CrmLink.model_validate(snap.to_dict())

    def save_link(self, tenant_id: str, link: CrmLink) -> None:
        _tenant(self._db, tenant_id).collection("crm_links").document(link.doc_id).set(
            {**link.model_dump(mode="python"), "updated_at": firestore.SERVER_TIMESTAMP})

    def _lead_hold(self, tenant_id: str, crm: CrmKind, contact_key: str) -> firestore.DocumentReference:
        # Beside the link, not on it: save_link rewrites the link document whole.
        return _tenant(self._db, tenant_id).collection("crm_lead_holds").document(link_id(crm, contact_key))

    def hold_lead(self, tenant_id: str, crm: CrmKind, contact_key: str, holder: str, now: datetime,
                  lease_seconds: int) -> None:
        ref = self._lead_hold(tenant_id, crm, contact_key)

        @firestore.transactional
        def hold(tx: firestore.Transaction) -> None:
            snap = ref.get(transaction=tx)
            data = snap.to_dict() if snap.exists else None
            if data and data.get("holder") != holder and data.get("held_until") and data["held_until"] > now:
                raise LeadSyncInProgress(f"another event of lead {contact_key} is being applied to {crm.value}")
            until = now + timedelta(seconds=lease_seconds)
            # No expire_at: release deletes the document; one left by a crashed holder is reused by the next hold.
            tx.set(ref, {"holder": holder, "held_until": until})

        try:
            hold(self._db.transaction())
        except TRANSIENT_GOOGLE_ERRORS as err:
            raise TransientError("firestore unavailable while holding a lead for CRM sync") from err

    def release_lead(self, tenant_id: str, crm: CrmKind, contact_key: str, holder: str) -> None:
        ref = self._lead_hold(tenant_id, crm, contact_key)

        @firestore.transactional
        def release(tx: firestore.Transaction) -> None:
            snap = ref.get(transaction=tx)
            if snap.exists and (snap.to_dict() or {}).get("holder") == holder:
                tx.delete(ref)

        try:
            release(self._db.transaction())
        except TRANSIENT_GOOGLE_ERRORS:
            pass  # the lease expires by itself

    def _pause(self, tenant_id: str) -> firestore.DocumentReference:
        return _tenant(self._db, tenant_id).collection("integrations").document("crm_pause")

    def crm_paused_until(self, tenant_id: str) -> datetime | None:
        snap = self._pause(tenant_id).get()
        return (snap.to_dict() or {}).get("until") if snap.exists else None

    def pause_crm(self, tenant_id: str, until: datetime, reason: str) -> None:
        self._pause(tenant_id).set({"until": until, "reason": reason[:300], "paused_at": firestore.SERVER_TIMESTAMP})
