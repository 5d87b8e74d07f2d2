"""What the model sees of a reply, a reaction, a chosen option and an ad; and opt-out by a template's button."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.conversation import Conversation, Role, StoredMessage
from shared.domain.followup import FollowupCadence, opt_out_choice, send_mode, FollowupStep, SendMode
from shared.domain.inbound import Location, MessageKind, Provider
from shared.domain.prompt import build_prompt
from shared.domain.tenancy import AgentConfig

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
CONVERSATION = Conversation(conversation_id="c", tenant_id="t", channel_key="twilio:+14155238886",
                            agent_id="default", contact_phone="+5511987654321")


def message(role: Role, n: int, text: str | None, **fields: object) -> StoredMessage:
    return StoredMessage(message_id=f"m{n}", role=role, text=text, provider=Provider.TWILIO,
                         provider_message_id=f"SM{n}", sent_at=T0 + timedelta(minutes=n), **fields)


def lead_turn(history: list[StoredMessage]) -> str:
    return build_prompt(AgentConfig(), CONVERSATION, history).turns[-1].text


def test_a_reaction_is_rendered_with_the_message_it_is_on():
    history = [message(Role.AGENT, 1, "A visita técnica é grátis!"),
               message(Role.LEAD, 2, "👍", kind=MessageKind.REACTION, reaction_to="SM1")]
    assert lead_turn(history) == '[reacted with 👍 to your message "A visita técnica é grátis!"]'


def test_a_reply_is_rendered_with_what_it_quotes_even_outside_the_window():
    history = [message(Role.AGENT, 1, "Prefere quinta ou sexta?"),
               message(Role.LEAD, 2, "Quinta", reply_to="SM1"),
               message(Role.LEAD, 3, "às 10h", reply_to="SM-not-in-memory")]
    assert lead_turn(history) == ('[replying to your message "Prefere quinta ou sexta?"] Quinta\n'
                                  "[replying to an earlier message] às 10h")


def test_a_chosen_option_a_place_and_an_ad_are_shown():
    history = [message(Role.LEAD, 1, "Kit 5 kWp", kind=MessageKind.INTERACTIVE, choice_id="kit-5kwp",
                       choice_description="Para contas até R$ 600", referral={"headline": "Energia solar sem entrada"}),
               message(Role.LEAD, 2, "-23.5,-46.6 Av. Paulista", kind=MessageKind.LOCATION,
                       location=Location(latitude=-23.5, longitude=-46.6, name="Av. Paulista", address="São Paulo"))]
    text = lead_turn(history)
    assert "option id 'kit-5kwp'" in text and "Para contas até R$ 600" in text
    assert "came from the ad 'Energia solar sem entrada'" in text
    assert "[the lead shared a location: Av. Paulista, São Paulo (-23.5,-46.6)]" in text


@pytest.mark.parametrize(("text", "payload"), [("Parar", None), ("UNSUBSCRIBE", None), ("Sair", "x"),
                                               ("Não quero", "STOP"), ("Cancelar inscrição", None),
                                               ("Parar promoções", "parar")])
def test_an_opt_out_button_matches_by_text_or_payload_case_and_accents_aside(text: str, payload: str | None):
    assert opt_out_choice(text, payload, FollowupCadence()) is not None


@pytest.mark.parametrize(("text", "payload"), [("Quero um orçamento", "QUERO_ORCAMENTO"),
                                               ("Parar de pagar caro na luz", "SIM")])
def test_other_buttons_are_not_an_opt_out(text: str, payload: str):
    assert opt_out_choice(text, payload, FollowupCadence()) is None


def test_outside_the_window_twilio_like_meta_only_sends_templates():
    cadence = FollowupCadence()
    assert send_mode(Provider.TWILIO, False, FollowupStep(delay_minutes=60), cadence) is SendMode.SKIP
