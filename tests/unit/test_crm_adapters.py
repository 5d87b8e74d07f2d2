"""Each CRM adapter against an HTTP-level fake that checks the CRM's documented request shapes."""

from __future__ import annotations

import json

import httpx
import pytest

from shared.adapters.crm_webhook import SignedWebhookForwarder
from shared.adapters.hubspot import HubSpotRecords
from shared.adapters.pipedrive import PipedriveRecords
from shared.adapters.rdstation import RdStationRecords
from shared.domain.crm import HubSpotSettings, PipedriveSettings, RdStationSettings, WebhookSettings, verify_webhook_signature
from shared.domain.errors import CrmMisconfigured, CrmRejected, CrmUnavailable
from shared.domain.events import LeadStage, decode_event, lead_created
from tests.crm_fakes import FakeHubSpot, FakePipedrive, FakeRdStation
from tests.unit.test_domain_events import COMMON

PHONE = "+5511987654321"


def hubspot(fake: FakeHubSpot, **settings) -> HubSpotRecords:  # noqa: ANN003
    return HubSpotRecords(fake.client(), "https://api.hubapi.com",
                          HubSpotSettings(access_token=fake.token, **settings))


# -- HubSpot ----------------------------------------------------------------------------------------

def test_hubspot_creates_a_lead_contact_with_split_name_and_mapped_properties():
    fake = FakeHubSpot()
    crm = hubspot(fake, contact_properties={"monthly_bill": "conta_de_luz"}, owner_id="77")

    contact_id = crm.create_contact({"name": "Mariana de Souza", "monthly_bill": 450, "city": "SP"}, PHONE)

    assert fake.contacts[contact_id] == {"firstname": "Mariana", "lastname": "de Souza", "conta_de_luz": "450",
                                         "phone": PHONE, "lifecyclestage": "lead", "hubspot_owner_id": "77"}
    assert crm.unplaced({"name": "M", "monthly_bill": 450, "city": "SP"}) == {"city": "SP"}


def test_hubspot_finds_a_contact_by_phone_or_mobile_phone():
    fake = FakeHubSpot()
    fake.contacts["41"] = {"mobilephone": PHONE}
    crm = hubspot(fake)

    assert crm.find_contact(PHONE) == "41"
    assert crm.find_contact("+5511000000000") is None
    search = fake.calls("POST", "/crm/v3/objects/contacts/search")[0]["json"]
    # Both ninth-digit forms of the number, in both phone properties.
    assert [(g["filters"][0]["propertyName"], g["filters"][0]["value"]) for g in search["filterGroups"]] == [
        ("phone", "+551187654321"), ("mobilephone", "+551187654321"),
        ("phone", PHONE), ("mobilephone", PHONE)]


def test_hubspot_deal_goes_to_the_mapped_stage_of_the_pipeline_associated_with_the_contact():
    fake = FakeHubSpot()
    crm = hubspot(fake, pipeline="vendas", stage_map={"qualified": "etapa-qualificado", "won": "ganho"})
    contact_id = crm.create_contact({"name": "Ana"}, PHONE)

    deal_id = crm.create_deal(contact_id, "Ana — WhatsApp", LeadStage.QUALIFIED)
    crm.move_deal(deal_id, LeadStage.WON)

    assert fake.deals[deal_id]["properties"] == {"dealname": "Ana — WhatsApp", "pipeline": "vendas", "dealstage": "ganho"}
    assert fake.deals[deal_id]["associations"] == [(3, contact_id)]
    assert crm.maps_stage(LeadStage.WON) and not crm.maps_stage(LeadStage.MEETING)


def test_hubspot_notes_are_escaped_html_on_the_contact_and_deal_timelines():
    fake = FakeHubSpot()
    crm = hubspot(fake)
    contact_id = crm.create_contact({"name": "Ana"}, PHONE)
    deal_id = crm.create_deal(contact_id, "Ana", LeadStage.QUALIFIED)

    note_id = crm.add_note(contact_id, deal_id, "[Piloto] conta <R$ 450>\nquer visita")

    note = fake.notes[note_id]
    assert note["properties"]["hs_note_body"] == "[Piloto] conta &lt;R$ 450&gt;<br>quer visita"
    assert note["associations"] == [(202, contact_id), (214, deal_id)]


def test_hubspot_conflict_on_email_links_the_existing_contact_and_keeps_its_name():
    fake = FakeHubSpot()
    fake.contacts["9001"] = {"email": "ana@example.com", "firstname": "Ana"}
    fake.contacts["9002"] = {"email": "bia@example.com"}
    crm = hubspot(fake)

    assert crm.create_contact({"name": "Ana Lima", "email": "ana@example.com"}, PHONE) == "9001"
    assert crm.create_contact({"name": "Bia Souza", "email": "bia@example.com"}, PHONE) == "9002"

    # The e-mail is the evidence; the CRM's own name stays, an empty one is filled in.
    assert fake.contacts["9001"] == {"email": "ana@example.com", "firstname": "Ana"}
    assert fake.contacts["9002"] == {"email": "bia@example.com", "firstname": "Bia", "lastname": "Souza"}


@pytest.mark.parametrize(("status", "body", "error", "message"), [
    (429, "hubspot_error_429.json", CrmUnavailable, "secondly limit"),
    (502, {"message": "Bad Gateway"}, CrmUnavailable, "Bad Gateway"),
    (400, "hubspot_error_400_validation.json", CrmRejected, "PROPERTY_DOESNT_EXIST"),
])
def test_hubspot_failures_are_retryable_or_final_with_hubspots_message(status, body, error, message):
    fake = FakeHubSpot()
    fake.fail_next(status, body)

    with pytest.raises(error, match=message) as raised:
        hubspot(fake).create_contact({"name": "Ana"}, PHONE)
    assert raised.value.status == status


def test_a_wrong_hubspot_token_is_a_final_refusal():
    with pytest.raises(CrmRejected, match="Authentication credentials not found") as refused:
        HubSpotRecords(FakeHubSpot().client(), "https://api.hubapi.com",
                       HubSpotSettings(access_token="wrong")).find_contact(PHONE)
    assert refused.value.status == 401


def test_a_timeout_is_retryable_and_names_no_url():
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    client = httpx.Client(transport=httpx.MockTransport(timeout))
    with pytest.raises(CrmUnavailable) as raised:
        RdStationRecords(client, "https://crm.rdstation.com/api/v1", RdStationSettings(token="tok-secret")).find_contact(PHONE)
    assert "tok-secret" not in str(raised.value) and raised.value.status is None


# -- Pipedrive --------------------------------------------------------------------------------------

def test_pipedrive_person_deal_and_note_use_the_documented_v2_and_v1_shapes():
    fake = FakePipedrive()
    crm = PipedriveRecords(fake.client(), "https://api.pipedrive.com", PipedriveSettings(
        api_token=fake.token, stage_map={"qualified": 2}, person_fields={"monthly_bill": "a1b2c3"}, owner_id=9))

    person = crm.create_contact({"name": "Mariana", "email": "m@x.com", "monthly_bill": 450}, PHONE)
    assert crm.find_contact(PHONE) == person
    deal = crm.create_deal(person, "Mariana — WhatsApp", LeadStage.QUALIFIED)
    crm.move_deal(deal, LeadStage.LOST)
    note = crm.add_note(person, deal, "[Piloto] oi")

    stored = fake.persons[int(person)]
    assert stored["phones"] == [{"value": PHONE, "primary": True, "label": "mobile"}]
    assert stored["emails"] == [{"value": "m@x.com", "primary": True, "label": "work"}]
    assert stored["custom_fields"] == {"a1b2c3": 450}
    assert fake.deals[int(deal)] == {"title": "Mariana — WhatsApp", "person_id": int(person), "stage_id": 2,
                                     "owner_id": 9, "status": "lost"}
    assert fake.notes[int(note)] == {"content": "[Piloto] oi", "person_id": int(person), "deal_id": int(deal)}
    search = fake.calls("GET", "/api/v2/persons/search")[0]["params"]
    # Not exact: sellers store numbers formatted, and the hit is checked against the lead's number anyway.
    assert search["fields"] == "phone" and search["exact_match"] == "false"


def test_pipedrive_treats_won_and_lost_as_statuses_even_without_a_stage_map():
    crm = PipedriveRecords(FakePipedrive().client(), "https://api.pipedrive.com", PipedriveSettings(api_token="t"))
    assert crm.maps_stage(LeadStage.WON) and crm.maps_stage(LeadStage.LOST)
    assert not crm.maps_stage(LeadStage.QUALIFIED)


def test_a_wrong_pipedrive_token_is_refused_with_pipedrives_message():
    crm = PipedriveRecords(FakePipedrive().client(), "https://api.pipedrive.com", PipedriveSettings(api_token="x"))
    with pytest.raises(CrmRejected, match="unauthorized access"):
        crm.find_contact(PHONE)


# -- RD Station CRM ---------------------------------------------------------------------------------

def test_rdstation_contact_deal_stage_and_note_with_the_token_as_query_parameter():
    fake = FakeRdStation()
    crm = RdStationRecords(fake.client(), "https://crm.rdstation.com/api/v1", RdStationSettings(
        token=fake.token, stage_map={"new": "stage-new", "qualified": "stage-q"}, user_id="u1",
        contact_custom_fields={"monthly_bill": "cf-bill"}))

    contact = crm.create_contact({"name": "Mariana", "monthly_bill": 450}, PHONE)
    assert crm.find_contact(PHONE) == contact
    assert crm.add_note(contact, None, "sem negociação") is None, "RD notes belong to deals"
    deal = crm.create_deal(contact, "Mariana — WhatsApp", LeadStage.NEW)
    crm.move_deal(deal, LeadStage.QUALIFIED)
    note = crm.add_note(contact, deal, "[Piloto] oi")

    assert fake.contacts[contact]["phones"] == [{"phone": PHONE, "type": "cellphone"}]
    assert fake.contacts[contact]["contact_custom_fields"] == [{"custom_field_id": "cf-bill", "value": 450}]
    assert fake.contacts[contact]["deal_ids"] == [deal], "the new deal is linked to the lead's contact"
    assert fake.deals[deal]["deal_stage_id"] == "stage-q" and fake.deals[deal]["user_id"] == "u1"
    assert fake.activities[note]["text"] == "[Piloto] oi" and fake.activities[note]["deal_id"] == deal
    assert all(r["params"]["token"] == fake.token for r in fake.requests)


def test_a_wrong_rdstation_token_is_a_final_refusal():
    crm = RdStationRecords(FakeRdStation().client(), "https://crm.rdstation.com/api/v1", RdStationSettings(token="no"))
    with pytest.raises(CrmRejected, match="Unauthorized"):
        crm.find_contact(PHONE)


# -- the generic signed webhook ---------------------------------------------------------------------

def webhook_answering(status: int, seen: list) -> httpx.Client:  # noqa: FBT001
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json={"message": f"answer {status}"})

    return httpx.Client(transport=httpx.MockTransport(handler))


def test_the_webhook_posts_the_event_signed_with_the_event_id_as_idempotency_key():
    seen: list[httpx.Request] = []
    settings = WebhookSettings(url="https://hook.us1.make.com/abc", secret="make-secret-0123456789",
                               headers={"x-n8n-auth": "header-credential"})
    event = lead_created(agent_id="default", first_message="Oi", **COMMON)

    receipt = SignedWebhookForwarder(webhook_answering(200, seen), settings).forward(event)

    request = seen[0]
    assert receipt == "HTTP 200"
    assert verify_webhook_signature(settings.secret, request.content, request.headers["x-piloto-signature-256"])
    assert request.headers["idempotency-key"] == request.headers["x-piloto-event-id"] == event.event_id
    assert request.headers["x-piloto-event-type"] == "LeadCreated"
    assert request.headers["x-n8n-auth"] == "header-credential"
    assert decode_event(request.content) == event
    assert json.loads(request.content)["schema_version"] == 1


@pytest.mark.parametrize(("status", "outcome"), [
    (202, "HTTP 202"), (409, "already had"), (429, CrmUnavailable), (503, CrmUnavailable),
    (400, CrmRejected), (401, CrmRejected), (410, CrmRejected), (302, CrmRejected),
])
def test_webhook_answers_map_to_delivered_retry_or_refused(status, outcome):
    forwarder = SignedWebhookForwarder(webhook_answering(status, []),
                                       WebhookSettings(url="https://hook.example.com/x", secret="s" * 16))
    event = lead_created(agent_id="default", **COMMON)
    if isinstance(outcome, str):
        assert outcome in forwarder.forward(event)
    else:
        with pytest.raises(outcome):
            forwarder.forward(event)


def test_an_unsafe_webhook_url_is_a_configuration_error_before_any_request():
    seen: list = []
    with pytest.raises(CrmMisconfigured):
        SignedWebhookForwarder(webhook_answering(200, seen), WebhookSettings(url="http://hook.example.com", secret="s" * 16))
    assert seen == []


# -- the fakes hold the providers' line (issue 20) ------------------------------------------------------

def test_the_hubspot_fake_search_misses_a_contact_created_seconds_ago():
    now = [1000.0]
    fake = FakeHubSpot(search_lag_seconds=5, clock=lambda: now[0])
    crm = hubspot(fake)
    contact_id = crm.create_contact({"name": "Ana"}, PHONE)

    assert crm.find_contact(PHONE) is None, "HubSpot's search index has not caught up"
    now[0] += 6
    assert crm.find_contact(PHONE) == contact_id


def test_the_rd_fake_ignores_a_filter_it_does_not_apply_and_the_adapter_wants_evidence():
    fake = FakeRdStation()
    fake.contacts["aa01"] = {"_id": "aa01", "id": "aa01", "name": "Outro", "emails": [], "deal_ids": [],
                             "phones": [{"phone": "+5521999990000", "type": "cellphone"}]}
    crm = RdStationRecords(fake.client(), "https://crm.rdstation.com/api/v1", RdStationSettings(token=fake.token))

    assert crm.find_contact(PHONE) is None
    listed = fake.calls("GET", "/api/v1/contacts")
    assert {c["params"].get("phone") for c in listed} == {PHONE, "+551187654321"}, "both ninth-digit forms asked"
    assert fake.route({"method": "GET", "path": "/api/v1/contacts", "params": {"phone": PHONE}, "json": None,
                       "headers": {}}).json()["contacts"][0]["id"] == "aa01", "the unapplied filter returns anyone"


def test_hubspot_update_conflicting_on_email_writes_the_rest_and_returns_a_remark():
    fake = FakeHubSpot()
    fake.contacts["1"] = {"phone": PHONE}
    fake.contacts["2"] = {"email": "dono@example.com"}
    crm = hubspot(fake, contact_properties={"monthly_bill": "conta_de_luz"})

    remark = crm.update_contact("1", {"email": "dono@example.com", "monthly_bill": 450})

    assert fake.contacts["1"] == {"phone": PHONE, "conta_de_luz": "450"}
    assert remark and "dono@example.com" in remark and "ID 2" in remark
