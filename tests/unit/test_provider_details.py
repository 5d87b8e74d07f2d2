"""What the providers' recorded payloads carry beyond the text is kept: chosen option ids and descriptions, reaction
targets, places, ad referrals, media URLs; and what is no chat at all (Z-API broadcast lists, channels) is marked."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.domain.inbound import InboundMessage, MessageKind
from shared.ports import RawRequest
from shared.providers.evolution import EvolutionWebhook
from shared.providers.meta_cloud import MetaCloudWebhook
from shared.providers.zapi import ZApiWebhook

DATA = Path(__file__).resolve().parents[1] / "data" / "providers"
NOW = datetime(2024, 11, 22, 12, 30, tzinfo=UTC)


def parsed(name: str, body: dict | None = None) -> list[InboundMessage]:
    provider = name.split("_", 1)[0]
    webhook = {"meta": MetaCloudWebhook(), "zapi": ZApiWebhook(clock=lambda: NOW),
               "evolution": EvolutionWebhook(clock=lambda: NOW)}[provider]
    raw = json.dumps(body).encode() if body is not None else (DATA / f"{name}.json").read_bytes()
    return webhook.parse(RawRequest("POST", f"/{provider}", {}, {}, raw)).messages


def only(name: str) -> InboundMessage:
    [message] = parsed(name)
    return message


def test_meta_list_reply_keeps_the_row_id_and_description():
    message = only("meta_interactive_list_reply")
    assert (message.text, message.choice_id, message.choice_description) == (
        "Kit 5 kWp", "kit-5kwp", "Para contas até R$ 600")


def test_meta_template_button_keeps_its_payload():
    message = only("meta_button")
    assert message.kind is MessageKind.BUTTON and message.choice_id == "QUERO_ORCAMENTO"


def test_meta_reaction_names_the_message_it_is_on():
    assert only("meta_reaction").reaction_to == "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjQ0QjI5RkQ0RTQ2QkY2NEUzNAA="


def test_meta_location_keeps_name_and_address():
    location = only("meta_location").location
    assert (location.latitude, location.name) == (-23.5613, "Av. Paulista")
    assert location.address == "Av. Paulista, 1578 - Bela Vista, São Paulo - SP"


def test_meta_click_to_whatsapp_ad_is_kept_as_the_referral():
    referral = only("meta_text_referral").referral
    assert referral["headline"] == "Energia solar sem entrada" and referral["source_type"] == "ad"
    assert referral["ctwa_clid"].startswith("ARAkLkA8")


def test_zapi_list_and_button_replies_keep_their_ids():
    listed = only("zapi_list_response")
    assert (listed.choice_id, listed.choice_description) == ("1", "Para contas até R$ 600")
    assert only("zapi_buttons_response").choice_id == "1"


def test_zapi_reaction_and_location_details():
    assert only("zapi_reaction").reaction_to == "3EB0796DC6B777C0C7CD"
    location = only("zapi_location").location
    assert (location.name, location.address) == ("Praça Tiradentes", "Centro, Curitiba - PR")


def test_evolution_choice_reaction_and_location_details():
    listed = only("evolution_list_response")
    assert (listed.choice_id, listed.choice_description) == ("kit-5kwp", "Para contas até R$ 600")
    assert only("evolution_buttons_response").choice_id == "agendar"
    assert only("evolution_reaction").reaction_to == "BAE594145F4C59B4"
    assert only("evolution_location").location.address == "Rio de Janeiro - RJ"


@pytest.mark.parametrize(("change", "reason"), [
    ({"broadcast": True}, "broadcast"),
    ({"phone": "5541991234567-1732276800-broadcast"}, "broadcast"),
    ({"isNewsletter": True, "phone": "120363019502650977@newsletter"}, "newsletter"),
])
def test_zapi_broadcast_lists_and_channels_are_never_a_contact(change: dict, reason: str):
    body = {**json.loads((DATA / "zapi_text.json").read_text()), **change}
    [message] = parsed("zapi_text", body)
    assert message.not_a_chat == reason


def test_an_ordinary_zapi_chat_is_a_chat():
    assert only("zapi_text").not_a_chat is None
