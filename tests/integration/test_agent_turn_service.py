"""run_agent_turn on the real Firestore emulator, with a scripted model and a recording sender."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from dev.seed import DemoTenant
from shared.adapters.firestore_store import FirestoreChannelDirectory, FirestoreConversationStore, FirestoreUsageLedger
from shared.domain.conversation import Conversation, InboundDisposition, Role, StoredMessage
from shared.domain.errors import ModelUnavailable, ProviderRejected, ProviderSendError, TransientError
from shared.domain.ids import conversation_id, inbound_message_id
from shared.domain.inbound import Provider
from shared.domain.tenancy import channel_key
from shared.ports import TurnRequest
from shared.services.agent_turn import TurnDeps, TurnResult, run_agent_turn
from tests.fakes import RecordingSender, ScriptedModel

pytestmark = pytest.mark.emulators


@pytest.fixture
def world(db, tenant: DemoTenant):  # noqa: ANN001, ANN201
    model, sender = ScriptedModel(), RecordingSender()
    store = FirestoreConversationStore(db)
    deps = TurnDeps(directory=FirestoreChannelDirectory(db, cache_seconds=0), store=store, model=model,
                    sender_for=lambda provider: sender, ledger=FirestoreUsageLedger(db), lease_seconds=60)
    key = channel_key("meta", tenant.meta_phone_number_id)
    phone = "+55119" + str(uuid.uuid4().int)[:8]
    conv = conversation_id(key, phone)

    def lead(text: str, seconds: int = 0, name: str | None = "Mariana") -> TurnRequest:
        message_id = inbound_message_id("meta", tenant.meta_phone_number_id, uuid.uuid4().hex)
        store.record_inbound(tenant.tenant_id, conv, StoredMessage(
            message_id=message_id, role=Role.LEAD, text=text, provider=Provider.META,
            provider_message_id=message_id, contact_name=name,
            sent_at=datetime(2026, 11, 21, 12, tzinfo=UTC) + timedelta(seconds=seconds),
            disposition=InboundDisposition.QUEUED))
        return TurnRequest(tenant.tenant_id, conv, message_id, key, phone)

    return deps, model, sender, store, lead, db.collection("tenants").document(tenant.tenant_id)


def test_the_newest_message_of_a_burst_answers_them_all_once(world):
    deps, model, sender, store, lead, tenant_ref = world
    first, second, third = lead("Oi"), lead("conta de R$ 450", 1), lead("quanto custa?", 2)

    assert run_agent_turn(first, deps).result == TurnResult.SUPERSEDED
    assert run_agent_turn(second, deps).result == TurnResult.SUPERSEDED
    outcome = run_agent_turn(third, deps)

    assert outcome.result == TurnResult.REPLIED
    assert len(sender.sent) == 1 and len(model.prompts) == 1
    assert model.prompts[0].turns[-1].text == "Oi\nconta de R$ 450\nquanto custa?"
    assert "Mariana" in model.prompts[0].system
    conversation = store.get_conversation(third.tenant_id, third.conversation_id)
    assert conversation.last_inbound_message_id == third.message_id
    assert conversation.last_replied_message_id == third.message_id
    [call] = [d.to_dict() for d in tenant_ref.collection("model_calls").stream()]
    assert call["conversation_id"] == third.conversation_id and call["usage"]["prompt_tokens"] == 101
    assert run_agent_turn(third, deps).result == TurnResult.ALREADY_SENT
    assert len(sender.sent) == 1


def test_a_turn_whose_message_is_not_stored_yet_asks_to_be_retried(world):
    deps, model, sender, store, lead, _ = world
    turn = lead("Oi")
    early = TurnRequest(turn.tenant_id, turn.conversation_id, "not-yet-stored", turn.channel_key, turn.contact_phone)

    with pytest.raises(TransientError):
        run_agent_turn(early, deps)
    assert sender.sent == []


def test_a_model_failure_releases_the_turn_so_the_retry_answers_at_once(world):
    deps, model, sender, store, lead, tenant_ref = world
    model.script = [ModelUnavailable("429"), "Olá!"]
    turn = lead("Oi")

    with pytest.raises(ModelUnavailable):
        run_agent_turn(turn, deps)
    assert run_agent_turn(turn, deps).result == TurnResult.REPLIED
    assert [text for _, _, text in sender.sent] == ["Olá!"]
    assert len(list(tenant_ref.collection("model_calls").stream())) == 1


def test_a_failed_send_is_retried_with_the_stored_text_without_a_second_model_call(world):
    deps, model, sender, store, lead, _ = world
    model.script = ["Primeira resposta", "Outra resposta que não deve sair"]
    sender.failures = [ProviderSendError("meta", 503, "unavailable")]
    turn = lead("Oi")

    with pytest.raises(ProviderSendError):
        run_agent_turn(turn, deps)
    outcome = run_agent_turn(turn, deps)

    assert outcome.result == TurnResult.RESENT
    assert [text for _, _, text in sender.sent] == ["Primeira resposta"]
    assert len(model.prompts) == 1


def test_a_permanent_provider_refusal_is_recorded_and_not_retried(world):
    deps, model, sender, store, lead, _ = world
    sender.failures = [ProviderRejected("meta", 400, "recipient not on WhatsApp")]
    turn = lead("Oi")

    assert run_agent_turn(turn, deps).result == TurnResult.REJECTED
    assert run_agent_turn(turn, deps).result == TurnResult.ALREADY_SENT
    reply = [m for m in store.recent_messages(turn.tenant_id, turn.conversation_id, 5) if m.role == Role.AGENT]
    assert reply == [], "a rejected reply was never sent, so it is not part of the conversation"


def test_a_paused_conversation_gets_no_reply_but_its_state_is_kept(world):
    deps, model, sender, store, lead, _ = world
    turn = lead("Oi", name="Carlos")
    paused = store.get_conversation(turn.tenant_id, turn.conversation_id)
    assert paused is None
    state = Conversation(conversation_id=turn.conversation_id, tenant_id=turn.tenant_id, channel_key=turn.channel_key,
                         agent_id="default", contact_phone=turn.contact_phone)
    state.bot_paused = True
    store.save_conversation(state)

    assert run_agent_turn(turn, deps).result == TurnResult.BOT_PAUSED
    assert sender.sent == [] and model.prompts == []
    conversation = store.get_conversation(turn.tenant_id, turn.conversation_id)
    assert conversation.contact_name == "Carlos" and conversation.last_inbound_message_id == turn.message_id
