"""The knowledge base on the real Firestore and Storage emulators: ingestion under redelivery, re-upload and
deletion in any order, agent scoping, learned answers, and files that cannot be read."""

from __future__ import annotations

import pytest

from dev.stack import KNOWLEDGE_BUCKET
from shared.domain.errors import InvalidPayload
from shared.domain.knowledge import StorageEventKind, parse_object
from shared.services.knowledge import handle_storage_event
from tests.documents import scanned_pdf, text_pdf
from tests.knowledge_helpers import KNOWLEDGE_DATA, KnowledgeRig, knowledge_rig

pytestmark = pytest.mark.emulators
FINALIZED, DELETED, ARCHIVED = StorageEventKind.FINALIZED, StorageEventKind.DELETED, StorageEventKind.ARCHIVED
GARANTIA = (KNOWLEDGE_DATA / "garantia.txt").read_bytes()


@pytest.fixture
def kb(stack, db) -> KnowledgeRig:  # noqa: ANN001, ARG001 - the stack starts the emulators
    return knowledge_rig(db)


def test_an_uploaded_file_becomes_chunks_with_vectors_sources_sections_and_its_generation(kb):
    blob = kb.upload("default/garantia.txt", GARANTIA, "text/plain")

    outcome = kb.deliver(FINALIZED, blob)

    assert outcome.result == "indexed" and outcome.chunks == 4
    chunks = sorted(kb.chunks(), key=lambda c: c["ordinal"])
    assert [c["section"] for c in chunks] == ["Garantia dos equipamentos", "Garantia da instalação",
                                              "O que anula a garantia", "Como acionar a garantia"]
    first = chunks[0]
    assert (first["source"], first["agent_id"], first["origin"], first["generation"]) == (
        "garantia.txt", "default", "document", blob.generation)
    assert len(first["embedding"].to_map_value()["value"]) == 768
    assert kb.source(blob)["state"] == "indexed" and kb.source(blob)["chunk_count"] == 4


def test_a_redelivered_finalize_event_changes_nothing_and_costs_no_second_embedding(kb, db):
    blob = kb.upload("default/garantia.txt", GARANTIA, "text/plain")
    kb.deliver(FINALIZED, blob)
    before = sorted(c["text"] for c in kb.chunks())

    again = kb.deliver(FINALIZED, blob)

    assert again.result == "skipped" and sorted(c["text"] for c in kb.chunks()) == before
    calls = list(db.collection("tenants").document(kb.tenant_id).collection("model_calls").stream())
    assert [c.to_dict()["purpose"] for c in calls] == ["knowledge_embed_documents"]


def test_re_uploading_a_file_replaces_its_chunks(kb):
    old = kb.upload("default/horarios.txt", b"HORARIOS\n\nAtendemos de segunda a sexta das 8h as 18h.", "text/plain")
    kb.deliver(FINALIZED, old)
    new = kb.upload("default/horarios.txt", b"HORARIOS\n\nAgora atendemos tambem aos domingos das 9h as 13h.",
                    "text/plain")

    outcome = kb.deliver(FINALIZED, new)
    late_delete_of_the_old_version = handle_storage_event(
        DELETED, parse_object(KNOWLEDGE_BUCKET, old.name, old.generation, "text/plain"), kb.deps)

    assert outcome.result == "indexed" and outcome.removed == 1
    assert late_delete_of_the_old_version.result == "skipped"
    assert [c["text"] for c in kb.chunks()] == ["Horarios\nAgora atendemos tambem aos domingos das 9h as 13h."]
    assert kb.source(new)["generation"] == new.generation


def test_deleting_the_object_removes_its_chunks_and_a_late_finalize_does_not_bring_them_back(kb):
    blob = kb.upload("default/garantia.txt", GARANTIA, "text/plain")
    kb.deliver(FINALIZED, blob)

    removed = kb.deliver(ARCHIVED, blob)  # a versioned bucket's "delete"
    purged = kb.deliver(DELETED, blob)  # the old version purged later by the lifecycle rule
    late = kb.deliver(FINALIZED, blob)

    assert (removed.result, removed.removed) == ("removed", 4)
    assert purged.result == "skipped" and late.result == "skipped"
    assert kb.chunks() == [] and kb.source(blob)["state"] == "deleted"


def test_a_delete_that_arrives_before_its_finalize_leaves_nothing_indexed(kb):
    blob = kb.upload("default/garantia.txt", GARANTIA, "text/plain")

    assert kb.deliver(DELETED, blob).result == "removed"
    assert kb.deliver(FINALIZED, blob).result == "skipped"
    assert kb.chunks() == []


def test_an_agent_finds_its_own_and_shared_documents_but_never_another_agents(kb):
    kb.deliver(FINALIZED, kb.upload("vendas/precos.txt", b"PRECOS\n\nO kit de 5 kWp custa R$ 21.500 a vista.",
                                    "text/plain"))
    kb.deliver(FINALIZED, kb.upload("shared/garantia.txt", GARANTIA, "text/plain"))
    kb.deliver(FINALIZED, kb.upload("suporte/interno.txt", b"INTERNO\n\nO kit de 5 kWp custa R$ 19.000 para revenda.",
                                    "text/plain"))

    sales = kb.search.search(kb.tenant_id, "vendas", "Quanto custa o kit de 5 kWp?", k=5)
    warranty = kb.search.search(kb.tenant_id, "vendas", "Quantos anos de garantia tem o inversor?", k=1)

    assert sales.confident and sales.passages[0].source == "precos.txt"
    assert all(p.source != "interno.txt" for p in sales.passages)
    assert warranty.passages[0].source == "garantia.txt"


def test_tenants_never_see_each_others_documents(kb):
    kb.deliver(FINALIZED, kb.upload("shared/garantia.txt", GARANTIA, "text/plain"))
    other = f"{kb.tenant_id}-other"

    result = kb.search.search(other, "default", "Quantos anos de garantia tem o inversor?")

    assert not result.confident and result.passages == [] and result.best_distance is None


def test_a_question_nothing_answers_is_no_confident_match(kb):
    kb.deliver(FINALIZED, kb.upload("shared/garantia.txt", GARANTIA, "text/plain"))

    result = kb.search.search(kb.tenant_id, "default", "Vocês vendem carro elétrico?")

    assert not result.confident and result.passages == []
    assert result.best_distance is not None and result.best_distance > result.max_distance


def test_an_approved_answer_is_found_like_a_document_and_marked_learned(kb):
    entry = kb.search.add_learned_answer(kb.tenant_id, "default", "Vocês instalam carregador de carro elétrico?",
                                         "Sim, instalamos carregadores de 7 kW junto com o sistema solar.",
                                         approved_by="joao@solarprime.com.br", conversation_id="conv-1")
    same = kb.search.add_learned_answer(kb.tenant_id, "default", "voces instalam carregador de carro eletrico",
                                        "Sim, carregadores de 7 kW e de 22 kW.", approved_by="ana@solarprime.com.br")

    result = kb.search.search(kb.tenant_id, "default", "Instalam carregador para carro elétrico?")

    assert entry == same and len(kb.chunks()) == 1, "approving the same question again updates the entry"
    top = result.passages[0]
    assert result.confident and top.origin.value == "learned"
    assert "22 kW" in top.text and top.source == "resposta aprovada por ana@solarprime.com.br"


def test_unsupported_files_are_stored_marked_with_the_reason_and_not_retried(kb):
    sheet = kb.upload("default/tabela.xlsx", b"PK\x03\x04 not really a spreadsheet")
    scan = kb.upload("default/contrato.pdf", scanned_pdf(), "application/pdf")
    empty = kb.upload("default/vazio.txt", b"   \n", "text/plain")

    outcomes = [kb.deliver(FINALIZED, b) for b in (sheet, scan, empty)]

    assert [o.result for o in outcomes] == ["unsupported"] * 3
    assert "not supported" in kb.source(sheet)["reason"]
    assert "offline scan reader cannot read scans" in kb.source(scan)["reason"]
    assert "no text" in kb.source(empty)["reason"]
    assert kb.chunks() == []
    assert kb.deliver(FINALIZED, scan).result == "skipped", "a redelivery does not try again"


def test_a_text_pdf_is_indexed_with_its_pages(kb):
    pdf = text_pdf([["GARANTIA", "Os painéis têm 12 anos de garantia contra defeitos de fabricação."],
                    ["INVERSOR", "O inversor tem 10 anos de garantia do fabricante."]])
    kb.deliver(FINALIZED, kb.upload("default/manual.pdf", pdf, "application/pdf"))

    result = kb.search.search(kb.tenant_id, "default", "garantia do inversor", k=1)

    assert result.passages[0].page == 2 and result.passages[0].section == "Inversor"


def test_a_file_replaced_by_an_unreadable_version_no_longer_answers(kb):
    kb.deliver(FINALIZED, kb.upload("default/manual.pdf", text_pdf([["GARANTIA", "Doze anos de garantia."]]),
                                    "application/pdf"))
    scan = kb.upload("default/manual.pdf", scanned_pdf(), "application/pdf")

    assert kb.deliver(FINALIZED, scan).result == "unsupported"
    assert kb.chunks() == []


def test_events_of_another_bucket_or_outside_the_layout_are_refused(kb):
    blob = kb.upload("default/garantia.txt", GARANTIA, "text/plain")
    with pytest.raises(InvalidPayload, match="bucket"):
        handle_storage_event(FINALIZED, parse_object("some-other-bucket", blob.name, blob.generation), kb.deps)
    with pytest.raises(InvalidPayload):
        parse_object(KNOWLEDGE_BUCKET, f"{kb.tenant_id}/garantia.txt", blob.generation)


class FailingEmbedder:
    """The paid edge failing the way Vertex does under quota pressure."""

    model = "gemini-embedding-001"
    dimensions = 768

    def embed_documents(self, texts, title=None):  # noqa: ANN001, ANN201, ARG002
        from shared.domain.errors import ModelUnavailable

        raise ModelUnavailable("gemini-embedding-001 answered 429 RESOURCE_EXHAUSTED")

    embed_query = embed_documents


def test_a_model_outage_during_ingestion_raises_for_redelivery_and_the_redelivery_indexes_the_file(kb):
    from shared.domain.errors import TransientError

    blob = kb.upload("default/garantia.txt", GARANTIA, "text/plain")
    working = kb.deps.embedder
    kb.deps.embedder = FailingEmbedder()

    with pytest.raises(TransientError):
        kb.deliver(FINALIZED, blob)
    assert kb.source(blob) is None and kb.chunks() == []

    kb.deps.embedder = working
    assert kb.deliver(FINALIZED, blob).result == "indexed"


def test_a_file_the_embedding_model_refuses_is_marked_unsupported_instead_of_retried_forever(kb):
    from shared.domain.errors import PilotoError

    class RefusingEmbedder(FailingEmbedder):
        def embed_documents(self, texts, title=None):  # noqa: ANN001, ANN201, ARG002
            raise PilotoError("gemini-embedding-001 refused the request: 400 INVALID_ARGUMENT")

    blob = kb.upload("default/garantia.txt", GARANTIA, "text/plain")
    kb.deps.embedder = RefusingEmbedder()

    outcome = kb.deliver(FINALIZED, blob)

    assert outcome.result == "unsupported" and "400 INVALID_ARGUMENT" in kb.source(blob)["reason"]
    assert kb.chunks() == []
