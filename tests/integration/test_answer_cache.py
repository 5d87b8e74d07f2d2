"""The answer cache on the real Firestore emulator: what it never stores, and the content versions that move by
themselves when documents, learned answers or the catalogue change. Each test would pass against a cache that
stored everything under (agent, question) — and fails against it."""

from __future__ import annotations

import pytest

from shared.adapters.content_versions import content_version
from shared.adapters.firestore_answer_cache import FirestoreAnswerCache
from shared.domain.knowledge import StorageEventKind
from tests.integration.test_agent_turn_service import World, vertex  # noqa: F401 - fixture
from tests.knowledge_helpers import knowledge_rig
from tests.vertex_fake import function_call_response, text_response

pytestmark = pytest.mark.emulators


@pytest.fixture
def rig(db, tenant):  # noqa: ANN001, ANN201
    kb = knowledge_rig(db)
    kb.tenant_id = tenant.tenant_id
    return kb


def _lead(db, tenant, vertex, rig=None) -> World:  # noqa: ANN001
    """A new lead of the same tenant, with the cache (and the knowledge base, when given) wired in."""
    world = World(db, tenant, vertex)
    world.deps.answers = FirestoreAnswerCache(db)
    if rig is not None:
        world.deps.knowledge = lambda t, a, q: rig.search.search(t, a, q).as_tool_answer()
        world.deps.learn = lambda t, a, q, ans, by, c: rig.search.add_learned_answer(t, a, q, ans, by, c)
    return world


def test_a_handoff_for_an_unknown_answer_is_not_cached_and_the_taught_answer_is_used_next_time(
        db, tenant, vertex, rig):  # noqa: ANN001
    question = "Vocês fazem manutenção?"
    vertex.script = [function_call_response(("search_knowledge", {"question": question})),
                     text_response("Vou confirmar com a equipe e já te retorno.")]
    first = _lead(db, tenant, vertex, rig)
    assert first.turn(first.lead(question)).handoff is True

    # The next lead with the same question is not told "I'll check" from the cache: the model runs and a
    # human is called again.
    vertex.script = [function_call_response(("search_knowledge", {"question": question})),
                     text_response("Vou confirmar com a equipe e já te retorno.")]
    second = _lead(db, tenant, vertex, rig)
    outcome = second.turn(second.lead(question))
    assert outcome.cached is False and outcome.handoff is True
    assert second.conversation().bot_paused is True

    # The seller's answer is approved: the next lead gets it through the knowledge base, not a stale entry.
    rig.search.add_learned_answer(tenant.tenant_id, "default", question, "Sim, fazemos manutenção anual.", "ana")
    vertex.script = [function_call_response(("search_knowledge", {"question": question})),
                     text_response("Sim, fazemos manutenção anual.")]
    third = _lead(db, tenant, vertex, rig)
    outcome = third.turn(third.lead(question))
    assert outcome.cached is False and outcome.handoff is False
    found = vertex.requests[-1][1]["contents"][-1]["parts"][0]["functionResponse"]["response"]
    assert found["found"] is True and "manutenção anual" in str(found)

    fourth = _lead(db, tenant, vertex, rig)
    assert fourth.turn(fourth.lead(question)).cached is True, "an impersonal answer from a lookup is reused"
    assert fourth.sent_texts() == ["Sim, fazemos manutenção anual."]


def test_a_reply_that_mentions_what_this_lead_said_is_not_served_to_the_next_lead(db, tenant, vertex):  # noqa: ANN001
    first = _lead(db, tenant, vertex)
    vertex.script = [text_response("Oi! Me conta mais."), text_response("Sim! Em Sorocaba atendemos aos sábados.")]
    first.turn(first.lead("oi, moro em Sorocaba"))
    first.turn(first.lead("Vocês atendem sábado?"))

    vertex.script = [text_response("Sim, atendemos aos sábados das 9h às 13h.")]
    second = _lead(db, tenant, vertex)
    outcome = second.turn(second.lead("Vocês atendem sábado?", name="João"))

    assert outcome.cached is False
    assert second.sent_texts() == ["Sim, atendemos aos sábados das 9h às 13h."]
    assert "Sorocaba" not in second.sent_texts()[0]


def test_a_turn_that_changed_the_lead_is_not_cached(db, tenant, vertex):  # noqa: ANN001
    vertex.script = [function_call_response(("update_lead", {"need": "energia solar", "notes": "prefere pix"})),
                     text_response("Aceitamos pix, sim!")]
    first = _lead(db, tenant, vertex)
    first.turn(first.lead("Aceitam pix?"))

    second = _lead(db, tenant, vertex)
    vertex.script = [text_response("Aceitamos pix e cartão.")]
    assert second.turn(second.lead("Aceitam pix?", name="João")).cached is False


def test_a_catalogue_edit_moves_the_key_so_an_old_price_is_not_served(db, tenant, vertex):  # noqa: ANN001
    catalog = db.collection("tenants").document(tenant.tenant_id).collection("catalog")
    vertex.script = [function_call_response(("lookup_catalog", {"query": "garantia inversor"})),
                     text_response("O inversor tem 10 anos de garantia.")]
    first = _lead(db, tenant, vertex)
    first.turn(first.lead("Qual a garantia do inversor?"))
    second = _lead(db, tenant, vertex)
    assert second.turn(second.lead("Qual a garantia do inversor?", name="João")).cached is True

    catalog.document("inversor").set({"name": "Inversor 5 kW", "price": "R$ 4.200", "details": {"garantia": "12 anos"}})
    vertex.script = [text_response("O inversor tem 12 anos de garantia.")]
    third = _lead(db, tenant, vertex)
    outcome = third.turn(third.lead("Qual a garantia do inversor?", name="Rita"))
    assert outcome.cached is False and third.sent_texts() == ["O inversor tem 12 anos de garantia."]


def test_content_versions_move_on_ingest_delete_approval_and_catalogue_change(db, rig):  # noqa: ANN001
    tenant_id = rig.tenant_id
    seen = [content_version(db, tenant_id)]

    blob = rig.upload("shared/horario.txt", "HORÁRIO\nAtendemos de segunda a sábado.".encode(), "text/plain")
    rig.deliver(StorageEventKind.FINALIZED, blob)
    seen.append(content_version(db, tenant_id))
    rig.deliver(StorageEventKind.FINALIZED, blob)  # a redelivery changes nothing
    assert content_version(db, tenant_id) == seen[-1]

    rig.deliver(StorageEventKind.DELETED, blob)
    seen.append(content_version(db, tenant_id))
    rig.search.add_learned_answer(tenant_id, "default", "Fazem limpeza?", "Sim.", "ana")
    seen.append(content_version(db, tenant_id))
    catalog = db.collection("tenants").document(tenant_id).collection("catalog")
    catalog.document("kit5").set({"name": "Kit 5 kWp", "price": "R$ 18.900"})
    seen.append(content_version(db, tenant_id))
    catalog.document("kit5").set({"name": "Kit 5 kWp", "price": "R$ 17.900"})
    seen.append(content_version(db, tenant_id))
    catalog.document("kit5").delete()
    seen.append(content_version(db, tenant_id))

    # Every change moved the version (an emptied catalogue is again the empty catalogue: same content, same key).
    assert all(before != after for before, after in zip(seen, seen[1:])), seen
