"""The knowledge base: files in the knowledge bucket become searchable passages; questions find them.

Ingestion is driven by storage events, delivered at least once and in any order. The highest object
generation wins (shared.domain.knowledge.decide); a new generation's chunks are written under their own
ids, switched live in one transaction, and only then are older generations' chunks deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from shared import log
from shared.domain.errors import InvalidPayload, PilotoError, ScanUnreadable, TransientError, UnsupportedDocument
from shared.domain.knowledge import (
    SHARED_SCOPE,
    Extraction,
    IngestDecision,
    KnowledgeObject,
    KnowledgeResult,
    SourceState,
    StorageEventKind,
    chunk_blocks,
    decide,
    judge,
    learned_entry_id,
    valid_id,
)
from shared.domain.usage import ModelCall
from shared.ports import Embedder, KnowledgeIndex, ObjectReader, ScanReader, UsageLedger

logger = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 2000
MAX_K = 10


@dataclass
class IngestDeps:
    objects: ObjectReader
    index: KnowledgeIndex
    embedder: Embedder
    scan_reader: ScanReader
    ledger: UsageLedger
    extract: Callable[[bytes, str, str | None], Extraction]  # file bytes, file name, content type → text blocks
    bucket: str | None = None  # when set, events from any other bucket are refused
    chunk_chars: int = 1200
    overlap_chars: int = 200
    max_object_bytes: int = 20_000_000


@dataclass
class IngestOutcome:
    result: str  # indexed | unsupported | removed | skipped
    source_id: str
    generation: int
    chunks: int = 0
    removed: int = 0
    reason: str | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def _record(ledger: UsageLedger, tenant_id: str, agent_id: str, conversation_id: str, call: ModelCall | None) -> None:
    if call is None:
        return
    ledger.record_model_call(tenant_id, agent_id, conversation_id, call)
    log.log(logger, logging.INFO, "model call", model=call.model, backend=call.backend, purpose=call.purpose,
            prompt_tokens=call.usage.prompt_tokens, output_tokens=call.usage.output_tokens,
            latency_ms=call.latency_ms, cost_usd=call.cost_usd, agent_id=agent_id)


def handle_storage_event(kind: StorageEventKind, obj: KnowledgeObject, deps: IngestDeps) -> IngestOutcome:
    """Index a finalized object, or remove a deleted/archived one. Raises TransientError to be redelivered."""
    if deps.bucket and obj.bucket != deps.bucket:
        raise InvalidPayload(f"events from bucket {obj.bucket!r} are not for the knowledge base")
    with log.bound(tenant_id=obj.tenant_id, source_id=obj.source_id, generation=obj.generation,
                   event=kind.name.lower()):
        stored = deps.index.get_source(obj.tenant_id, obj.source_id)
        decision = decide(kind, obj.generation, stored)
        if decision.decision in (IngestDecision.SKIP_SAME_OR_NEWER, IngestDecision.SKIP_NOTHING_TO_REMOVE):
            log.log(logger, logging.INFO, "knowledge event skipped", reason=decision.reason)
            return IngestOutcome("skipped", obj.source_id, obj.generation, reason=decision.reason)
        if decision.decision is IngestDecision.REMOVE:
            return _remove(obj, deps)
        return _index(obj, deps)


def _remove(obj: KnowledgeObject, deps: IngestDeps) -> IngestOutcome:
    if not deps.index.mark_removed(obj):
        return IngestOutcome("skipped", obj.source_id, obj.generation, reason="a newer generation is live")
    removed = deps.index.remove_chunks(obj.tenant_id, obj.source_id, obj.generation + 1)
    log.log(logger, logging.INFO, "knowledge file removed", chunks_removed=removed)
    return IngestOutcome("removed", obj.source_id, obj.generation, removed=removed)


def _index(obj: KnowledgeObject, deps: IngestDeps) -> IngestOutcome:
    try:
        if obj.size is not None and obj.size > deps.max_object_bytes:
            raise UnsupportedDocument(f"the file has {obj.size} bytes; the limit is {deps.max_object_bytes}")
        data = deps.objects.read(obj.bucket, obj.name, obj.generation, deps.max_object_bytes)
        if data is None:
            # Overwritten or deleted since the event was sent: that later change has its own event.
            return IngestOutcome("skipped", obj.source_id, obj.generation, reason="this generation no longer exists")
        extraction = deps.extract(data, obj.file_name, obj.content_type)
        blocks = extraction.blocks
        if extraction.needs_scan_reader:
            try:
                blocks, call = deps.scan_reader.read_scan(data, obj.file_name)
            except ScanUnreadable as err:
                _record(deps.ledger, obj.tenant_id, obj.agent_scope, f"knowledge:{obj.source_id}",
                        getattr(err, "model_call", None))
                raise
            except TransientError:
                raise
            except PilotoError as err:
                raise UnsupportedDocument(f"the model refused to read the scan: {err}") from err
            _record(deps.ledger, obj.tenant_id, obj.agent_scope, f"knowledge:{obj.source_id}", call)
        chunks = chunk_blocks(blocks, deps.chunk_chars, deps.overlap_chars)
        if not chunks:
            raise UnsupportedDocument("no text found in the file")
    except UnsupportedDocument as err:
        return _mark_unsupported(obj, deps, str(err))

    try:
        embeddings = deps.embedder.embed_documents([c.text for c in chunks], title=obj.file_name)
    except TransientError:
        raise
    except PilotoError as err:
        # The model refused the request itself: sending the same file again would be refused again.
        return _mark_unsupported(obj, deps, f"the embedding model refused the file: {err}")
    _record(deps.ledger, obj.tenant_id, obj.agent_scope, f"knowledge:{obj.source_id}", embeddings.call)
    ids = deps.index.write_chunks(obj, chunks, embeddings.vectors, deps.embedder.model)
    if not deps.index.activate(obj, ids, SourceState.INDEXED, None, deps.embedder.model):
        return _lost_race(obj, deps)
    removed = deps.index.remove_chunks(obj.tenant_id, obj.source_id, obj.generation)
    log.log(logger, logging.INFO, "knowledge file indexed", chunks=len(ids), chunks_removed=removed,
            kind=extraction.kind, pages=extraction.pages)
    return IngestOutcome("indexed", obj.source_id, obj.generation, chunks=len(ids), removed=removed)


def _mark_unsupported(obj: KnowledgeObject, deps: IngestDeps, reason: str) -> IngestOutcome:
    """Stored and marked, not retried. The object's previous version no longer exists, so its chunks go too."""
    if not deps.index.activate(obj, [], SourceState.UNSUPPORTED, reason, None):
        return _lost_race(obj, deps)
    removed = deps.index.remove_chunks(obj.tenant_id, obj.source_id, obj.generation)
    log.log(logger, logging.WARNING, "knowledge file not indexed", reason=reason, chunks_removed=removed)
    return IngestOutcome("unsupported", obj.source_id, obj.generation, removed=removed, reason=reason)


def _lost_race(obj: KnowledgeObject, deps: IngestDeps) -> IngestOutcome:
    """Another delivery made this generation, or a later one, live while we worked."""
    live = deps.index.get_source(obj.tenant_id, obj.source_id)
    if live is not None and live.generation == obj.generation and live.state is not SourceState.DELETED:
        return IngestOutcome("skipped", obj.source_id, obj.generation, reason="indexed by a concurrent delivery")
    removed = deps.index.remove_chunks(obj.tenant_id, obj.source_id, obj.generation + 1)
    return IngestOutcome("skipped", obj.source_id, obj.generation, removed=removed,
                         reason="a newer generation became live first")


@dataclass
class KnowledgeService:
    """The KnowledgeBase port: the lookup function and the agent's search_knowledge tool both use it."""

    index: KnowledgeIndex
    embedder: Embedder
    ledger: UsageLedger
    max_distance: float

    def search(self, tenant_id: str, agent_id: str, question: str, k: int = 3,
               conversation_id: str | None = None) -> KnowledgeResult:
        valid_id(tenant_id, "tenant_id")
        valid_id(agent_id, "agent_id")
        question = " ".join((question or "").split())[:MAX_QUESTION_CHARS]
        if not question:
            raise InvalidPayload("question is empty")
        if not 1 <= k <= MAX_K:
            raise InvalidPayload(f"k must be between 1 and {MAX_K}")
        with log.bound(tenant_id=tenant_id, conversation_id=conversation_id):
            embedding = self.embedder.embed_query(question)
            _record(self.ledger, tenant_id, agent_id, conversation_id or "knowledge:lookup", embedding.call)
            scopes = [agent_id] if agent_id == SHARED_SCOPE else [agent_id, SHARED_SCOPE]
            candidates = self.index.nearest(tenant_id, scopes, embedding.vectors[0], k)
            result = judge(candidates, k, self.max_distance)
            # The question is the lead's words: it is not logged, only what was found.
            log.log(logger, logging.INFO, "knowledge search", agent_id=agent_id, k=k, confident=result.confident,
                    passages=len(result.passages), best_distance=result.best_distance,
                    max_distance=self.max_distance)
            return result

    def add_learned_answer(self, tenant_id: str, agent_id: str, question: str, answer: str, approved_by: str,
                           conversation_id: str | None = None, shared: bool = False) -> str:
        valid_id(tenant_id, "tenant_id")
        valid_id(agent_id, "agent_id")
        question, answer = " ".join((question or "").split()), (answer or "").strip()
        if not question or not answer:
            raise InvalidPayload("a learned answer needs both the question and the answer")
        if not (approved_by or "").strip():
            raise InvalidPayload("a learned answer needs who approved it")
        scope = SHARED_SCOPE if shared else agent_id
        entry_id = learned_entry_id(scope, question)
        embedding = self.embedder.embed_documents([f"Pergunta: {question}\nResposta: {answer}"],
                                                  title="resposta aprovada")
        _record(self.ledger, tenant_id, agent_id, conversation_id or f"knowledge:{entry_id}", embedding.call)
        self.index.save_learned(tenant_id, entry_id, scope, question, answer, approved_by.strip(),
                                embedding.vectors[0], self.embedder.model, conversation_id)
        with log.bound(tenant_id=tenant_id, conversation_id=conversation_id):
            log.log(logger, logging.INFO, "learned answer stored", entry_id=entry_id, agent_id=scope)
        return entry_id
