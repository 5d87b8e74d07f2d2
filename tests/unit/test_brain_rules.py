"""Pure rules of the agent brain: routing, lead updates, catalogue search, copilot feedback, memory."""

from datetime import UTC, datetime

import pytest

from shared.domain.catalog import CatalogItem, rank_items
from shared.domain.conversation import Role, StoredMessage
from shared.domain.copilot import Feedback, judge
from shared.domain.inbound import Provider
from shared.domain.lead import LeadProfile, Stage, apply_update
from shared.domain.memory import needs_summary, split_for_summary
from shared.domain.routing import Tier, fallback_order


def test_every_tier_falls_back_to_a_different_model_first():
    for tier in Tier:
        order = fallback_order(tier)
        assert order[0] == tier and len(set(order)) == len(order) > 1


def test_lead_updates_merge_ignore_unknown_keys_and_qualify_when_bant_is_complete():
    lead = LeadProfile(phone="+5511987654321")
    lead, change = apply_update(lead, {"budget": "R$ 450", "phone": "+5511000000000", "tenant_id": "x"})
    assert lead.phone == "+5511987654321" and change.changed == {"budget": "R$ 450"}
    assert (change.stage_from, change.stage_to) == (Stage.NEW, Stage.QUALIFYING)

    lead, change = apply_update(lead, {"need": "solar", "authority": "ela", "timeline": "este mês", "budget": ""})
    assert lead.budget == "R$ 450", "an empty value never erases what is known"
    assert change.became_qualified and change.stage_to == Stage.QUALIFIED

    _, change = apply_update(lead, {"stage": "galaxy"})
    assert change.empty


def test_catalogue_search_ranks_by_shared_terms_and_finds_nothing_for_strangers():
    items = [CatalogItem(item_id="a", name="Kit Solar 5 kWp", price="R$ 18.900"),
             CatalogItem(item_id="b", name="Kit Solar 10 kWp", description="comercial"),
             CatalogItem(item_id="c", name="Carregador veicular")]
    assert [i.item_id for i in rank_items(items, "preço do kit solar 5 kwp")][:1] == ["a"]
    assert rank_items(items, "bicicleta elétrica") == []


@pytest.mark.parametrize(("draft", "sent", "feedback"), [
    ("Oi Mariana! O kit de 5 kWp resolve.", "oi mariana! o kit de 5 kwp resolve", Feedback.ACCEPTED),
    ("Oi Mariana! O kit de 5 kWp resolve sua conta.", "Oi Mariana, o kit de 5 kWp resolve bem a sua conta de luz!",
     Feedback.EDITED),
    ("Oi Mariana! O kit de 5 kWp resolve.", "Me liga amanhã", Feedback.IGNORED),
])
def test_copilot_feedback_judges_the_sent_text_against_the_draft(draft, sent, feedback):
    assert judge(draft, sent)[0] == feedback


def _messages(n: int) -> list[StoredMessage]:
    return [StoredMessage(message_id=f"m{i}", role=Role.LEAD, text="x" * 40, provider=Provider.META,
                          sent_at=datetime(2026, 1, 1, tzinfo=UTC)) for i in range(n)]


def test_a_full_or_heavy_window_is_summarized_by_folding_its_older_half():
    assert not needs_summary(_messages(3), limit=6, token_budget=1000)
    assert needs_summary(_messages(6), limit=6, token_budget=1000)
    assert needs_summary(_messages(15), limit=20, token_budget=10_000), "folded before the reply overflows it"
    assert not needs_summary(_messages(14), limit=20, token_budget=10_000)
    assert needs_summary(_messages(3), limit=6, token_budget=20)
    older, newer = split_for_summary(_messages(6))
    assert [m.message_id for m in older] == ["m0", "m1", "m2"] and len(newer) == 3
