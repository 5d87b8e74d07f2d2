"""What real CRM accounts do to a sync, on the Firestore emulator with the CRMs faked at the HTTP layer:
strangers in search results, numbers without the ninth digit, a lead's first events arriving together,
HubSpot's lagging search and e-mail conflicts, rate limits, and each CRM's own way of closing a deal."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.hubspot import HubSpotRecords
from shared.adapters.pipedrive import PipedriveRecords
from shared.adapters.rdstation import RdStationRecords
from shared.domain.crm import CrmConfig, CrmKind
from shared.domain.errors import CrmUnavailable, LeadSyncInProgress
from shared.domain.events import Contact, LeadQualified
from shared.services.crm_sync import SyncResult, sync_event
from tests.crm_fakes import FakeHubSpot, FakePipedrive, FakeRdStation
from tests.integration.test_crm_sync_service import World

pytestmark = pytest.mark.emulators


def hubspot_world(db, tenant, fake: FakeHubSpot | None = None, **settings) -> World:  # noqa: ANN001, ANN003
    config = CrmConfig(kind="hubspot", hubspot={"access_token": "hubspot-private-app-token", **settings})
    return World(db, tenant.tenant_id, config, fake or FakeHubSpot(),
                 lambda cfg, fake: HubSpotRecords(fake.client(), "https://api.hubapi.com", cfg.hubspot))


def rd_world(db, tenant, fake: FakeRdStation | None = None, **settings) -> World:  # noqa: ANN001, ANN003
    config = CrmConfig(kind="rdstation", rdstation={"token": "rdstation-crm-token",
                                                    "stage_map": {"new": "stage-new", "qualified": "stage-q"},
                                                    **settings})
    world = World(db, tenant.tenant_id, config, fake or FakeRdStation(),
                  lambda cfg, fake: RdStationRecords(fake.client(), "https://crm.rdstation.com/api/v1", cfg.rdstation))
    world.fake_kind = "rdstation"
    return world


def pipedrive_world(db, tenant) -> World:  # noqa: ANN001
    config = CrmConfig(kind="pipedrive", pipedrive={"api_token": "pipedrive-api-token", "stage_map": {"qualified": 7}})
    world = World(db, tenant.tenant_id, config, FakePipedrive(),
                  lambda cfg, fake: PipedriveRecords(fake.client(), "https://api.pipedrive.com", cfg.pipedrive))
    world.fake_kind = "pipedrive"
    return world


def without_ninth_digit(phone: str) -> str:
    return phone[:5] + phone[6:]  # +55 11 9xxxxxxxx -> +55 11 xxxxxxxx


def mobile() -> str:
    """A São Paulo mobile whose 8-digit form WhatsApp may still use (9 followed by 6-9)."""
    return "+551198" + str(uuid.uuid4().int)[:7]


# -- the right record, with evidence ---------------------------------------------------------------------

def test_rd_ignoring_the_phone_filter_does_not_attach_the_lead_to_a_stranger(db, tenant):
    world = rd_world(db, tenant)
    world.fake.contacts["5f0d9b9159a46b000195d3c1"] = {
        "_id": "5f0d9b9159a46b000195d3c1", "id": "5f0d9b9159a46b000195d3c1", "name": "Outro Cliente",
        "phones": [{"phone": "+5521999990000", "type": "cellphone"}], "emails": [], "deal_ids": []}

    sync_event(world.created(), world.deps)

    stranger = world.fake.contacts["5f0d9b9159a46b000195d3c1"]
    assert stranger["name"] == "Outro Cliente" and stranger["deal_ids"] == [], "nothing lands on the stranger"
    [lead] = [c for cid, c in world.fake.contacts.items() if cid != "5f0d9b9159a46b000195d3c1"]
    assert lead["phones"][0]["phone"] == world.phone and len(lead["deal_ids"]) == 1
    assert world.link(world.created())["contact_id"] == lead["id"]


def test_rd_finds_the_lead_typed_without_the_ninth_digit_among_other_contacts(db, tenant):
    world = rd_world(db, tenant)
    world.phone = mobile()
    for n, phone in enumerate(["+5521999990000", without_ninth_digit(world.phone)]):
        cid = f"5f0d9b9159a46b000195d3c{n}"
        world.fake.contacts[cid] = {"_id": cid, "id": cid, "name": f"Contato {n}", "emails": [], "deal_ids": [],
                                    "phones": [{"phone": phone, "type": "cellphone"}]}

    sync_event(world.created(), world.deps)

    assert len(world.fake.contacts) == 2, "no new contact"
    assert world.link(world.created())["contact_id"] == "5f0d9b9159a46b000195d3c1"
    assert world.fake.contacts["5f0d9b9159a46b000195d3c1"]["name"] == "Contato 1", "the CRM's name is kept"


def test_pipedrive_finds_a_person_whose_number_a_seller_typed_formatted_and_without_the_country_code(db, tenant):
    world = pipedrive_world(db, tenant)
    national = world.phone[3:]  # 11 9xxxx xxxx
    world.fake.persons[501] = {"name": "Mari (loja)", "emails": [], "custom_fields": {},
                               "phones": [{"value": f"({national[:2]}) {national[2:7]}-{national[7:]}"}]}
    world.fake.persons[502] = {"name": "Outra", "emails": [], "custom_fields": {},
                               "phones": [{"value": f"+5521{national[2:]}"}]}  # same last digits, other city

    sync_event(world.created(), world.deps)

    assert set(world.fake.persons) == {501, 502}
    assert world.link(world.created())["contact_id"] == "501"


def test_hubspot_matches_a_contact_by_email_when_its_phone_differs(db, tenant):
    world = hubspot_world(db, tenant)
    world.fake.contacts["7001"] = {"email": "mariana@example.com", "phone": "+551130000000"}
    event = world.created()
    event = event.model_copy(update={"contact": Contact(phone=world.phone, name="Mariana Souza",
                                                        email="mariana@example.com")})

    sync_event(event, world.deps)

    assert list(world.fake.contacts) == ["7001"]


# -- one creator per lead ----------------------------------------------------------------------------------

def test_a_leads_event_waits_while_another_event_of_the_same_lead_is_being_applied(db, tenant):
    world = hubspot_world(db, tenant)
    created, qualified = world.created(), world.qualified()
    world.store.hold_lead(world.tenant_id, CrmKind.HUBSPOT, created.contact_key, created.event_id,
                          datetime.now(UTC), 60)

    with pytest.raises(LeadSyncInProgress):
        sync_event(qualified, world.deps)
    assert world.fake.requests == [], "the waiting event called nothing"

    world.store.release_lead(world.tenant_id, CrmKind.HUBSPOT, created.contact_key, created.event_id)
    sync_event(created, world.deps)
    assert sync_event(qualified, world.deps).result is SyncResult.DELIVERED
    assert len(world.fake.contacts) == 1


def test_first_events_arriving_together_create_one_hubspot_contact_despite_the_search_lag(db, tenant):
    world = hubspot_world(db, tenant, fake=FakeHubSpot(search_lag_seconds=3600))
    events = [world.created(), world.qualified(), world.qualified(minutes=2, city="Campinas")]
    start = threading.Barrier(len(events))
    results: list[str] = []

    def deliver(event) -> None:  # noqa: ANN001
        start.wait()
        for _ in range(50):  # Pub/Sub's redelivery, compressed
            try:
                results.append(sync_event(event, world.deps).result.value)
                return
            except (LeadSyncInProgress, CrmUnavailable) as err:
                if isinstance(err, CrmUnavailable):
                    raise
                threading.Event().wait(0.05)
        results.append("gave up")

    threads = [threading.Thread(target=deliver, args=(e,)) for e in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results.count("delivered") == 3, results
    assert len(world.fake.contacts) == 1, "the search never saw the new contact, yet no second one was made"
    assert len(world.fake.deals) == 1


# -- failures keep what can be kept ------------------------------------------------------------------------

def test_a_hubspot_email_conflict_drops_only_the_email_and_the_stage_and_note_still_land(db, tenant):
    world = hubspot_world(db, tenant, contact_properties={"monthly_bill": "conta_de_luz"})
    sync_event(world.created(), world.deps)
    world.fake.contacts["9900"] = {"email": "dono@example.com", "firstname": "Outro"}
    qualified = LeadQualified(event_id=LeadQualified.make_id(world.tenant_id, uuid.uuid4().hex),
                              payload={"fields": {"monthly_bill": 450}, "score": 80},
                              **{**world.base(1), "contact": Contact(phone=world.phone, name="Mariana Souza",
                                                                    email="dono@example.com")})

    outcome = sync_event(qualified, world.deps)

    assert outcome.result is SyncResult.DELIVERED, outcome.detail
    lead_id = world.link(qualified)["contact_id"]
    assert world.fake.contacts[lead_id]["conta_de_luz"] == "450" and "email" not in world.fake.contacts[lead_id]
    assert world.fake.contacts["9900"]["email"] == "dono@example.com"
    [deal] = world.fake.deals.values()
    assert deal["properties"]["dealstage"] == "qualifiedtobuy"
    note = [n for n in world.fake.notes.values() if "qualificado" in n["properties"]["hs_note_body"]][0]
    assert "dono@example.com não salvo" in note["properties"]["hs_note_body"] and "9900" in note["properties"]["hs_note_body"]


def test_a_rate_limited_crm_is_left_alone_until_the_time_it_gave(db, tenant):
    world = hubspot_world(db, tenant)
    now = [datetime.now(UTC)]
    world.deps.clock = lambda: now[0]
    world.fake.fail_next(429, "hubspot_error_429.json", headers={"Retry-After": "120"})

    with pytest.raises(CrmUnavailable) as first:
        sync_event(world.created(), world.deps)
    assert first.value.retry_at is not None and first.value.retry_at > now[0] + timedelta(seconds=100)

    calls = len(world.fake.requests)
    with pytest.raises(CrmUnavailable, match="paused"):
        sync_event(world.qualified(), world.deps)
    assert len(world.fake.requests) == calls, "no CRM call while it asked us to wait"

    now[0] += timedelta(seconds=121)
    assert sync_event(world.created(), world.deps).result is SyncResult.DELIVERED


# -- each CRM's own way of closing a deal -----------------------------------------------------------------

def test_rd_closes_deals_with_win_and_the_lost_reason_and_reopens_them(db, tenant):
    world = rd_world(db, tenant, lost_reason_id="motivo-preco")
    sync_event(world.created(), world.deps)
    [(deal_id, deal)] = world.fake.deals.items()

    sync_event(world.stage("lost", 5), world.deps)
    assert deal["win"] is False and deal["deal_lost_reason_id"] == "motivo-preco"

    sync_event(world.stage("qualified", 6), world.deps)
    assert deal["win"] is None and deal["deal_stage_id"] == "stage-q", "reopened when the lead came back"

    sync_event(world.stage("won", 7), world.deps)
    assert deal["win"] is True
    assert len(world.fake.deals) == 1


def test_pipedrive_reopens_a_lost_deal_when_the_lead_re_engages(db, tenant):
    world = pipedrive_world(db, tenant)
    sync_event(world.created(), world.deps)
    sync_event(world.qualified(), world.deps)
    [deal] = world.fake.deals.values()

    sync_event(world.stage("lost", 5), world.deps)
    assert deal["status"] == "lost"
    sync_event(world.stage("qualified", 6), world.deps)

    assert deal["status"] == "open" and deal["stage_id"] == 7


def test_rd_keeps_the_deal_on_its_contact_when_another_writer_replaces_deal_ids(db, tenant):
    fake = FakeRdStation()
    overwritten = []

    def another_integration(contact: dict) -> None:
        if not overwritten:  # once: it read the list before our write and writes its own version after it
            overwritten.append(list(contact["deal_ids"]))
            contact["deal_ids"] = []

    fake.after_contact_put = another_integration
    world = rd_world(db, tenant, fake=fake)

    sync_event(world.created(), world.deps)

    [(deal_id, _)] = world.fake.deals.items()
    [contact] = world.fake.contacts.values()
    assert overwritten == [[deal_id]] and contact["deal_ids"] == [deal_id]
