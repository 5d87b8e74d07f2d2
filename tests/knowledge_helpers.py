"""Shared set-up for knowledge tests: the service wired to the real emulators with the offline embedder."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from google.cloud import firestore, storage

from dev.stack import KNOWLEDGE_BUCKET, OFFLINE_KNOWLEDGE_MAX_DISTANCE, PROJECT
from shared.adapters.cloud_storage import CloudStorageObjects
from shared.adapters.document_text import extract
from shared.adapters.firestore_knowledge import FirestoreKnowledgeIndex
from shared.adapters.firestore_usage import FirestoreUsageLedger
from shared.adapters.offline_knowledge import OfflineHashedNgramEmbedder, OfflineScanReader
from shared.domain.knowledge import KnowledgeObject, StorageEventKind, parse_object
from shared.services.knowledge import IngestDeps, IngestOutcome, KnowledgeService, handle_storage_event

KNOWLEDGE_DATA = Path(__file__).parent / "data" / "knowledge"
DOCUMENTS = sorted(p for p in KNOWLEDGE_DATA.iterdir() if p.suffix != ".json")


@dataclass
class KnowledgeRig:
    db: firestore.Client
    bucket: storage.Bucket
    deps: IngestDeps
    search: KnowledgeService
    tenant_id: str

    def upload(self, path: str, data: bytes, content_type: str | None = None,
               tenant_id: str | None = None) -> storage.Blob:
        blob = self.bucket.blob(f"{tenant_id or self.tenant_id}/{path}")
        blob.upload_from_string(data, content_type=content_type or "application/octet-stream")
        blob.reload()
        return blob

    @staticmethod
    def object_of(blob: storage.Blob) -> KnowledgeObject:
        return parse_object(blob.bucket.name, blob.name, blob.generation, blob.content_type, blob.size)

    def deliver(self, kind: StorageEventKind, blob: storage.Blob) -> IngestOutcome:
        return handle_storage_event(kind, self.object_of(blob), self.deps)

    def chunks(self, tenant_id: str | None = None) -> list[dict]:
        ref = self.db.collection("tenants").document(tenant_id or self.tenant_id).collection("knowledge_chunks")
        return [s.to_dict() for s in ref.stream()]

    def source(self, blob: storage.Blob) -> dict | None:
        obj = self.object_of(blob)
        snap = (self.db.collection("tenants").document(obj.tenant_id).collection("knowledge_sources")
                .document(obj.source_id).get())
        return snap.to_dict() if snap.exists else None


def knowledge_rig(db: firestore.Client, dimensions: int = 768) -> KnowledgeRig:
    """A fresh tenant id; the bucket is the one the local stack created."""
    bucket = storage.Client(project=PROJECT).bucket(KNOWLEDGE_BUCKET)
    index = FirestoreKnowledgeIndex(db)
    embedder = OfflineHashedNgramEmbedder(dimensions)
    ledger = FirestoreUsageLedger(db)
    deps = IngestDeps(objects=CloudStorageObjects(storage.Client(project=PROJECT)), index=index, embedder=embedder,
                      scan_reader=OfflineScanReader(), ledger=ledger, extract=extract, bucket=KNOWLEDGE_BUCKET,
                      chunk_chars=1200, overlap_chars=200, max_object_bytes=2_000_000)
    search = KnowledgeService(index=index, embedder=embedder, ledger=ledger,
                             max_distance=float(OFFLINE_KNOWLEDGE_MAX_DISTANCE))
    return KnowledgeRig(db, bucket, deps, search, f"kb-{uuid.uuid4().hex[:10]}")
