"""The leads' data rights (LGPD art. 18): export everything Piloto holds about one lead, or erase it everywhere.

A lead is named by tenant and phone; the phone is matched with and without Brazil's ninth digit, so a number
typed by the business finds data filed under the WhatsApp id (and the reverse).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared import log
from shared.domain.errors import InvalidPayload, UnknownTenant
from shared.domain.events import Contact, DomainEvent, LeadErased, LeadErasedPayload
from shared.domain.lgpd import ErasureRecord, LeadKeys, lead_keys
from shared.domain.phone import mask_phone, to_e164
from shared.ports import ChannelDirectory, LeadDataStore, LeadDocument, MediaFiles

logger = logging.getLogger(__name__)


@dataclass
class LgpdDeps:
    directory: ChannelDirectory
    data: LeadDataStore
    media: MediaFiles
    media_bucket: str
    emit_event: Callable[[DomainEvent], Any] | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    new_id: Callable[[], str] = field(default=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class LeadFootprint:
    keys: LeadKeys
    documents: list[LeadDocument]
    media: list[str]  # object names in the media bucket
    # The LeadErased events of earlier erasures (outbox and CRM delivery): they carry the phone so the CRM can
    # find its copy, expire with events.retention_days, and are not erased again (that would emit another one).
    erasure_notices: list[LeadDocument] = field(default_factory=list)


def _is_erasure_notice(document: LeadDocument) -> bool:
    return document.collection in ("outbox", "crm_deliveries") and document.data.get("type") == "LeadErased"


def _footprint(tenant_id: str, phone: str, deps: LgpdDeps) -> LeadFootprint:
    if deps.directory.get_tenant(tenant_id) is None:
        raise UnknownTenant(f"no tenant {tenant_id!r}")
    try:
        keys = lead_keys(tenant_id, phone, deps.data.channel_keys(tenant_id))
    except ValueError as err:
        raise InvalidPayload(f"phone: {err}") from None
    found = deps.data.find(tenant_id, keys)
    documents = [d for d in found if not _is_erasure_notice(d)]
    conversations = set(keys.conversation_ids)
    for document in documents:
        parts = document.path.split("/")
        if len(parts) >= 4 and parts[2] == "conversations":
            conversations.add(parts[3])
    media = sorted({path for conv in conversations
                    for path in deps.media.list_paths(f"tenants/{tenant_id}/conversations/{conv}/media/")})
    return LeadFootprint(keys, documents, media, [d for d in found if _is_erasure_notice(d)])


def export_lead(tenant_id: str, phone: str, deps: LgpdDeps) -> dict[str, Any]:
    """Everything held about the lead, as JSON: documents by collection (with their paths) and media objects."""
    with log.bound(tenant_id=tenant_id):
        footprint = _footprint(tenant_id, phone, deps)
        collections: dict[str, list[dict[str, Any]]] = {}
        for document in footprint.documents:
            collections.setdefault(document.collection, []).append({"path": document.path, "data": document.data})
        log.log(logger, logging.INFO, "lead data exported", contact=mask_phone(phone),
                documents=len(footprint.documents), media_objects=len(footprint.media))
        return {"tenant_id": tenant_id, "phones": footprint.keys.phones, "exported_at": deps.clock().isoformat(),
                "collections": collections,
                "erasure_notices": [{"path": d.path, "data": d.data} for d in footprint.erasure_notices],
                "media_objects": [f"gs://{deps.media_bucket}/{path}" for path in footprint.media]}


def erase_lead(tenant_id: str, phone: str, requested_by: str, deps: LgpdDeps,
               reason: str | None = None) -> ErasureRecord:
    """Delete every document and media object of the lead, tell the CRM integration (LeadErased) and record the
    erasure without personal data. Safe to run again: a second run finds what is left (nothing, or a late arrival)."""
    with log.bound(tenant_id=tenant_id):
        footprint = _footprint(tenant_id, phone, deps)
        erasure_id = deps.new_id()
        media_deleted = sum(1 for path in footprint.media if deps.media.delete(deps.media_bucket, path))
        deps.data.delete(footprint.documents)
        counts: dict[str, int] = {}
        for document in footprint.documents:
            counts[document.collection] = counts.get(document.collection, 0) + 1
        now = deps.clock()
        event_id = None
        if deps.emit_event is not None:
            event = LeadErased(
                event_id=LeadErased.make_id(tenant_id, erasure_id), tenant_id=tenant_id,
                conversation_id=f"erasure:{erasure_id}", channel_key="lgpd:erasure",
                contact=Contact(phone=to_e164(phone)), occurred_at=now,
                payload=LeadErasedPayload(erasure_id=erasure_id, reason=reason))
            deps.emit_event(event)  # after the deletion: the CRM follows an erasure that happened
            event_id = event.event_id
        record = ErasureRecord(erasure_id=erasure_id, requested_by=requested_by, reason=reason, erased_at=now,
                               documents=counts, media_objects=media_deleted, event_id=event_id)
        deps.data.record_erasure(tenant_id, record)
        log.log(logger, logging.WARNING, "lead data erased (LGPD)", erasure_id=erasure_id, documents=counts,
                media_objects=media_deleted, requested_by=requested_by)
        return record
