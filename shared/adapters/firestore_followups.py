"""Conversations due a follow-up, across tenants (the sweep's one cross-tenant read)."""

from __future__ import annotations

from datetime import datetime

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from pydantic import ValidationError

from shared.adapters.firestore_client import _conversation
from shared.adapters.google_errors import TRANSIENT_GOOGLE_ERRORS
from shared.domain.conversation import Conversation
from shared.domain.errors import TransientError


class FirestoreFollowupStore:
    """The sweep's one cross-tenant read: a collection-group query on conversations' next_followup_at
    (needs the collection-group single-field index on conversations.next_followup_at, ascending)."""

    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    def due_followups(self, now: datetime, limit: int, after: Conversation | None = None) -> list[Conversation]:
        query = (self._db.collection_group("conversations")
                 .where(filter=FieldFilter("next_followup_at", "<=", now))
                 .order_by("next_followup_at").limit(limit))
        if after is not None:
            cursor = _conversation(self._db, after.tenant_id, after.conversation_id).get()
            if cursor.exists:
                query = query.start_after(cursor)
        try:
            snaps = list(query.stream())
        except TRANSIENT_GOOGLE_ERRORS as err:
            raise TransientError("firestore unavailable while paging due follow-ups") from err
        due: list[Conversation] = []
        for snap in snaps:
            try:
                due.append(Conversation.model_validate(snap.to_dict()))
            except ValidationError:
                continue  # a hand-edited document; the sweep must not stop on it
        return due
