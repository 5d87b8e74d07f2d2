"""The Firestore client, the per-call deadline and the paths every Firestore adapter shares.

Every path starts at tenants/{tenant_id}. One client per instance, created on first use and shared by the
adapter modules beside this one (firestore_channels.py, firestore_conversations.py, ...).
"""

from __future__ import annotations

import threading
from typing import Any

from google.cloud import firestore

_client: firestore.Client | None = None
_client_lock = threading.Lock()


def _deadline(seconds: float | None) -> dict[str, Any]:
    """Keyword arguments bounding one call: a single attempt that gives up after `seconds` (the caller's
    client retries — a provider re-delivering a webhook). None keeps the library's own retry and timeout."""
    return {} if seconds is None else {"timeout": seconds, "retry": None}


def firestore_client(project: str) -> firestore.Client:
    """One client per instance, created on first use (FIRESTORE_EMULATOR_HOST switches it to the emulator)."""
    global _client
    if _client is None:
        with _client_lock:
            if _client is None:
                _client = firestore.Client(project=project)
    return _client


def _tenant(db: firestore.Client, tenant_id: str) -> firestore.DocumentReference:
    return db.collection("tenants").document(tenant_id)


def _conversation(db: firestore.Client, tenant_id: str, conversation_id: str) -> firestore.DocumentReference:
    return _tenant(db, tenant_id).collection("conversations").document(conversation_id)


def _message(db: firestore.Client, tenant_id: str, conversation_id: str, message_id: str) -> firestore.DocumentReference:
    return _conversation(db, tenant_id, conversation_id).collection("messages").document(message_id)
