"""Pure rules of the seller's desk: who is a seller, the commands, references, drafts, and the computed best time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from shared.domain.contact_rhythm import best_time
from shared.domain.copilot import Suggestion
from shared.domain.seller_desk import (
    Command,
    parse_command,
    ref_code,
    refs_in,
    seller_conflicts,
    sends_draft_as_is,
    strip_refs,
    window_open,
)
from shared.domain.tenancy import AgentConfig, Seller


def test_a_seller_is_recognised_with_or_without_the_ninth_digit():
    agent = AgentConfig(sellers=[Seller(name="Ana", phone="+5511987654321")])
    assert agent.seller_for("+551187654321").name == "Ana"  # old 8-digit WhatsApp id
    assert agent.seller_for("+5511944443334") is None


def test_the_legacy_seller_phone_counts_as_a_seller():
    agent = AgentConfig(seller_phone="+5521988887777")
    assert [s.phone for s in agent.all_sellers()] == ["+5521988887777"]


def test_the_same_seller_phone_listed_twice_is_refused():
    with pytest.raises(ValidationError, match="listed twice"):
        AgentConfig(sellers=[Seller(name="A", phone="+5511987654321"), Seller(name="B", phone="+551187654321")])


def test_one_seller_phone_for_two_tenants_on_one_business_number_is_a_conflict():
    ana = AgentConfig(sellers=[Seller(name="Ana", phone="+5511987654321")])
    other = AgentConfig(sellers=[Seller(name="Ana B", phone="+551187654321")])
    assert seller_conflicts([("meta:1", "t1", ana), ("meta:1", "t2", other)]) == [
        "meta:1: seller 'Ana B' is registered for tenants 't1' and 't2'"]
    assert seller_conflicts([("meta:1", "t1", ana), ("meta:2", "t2", other)]) == []


@pytest.mark.parametrize(("text", "command", "ref"), [
    ("resumo #k7q2m", Command.SUMMARY, "K7Q2M"),
    ("Assumir #K7Q2M", Command.TAKE_OVER, "K7Q2M"),
    ("devolver", Command.GIVE_BACK, None),
    ("Fila", Command.QUEUE, None),
    ("hoje?", Command.QUEUE, None),
    ("aprovar #ABCDE", Command.APPROVE, "ABCDE"),
    ("rejeitar #ABCDE", Command.REJECT, "ABCDE"),
    ("ajuda", Command.HELP, None),
])
def test_portuguese_commands_are_parsed_with_their_reference(text: str, command: Command, ref: str | None):
    parsed = parse_command(text)
    assert parsed is not None and parsed.command is command and parsed.ref == ref


@pytest.mark.parametrize("text", ["Oi, tudo bem?", "Resumo: o cliente quer saber do preço e do prazo de entrega",
                                  "", None])
def test_ordinary_sentences_are_not_commands(text: str | None):
    assert parse_command(text) is None


def test_ok_and_enviar_send_a_draft_as_is_but_an_edit_does_not():
    assert all(sends_draft_as_is(t) for t in ("ok", "OK!", "Enviar", "pode enviar", "👍"))
    assert not sends_draft_as_is("ok, mas muda o preço para 15 mil")


def test_reference_codes_are_deterministic_short_and_unambiguous():
    code = ref_code("t1", "alert", "conv:msg")
    assert code == ref_code("t1", "alert", "conv:msg") and len(code) == 5
    assert not set(code) & set("01ILO")
    assert refs_in(f"olha o #{code.lower()} aqui") == [code]
    assert strip_refs(f"#{code} Temos sim, 10 kWh.") == "Temos sim, 10 kWh."


def test_the_24_hour_window_is_open_only_after_a_recent_message():
    now = datetime(2026, 11, 29, 12, tzinfo=UTC)
    assert window_open(now - timedelta(hours=23, minutes=59), now)
    assert not window_open(now - timedelta(hours=24), now)
    assert not window_open(None, now)


def _at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    # Local São Paulo time (UTC-3) written as UTC.
    return datetime(2026, month, day, hour + 3, minute, tzinfo=UTC)


def test_best_time_is_computed_from_the_hours_and_weekdays_the_lead_writes():
    messages = [("agent", _at(24, 18, 50)), ("lead", _at(24, 19, 5)),  # Tuesday, answered in 15 min
                ("agent", _at(26, 19, 0)), ("lead", _at(26, 20, 10)),  # Thursday, 70 min
                ("agent", _at(26, 20, 15)), ("lead", _at(26, 20, 25)),  # Thursday, 10 min
                ("lead", _at(27, 9, 0)),  # Friday morning, once
                ("agent", _at(1, 10, 0, month=12)), ("lead", _at(1, 19, 30, month=12))]  # Tuesday (Dec 1), 570 min
    rhythm = best_time(messages, "America/Sao_Paulo")
    assert rhythm.window == (19, 21) and rhythm.in_window == 4 and rhythm.lead_messages == 5
    assert rhythm.weekdays == ("ter", "qui")
    assert rhythm.median_reply_minutes == 42.5 and rhythm.replies_measured == 4
    assert rhythm.suggestion == "ter/qui, entre 19h e 21h"
    assert rhythm.evidence == "4 de 5 mensagens do lead nesse horário; responde em ~42 min (mediana de 4)"


def test_too_few_messages_make_no_claim_about_a_best_time():
    rhythm = best_time([("lead", _at(24, 19)), ("agent", _at(24, 19, 1))])
    assert rhythm.window is None and rhythm.suggestion == "sem padrão ainda (1 mensagem(ns) do lead)"


def test_a_suggestion_intent_outside_the_closed_set_becomes_other():
    assert Suggestion(draft_reply="x", intent="Negotiation").intent == "other"
    assert Suggestion(draft_reply="x", intent="Closing").intent == "closing"
