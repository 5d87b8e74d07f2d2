"""The knowledge base's pure rules: object paths, heading-aware chunks, which storage event wins, confidence."""

from __future__ import annotations

import pytest

from shared.domain.errors import InvalidPayload
from shared.domain.knowledge import (
    IngestDecision,
    KnowledgePassage,
    Origin,
    SourceRecord,
    SourceState,
    StorageEventKind,
    TextBlock,
    chunk_blocks,
    chunk_id,
    decide,
    judge,
    learned_entry_id,
    parse_object,
)

FINALIZED, DELETED, ARCHIVED = StorageEventKind.FINALIZED, StorageEventKind.DELETED, StorageEventKind.ARCHIVED


def test_an_object_path_names_tenant_agent_and_file():
    obj = parse_object("b", "acme/default/manuais/garantia.pdf", "1700000000000001", "application/pdf", "2048")

    assert (obj.tenant_id, obj.agent_scope, obj.file_path, obj.file_name) == (
        "acme", "default", "manuais/garantia.pdf", "garantia.pdf")
    assert (obj.generation, obj.size, obj.extension) == (1700000000000001, 2048, "pdf")
    assert obj.source_id == parse_object("b", "acme/default/manuais/garantia.pdf", "9").source_id, \
        "every generation of one object name is the same source"


@pytest.mark.parametrize("name", ["garantia.pdf", "acme/garantia.pdf", "acme/default/", "../x/y.txt",
                                  "acme/a b/c.txt", "acme//c.txt"])
def test_objects_outside_the_tenant_agent_file_layout_are_refused_with_a_reason(name):
    with pytest.raises(InvalidPayload, match=r"\S"):
        parse_object("b", name, "1")


def test_a_generation_that_is_not_a_positive_integer_is_refused():
    with pytest.raises(InvalidPayload, match="generation"):
        parse_object("b", "acme/default/a.txt", "abc")
    with pytest.raises(InvalidPayload, match="generation"):
        parse_object("b", "acme/default/a.txt", "0")


def _long_section(title: tuple[str, ...], sentences: int) -> list[TextBlock]:
    text = " ".join(f"Frase {i} da seção {title[-1]} sobre painéis e inversores." for i in range(sentences))
    return [TextBlock(text, title)]


def test_chunks_never_span_two_sections_and_start_with_their_heading_path():
    blocks = _long_section(("Garantia", "Inversor"), 40) + _long_section(("Financiamento",), 3)

    chunks = chunk_blocks(blocks, max_chars=400, overlap_chars=80)

    sections = [c.section for c in chunks]
    assert sections[-1] == "Financiamento" and "Garantia > Inversor" in sections
    for chunk in chunks:
        assert chunk.text.startswith(chunk.section + "\n")
        assert len(chunk.text) <= 400
        other = "Financiamento" if chunk.section != "Financiamento" else "Inversor"
        assert f"seção {other}" not in chunk.text
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))


def test_consecutive_chunks_of_a_section_overlap_so_no_sentence_is_only_cut_in_half():
    chunks = [c for c in chunk_blocks(_long_section(("Garantia",), 40), 400, 120)]

    assert len(chunks) > 3
    for first, second in zip(chunks, chunks[1:]):
        last_sentence = first.text.splitlines()[-1]
        assert last_sentence in second.text, "the next chunk starts with the end of the previous one"
    every_sentence = {f"Frase {i} da seção Garantia" for i in range(40)}
    assert all(any(s + " " in c.text for c in chunks) for s in every_sentence), "nothing is lost"


def test_a_sentence_longer_than_a_chunk_is_cut_at_spaces():
    blocks = [TextBlock("palavra " * 300, ("Seção",))]

    chunks = chunk_blocks(blocks, 300, 0)

    assert len(chunks) > 5 and all(len(c.text) <= 300 for c in chunks)
    assert all("palavr " not in c.text for c in chunks)


def test_blocks_without_text_make_no_chunks():
    assert chunk_blocks([TextBlock("   "), TextBlock("\n")]) == []


def test_chunk_ids_differ_per_generation_so_a_new_version_never_overwrites_the_live_one():
    assert chunk_id("src", 1, 0) != chunk_id("src", 2, 0)
    assert chunk_id("src", 1, 0) == chunk_id("src", 1, 0)


@pytest.mark.parametrize(("kind", "generation", "stored", "expected"), [
    (FINALIZED, 5, None, IngestDecision.INDEX),
    (FINALIZED, 5, SourceRecord(SourceState.INDEXED, 5), IngestDecision.SKIP_SAME_OR_NEWER),  # redelivery
    (FINALIZED, 5, SourceRecord(SourceState.INDEXED, 4), IngestDecision.INDEX),  # re-upload
    (FINALIZED, 4, SourceRecord(SourceState.INDEXED, 5), IngestDecision.SKIP_SAME_OR_NEWER),  # late old event
    (FINALIZED, 5, SourceRecord(SourceState.DELETED, 5), IngestDecision.SKIP_SAME_OR_NEWER),  # deleted first
    (FINALIZED, 5, SourceRecord(SourceState.UNSUPPORTED, 5), IngestDecision.SKIP_SAME_OR_NEWER),
    (DELETED, 5, SourceRecord(SourceState.INDEXED, 5), IngestDecision.REMOVE),
    (ARCHIVED, 5, SourceRecord(SourceState.INDEXED, 5), IngestDecision.REMOVE),
    (DELETED, 4, SourceRecord(SourceState.INDEXED, 5), IngestDecision.SKIP_SAME_OR_NEWER),  # overwrite's delete
    (ARCHIVED, 5, None, IngestDecision.REMOVE),  # delete before finalize: leave a tombstone
    (DELETED, 5, SourceRecord(SourceState.DELETED, 5), IngestDecision.SKIP_NOTHING_TO_REMOVE),
])
def test_the_highest_generation_wins_whatever_order_events_arrive_in(kind, generation, stored, expected):
    assert decide(kind, generation, stored).decision is expected


def _passage(distance: float) -> KnowledgePassage:
    return KnowledgePassage(text="t", source="s", distance=distance)


def test_a_search_is_confident_only_with_a_passage_within_the_threshold_and_offers_only_those():
    result = judge([_passage(0.5), _passage(0.2), _passage(0.35)], k=3, max_distance=0.4)

    assert result.confident and [p.distance for p in result.passages] == [0.2, 0.35]
    assert result.best_distance == 0.2
    assert result.as_tool_answer()["found"] is True


def test_no_passage_within_the_threshold_is_no_confident_match_and_the_tool_is_told_to_hand_off():
    result = judge([_passage(0.7), _passage(0.9)], k=3, max_distance=0.4)

    assert not result.confident and result.passages == [] and result.best_distance == 0.7
    answer = result.as_tool_answer()
    assert answer["found"] is False and "hand off" in answer["note"]


def test_the_same_approved_question_written_differently_is_one_learned_entry():
    same = learned_entry_id("default", "  voces FINANCIAM em 60x ")
    assert learned_entry_id("default", "Vocês financiam em 60x?") == same
    assert learned_entry_id("default", "Vocês financiam?") != learned_entry_id("shared", "Vocês financiam?")
    assert KnowledgePassage(text="t", source="s", distance=0.1, origin=Origin.LEARNED).origin.value == "learned"
