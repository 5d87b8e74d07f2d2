"""Routing on words: the labelled pt-BR set, the substring traps, and stage rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.domain.routing import Tier, choose_tier, is_faq, is_social

SET = json.loads((Path(__file__).parents[1] / "data" / "routing" / "messages.json").read_text(encoding="utf-8"))
MESSAGES = SET["messages"]


def test_the_labelled_set_is_large_and_covers_every_tier():
    assert len(MESSAGES) >= 200
    assert {m["tier"] for m in MESSAGES} == {t.value for t in Tier}


def test_routing_agrees_with_the_labelled_set_at_least_95_percent_of_the_time():
    wrong = [(m["text"], m.get("stage"), m["tier"], choose_tier(m["text"], m.get("stage")).value)
             for m in MESSAGES if choose_tier(m["text"], m.get("stage")).value != m["tier"]]
    accuracy = 1 - len(wrong) / len(MESSAGES)
    assert accuracy >= 0.95, f"accuracy {accuracy:.1%}; misrouted: {wrong}"


@pytest.mark.parametrize(("text", "tier"), [
    ("Oi, boa tarde!", Tier.LITE),
    ("Qual o horário de vocês?", Tier.LITE),
    ("Achei caro, tem desconto?", Tier.ADVANCED),
    ("Quero cancelar o contrato", Tier.ADVANCED),
    ("Vocês instalam em telhado de fibrocimento?", Tier.STANDARD),
    ("Oi, aqui é a Carolina", Tier.LITE),
    ("meu problema é a conta alta", Tier.STANDARD),
    ("Quero que visite minha casa", Tier.STANDARD),
    ("Sou funcionário", Tier.STANDARD),
    ("NEGOCIAÇÃO", Tier.ADVANCED),
    ("negociacao", Tier.ADVANCED),
    ("Tá CARO", Tier.ADVANCED),
])
def test_words_match_whole_and_without_accents(text, tier):
    assert choose_tier(text) == tier


def test_the_substring_traps_are_not_faqs():
    assert not is_faq("Quero que visite minha casa")
    assert not is_faq("Sou funcionário")
    assert is_faq("Vocês têm site?") and is_faq("vcs aceitam pix")


def test_an_faq_about_the_lead_is_not_an_faq_about_the_business():
    assert not is_faq("Minha conta é de R$ 450, vocês atendem?")
    assert not is_faq("Aceitam pix com desconto?")


@pytest.mark.parametrize("stage", ["proposal", "negotiation"])
def test_a_lead_in_proposal_or_negotiation_gets_advanced_only_for_substance(stage):
    assert choose_tier("ok", stage=stage) == Tier.LITE
    assert choose_tier("Bom dia! 👍", stage=stage) == Tier.LITE
    assert choose_tier("e se eu pagar em 12x?", stage=stage) == Tier.ADVANCED
    assert choose_tier("e se eu pagar em 12x?", stage="qualified") == Tier.STANDARD


def test_a_burst_is_social_only_when_every_line_is():
    assert choose_tier("oi\nboa tarde\n🙂") == Tier.LITE
    assert choose_tier("oi\nquero colocar placa solar") == Tier.STANDARD
    assert is_social("obrigada pela proposta") and not is_social("recebi a proposta")
