"""The media fields of a lead's message document (tenants/{t}/conversations/{c}/messages/{m})."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from google.cloud import firestore

from shared.adapters.firestore_client import _message
from shared.adapters.google_errors import TRANSIENT_GOOGLE_ERRORS
from shared.domain.conversation import StoredMessage
from shared.domain.errors import MediaInProgress, TransientError
from shared.domain.media import MediaStatus, StoredMedia
from shared.domain.usage import ModelCall


class FirestoreMediaStore:
    """The media fields of a lead's message document; a lease keeps two deliveries of one task from paying twice."""

    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    def claim_media(self, tenant_id: str, conversation_id: str, message_id: str, now: datetime,
                    lease_seconds: int) -> StoredMessage | None:
        ref = _message(self._db, tenant_id, conversation_id, message_id)

        @firestore.transactional
        def claim(tx: firestore.Transaction) -> StoredMessage | None:
            snap = ref.get(transaction=tx)
            if not snap.exists:
                return None
            data = snap.to_dict() or {}
            message = StoredMessage.model_validate(data)
            if message.media_status is not MediaStatus.PENDING:
                return message
            lease = data.get("media_lease_until")
            if lease is not None and lease > now:
                raise MediaInProgress(f"media of {message_id} is being read by another delivery")
            tx.update(ref, {"media_lease_until": now + timedelta(seconds=lease_seconds)})
            return message

        try:
            return claim(self._db.transaction())
        except TRANSIENT_GOOGLE_ERRORS as err:
            raise TransientError("firestore unavailable while claiming a media task") from err

    def save_media_file(self, tenant_id: str, conversation_id: str, message_id: str, stored: StoredMedia) -> None:
        _message(self._db, tenant_id, conversation_id, message_id).update(
            {"media_file": stored.model_dump(mode="python", exclude_none=True)})

    def finish_media(self, tenant_id: str, conversation_id: str, message_id: str, status: MediaStatus,
                     text: str | None, reason: str | None, call: ModelCall | None) -> None:
        update: dict[str, Any] = {"media_status": status.value, "media_lease_until": firestore.DELETE_FIELD,
                                  "media_processed_at": firestore.SERVER_TIMESTAMP}
        if text is not None:
            update["media_text"] = text
        if reason is not None:
            update["media_reason"] = reason[:500]
        if call is not None:
            update["media_model_call"] = call.model_dump(mode="python")
        _message(self._db, tenant_id, conversation_id, message_id).update(update)

    def release_media(self, tenant_id: str, conversation_id: str, message_id: str) -> None:
        _message(self._db, tenant_id, conversation_id, message_id).update({"media_lease_until": firestore.DELETE_FIELD})
