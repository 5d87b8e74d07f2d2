"""Answers reused across leads: tenants/{t}/answer_cache/{key}."""

from __future__ import annotations

from datetime import datetime

from google.cloud import firestore

from shared.adapters.firestore_client import _tenant


class FirestoreAnswerCache:
    """tenants/{t}/answer_cache/{key}; `expire_at` is also a Firestore TTL field, so stale entries disappear."""

    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    def content_version(self, tenant_id: str) -> str:
        from shared.adapters.content_versions import content_version

        return content_version(self._db, tenant_id)

    def get(self, tenant_id: str, key: str, now: datetime) -> str | None:
        snap = _tenant(self._db, tenant_id).collection("answer_cache").document(key).get()
        data = snap.to_dict() if snap.exists else None
        # TTL deletion lags by up to a day: check it here too. An entry without an expiry (edited by hand) is a miss.
        if not data or not data.get("expire_at") or data["expire_at"] <= now:
            return None
        return data["answer"]

    def put(self, tenant_id: str, key: str, question: str, answer: str, expire_at: datetime,
            conversation_id: str | None = None) -> None:
        _tenant(self._db, tenant_id).collection("answer_cache").document(key).set(
            {"question": question[:500], "answer": answer, "expire_at": expire_at,
             "conversation_id": conversation_id, "created_at": firestore.SERVER_TIMESTAMP})
