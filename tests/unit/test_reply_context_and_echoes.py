"""Reply context (the message a person quotes) on every provider, and Meta's coexistence echoes, parsed from
recorded payloads (tests/data/providers/*, each with its `_source`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.domain.errors import InvalidPayload
from shared.domain.inbound import MessageKind
from shared.ports import RawRequest
from shared.providers.evolution import EvolutionWebhook
from shared.providers.meta_cloud import MetaCloudWebhook
from shared.providers.zapi import ZApiWebhook

DATA = Path(__file__).resolve().parents[1] / "data" / "providers"


def raw(name: str, path: str) -> RawRequest:
    return RawRequest(method="POST", path=path, headers={}, query={}, body=(DATA / f"{name}.json").read_bytes())


def one(batch):  # noqa: ANN001, ANN201
    assert len(batch.messages) == 1, batch
    return batch.messages[0]


def test_a_meta_reply_names_the_quoted_wamid():
    message = one(MetaCloudWebhook().parse(raw("meta_text_reply", "/meta")))
    assert message.reply_to == "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3NTA4OTBFNjg3QzE1NDFCNjQA"
    assert message.text == "Pode mandar o orçamento para ela, por favor." and not message.from_business


def test_a_meta_message_without_context_quotes_nothing():
    assert one(MetaCloudWebhook().parse(raw("meta_text", "/meta"))).reply_to is None


def test_a_zapi_reply_names_the_referenced_message():
    message = one(ZApiWebhook().parse(raw("zapi_text_reply", "/zapi")))
    assert message.reply_to == "SANDBOXZ000017"


def test_a_zapi_reply_to_a_status_post_quotes_no_chat_message():
    assert one(ZApiWebhook().parse(raw("zapi_status_reply", "/zapi"))).reply_to is None


def test_an_evolution_media_reply_names_the_stanza_id():
    message = one(EvolutionWebhook().parse(raw("evolution_image_reply", "/evolution")))
    assert message.kind is MessageKind.IMAGE and message.reply_to == "3EB0SANDBOX000017"


def test_an_evolution_text_reply_with_data_context_info_names_the_stanza_id():
    message = one(EvolutionWebhook().parse(raw("evolution_text_reply", "/evolution")))
    assert message.reply_to == "3EB0C7359AC49BF1CBF31CE90E655DD6DA16699B"


def test_an_evolution_flattened_text_reply_has_no_reference_rather_than_a_wrong_one():
    # v2.3.3+ drops the quote on text replies (issues #2078, #2713): contextInfo null.
    assert one(EvolutionWebhook().parse(raw("evolution_text_conversation", "/evolution"))).reply_to is None


def test_a_meta_echo_is_a_business_message_to_the_user():
    message = one(MetaCloudWebhook().parse(raw("meta_echo_text", "/meta")))
    assert message.from_business and message.contact_phone == "+16505551234"
    assert message.channel_id == "106540352242922" and message.kind is MessageKind.TEXT
    assert message.text.startswith("Here's the info you requested!")
    assert message.sent_at == datetime.fromtimestamp(1739321024, UTC) and message.edits is None


def test_a_meta_echo_edit_carries_the_new_text_and_the_original_id():
    message = one(MetaCloudWebhook().parse(raw("meta_echo_edit", "/meta")))
    assert message.raw_type == "edit" and message.from_business
    assert message.edits == "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBQzQUFERjg0NDEzNDdFODU3MUMxMAA="
    assert message.text == "Here's the info you requested, with the price list attached."


def test_a_meta_echo_revoke_names_the_revoked_message_and_has_no_text():
    message = one(MetaCloudWebhook().parse(raw("meta_echo_revoke", "/meta")))
    assert message.raw_type == "revoke" and message.text is None
    assert message.edits == "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBQzQUFERjg0NDEzNDdFODU3MUMxMAA="


def test_a_history_change_is_never_read_as_new_messages_even_though_it_holds_messages():
    body = json.loads((DATA / "meta_text.json").read_bytes())
    body["entry"][0]["changes"][0]["field"] = "history"
    batch = MetaCloudWebhook().parse(RawRequest("POST", "/meta", {}, {}, json.dumps(body).encode()))
    assert not batch.messages and batch.ignored == ["history"]


def test_an_echo_edit_without_its_original_id_is_refused_with_a_reason():
    body = json.loads((DATA / "meta_echo_edit.json").read_bytes())
    del body["entry"][0]["changes"][0]["value"]["message_echoes"][0]["edit"]["original_message_id"]
    with pytest.raises(InvalidPayload, match="original_message_id"):
        MetaCloudWebhook().parse(RawRequest("POST", "/meta", {}, {}, json.dumps(body).encode()))
