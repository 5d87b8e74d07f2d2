"""Everything Firestore holds about one lead of one tenant, found by the ids the lead's documents carry
(shared/domain/lgpd.LeadKeys), for the LGPD export and erasure. Reads and deletes only under tenants/{t}."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.adapters.google_errors import TRANSIENT_GOOGLE_ERRORS
from shared.domain.crm import CrmKind, link_id
from shared.domain.errors import TransientError
from shared.domain.lgpd import ErasureRecord, LeadKeys
from shared.ports import LeadDocument

_IN_LIMIT = 30  # Firestore's `in` filter takes at most 30 values
_BATCH = 400  # below the 500 writes a batch may hold


def _chunks(values: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), _IN_LIMIT):
        yield values[start:start + _IN_LIMIT]


def _jsonable(value: Any) -> Any:
    """Firestore values as JSON: timestamps as ISO 8601, bytes as base64; vectors (embeddings) left out."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if type(value).__name__ == "Vector":
        return None
    if isinstance(value, firestore.DocumentReference):
        return value.path
    return value


class FirestoreLeadData:
    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    def channel_keys(self, tenant_id: str) -> list[str]:
        """Every channel the tenant has (conversation ids are derived from channel key and phone)."""
        channels = self._db.collection("tenants").document(tenant_id).collection("channels")
        return sorted({snap.id for snap in channels.select(["channel_key"]).stream()})

    def find(self, tenant_id: str, keys: LeadKeys) -> list[LeadDocument]:
        try:
            return list(self._find(tenant_id, keys))
        except TRANSIENT_GOOGLE_ERRORS as err:
            raise TransientError("firestore unavailable while collecting a lead's data") from err

    def _find(self, tenant_id: str, keys: LeadKeys) -> Iterator[LeadDocument]:
        tenant = self._db.collection("tenants").document(tenant_id)
        seen: set[str] = set()

        def emit(collection: str, snap: Any) -> Iterator[LeadDocument]:
            if snap.exists and snap.reference.path not in seen:
                seen.add(snap.reference.path)
                yield LeadDocument(collection, snap.reference.path, _jsonable(snap.to_dict() or {}))

        def where(collection: str, field: str, values: list[str]) -> Iterator[LeadDocument]:
            for chunk in _chunks(values):
                for snap in tenant.collection(collection).where(filter=FieldFilter(field, "in", chunk)).stream():
                    yield from emit(collection, snap)

        # Conversations: the deterministic ids (a message may be stored before its conversation document) and any
        # document naming the lead's phone; then each one's messages and copilot suggestions.
        conversations = tenant.collection("conversations")
        conv_ids = set(keys.conversation_ids)
        # chat_phone: a /chat conversation whose caller gave the lead's phone (its contact is "api:<user>").
        for field in ("contact_phone", "chat_phone"):
            for chunk in _chunks(keys.phones):
                for snap in conversations.where(filter=FieldFilter(field, "in", chunk)).stream():
                    conv_ids.add(snap.id)
        for conv_id in sorted(conv_ids):
            ref = conversations.document(conv_id)
            yield from emit("conversations", ref.get())
            for sub in ("messages", "suggestions"):
                for snap in ref.collection(sub).stream():
                    yield from emit(sub, snap)
        ids = sorted(conv_ids)
        for contact in keys.contact_ids:
            yield from emit("contacts", tenant.collection("contacts").document(contact).get())
        for collection in ("model_calls", "meetings", "outbox", "learned_candidates", "knowledge_chunks",
                           "answer_cache", "slot_holds", "audits"):
            yield from where(collection, "conversation_id", ids)
        refs = list(where("seller_refs", "conversation_id", ids))
        yield from refs
        # A conversation's calendar booking (name, phone, summary) is filed under the conversation's id.
        for conv_id in ids:
            yield from emit("bookings", tenant.collection("bookings").document(conv_id).get())
        # Alerts held for a seller quote the lead (name, phone, question); they name the reference they point at.
        codes = sorted({ref.data["code"] for ref in refs if ref.data.get("code")})
        if codes:
            for seller in tenant.collection("sellers").list_documents():
                for chunk in _chunks(codes):
                    for snap in seller.collection("held_alerts").where(filter=FieldFilter("code", "in", chunk)).stream():
                        yield from emit("held_alerts", snap)
        for collection in ("outbox", "crm_deliveries", "crm_links"):
            yield from where(collection, "contact_key", keys.contact_keys)
        # A CRM hold left by a crashed delivery: its id is the lead's link id (it holds no other field of theirs).
        for kind in CrmKind:
            for key in keys.contact_keys:
                yield from emit("crm_lead_holds", tenant.collection("crm_lead_holds").document(link_id(kind, key)).get())
        yield from where("ignored_messages", "contact_phone", keys.phones)

    def delete(self, documents: list[LeadDocument]) -> None:
        """Delete the documents, deepest first (a conversation's messages before the conversation)."""
        paths = sorted({d.path for d in documents}, key=lambda p: -p.count("/"))
        try:
            for start in range(0, len(paths), _BATCH):
                batch = self._db.batch()
                for path in paths[start:start + _BATCH]:
                    batch.delete(self._db.document(path))
                batch.commit()
        except TRANSIENT_GOOGLE_ERRORS as err:
            raise TransientError("firestore unavailable while erasing a lead's data; run the erasure again") from err

    def record_erasure(self, tenant_id: str, record: ErasureRecord) -> None:
        self._db.collection("tenants").document(tenant_id).collection("erasures").document(record.erasure_id).create(
            record.model_dump(mode="python"))
