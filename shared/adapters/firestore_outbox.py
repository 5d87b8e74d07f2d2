"""The domain-event outbox: tenants/{t}/outbox/{event_id} (issue 7)."""

from __future__ import annotations

from datetime import datetime, timedelta

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.adapters.firestore_client import _tenant
from shared.adapters.google_errors import TRANSIENT_GOOGLE_ERRORS
from shared.domain.errors import InvalidPayload, TransientError
from shared.domain.events import DomainEvent, decode_event
from shared.ports import OutboxEntry


class FirestoreEventOutbox:
    """tenants/{t}/outbox/{event_id}: the event, its state (pending → published) and publish attempts.

    The drain reads pending events of every tenant with a collection-group query on (state, occurred_at,
    event_id): a composite index provisioned by Terraform. Published documents carry `expire_at` for TTL.
    """

    def __init__(self, db: firestore.Client, retention_days: int = 30) -> None:
        self._db = db
        self._retention = timedelta(days=retention_days)

    def _ref(self, event: DomainEvent) -> firestore.DocumentReference:
        return _tenant(self._db, event.tenant_id).collection("outbox").document(event.event_id)

    def record(self, event: DomainEvent) -> bool:
        try:
            self._ref(event).create({
                "event_id": event.event_id, "type": event.type, "tenant_id": event.tenant_id,
                "conversation_id": event.conversation_id, "contact_key": event.contact_key,
                "occurred_at": event.occurred_at, "recorded_at": firestore.SERVER_TIMESTAMP,
                "state": "pending", "attempts": 0, "event": event.model_dump(mode="json"),
            })
        except gexc.Conflict:
            return False
        except TRANSIENT_GOOGLE_ERRORS as err:
            raise TransientError("firestore unavailable while recording an event in the outbox") from err
        return True

    def is_published(self, event: DomainEvent) -> bool:
        snap = self._ref(event).get(field_paths=["state"])
        return snap.exists and (snap.to_dict() or {}).get("state") == "published"

    def has_older_pending(self, event: DomainEvent) -> bool:
        # Two equality filters need no composite index; a contact rarely has more than a handful pending.
        query = (_tenant(self._db, event.tenant_id).collection("outbox")
                 .where(filter=FieldFilter("contact_key", "==", event.contact_key))
                 .where(filter=FieldFilter("state", "==", "pending"))
                 .limit(20))
        mine = (event.occurred_at, event.event_id)
        for snap in query.stream():
            data = snap.to_dict() or {}
            if (data["occurred_at"], data["event_id"]) < mine:
                return True
        return False

    def mark_published(self, event: DomainEvent, message_id: str, at: datetime) -> None:
        self._ref(event).update({"state": "published", "pubsub_message_id": message_id, "published_at": at,
                                 "expire_at": at + self._retention})

    def mark_publish_failed(self, event: DomainEvent, error: str) -> None:
        self._ref(event).update({"attempts": firestore.Increment(1), "last_error": error[:500],
                                 "last_attempt_at": firestore.SERVER_TIMESTAMP})

    def pending(self, older_than: datetime, limit: int, after: DomainEvent | None = None) -> list[OutboxEntry]:
        query = (self._db.collection_group("outbox")
                 .where(filter=FieldFilter("state", "==", "pending"))
                 .where(filter=FieldFilter("occurred_at", "<=", older_than))
                 .order_by("occurred_at").order_by("event_id"))
        if after is not None:
            query = query.start_after({"occurred_at": after.occurred_at, "event_id": after.event_id})
        entries: list[OutboxEntry] = []
        for snap in query.limit(limit).stream():
            data = snap.to_dict() or {}
            try:
                entries.append(OutboxEntry(event=decode_event(data["event"]), attempts=data.get("attempts", 0)))
            except (InvalidPayload, KeyError) as err:
                # Kept, not deleted, but out of the drain's way: an operator decides what it was.
                snap.reference.update({"state": "unreadable", "last_error": str(err)[:500]})
        return entries
