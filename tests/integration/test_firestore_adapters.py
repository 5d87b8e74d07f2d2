"""Conversations and channels in Firestore, on the real emulator: dedupe, atomicity, reply claims, status ordering."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.firestore_answer_cache import FirestoreAnswerCache
from shared.adapters.firestore_channels import FirestoreChannelDirectory
from shared.adapters.firestore_conversations import FirestoreConversationStore
from shared.domain.conversation import Conversation, InboundDisposition, OutboundState, Role, StoredMessage
from shared.domain.errors import TurnInProgress
from shared.domain.inbound import DeliveryState, Provider, StatusUpdate
from shared.domain.tenancy import Channel, ChannelCredentials
from shared.domain.usage import ModelCall, TokenUsage

pytestmark = pytest.mark.emulators
NOW = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)


@pytest.fixture
def store(db) -> FirestoreConversationStore:  # noqa: ANN001
    return FirestoreConversationStore(db)


@pytest.fixture
def conv() -> Conversation:
    return Conversation(conversation_id=uuid.uuid4().hex, tenant_id=f"t-{uuid.uuid4().hex[:8]}", channel_key="meta:1",
                        agent_id="default", contact_phone="+5511987654321")


def lead_message(message_id: str, minute: int = 0) -> StoredMessage:
    return StoredMessage(message_id=message_id, role=Role.LEAD, text="oi", provider=Provider.META,
                         provider_message_id=f"wamid.{message_id}", sent_at=NOW + timedelta(minutes=minute),
                         disposition=InboundDisposition.QUEUED)


def test_recording_the_same_message_twice_writes_it_once(store, conv):
    assert store.record_inbound(conv.tenant_id, conv.conversation_id, lead_message("m1")) is True

    changed = lead_message("m1").model_copy(update={"text": "a redelivery with other text"})
    assert store.record_inbound(conv.tenant_id, conv.conversation_id, changed) is False

    stored = store.recent_messages(conv.tenant_id, conv.conversation_id, 10)
    assert [(m.message_id, m.text) for m in stored] == [("m1", "oi")]


def test_only_fields_the_caller_set_are_merged_into_the_conversation(store, conv):
    paused = conv.model_copy()
    paused.bot_paused = True
    store.save_conversation(paused)
    later = Conversation(conversation_id=conv.conversation_id, tenant_id=conv.tenant_id, channel_key="meta:1",
                         agent_id="default", contact_phone=conv.contact_phone)
    later.last_inbound_message_id = "m2"

    store.save_conversation(later)

    state = store.get_conversation(conv.tenant_id, conv.conversation_id)
    assert state.bot_paused is True and state.last_inbound_message_id == "m2"


def test_recent_messages_are_the_latest_n_oldest_first(store, conv):
    for i in range(5):
        store.record_inbound(conv.tenant_id, conv.conversation_id, lead_message(f"m{i}", i))
    assert [m.message_id for m in store.recent_messages(conv.tenant_id, conv.conversation_id, 3)] == ["m2", "m3", "m4"]


def test_a_reply_claim_is_exclusive_until_its_lease_ends_and_a_sent_reply_is_final(store, conv):
    store.save_conversation(conv)
    store.record_inbound(conv.tenant_id, conv.conversation_id, lead_message("m1"))
    args = (conv.tenant_id, conv.conversation_id, "r1", "m1")

    assert store.claim_reply(*args, NOW, 60).fresh is True
    with pytest.raises(TurnInProgress):
        store.claim_reply(*args, NOW + timedelta(seconds=30), 60)
    assert store.claim_reply(*args, NOW + timedelta(seconds=61), 60).fresh is True  # a crashed holder loses it

    call = ModelCall(model="m", backend="offline", usage=TokenUsage(prompt_tokens=5), latency_ms=1, cost_usd=0)
    store.save_generated_reply(conv.tenant_id, conv.conversation_id, "r1", "Olá!", call)
    resend = store.claim_reply(*args, NOW + timedelta(seconds=200), 60)
    assert (resend.state, resend.text, resend.fresh) == (OutboundState.SENDING, "Olá!", False)

    store.mark_reply_sent(conv.tenant_id, conv.conversation_id, "r1", "meta", "wamid.OUT", "m1", NOW)
    assert store.claim_reply(*args, NOW + timedelta(seconds=400), 60).state == OutboundState.SENT
    assert store.get_conversation(conv.tenant_id, conv.conversation_id).last_replied_message_id == "m1"
    assert store.is_own_outbound(conv.tenant_id, conv.conversation_id, "wamid.OUT") is True
    assert store.is_own_outbound(conv.tenant_id, conv.conversation_id, "wamid.m1") is False


def test_a_released_claim_can_be_taken_at_once(store, conv):
    args = (conv.tenant_id, conv.conversation_id, "r1", "m1")
    store.claim_reply(*args, NOW, 600)
    store.release_reply(conv.tenant_id, conv.conversation_id, "r1")
    assert store.claim_reply(*args, NOW, 600).fresh is True


def test_delivery_states_only_move_forward(store, conv):
    store.record_inbound(conv.tenant_id, conv.conversation_id, lead_message("m1"))
    store.claim_reply(conv.tenant_id, conv.conversation_id, "r1", "m1", NOW, 60)
    store.mark_reply_sent(conv.tenant_id, conv.conversation_id, "r1", "meta", "wamid.OUT", "m1", NOW)

    def status(state: DeliveryState, provider_id: str = "wamid.OUT") -> StatusUpdate:
        return StatusUpdate(provider=Provider.META, channel_id="1", provider_message_id=provider_id, state=state,
                            recipient_phone=conv.contact_phone, at=NOW)

    assert store.apply_status(conv.tenant_id, conv.conversation_id, status(DeliveryState.READ)) is True
    store.apply_status(conv.tenant_id, conv.conversation_id, status(DeliveryState.DELIVERED))
    assert store.apply_status(conv.tenant_id, conv.conversation_id, status(DeliveryState.READ, "wamid.nope")) is False

    reply = [m for m in store.recent_messages(conv.tenant_id, conv.conversation_id, 5) if m.role == Role.AGENT][0]
    assert reply.state == OutboundState.READ


def test_channels_are_found_by_provider_and_id_across_tenants(db):  # noqa: ANN001
    directory = FirestoreChannelDirectory(db, cache_seconds=0)
    channel_id = uuid.uuid4().hex[:12]
    directory.save_channel(Channel(tenant_id="t-owner", provider=Provider.EVOLUTION, channel_id=channel_id,
                                   credentials=ChannelCredentials(api_key="k")))

    found = directory.find_channel("evolution", channel_id)

    assert found is not None and found.tenant_id == "t-owner" and found.credentials.api_key == "k"
    assert directory.find_channel("zapi", channel_id) is None
    assert "k" not in repr(found), "credentials never show in reprs (and so in logs)"


def test_the_platforms_cadence_defaults_sit_under_each_agents_own_followup_fields(db):  # noqa: ANN001
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    agents = db.collection("tenants").document(tenant).collection("agents")
    agents.document("bare").set({"agent_id": "bare", "business_name": "Acme"})
    agents.document("own").set({"agent_id": "own", "followup": {"enabled": False, "steps": [{"delay_minutes": 15}]}})
    defaults = {"enabled": True, "business_start": "08:00",
                "steps": [{"delay_minutes": 30}, {"delay_minutes": 120}]}
    directory = FirestoreChannelDirectory(db, cache_seconds=0, cadence_defaults=defaults)

    bare = directory.get_agent(tenant, "bare").followup
    own = directory.get_agent(tenant, "own").followup

    assert bare.enabled is True and [s.delay_minutes for s in bare.steps] == [30, 120]
    assert bare.business_start.hour == 8 and bare.time_zone == "America/Sao_Paulo"
    # The agent's own fields win; its steps replace the default list whole; the rest comes from the defaults.
    assert own.enabled is False and [s.delay_minutes for s in own.steps] == [15]
    assert own.business_start.hour == 8
    assert FirestoreChannelDirectory(db, cache_seconds=0).get_agent(tenant, "bare").followup.enabled is False


def test_a_cached_answer_without_an_expiry_is_a_miss_not_an_error(db):  # noqa: ANN001
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    cache = FirestoreAnswerCache(db)
    cache.put(tenant, "fresh", "Qual o horário?", "Das 9h às 18h.", NOW + timedelta(hours=1))
    # A document edited by hand in the console, its expiry removed.
    db.collection("tenants").document(tenant).collection("answer_cache").document("edited").set(
        {"question": "Qual o horário?", "answer": "Das 8h às 17h."})

    assert cache.get(tenant, "fresh", NOW) == "Das 9h às 18h."
    assert cache.get(tenant, "edited", NOW) is None
