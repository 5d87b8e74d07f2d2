"""Pure domain rules: phone numbers, ids, cost estimation, prompt building."""

from datetime import UTC, datetime

import pytest

from shared.domain.conversation import Conversation, Role, StoredMessage
from shared.domain.ids import conversation_id, inbound_message_id, reply_message_id, task_name
from shared.domain.inbound import MessageKind, Provider
from shared.domain.phone import mask_phone, to_e164
from shared.domain.prompt import build_prompt
from shared.domain.tenancy import AgentConfig
from shared.domain.usage import ModelPrice, TokenUsage, estimate_cost

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("raw", ["5511987654321", "+55 (11) 98765-4321", "5511987654321@s.whatsapp.net",
                                 "5511987654321:12@s.whatsapp.net"])
def test_provider_phone_formats_normalize_to_one_e164(raw):
    assert to_e164(raw) == "+5511987654321"


def test_a_string_without_enough_digits_is_not_a_phone():
    with pytest.raises(ValueError):
        to_e164("status@broadcast")


def test_masked_phones_keep_country_and_last_two_digits_only():
    assert mask_phone("+5511987654321") == "+55*********21"
    assert "98765" not in mask_phone("5511987654321")


def test_ids_are_deterministic_and_do_not_contain_the_phone():
    a = conversation_id("meta:1", "+5511987654321")
    assert a == conversation_id("meta:1", "+5511987654321")
    assert a != conversation_id("meta:2", "+5511987654321")
    assert "987654321" not in a
    inbound = inbound_message_id("meta", "1", "wamid.X")
    assert inbound != inbound_message_id("meta", "2", "wamid.X")
    assert reply_message_id(inbound) != inbound
    assert task_name("turn", "t", "c", inbound).startswith("turn-")


def test_cost_counts_thinking_as_output_and_cached_tokens_at_the_cached_rate():
    price = ModelPrice(input_per_mtok=0.30, output_per_mtok=2.50, cached_input_per_mtok=0.03)
    usage = TokenUsage(prompt_tokens=1_000_000, output_tokens=100_000, thoughts_tokens=100_000, cached_tokens=500_000)

    assert estimate_cost(usage, price) == pytest.approx(0.5 * 0.30 + 0.5 * 0.03 + 0.2 * 2.50)
    assert estimate_cost(usage, None) is None, "no price: unknown, never free"


def test_audio_input_is_priced_at_the_audio_rate_and_text_at_the_text_rate():
    price = ModelPrice(input_per_mtok=0.30, audio_input_per_mtok=1.00, output_per_mtok=2.50)
    usage = TokenUsage(prompt_tokens=1_000_000, audio_prompt_tokens=800_000, output_tokens=0)
    assert estimate_cost(usage, price) == pytest.approx(0.8 * 1.00 + 0.2 * 0.30)
    assert estimate_cost(usage, ModelPrice(input_per_mtok=0.30, output_per_mtok=2.50)) == pytest.approx(0.30)


def test_a_sum_of_costs_with_an_unknown_one_is_unknown():
    from shared.domain.usage import ModelCall, total_cost

    known = ModelCall(model="a", backend="vertex", usage=TokenUsage(), latency_ms=1, cost_usd=0.001)
    unknown = ModelCall(model="b", backend="vertex", usage=TokenUsage(), latency_ms=1, cost_usd=None)
    assert total_cost([known, known]) == pytest.approx(0.002) and total_cost([known, unknown]) is None


def _message(role: Role, text: str | None, kind: MessageKind = MessageKind.TEXT, minute: int = 0) -> StoredMessage:
    return StoredMessage(message_id=f"m{minute}", role=role, kind=kind, text=text, provider=Provider.META,
                         sent_at=T0.replace(minute=minute))


def test_a_burst_of_lead_messages_becomes_one_user_turn_and_media_is_named_not_skipped():
    agent = AgentConfig(business_name="Solar Prime", persona="Seja breve.")
    conversation = Conversation(conversation_id="c", tenant_id="t", channel_key="meta:1", agent_id="default",
                                contact_phone="+5511987654321", contact_name="Mariana")
    history = [
        _message(Role.LEAD, "Oi", minute=1),
        _message(Role.AGENT, "Olá! Como posso ajudar?", minute=2),
        _message(Role.LEAD, "conta de R$ 450", minute=3),
        _message(Role.LEAD, None, MessageKind.AUDIO, minute=4),
        _message(Role.LEAD, "quanto custa?", minute=5),
    ]

    prompt = build_prompt(agent, conversation, history)

    assert [t.role for t in prompt.turns] == ["user", "model", "user"]
    assert prompt.turns[-1].text.splitlines()[0] == "conta de R$ 450"
    assert "voice note" in prompt.turns[-1].text
    assert prompt.turns[-1].text.endswith("quanto custa?")
    assert "Seja breve." in prompt.system and "Solar Prime" in prompt.system and "Mariana" in prompt.system
    assert "pt-BR" in prompt.system


def test_a_reply_still_being_written_is_left_out_of_the_prompt():
    conversation = Conversation(conversation_id="c", tenant_id="t", channel_key="meta:1", agent_id="default",
                                contact_phone="+5511987654321")
    prompt = build_prompt(AgentConfig(), conversation, [_message(Role.LEAD, "Oi", minute=1),
                                                        _message(Role.AGENT, None, minute=2)])
    assert [t.role for t in prompt.turns] == ["user"]


def test_brazilian_mobile_matches_with_and_without_the_ninth_digit() -> None:
    from shared.domain.phone import same_whatsapp_number, whatsapp_number_variants

    assert whatsapp_number_variants("+5511987654321") == {"+5511987654321", "+551187654321"}
    assert same_whatsapp_number("551187654321@s.whatsapp.net", "+55 (11) 98765-4321")
    # A landline (first local digit 2-5) never gains a 9, and other countries are left alone.
    assert not same_whatsapp_number("+551134567890", "+5511934567890")
    assert whatsapp_number_variants("+14155550100") == {"+14155550100"}
    assert not same_whatsapp_number("not a number", "+5511987654321")
