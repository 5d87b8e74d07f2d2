"""The agent turn emits LeadCreated once per conversation, through the real outbox and Pub/Sub emulator."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from dev.seed import DemoTenant
from shared.adapters.firestore_channels import FirestoreChannelDirectory
from shared.adapters.firestore_conversations import FirestoreConversationStore
from shared.adapters.firestore_leads import FirestoreLeadStore
from shared.adapters.firestore_outbox import FirestoreEventOutbox
from shared.adapters.firestore_usage import FirestoreUsageLedger
from shared.domain.conversation import Conversation, InboundDisposition, Role, StoredMessage
from shared.domain.errors import TransientError
from shared.domain.events import decode_event
from shared.domain.ids import conversation_id, inbound_message_id
from shared.domain.inbound import Provider
from shared.domain.tenancy import channel_key
from shared.ports import TurnRequest
from shared.services.agent_turn import TurnDeps, TurnResult, run_agent_turn
from shared.services.events import EventDeps, emit
from tests.fakes import RecordingSender, ScriptedModel
from tests.integration.test_event_outbox import publisher_to, pull, topic  # noqa: F401 - the fixture

pytestmark = pytest.mark.emulators


@pytest.fixture
def turns(db, tenant: DemoTenant, topic):  # noqa: ANN001, ANN201, F811
    name, subscriber, subscription = topic
    store = FirestoreConversationStore(db)
    events = EventDeps(outbox=FirestoreEventOutbox(db), publisher=publisher_to(name))
    deps = TurnDeps(directory=FirestoreChannelDirectory(db, cache_seconds=0), store=store, model=ScriptedModel(),
                    sender_for=lambda provider: RecordingSender(), ledger=FirestoreUsageLedger(db),
                    leads=FirestoreLeadStore(db), tiers=dict.fromkeys(("lite", "standard", "advanced"), "gemini-test"),
                    lease_seconds=60,
                    emit_event=lambda event: emit(event, events))
    key = channel_key("meta", tenant.meta_phone_number_id)
    phone = "+55119" + str(uuid.uuid4().int)[:8]
    conv = conversation_id(key, phone)

    def lead(text: str, seconds: int = 0) -> TurnRequest:
        message_id = inbound_message_id("meta", tenant.meta_phone_number_id, uuid.uuid4().hex)
        store.record_inbound(tenant.tenant_id, conv, StoredMessage(
            message_id=message_id, role=Role.LEAD, text=text, provider=Provider.META, provider_message_id=message_id,
            contact_name="Mariana", sent_at=datetime(2026, 11, 21, 12, tzinfo=UTC) + timedelta(seconds=seconds),
            disposition=InboundDisposition.QUEUED))
        return TurnRequest(tenant.tenant_id, conv, message_id, key, phone)

    def published() -> list:
        return [decode_event(m.data) for m in pull(subscriber, subscription, 1)]

    def outbox() -> list[dict]:
        ref = db.collection("tenants").document(tenant.tenant_id).collection("outbox")
        return [d.to_dict() for d in ref.stream() if d.to_dict()["conversation_id"] == conv]

    return deps, lead, published, outbox, store, phone


def test_the_first_turn_of_a_conversation_emits_lead_created_with_the_first_message(turns):
    deps, lead, published, outbox, _, phone = turns
    turn = lead("Oi, vi o anúncio")

    assert run_agent_turn(turn, deps).result is TurnResult.REPLIED

    [event] = published()
    assert event.type == "LeadCreated" and event.conversation_id == turn.conversation_id
    assert (event.contact.phone, event.contact.name) == (phone, "Mariana")
    assert event.payload.first_message == "Oi, vi o anúncio"
    assert [d["state"] for d in outbox()] == ["published"]


def test_later_turns_and_a_retried_first_turn_emit_nothing_new(turns):
    deps, lead, published, outbox, store, _ = turns
    first = lead("Oi")
    run_agent_turn(first, deps)
    run_agent_turn(first, deps)  # Cloud Tasks redelivers the first turn
    run_agent_turn(lead("quanto custa?", seconds=30), deps)

    assert [e.type for e in published()] == ["LeadCreated"]
    assert len(outbox()) == 1


class StoreThatFailsOneConversationWrite(FirestoreConversationStore):
    """The real store, except that the first conversation write fails (the turn dies right after emitting)."""

    failed = False

    def save_conversation(self, conversation: Conversation) -> None:
        if not self.failed:
            self.failed = True
            raise TransientError("firestore unavailable")
        super().save_conversation(conversation)


def test_a_turn_that_died_between_emitting_and_saving_re_emits_the_same_event_once(turns, db):
    deps, lead, published, outbox, store, _ = turns
    turn = lead("Oi")
    deps.store = StoreThatFailsOneConversationWrite(db)

    with pytest.raises(TransientError):
        run_agent_turn(turn, deps)
    assert run_agent_turn(turn, deps).result is TurnResult.REPLIED

    assert len(outbox()) == 1 and outbox()[0]["state"] == "published"
    assert [e.type for e in published()] == ["LeadCreated"]


def test_a_conversation_a_seller_opened_still_gets_its_lead_created(turns):
    deps, lead, published, outbox, store, phone = turns
    turn = lead("Oi")
    paused = Conversation(conversation_id=turn.conversation_id, tenant_id=turn.tenant_id,
                          channel_key=turn.channel_key, agent_id="default", contact_phone=phone)
    paused.bot_paused = True
    store.save_conversation(paused)

    assert run_agent_turn(turn, deps).result is TurnResult.BOT_PAUSED
    assert [e.type for e in published()] == ["LeadCreated"]
