"""sync_event on the real Firestore emulator, with the CRMs faked at the HTTP layer (tests/crm_fakes.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.firestore_crm import FirestoreCrmStore
from shared.adapters.hubspot import HubSpotRecords
from shared.adapters.pipedrive import PipedriveRecords
from shared.adapters.rdstation import RdStationRecords
from shared.domain.crm import CrmConfig, CrmKind
from shared.domain.errors import CrmUnavailable, DeliveryInProgress
from shared.domain.events import Contact, LeadQualified, LeadStageChanged, LeadUpdated, encode_event, lead_created
from shared.ports import EventMessage
from shared.services.crm_sync import CrmSyncDeps, SyncResult, process_message, sync_event
from tests.crm_fakes import FakeHubSpot, FakePipedrive, FakeRdStation

pytestmark = pytest.mark.emulators
T0 = datetime(2026, 11, 21, 12, tzinfo=UTC)


class World:
    """A tenant with a CRM configured, its Firestore store, and the fake CRM behind the adapter."""

    def __init__(self, db, tenant_id: str, config: CrmConfig, fake, adapter_for) -> None:  # noqa: ANN001
        self.db, self.tenant_id, self.fake = db, tenant_id, fake
        self.store = FirestoreCrmStore(db, cache_seconds=0)
        self.store.save_crm_config(tenant_id, config)
        self.deps = CrmSyncDeps(store=self.store, destination_for=lambda cfg: adapter_for(cfg, fake), lease_seconds=60)
        self.phone = "+55119" + str(uuid.uuid4().int)[:8]
        self.conversation = uuid.uuid4().hex[:24]

    def base(self, minutes: int = 0, name: str = "Mariana Souza") -> dict:
        return {"tenant_id": self.tenant_id, "conversation_id": self.conversation, "channel_key": "meta:1",
                "contact": Contact(phone=self.phone, name=name), "occurred_at": T0 + timedelta(minutes=minutes)}

    def created(self):  # noqa: ANN201
        return lead_created(agent_id="default", first_message="Oi, quero energia solar", **self.base())

    def qualified(self, minutes: int = 1, **fields):  # noqa: ANN003, ANN201
        return LeadQualified(event_id=LeadQualified.make_id(self.tenant_id, uuid.uuid4().hex),
                             payload={"fields": fields or {"monthly_bill": 450, "property": "casa"}, "score": 80},
                             **self.base(minutes))

    def stage(self, to: str, minutes: int):  # noqa: ANN201
        return LeadStageChanged(event_id=LeadStageChanged.make_id(self.tenant_id, uuid.uuid4().hex),
                                payload={"to_stage": to}, **self.base(minutes))

    def delivery(self, event) -> dict:  # noqa: ANN001
        ref = self.db.collection("tenants").document(self.tenant_id).collection("crm_deliveries")
        return ref.document(event.event_id).get().to_dict()

    def link(self, event) -> dict:  # noqa: ANN001
        ref = self.db.collection("tenants").document(self.tenant_id).collection("crm_links")
        return ref.document(f"{self.fake_kind}:{event.contact_key}").get().to_dict()

    fake_kind = "hubspot"


@pytest.fixture
def hubspot(db, tenant):  # noqa: ANN001, ANN201
    config = CrmConfig(kind="hubspot", hubspot={"access_token": "hubspot-private-app-token",
                                                "contact_properties": {"monthly_bill": "conta_de_luz"}})
    return World(db, tenant.tenant_id, config, FakeHubSpot(),
                 lambda cfg, fake: HubSpotRecords(fake.client(), "https://api.hubapi.com", cfg.hubspot))


def test_a_new_lead_becomes_a_hubspot_contact_with_a_note_and_its_id_is_kept(hubspot):
    event = hubspot.created()

    outcome = sync_event(event, hubspot.deps)

    assert outcome.result is SyncResult.DELIVERED
    [(contact_id, props)] = hubspot.fake.contacts.items()
    assert props["phone"] == hubspot.phone and props["firstname"] == "Mariana" and props["lastname"] == "Souza"
    [note] = hubspot.fake.notes.values()
    assert "Primeira mensagem: “Oi, quero energia solar”" in note["properties"]["hs_note_body"]
    assert note["associations"] == [(202, contact_id)]
    assert hubspot.link(event)["contact_id"] == contact_id
    delivery = hubspot.delivery(event)
    assert delivery["state"] == "delivered" and delivery["steps"]["note"] and delivery["attempts"] == 1


def test_qualification_updates_the_same_contact_and_opens_a_deal_at_the_mapped_stage(hubspot):
    sync_event(hubspot.created(), hubspot.deps)
    qualified = hubspot.qualified(monthly_bill=450, property="casa")

    assert sync_event(qualified, hubspot.deps).result is SyncResult.DELIVERED

    [(contact_id, props)] = hubspot.fake.contacts.items()
    assert props["conta_de_luz"] == "450", "mapped field on its configured property"
    [deal] = hubspot.fake.deals.values()
    assert deal["properties"]["dealstage"] == "qualifiedtobuy" and deal["associations"] == [(3, contact_id)]
    body = [n for n in hubspot.fake.notes.values() if "qualificado" in n["properties"]["hs_note_body"]][0]
    assert "property: casa" in body["properties"]["hs_note_body"]
    link = hubspot.link(qualified)
    assert link["deal_id"] and link["stage"] == "qualified"


def test_a_redelivered_event_is_applied_once(hubspot):
    event = hubspot.created()
    sync_event(event, hubspot.deps)
    calls = len(hubspot.fake.requests)

    again = sync_event(event, hubspot.deps)

    assert again.result is SyncResult.DUPLICATE
    assert len(hubspot.fake.requests) == calls, "no CRM call for a redelivery"
    assert len(hubspot.fake.notes) == 1


def test_a_crm_outage_is_retried_and_the_retry_finishes_without_repeating_what_was_done(hubspot):
    sync_event(hubspot.created(), hubspot.deps)
    qualified = hubspot.qualified()
    hubspot.fake.fail_next(503, {"message": "Service Unavailable"}, path_contains="/objects/notes")

    with pytest.raises(CrmUnavailable):
        sync_event(qualified, hubspot.deps)
    delivery = hubspot.delivery(qualified)
    assert delivery["state"] == "delivering" and "lease_until" not in delivery, "released for the retry"
    assert "Service Unavailable" in delivery["last_error"]

    assert sync_event(qualified, hubspot.deps).result is SyncResult.DELIVERED
    assert len(hubspot.fake.deals) == 1, "the deal made before the outage is reused, not duplicated"
    assert len(hubspot.fake.contacts) == 1
    assert hubspot.delivery(qualified)["attempts"] == 2


def test_a_refusal_is_recorded_with_the_crms_message_and_not_retried(hubspot):
    event = hubspot.created()
    hubspot.fake.fail_next(400, "hubspot_error_400_validation.json")

    outcome = sync_event(event, hubspot.deps)

    assert outcome.result is SyncResult.REJECTED
    delivery = hubspot.delivery(event)
    assert delivery["state"] == "rejected" and delivery["http_status"] == 400
    assert "PROPERTY_DOESNT_EXIST" in delivery["detail"]
    assert sync_event(event, hubspot.deps).result is SyncResult.DUPLICATE


def test_a_delivery_still_holding_its_lease_makes_a_concurrent_copy_retry_later(hubspot):
    event = hubspot.created()
    hubspot.store.claim_delivery(event, CrmKind.HUBSPOT, datetime.now(UTC), 60)

    with pytest.raises(DeliveryInProgress):
        sync_event(event, hubspot.deps)
    assert hubspot.fake.requests == []


def test_a_stage_change_older_than_the_one_applied_does_not_move_the_deal_back(hubspot):
    sync_event(hubspot.created(), hubspot.deps)
    sync_event(hubspot.stage("won", minutes=10), hubspot.deps)

    outcome = sync_event(hubspot.stage("meeting", minutes=5), hubspot.deps)

    assert outcome.result is SyncResult.DELIVERED and "skipped" in outcome.detail
    [deal] = hubspot.fake.deals.values()
    assert deal["properties"]["dealstage"] == "closedwon"


def test_a_lead_already_in_the_crm_is_found_by_phone_not_duplicated_and_keeps_its_crm_name(hubspot):
    hubspot.fake.contacts["4242"] = {"phone": hubspot.phone, "firstname": "Mari"}

    sync_event(hubspot.created(), hubspot.deps)

    assert list(hubspot.fake.contacts) == ["4242"]
    assert hubspot.fake.contacts["4242"]["firstname"] == "Mari", "the seller's name is not replaced by WhatsApp's"


def test_a_tenant_that_asks_for_it_gets_the_crm_name_overwritten(hubspot):
    hubspot.store.save_crm_config(hubspot.tenant_id, CrmConfig(
        kind="hubspot", field_policy={"name": "overwrite"}, hubspot={"access_token": "hubspot-private-app-token"}))
    hubspot.fake.contacts["4242"] = {"phone": hubspot.phone, "firstname": "Mari"}

    sync_event(hubspot.created(), hubspot.deps)

    assert hubspot.fake.contacts["4242"]["firstname"] == "Mariana"


def test_unmapped_updates_become_a_note_rather_than_being_lost(hubspot):
    sync_event(hubspot.created(), hubspot.deps)
    update = LeadUpdated(event_id=LeadUpdated.make_id(hubspot.tenant_id, "u1"), payload={"fields": {"city": "Campinas"}},
                         **hubspot.base(2))

    sync_event(update, hubspot.deps)

    assert any("city: Campinas" in n["properties"]["hs_note_body"] for n in hubspot.fake.notes.values())


def test_a_tenant_without_a_crm_or_with_events_filtered_gets_nothing_delivered(db, tenant, hubspot):
    other = World(db, f"no-crm-{uuid.uuid4().hex[:6]}", CrmConfig(kind="hubspot", hubspot={"access_token": "x"}),
                  FakeHubSpot(), lambda cfg, fake: HubSpotRecords(fake.client(), "https://x", cfg.hubspot))
    db.collection("tenants").document(other.tenant_id).collection("integrations").document("crm").delete()
    assert sync_event(other.created(), other.deps).result is SyncResult.NOT_CONFIGURED

    hubspot.store.save_crm_config(hubspot.tenant_id, CrmConfig(
        kind="hubspot", events=["LeadQualified"], hubspot={"access_token": "hubspot-private-app-token"}))
    assert sync_event(hubspot.created(), hubspot.deps).result is SyncResult.NOT_SUBSCRIBED
    assert hubspot.fake.requests == []


def test_an_invalid_crm_document_is_reported_not_crashed_on(hubspot):
    hubspot.db.collection("tenants").document(hubspot.tenant_id).collection("integrations").document("crm").set(
        {"kind": "salesforce"})

    outcome = sync_event(hubspot.created(), hubspot.deps)

    assert outcome.result is SyncResult.NOT_CONFIGURED and "kind" in outcome.detail


def test_a_message_that_is_not_an_event_is_recorded_as_poison_under_its_tenant(hubspot):
    message = EventMessage(data=b'{"type": "LeadCreated", "tenant_id": 42}', message_id="777001",
                           attributes={"tenant_id": hubspot.tenant_id, "event_type": "LeadCreated"})

    outcome = process_message(message, hubspot.deps)

    assert outcome.result is SyncResult.POISON
    poison = hubspot.db.collection("tenants").document(hubspot.tenant_id).collection("crm_deliveries") \
        .document("poison-777001").get().to_dict()
    assert poison["state"] == "poison" and "not a domain event" in poison["detail"]
    assert hubspot.fake.requests == []


def test_a_valid_message_is_decoded_and_delivered(hubspot):
    event = hubspot.created()
    message = EventMessage(data=encode_event(event), message_id="1", attributes={"tenant_id": hubspot.tenant_id})
    assert process_message(message, hubspot.deps).result is SyncResult.DELIVERED


# -- Pipedrive and RD Station CRM go through the same plan ---------------------------------------------

def test_pipedrive_gets_a_person_a_deal_when_qualified_and_notes_on_both(db, tenant):
    config = CrmConfig(kind="pipedrive", pipedrive={"api_token": "pipedrive-api-token", "stage_map": {"qualified": 7}})
    world = World(db, tenant.tenant_id, config, FakePipedrive(),
                  lambda cfg, fake: PipedriveRecords(fake.client(), "https://api.pipedrive.com", cfg.pipedrive))
    world.fake_kind = "pipedrive"

    sync_event(world.created(), world.deps)
    qualified = world.qualified()
    sync_event(qualified, world.deps)

    [(person_id, person)] = world.fake.persons.items()
    [(deal_id, deal)] = world.fake.deals.items()
    assert person["name"] == "Mariana Souza" and deal["stage_id"] == 7 and deal["person_id"] == person_id
    assert [n.get("deal_id") for n in world.fake.notes.values()] == [None, deal_id]
    assert world.link(qualified)["deal_id"] == str(deal_id)


def test_rdstation_opens_a_deal_for_every_new_lead_when_new_is_mapped(db, tenant):
    config = CrmConfig(kind="rdstation", rdstation={"token": "rdstation-crm-token",
                                                    "stage_map": {"new": "stage-new", "qualified": "stage-q"}})
    world = World(db, tenant.tenant_id, config, FakeRdStation(),
                  lambda cfg, fake: RdStationRecords(fake.client(), "https://crm.rdstation.com/api/v1", cfg.rdstation))
    world.fake_kind = "rdstation"

    sync_event(world.created(), world.deps)
    sync_event(world.qualified(), world.deps)

    [(contact_id, contact)] = world.fake.contacts.items()
    [(deal_id, deal)] = world.fake.deals.items()
    assert contact["deal_ids"] == [deal_id] and deal["deal_stage_id"] == "stage-q"
    assert [a["deal_id"] for a in world.fake.activities.values()] == [deal_id, deal_id]
