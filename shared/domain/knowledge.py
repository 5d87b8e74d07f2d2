"""The knowledge base's pure rules: where an uploaded object belongs, how text becomes overlapping chunks,
what a search answers, and which storage event wins when several arrive for one object.

No I/O and no google.* imports: extraction, embeddings and Firestore live in adapters.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import BaseModel, Field

from shared.domain.errors import InvalidPayload

SHARED_SCOPE = "shared"  # objects under <tenant>/shared/ are visible to every agent of the tenant

# Firestore document ids and our own paths: letters, digits and a few separators; never "/" or "..".
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")


class Origin(StrEnum):
    DOCUMENT = "document"  # a chunk of an uploaded file
    LEARNED = "learned"  # a question/answer pair a human approved after a handoff


class SourceState(StrEnum):
    INDEXED = "indexed"
    UNSUPPORTED = "unsupported"  # stored and marked: wrong type, empty, a scan nobody could read
    DELETED = "deleted"


class StorageEventKind(StrEnum):
    FINALIZED = "google.cloud.storage.object.v1.finalized"
    DELETED = "google.cloud.storage.object.v1.deleted"
    # Versioned buckets (the knowledge bucket is one) send "archived", not "deleted", when the live
    # version is deleted or overwritten; "deleted" comes later, when an old version is purged.
    ARCHIVED = "google.cloud.storage.object.v1.archived"


def _digest(*parts: str, size: int = 32) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:size]


def valid_id(value: str, what: str) -> str:
    if not _ID.match(value or ""):
        raise InvalidPayload(f"{what} must be 1-100 letters, digits, '_', '.', ':' or '-' "
                             f"(got {len(value or '')} characters)")
    return value


@dataclass(frozen=True)
class KnowledgeObject:
    """A Cloud Storage object in the knowledge bucket: <tenant>/<agent or "shared">/<file path>."""

    bucket: str
    name: str
    generation: int
    content_type: str | None = None
    size: int | None = None

    @property
    def tenant_id(self) -> str:
        return self.name.split("/", 2)[0]

    @property
    def agent_scope(self) -> str:
        return self.name.split("/", 2)[1]

    @property
    def file_path(self) -> str:
        return self.name.split("/", 2)[2]

    @property
    def file_name(self) -> str:
        return self.file_path.rsplit("/", 1)[-1]

    @property
    def extension(self) -> str:
        base = self.file_name.lower()
        return base.rsplit(".", 1)[-1] if "." in base else ""

    @property
    def source_id(self) -> str:
        """One id per object name: every generation of a file replaces the same source."""
        return knowledge_source_id(self.bucket, self.name)


def parse_object(bucket: str, name: str, generation: object, content_type: str | None = None,
                 size: object = None) -> KnowledgeObject:
    """Validate an object named in a storage event. Raises InvalidPayload naming what is wrong."""
    if not bucket:
        raise InvalidPayload("storage event has no bucket")
    parts = (name or "").split("/", 2)
    if len(parts) < 3 or not parts[2] or parts[2].endswith("/"):
        raise InvalidPayload("knowledge objects are named <tenant>/<agent or shared>/<file>; "
                             f"this one has {len(parts)} path segment(s)")
    valid_id(parts[0], "the tenant segment of the object name")
    valid_id(parts[1], "the agent segment of the object name")
    try:
        gen = int(str(generation))
    except ValueError:
        raise InvalidPayload("storage event generation is not an integer") from None
    if gen <= 0:
        raise InvalidPayload("storage event generation must be positive")
    try:
        size_int = int(str(size)) if size is not None else None
    except ValueError:
        size_int = None
    return KnowledgeObject(bucket=bucket, name=name, generation=gen, content_type=content_type, size=size_int)


def knowledge_source_id(bucket: str, object_name: str) -> str:
    return "src-" + _digest("source", bucket, object_name, size=24)


def chunk_id(source_id: str, generation: int, ordinal: int) -> str:
    """Generation in the id: a new version's chunks never overwrite the live ones before the switch."""
    return "chk-" + _digest("chunk", source_id, str(generation), str(ordinal))


def normalize_question(text: str) -> str:
    """Case, accents, punctuation and spacing do not make a different question."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.findall(r"[a-z0-9]+", plain))


def learned_entry_id(agent_scope: str, question: str) -> str:
    """Approving the same question again updates the one entry instead of adding a duplicate."""
    return "lrn-" + _digest("learned", agent_scope, normalize_question(question))


# -- extraction output and chunking -----------------------------------------------------------------


@dataclass(frozen=True)
class TextBlock:
    """A paragraph (or table row, or list item) with the headings above it and its page, if paged."""

    text: str
    headings: tuple[str, ...] = ()
    page: int | None = None


@dataclass(frozen=True)
class Extraction:
    """A file's text; a PDF without a text layer (a scan) comes back empty, flagged for a scan reader."""

    kind: str
    blocks: list[TextBlock]
    needs_scan_reader: bool = False
    pages: int | None = None


@dataclass(frozen=True)
class Chunk:
    ordinal: int
    text: str  # what is embedded and returned: the section title first, then the passage
    section: str  # "Financiamento > Prazos"; "" when the document has no headings
    page: int | None = None


_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")


def _pieces(text: str, limit: int) -> list[str]:
    """Split an over-long paragraph at sentence ends, and a too-long sentence at spaces."""
    if len(text) <= limit:
        return [text]
    out: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        while len(sentence) > limit:
            cut = sentence.rfind(" ", 0, limit)
            cut = cut if cut > limit // 2 else limit
            out.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if sentence:
            out.append(sentence)
    return out


def _tail(pieces: list[str], overlap: int) -> list[str]:
    """The last whole pieces of a chunk, up to `overlap` characters: the start of the next chunk."""
    kept: list[str] = []
    size = 0
    for piece in reversed(pieces):
        if size + len(piece) > overlap:
            break
        kept.insert(0, piece)
        size += len(piece) + 1
    return kept


def chunk_blocks(blocks: list[TextBlock], max_chars: int = 1200, overlap_chars: int = 200) -> list[Chunk]:
    """Heading-aware chunks: a chunk never spans two sections, so its heading describes all of it.

    Inside a section, paragraphs are packed up to max_chars; consecutive chunks of one section share
    their last/first paragraphs or sentences (up to overlap_chars) so an answer cut at a boundary is
    still whole in one of them. Each chunk's text starts with its section path, which both the
    embedding and the reader need ("Garantia > Inversor: 10 anos" means nothing without "Garantia").
    """
    if max_chars < 200 or not 0 <= overlap_chars < max_chars // 2:
        raise ValueError("max_chars must be >= 200 and overlap_chars below half of it")
    chunks: list[Chunk] = []

    def emit(section: tuple[str, ...], page: int | None, pieces: list[str]) -> None:
        body = "\n".join(pieces).strip()
        if not body:
            return
        title = " > ".join(section)
        text = f"{title}\n{body}" if title else body
        chunks.append(Chunk(ordinal=len(chunks), text=text, section=title, page=page))

    groups: list[tuple[tuple[str, ...], int | None, list[str]]] = []
    for block in blocks:
        text = " ".join(block.text.split())
        if not text:
            continue
        key = (block.headings, block.page)
        if groups and (groups[-1][0], groups[-1][1]) == key:
            groups[-1][2].append(text)
        else:
            groups.append((block.headings, block.page, [text]))

    for headings, page, paragraphs in groups:
        budget = max_chars - len(" > ".join(headings)) - 1
        budget = max(budget, max_chars // 2)
        current: list[str] = []
        size = 0
        fresh = 0  # pieces in `current` that no earlier chunk already carried
        for paragraph in paragraphs:
            for piece in _pieces(paragraph, budget):
                if current and size + len(piece) + 1 > budget:
                    emit(headings, page, current)
                    current = _tail(current, overlap_chars)
                    size = sum(len(p) + 1 for p in current)
                    fresh = 0
                current.append(piece)
                size += len(piece) + 1
                fresh += 1
        if fresh:
            emit(headings, page, current)
    return chunks


# -- search results --------------------------------------------------------------------------------


class KnowledgePassage(BaseModel):
    text: str
    source: str = Field(description="file name, or who approved a learned answer")
    section: str = ""
    page: int | None = None
    distance: float = Field(description="cosine distance to the question: 0 is identical, lower is closer")
    origin: Origin = Origin.DOCUMENT


class KnowledgeResult(BaseModel):
    """What a search found. `confident` is False when even the closest passage is past the threshold:
    the agent must then hand off instead of guessing, and no passage is offered to it."""

    passages: list[KnowledgePassage] = Field(default_factory=list)
    confident: bool = False
    best_distance: float | None = None
    max_distance: float

    def as_tool_answer(self) -> dict:
        """The search_knowledge tool's answer to the model."""
        if not self.confident:
            return {"found": False, "note": "no confident match in the company's knowledge base; do not guess — "
                                            "say you will check with the team and hand off to a human"}
        return {"found": True, "passages": [
            {"text": p.text, "source": p.source, "section": p.section, "origin": p.origin.value}
            for p in self.passages]}


def judge(candidates: list[KnowledgePassage], k: int, max_distance: float) -> KnowledgeResult:
    """Keep the k closest passages within the threshold; none within it means no confident match."""
    ordered = sorted(candidates, key=lambda p: p.distance)
    best = ordered[0].distance if ordered else None
    kept = [p for p in ordered if p.distance <= max_distance][:k]
    return KnowledgeResult(passages=kept, confident=bool(kept), best_distance=best, max_distance=max_distance)


# -- which storage event wins -----------------------------------------------------------------------


@dataclass(frozen=True)
class SourceRecord:
    """What the index holds for one object name (tenants/{t}/knowledge_sources/{source_id})."""

    state: SourceState
    generation: int


class IngestDecision(StrEnum):
    INDEX = "index"
    REMOVE = "remove"
    SKIP_SAME_OR_NEWER = "skip_same_or_newer"  # a redelivery, or an older event after a newer one
    SKIP_NOTHING_TO_REMOVE = "skip_nothing_to_remove"


@dataclass(frozen=True)
class EventDecision:
    decision: IngestDecision
    reason: str = field(default="")


def decide(kind: StorageEventKind, generation: int, stored: SourceRecord | None) -> EventDecision:
    """Generations only grow for one object name, so the highest generation seen is the truth.

    finalized(g): index unless the index already reflects g or a later generation (indexed, marked
    unsupported, or deleted). deleted/archived(g): remove unless the index holds a later generation
    (an overwrite sends finalized(g+1) and archived/deleted(g), in either order).
    """
    if kind is StorageEventKind.FINALIZED:
        if stored is not None and stored.generation >= generation:
            return EventDecision(IngestDecision.SKIP_SAME_OR_NEWER,
                                 f"generation {stored.generation} is already {stored.state.value}")
        return EventDecision(IngestDecision.INDEX)
    if stored is not None and stored.generation > generation:
        return EventDecision(IngestDecision.SKIP_SAME_OR_NEWER,
                             f"generation {stored.generation} replaced the removed {generation}")
    if stored is not None and stored.state is SourceState.DELETED:
        return EventDecision(IngestDecision.SKIP_NOTHING_TO_REMOVE, "already removed")
    return EventDecision(IngestDecision.REMOVE)
