"""receive_webhook on the Firestore emulator: a partial batch keeps its good messages, broadcast lists and channels
are recorded but never become conversations, and a reaction is kept without scheduling a reply."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from dev.payloads import meta_signature
from dev.seed import DemoTenant
from shared.adapters.firestore_channels import FirestoreChannelDirectory
from shared.adapters.firestore_conversations import FirestoreConversationStore
from shared.bootstrap import webhook_for
from shared.domain.ids import conversation_id
from shared.domain.tenancy import channel_key
from shared.ports import RawRequest, TurnRequest, WebhookSecrets
from shared.services.inbound import InboundDeps, parse_provider, receive_webhook

pytestmark = pytest.mark.emulators
DATA = Path(__file__).resolve().parents[1] / "data" / "providers"
APP_SECRET = "integration-app-secret"


class RecordingTurns:
    def __init__(self) -> None:
        self.turns: list[TurnRequest] = []

    def enqueue_turn(self, turn: TurnRequest, delay_seconds: float) -> None:
        self.turns.append(turn)


@pytest.fixture
def world(db, tenant: DemoTenant):  # noqa: ANN001, ANN201
    turns = RecordingTurns()
    deps = InboundDeps(directory=FirestoreChannelDirectory(db, cache_seconds=0),
                       store=FirestoreConversationStore(db), turns=turns, webhook_for=webhook_for,
                       secrets=WebhookSecrets(meta_app_secret=APP_SECRET))
    return deps, turns


def meta_body(tenant: DemoTenant, messages: list[dict]) -> RawRequest:
    body = json.loads((DATA / "meta_text.json").read_text())
    value = body["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = tenant.meta_phone_number_id
    value["messages"] = messages
    raw = json.dumps(body).encode()
    return RawRequest("POST", "/meta", {"x-hub-signature-256": meta_signature(APP_SECRET, raw)}, {}, raw)


def ignored(db, tenant: DemoTenant) -> list[dict]:  # noqa: ANN001
    return [d.to_dict() for d in db.collection("tenants").document(tenant.tenant_id)
            .collection("ignored_messages").stream()]


def test_a_meta_delivery_with_one_malformed_message_keeps_the_others_and_records_the_bad_one(db, tenant, world):
    deps, turns = world
    base = json.loads((DATA / "meta_text.json").read_text())["entry"][0]["changes"][0]["value"]["messages"][0]
    good = [{**base, "id": f"wamid.GOOD.{uuid.uuid4().hex}"} for _ in range(2)]
    bad = {**base, "id": "wamid.BAD.1", "timestamp": "yesterday"}

    outcome = receive_webhook(parse_provider("meta"), meta_body(tenant, [good[0], bad, good[1]]), deps)

    assert (outcome.queued, outcome.invalid) == (2, 1) and len(turns.turns) == 2
    [record] = ignored(db, tenant)
    assert record["provider_message_id"] == "wamid.BAD.1" and "timestamp" in record["reason"]
    assert record["disposition"] == "invalid"


def test_a_zapi_broadcast_is_recorded_and_no_conversation_appears(db, tenant, world):
    deps, turns = world
    body = {**json.loads((DATA / "zapi_text.json").read_text()), "instanceId": tenant.zapi_instance,
            "broadcast": True, "phone": "5541991234567-1732276800-broadcast", "messageId": uuid.uuid4().hex}
    raw = RawRequest("POST", "/zapi", {}, {"token": tenant.zapi_webhook_token}, json.dumps(body).encode())

    outcome = receive_webhook(parse_provider("zapi"), raw, deps)

    assert outcome.queued == 0 and outcome.ignored == ["broadcast"] and turns.turns == []
    [record] = ignored(db, tenant)
    assert record["reason"] == "broadcast" and record["disposition"] == "ignored_broadcast"
    conversations = db.collection("tenants").document(tenant.tenant_id).collection("conversations").get()
    assert conversations == []


def test_a_reaction_is_kept_in_memory_without_a_turn_unless_the_agent_answers_reactions(db, tenant, world):
    deps, turns = world
    reaction = json.loads((DATA / "meta_reaction.json").read_text())["entry"][0]["changes"][0]["value"]["messages"][0]

    outcome = receive_webhook(parse_provider("meta"), meta_body(tenant, [{**reaction, "id": "wamid.R1"}]), deps)

    assert (outcome.queued, outcome.not_answered) == (0, 1) and turns.turns == []
    conv = conversation_id(channel_key("meta", tenant.meta_phone_number_id), "+5511987654321")
    [stored] = [d.to_dict() for d in db.collection("tenants").document(tenant.tenant_id).collection("conversations")
                .document(conv).collection("messages").stream()]
    assert stored["disposition"] == "not_answered" and stored["reaction_to"] == reaction["reaction"]["message_id"]

    db.collection("tenants").document(tenant.tenant_id).collection("agents").document("default").set(
        {"answer_reactions": True}, merge=True)
    outcome = receive_webhook(parse_provider("meta"), meta_body(tenant, [{**reaction, "id": "wamid.R2"}]), deps)
    assert outcome.queued == 1 and len(turns.turns) == 1
