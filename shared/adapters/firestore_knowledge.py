"""Firestore adapter of the knowledge base: per-file state, chunk and learned-answer documents with a Vector
field, and find_nearest over them.

    tenants/{t}/knowledge_sources/{source_id}   one per object name: live generation, state, reason
    tenants/{t}/knowledge_chunks/{id}           chunks (chk-…) and learned answers (lrn-…), searched together

The tenant is the path; the agent is a pre-filter on `agent_id` (an agent's id, or "shared"). Searches
use one equality pre-filter per scope, which is what the composite vector index (agent_id + embedding)
serves; see ARCHITECTURE.md for the index definition.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.base_vector_query import DistanceMeasure
from google.cloud.firestore_v1.vector import Vector

from shared.adapters.google_errors import TRANSIENT_GOOGLE_ERRORS
from shared.adapters.content_versions import bump_knowledge_version
from shared.domain.errors import TransientError
from shared.domain.knowledge import (
    Chunk,
    KnowledgeObject,
    KnowledgePassage,
    Origin,
    SourceRecord,
    SourceState,
    chunk_id,
)

SOURCES = "knowledge_sources"
CHUNKS = "knowledge_chunks"
EMBEDDING_FIELD = "embedding"
SCOPE_FIELD = "agent_id"
_DISTANCE_FIELD = "vector_distance"
_WRITES_PER_BATCH = 100  # ~100 x (2048 floats + text) stays far below Firestore's 10 MiB per request


@contextmanager
def _transient(what: str) -> Iterator[None]:
    try:
        yield
    except TRANSIENT_GOOGLE_ERRORS as err:
        raise TransientError(f"firestore unavailable while {what}") from err


class FirestoreKnowledgeIndex:
    def __init__(self, db: firestore.Client) -> None:
        self._db = db
        self._search_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="knn")

    def _tenant(self, tenant_id: str) -> firestore.DocumentReference:
        return self._db.collection("tenants").document(tenant_id)

    def _source_ref(self, tenant_id: str, source_id: str) -> firestore.DocumentReference:
        return self._tenant(tenant_id).collection(SOURCES).document(source_id)

    def _chunks(self, tenant_id: str) -> firestore.CollectionReference:
        return self._tenant(tenant_id).collection(CHUNKS)

    @staticmethod
    def _record(data: dict | None) -> SourceRecord | None:
        if not data:
            return None
        return SourceRecord(state=SourceState(data["state"]), generation=int(data["generation"]))

    def get_source(self, tenant_id: str, source_id: str) -> SourceRecord | None:
        with _transient("reading a knowledge source"):
            snap = self._source_ref(tenant_id, source_id).get()
        return self._record(snap.to_dict() if snap.exists else None)

    def write_chunks(self, obj: KnowledgeObject, chunks: list[Chunk], vectors: list[list[float]],
                     embedding_model: str) -> list[str]:
        collection = self._chunks(obj.tenant_id)
        ids = [chunk_id(obj.source_id, obj.generation, c.ordinal) for c in chunks]
        with _transient("writing knowledge chunks"):
            for start in range(0, len(chunks), _WRITES_PER_BATCH):
                batch = self._db.batch()
                for cid, chunk, vector in zip(ids[start:start + _WRITES_PER_BATCH],
                                              chunks[start:start + _WRITES_PER_BATCH],
                                              vectors[start:start + _WRITES_PER_BATCH], strict=True):
                    batch.set(collection.document(cid), {
                        SCOPE_FIELD: obj.agent_scope, "origin": Origin.DOCUMENT.value, "source_id": obj.source_id,
                        "source": obj.file_name, "object_name": obj.name, "generation": obj.generation,
                        "ordinal": chunk.ordinal, "section": chunk.section, "page": chunk.page, "text": chunk.text,
                        EMBEDDING_FIELD: Vector(vector), "embedding_model": embedding_model,
                        "indexed_at": firestore.SERVER_TIMESTAMP,
                    })
                batch.commit()
        return ids

    def activate(self, obj: KnowledgeObject, chunk_ids: list[str], state: SourceState, reason: str | None,
                 embedding_model: str | None) -> bool:
        ref = self._source_ref(obj.tenant_id, obj.source_id)

        @firestore.transactional
        def switch(tx: firestore.Transaction) -> bool:
            snap = ref.get(transaction=tx)
            stored = self._record(snap.to_dict() if snap.exists else None)
            if stored is not None and stored.generation >= obj.generation:
                return False
            tx.set(ref, {
                "source_id": obj.source_id, "tenant_id": obj.tenant_id, SCOPE_FIELD: obj.agent_scope,
                "bucket": obj.bucket, "object_name": obj.name, "file_name": obj.file_name,
                "generation": obj.generation, "state": state.value, "reason": reason,
                "chunk_count": len(chunk_ids), "embedding_model": embedding_model,
                "content_type": obj.content_type, "size": obj.size, "updated_at": firestore.SERVER_TIMESTAMP,
            })
            bump_knowledge_version(tx, self._db, obj.tenant_id)  # cached answers made without this file expire
            return True

        with _transient("switching a knowledge source to a new generation"):
            return switch(self._db.transaction())

    def mark_removed(self, obj: KnowledgeObject) -> bool:
        ref = self._source_ref(obj.tenant_id, obj.source_id)

        @firestore.transactional
        def tombstone(tx: firestore.Transaction) -> bool:
            snap = ref.get(transaction=tx)
            stored = self._record(snap.to_dict() if snap.exists else None)
            if stored is not None and stored.generation > obj.generation:
                return False
            # The tombstone keeps the generation, so a late redelivery of its finalize is not indexed again.
            tx.set(ref, {
                "source_id": obj.source_id, "tenant_id": obj.tenant_id, SCOPE_FIELD: obj.agent_scope,
                "bucket": obj.bucket, "object_name": obj.name, "file_name": obj.file_name,
                "generation": obj.generation, "state": SourceState.DELETED.value, "reason": "object deleted",
                "chunk_count": 0, "updated_at": firestore.SERVER_TIMESTAMP,
            }, merge=True)
            bump_knowledge_version(tx, self._db, obj.tenant_id)
            return True

        with _transient("marking a knowledge source deleted"):
            return tombstone(self._db.transaction())

    def remove_chunks(self, tenant_id: str, source_id: str, before_generation: int) -> int:
        # Only older generations: a newer upload may be writing its chunks right now, before its switch.
        query = self._chunks(tenant_id).where(filter=FieldFilter("source_id", "==", source_id)).select(["generation"])
        removed = 0
        with _transient("removing knowledge chunks"):
            stale = [snap.reference for snap in query.stream()
                     if int((snap.to_dict() or {}).get("generation", 0)) < before_generation]
            for start in range(0, len(stale), _WRITES_PER_BATCH * 4):
                batch = self._db.batch()
                for ref in stale[start:start + _WRITES_PER_BATCH * 4]:
                    batch.delete(ref)
                batch.commit()
                removed += len(stale[start:start + _WRITES_PER_BATCH * 4])
            if removed:
                bump_knowledge_version(None, self._db, tenant_id)
        return removed

    def save_learned(self, tenant_id: str, entry_id: str, agent_scope: str, question: str, answer: str,
                     approved_by: str, vector: list[float], embedding_model: str,
                     conversation_id: str | None) -> None:
        with _transient("saving a learned answer"):
            self._chunks(tenant_id).document(entry_id).set({
                SCOPE_FIELD: agent_scope, "origin": Origin.LEARNED.value, "source_id": entry_id,
                "source": f"resposta aprovada por {approved_by}", "section": question, "page": None,
                "text": f"Pergunta: {question}\nResposta: {answer}", "question": question, "answer": answer,
                "approved_by": approved_by, "conversation_id": conversation_id,
                EMBEDDING_FIELD: Vector(vector), "embedding_model": embedding_model,
                "indexed_at": firestore.SERVER_TIMESTAMP,
            })
            bump_knowledge_version(None, self._db, tenant_id)  # the question is answered now: not from the cache

    def _nearest_in_scope(self, tenant_id: str, scope: str, vector: list[float], k: int) -> list[KnowledgePassage]:
        query = (
            self._chunks(tenant_id)
            .where(filter=FieldFilter(SCOPE_FIELD, "==", scope))
            .find_nearest(vector_field=EMBEDDING_FIELD, query_vector=Vector(vector),
                          distance_measure=DistanceMeasure.COSINE, limit=k, distance_result_field=_DISTANCE_FIELD)
        )
        passages = []
        for snap in query.stream():
            data = snap.to_dict() or {}
            passages.append(KnowledgePassage(
                text=data.get("text", ""), source=data.get("source", ""), section=data.get("section") or "",
                page=data.get("page"), distance=float(data[_DISTANCE_FIELD]),
                origin=Origin(data.get("origin", Origin.DOCUMENT.value))))
        return passages

    def nearest(self, tenant_id: str, agent_scopes: list[str], vector: list[float],
                k: int) -> list[KnowledgePassage]:
        with _transient("searching the knowledge base"):
            if len(agent_scopes) == 1:
                found = self._nearest_in_scope(tenant_id, agent_scopes[0], vector, k)
            else:
                # Side by side: one equality pre-filter per scope, merged by distance.
                futures = [self._search_pool.submit(self._nearest_in_scope, tenant_id, s, vector, k)
                           for s in agent_scopes]
                found = [p for f in futures for p in f.result()]
        return sorted(found, key=lambda p: p.distance)
