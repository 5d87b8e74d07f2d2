"""One tenant per number, validated configuration documents and `active` switches, on the Firestore emulator."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from dev.seed import DemoTenant
from shared.adapters.firestore_channels import CHANNEL_REGISTRY, FirestoreChannelDirectory
from shared.adapters.firestore_conversations import FirestoreConversationStore
from shared.adapters.firestore_leads import FirestoreLeadStore
from shared.adapters.firestore_usage import FirestoreUsageLedger
from shared.domain.conversation import InboundDisposition, Role, StoredMessage
from shared.domain.errors import ChannelAlreadyRegistered, InvalidConfiguration
from shared.domain.ids import conversation_id, inbound_message_id, reply_message_id
from shared.domain.inbound import Provider
from shared.domain.lgpd import ERASURE_ACKNOWLEDGEMENT, ERASURE_HANDOFF_REASON
from shared.domain.tenancy import Channel, ChannelCredentials, channel_key
from shared.ports import TurnRequest
from shared.services.agent_turn import TurnDeps, TurnResult, run_agent_turn
from tests.fakes import RecordingSender, ScriptedModel

pytestmark = pytest.mark.emulators
NOW = datetime(2026, 11, 29, 15, 0, tzinfo=UTC)


# -- one number, one tenant ---------------------------------------------------------------------------


def test_a_number_registered_to_one_tenant_cannot_be_registered_by_another(db):  # noqa: ANN001
    directory = FirestoreChannelDirectory(db, cache_seconds=0)
    number = uuid.uuid4().hex[:12]
    owner, intruder = f"t-own-{number}", f"t-int-{number}"
    directory.save_channel(Channel(tenant_id=owner, provider=Provider.EVOLUTION, channel_id=number,
                                   credentials=ChannelCredentials(api_key="owner-key")))

    with pytest.raises(ChannelAlreadyRegistered, match=f"evolution:{number} is already registered"):
        directory.save_channel(Channel(tenant_id=intruder, provider=Provider.EVOLUTION, channel_id=number,
                                       credentials=ChannelCredentials(api_key="intruder-key")))

    assert not db.document(f"tenants/{intruder}/channels/evolution:{number}").get().exists, "nothing written"
    assert db.collection(CHANNEL_REGISTRY).document(f"evolution:{number}").get().to_dict()["tenant_id"] == owner
    # The owner may save its own channel again (new credentials): that is no second registration.
    directory.save_channel(Channel(tenant_id=owner, provider=Provider.EVOLUTION, channel_id=number,
                                   credentials=ChannelCredentials(api_key="rotated")))
    assert directory.find_channel("evolution", number).credentials.api_key == "rotated"


def test_the_webhook_resolves_a_number_through_the_registry_never_by_first_match(db):  # noqa: ANN001
    directory = FirestoreChannelDirectory(db, cache_seconds=0)
    number = uuid.uuid4().hex[:12]
    # The intruder's path sorts first: a "first match" collection-group query would pick its document.
    owner, intruder = f"t-z-{number}", f"t-a-{number}"
    directory.save_channel(Channel(tenant_id=owner, provider=Provider.ZAPI, channel_id=number,
                                   credentials=ChannelCredentials(webhook_token="owner")))
    db.document(f"tenants/{intruder}/channels/zapi:{number}").set(  # written by hand, around the registry
        {"tenant_id": intruder, "provider": "zapi", "channel_id": number, "channel_key": f"zapi:{number}",
         "credentials": {"webhook_token": "intruder"}})

    found = directory.find_channel("zapi", number)

    assert found is not None and found.tenant_id == owner and found.credentials.webhook_token == "owner"


def test_existing_channels_are_registered_by_the_migration_and_conflicts_are_reported_not_picked(db):  # noqa: ANN001
    number, lonely = uuid.uuid4().hex[:12], uuid.uuid4().hex[:12]
    for tenant in (f"t-m1-{number}", f"t-m2-{number}"):
        db.document(f"tenants/{tenant}/channels/meta:{number}").set(
            {"tenant_id": tenant, "provider": "meta", "channel_id": number, "channel_key": f"meta:{number}"})
    db.document(f"tenants/t-m3-{lonely}/channels/meta:{lonely}").set(
        {"tenant_id": f"t-m3-{lonely}", "provider": "meta", "channel_id": lonely, "channel_key": f"meta:{lonely}"})
    directory = FirestoreChannelDirectory(db, cache_seconds=0)

    report = directory.register_existing_channels()

    assert f"meta:{lonely}" in report.registered
    assert directory.find_channel("meta", lonely).tenant_id == f"t-m3-{lonely}"
    assert [c for c in report.conflicts if c.startswith(f"meta:{number}:")], "two tenants claim it: reported"
    again = directory.register_existing_channels()
    assert f"meta:{lonely}" in again.already and f"meta:{lonely}" not in again.registered


# -- configuration documents --------------------------------------------------------------------------


def test_an_agent_document_with_a_typo_or_a_bad_value_is_refused_naming_the_field_and_path(db):  # noqa: ANN001
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    agents = db.collection("tenants").document(tenant).collection("agents")
    agents.document("typo").set({"mdoe": "copilot"})
    agents.document("short").set({"history_limit": 2})
    directory = FirestoreChannelDirectory(db, cache_seconds=0)

    with pytest.raises(InvalidConfiguration) as typo:
        directory.get_agent(tenant, "typo")
    with pytest.raises(InvalidConfiguration) as short:
        directory.get_agent(tenant, "short")

    assert typo.value.path == f"tenants/{tenant}/agents/typo" and "mdoe" in str(typo.value)
    assert short.value.path == f"tenants/{tenant}/agents/short" and "history_limit" in str(short.value)


class World:
    def __init__(self, db, tenant: DemoTenant) -> None:  # noqa: ANN001
        self.db, self.tenant = db, tenant
        self.sender = RecordingSender()
        self.model = ScriptedModel()
        self.store = FirestoreConversationStore(db)
        self.deps = TurnDeps(directory=FirestoreChannelDirectory(db, cache_seconds=0), store=self.store,
                             model=self.model, sender_for=lambda provider: self.sender,
                             ledger=FirestoreUsageLedger(db), leads=FirestoreLeadStore(db),
                             tiers=dict.fromkeys(("lite", "standard", "advanced"), "gemini-test"), lease_seconds=60,
                             clock=lambda: NOW)
        self.key = channel_key("meta", tenant.meta_phone_number_id)
        self.phone = "+55119" + str(uuid.uuid4().int)[:8]
        self.conv = conversation_id(self.key, self.phone)
        self.tenant_ref = db.collection("tenants").document(tenant.tenant_id)

    def lead(self, text: str, phone: str | None = None) -> TurnRequest:
        phone = phone or self.phone
        conv = conversation_id(self.key, phone)
        message_id = inbound_message_id("meta", self.tenant.meta_phone_number_id, uuid.uuid4().hex)
        self.store.record_inbound(self.tenant.tenant_id, conv, StoredMessage(
            message_id=message_id, role=Role.LEAD, text=text, provider=Provider.META, provider_message_id=message_id,
            sent_at=NOW, disposition=InboundDisposition.QUEUED))
        return TurnRequest(self.tenant.tenant_id, conv, message_id, self.key, phone)

    def turn(self, request: TurnRequest):  # noqa: ANN201
        return run_agent_turn(request, self.deps)

    def sent_to(self, phone: str) -> list[str]:
        return [text for _, to, text in self.sender.sent if to == phone]


@pytest.fixture
def world(db, tenant) -> World:  # noqa: ANN001
    return World(db, tenant)


def test_an_invalid_agent_fails_the_turn_hands_off_and_alerts_the_seller_once_without_looping(world):
    world.tenant_ref.collection("agents").document("default").set({"mdoe": "copilot"}, merge=True)
    first, other = world.lead("Oi, quero um orçamento"), world.lead("Olá!", phone="+55119" + str(uuid.uuid4().int)[:8])

    outcome = world.turn(first)
    again = world.turn(first)  # a redelivery of the same task
    other_outcome = world.turn(other)  # another lead of the same agent

    assert (outcome.result, again.result, other_outcome.result) == (TurnResult.MISCONFIGURED,) * 3
    assert world.model.prompts == [], "no model call for a turn that cannot run"
    assert world.sent_to(world.phone) == [] and world.sent_to(other.contact_phone) == []
    alerts = world.sent_to(world.tenant.seller_phone)
    assert len(alerts) == 1 and "mdoe" in alerts[0] and f"tenants/{world.tenant.tenant_id}/agents/default" in alerts[0]
    reply = world.tenant_ref.collection("conversations").document(world.conv).collection("messages").document(
        reply_message_id(first.message_id)).get().to_dict()
    assert reply["state"] == "failed" and "mdoe" in reply["error"]
    conversation = world.store.get_conversation(world.tenant.tenant_id, world.conv)
    assert conversation.bot_paused and "mdoe" in conversation.handoff_reason


@pytest.mark.parametrize("switch", ["tenant", "channel"])
def test_active_false_keeps_the_message_and_sends_nothing(world, switch):
    if switch == "tenant":
        world.tenant_ref.update({"active": False})
    else:
        world.tenant_ref.collection("channels").document(world.key).update({"active": False})
    request = world.lead("Oi, tudo bem?")

    outcome = world.turn(request)

    assert outcome.result == TurnResult.INACTIVE
    assert world.store.get_message(world.tenant.tenant_id, request.conversation_id, request.message_id) is not None
    assert world.sender.sent == [] and world.model.prompts == []


def test_a_lead_asking_to_erase_their_data_goes_to_a_human_with_the_reason(world):
    request = world.lead("Por favor, apaguem todos os meus dados")

    outcome = world.turn(request)

    assert outcome.result == TurnResult.REPLIED and outcome.handoff
    assert world.model.prompts == [], "no model call: the request is recognised before"
    assert world.sent_to(world.phone) == [ERASURE_ACKNOWLEDGEMENT]
    conversation = world.store.get_conversation(world.tenant.tenant_id, world.conv)
    assert conversation.bot_paused and conversation.handoff_reason == ERASURE_HANDOFF_REASON
    assert conversation.handoff_question is None, "the seller's answer is not learned as product knowledge"
    [alert] = world.sent_to(world.tenant.seller_phone)
    assert ERASURE_HANDOFF_REASON in alert and "apaguem todos os meus dados" in alert
    later = world.lead("quanto custa o kit?")
    assert world.turn(later).result == TurnResult.BOT_PAUSED


def test_an_invalid_channel_document_is_reported_with_its_path(db, tenant):  # noqa: ANN001
    key = channel_key("meta", tenant.meta_phone_number_id)
    db.document(f"tenants/{tenant.tenant_id}/channels/{key}").update({"credentials.acess_token": "typo"})
    with pytest.raises(InvalidConfiguration) as err:
        FirestoreChannelDirectory(db, cache_seconds=0).find_channel("meta", tenant.meta_phone_number_id)
    assert err.value.path == f"tenants/{tenant.tenant_id}/channels/{key}" and "acess_token" in str(err.value)
    assert "typo" not in str(err.value), "values (maybe secrets) are never echoed"


def test_an_invalid_tenant_document_fails_the_turn_like_an_invalid_agent(world):
    world.tenant_ref.update({"actve": False})
    request = world.lead("Oi")

    outcome = world.turn(request)

    assert outcome.result == TurnResult.MISCONFIGURED and world.sent_to(world.phone) == []
    assert "actve" in world.store.get_conversation(world.tenant.tenant_id, world.conv).handoff_reason
    [alert] = world.sent_to(world.tenant.seller_phone)
    assert f"tenants/{world.tenant.tenant_id} é inválida" in alert and "actve" in alert


def test_in_copilot_mode_a_data_rights_request_is_drafted_for_the_seller_never_sent_to_the_lead(world):
    world.tenant_ref.collection("agents").document("default").update({"mode": "copilot"})
    request = world.lead("Quero excluir meu cadastro de vocês")

    outcome = world.turn(request)

    assert outcome.result == TurnResult.SUGGESTED and world.model.prompts == []
    assert world.sent_to(world.phone) == []
    suggestion = world.tenant_ref.collection("conversations").document(world.conv).collection("suggestions").document(
        reply_message_id(request.message_id)).get().to_dict()
    assert suggestion["draft_reply"] == ERASURE_ACKNOWLEDGEMENT and suggestion["status"] == "pending"
    assert world.store.get_conversation(world.tenant.tenant_id, world.conv).handoff_reason == ERASURE_HANDOFF_REASON
