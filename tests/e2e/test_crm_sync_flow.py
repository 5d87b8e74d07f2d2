"""Domain events end to end: outbox → Pub/Sub emulator → push subscription → crm_sync under functions-framework →
the tenant's signed webhook (dev/crm_receiver.py). The lead's own WhatsApp message starts the first test."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from dev import payloads
from dev.stack import DEMO_META_APP_SECRET, EVENTS_TOPIC, PROJECT, LocalStack, wait_until
from shared.adapters.firestore_crm import FirestoreCrmStore
from shared.adapters.firestore_outbox import FirestoreEventOutbox
from shared.adapters.pubsub import PubSubEventPublisher
from shared.domain.crm import CrmConfig
from shared.domain.events import Contact, LeadQualified, encode_event, lead_created
from shared.services.events import EmitResult, EventDeps, emit
from tests.integration.test_event_outbox import publisher_to

pytestmark = pytest.mark.e2e


@pytest.fixture
def hook(stack: LocalStack, db, tenant):  # noqa: ANN001, ANN201
    """The tenant's CRM is a signed webhook on the local receiver."""
    assert stack.crm_receiver is not None
    hook = stack.crm_receiver.add_hook(secret=f"n8n-secret-{uuid.uuid4().hex}")
    FirestoreCrmStore(db).save_crm_config(tenant.tenant_id, CrmConfig(
        kind="webhook", webhook={"url": hook.url, "secret": hook.secret}))
    return hook


@pytest.fixture
def events(db) -> EventDeps:  # noqa: ANN001
    from google.cloud import pubsub_v1

    client = pubsub_v1.PublisherClient(publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=True))
    return EventDeps(outbox=FirestoreEventOutbox(db), publisher=PubSubEventPublisher(client, PROJECT, EVENTS_TOPIC, 10))


class Lead:
    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self.phone = "+55119" + str(uuid.uuid4().int)[:8]
        self.conversation = uuid.uuid4().hex[:24]

    def base(self, minutes: int = 0) -> dict:
        return {"tenant_id": self.tenant_id, "conversation_id": self.conversation, "channel_key": "meta:1",
                "contact": Contact(phone=self.phone, name="Carla"),
                "occurred_at": datetime.now(UTC) + timedelta(minutes=minutes)}

    def created(self):  # noqa: ANN201
        return lead_created(agent_id="default", first_message="Oi", **self.base())

    def qualified(self, minutes: int = 1):  # noqa: ANN201
        return LeadQualified(event_id=LeadQualified.make_id(self.tenant_id, uuid.uuid4().hex),
                             payload={"fields": {"monthly_bill": 450}, "score": 70}, **self.base(minutes))


def delivery(db, tenant_id: str, delivery_id: str) -> dict:  # noqa: ANN001
    ref = db.collection("tenants").document(tenant_id).collection("crm_deliveries").document(delivery_id)
    return ref.get().to_dict() or {}


def publish_raw(data: bytes, ordering_key: str, **attributes: str) -> None:
    from google.cloud import pubsub_v1

    client = pubsub_v1.PublisherClient(publisher_options=pubsub_v1.types.PublisherOptions(enable_message_ordering=True))
    client.publish(client.topic_path(PROJECT, EVENTS_TOPIC), data, ordering_key=ordering_key, **attributes).result(10)


def test_a_new_leads_first_whatsapp_message_reaches_the_tenants_webhook_as_a_signed_lead_created(
        stack, db, tenant, hook, lead_phone):
    payload = payloads.meta_text(tenant.meta_phone_number_id, lead_phone, "Mariana Souza", "wamid.CRM.1",
                                 "Oi, quero orçamento de energia solar")
    response = httpx.post(f"{stack.function_url('whatsapp_webhook')}meta",
                          content=(signed := payloads.signed_meta(payload, DEMO_META_APP_SECRET))[0], headers=signed[1])
    assert response.status_code == 200

    wait_until(lambda: len(hook.deliveries) == 1, 30, "LeadCreated at the webhook")
    [arrived] = hook.deliveries
    body = arrived["body"]
    assert arrived["signature_ok"] is True
    assert body["type"] == "LeadCreated" and body["schema_version"] == 1
    assert body["contact"] == {"phone": f"+{lead_phone}", "name": "Mariana Souza", "email": None}
    assert body["payload"]["first_message"] == "Oi, quero orçamento de energia solar"
    assert arrived["idempotency_key"] == body["event_id"] == arrived["headers"]["x-piloto-event-id"]
    wait_until(lambda: delivery(db, tenant.tenant_id, body["event_id"]).get("state") == "delivered", 20, "recorded")


def test_a_retried_event_still_arrives_before_the_contacts_later_events(db, tenant, hook, events):
    lead = Lead(tenant.tenant_id)
    hook.fail_next(1, status=503)

    assert emit(lead.created(), events) is EmitResult.PUBLISHED
    assert emit(lead.qualified(), events) is EmitResult.PUBLISHED

    wait_until(lambda: len(hook.deliveries) == 2, 30, "both events delivered")
    assert [(a["event_type"], a["status"]) for a in hook.attempts] == [
        ("LeadCreated", 503), ("LeadCreated", 200), ("LeadQualified", 200)]


def test_an_event_published_twice_reaches_the_crm_once(db, tenant, hook, events):
    lead = Lead(tenant.tenant_id)
    event = lead.created()
    publish_raw(encode_event(event), event.contact_key, event_id=event.event_id, tenant_id=tenant.tenant_id)
    publish_raw(encode_event(event), event.contact_key, event_id=event.event_id, tenant_id=tenant.tenant_id)
    later = lead.qualified()
    emit(later, events)  # same ordering key: handled only after both copies were

    wait_until(lambda: [d["body"]["type"] for d in hook.deliveries] == ["LeadCreated", "LeadQualified"], 30,
               "the event and the later one")
    assert [a["event_type"] for a in hook.attempts] == ["LeadCreated", "LeadQualified"], "no second POST"
    assert delivery(db, tenant.tenant_id, event.event_id)["attempts"] == 1


def test_a_permanent_refusal_is_recorded_with_the_receivers_message_and_not_retried(db, tenant, hook, events):
    lead = Lead(tenant.tenant_id)
    refused = lead.created()
    hook.fail_next(1, status=422, body={"message": "campo obrigatório ausente: email"})

    emit(refused, events)
    emit(lead.qualified(), events)

    wait_until(lambda: len(hook.deliveries) == 1, 30, "the later event")
    record = delivery(db, tenant.tenant_id, refused.event_id)
    assert record["state"] == "rejected" and record["http_status"] == 422
    assert "campo obrigatório ausente: email" in record["detail"]
    assert [a["event_type"] for a in hook.attempts] == ["LeadCreated", "LeadQualified"]


def test_a_receiver_that_checks_the_signature_refuses_events_signed_with_another_secret(db, tenant, hook, events):
    FirestoreCrmStore(db).save_crm_config(tenant.tenant_id, CrmConfig(
        kind="webhook", webhook={"url": hook.url, "secret": "not-the-receivers-secret"}))
    event = Lead(tenant.tenant_id).created()

    emit(event, events)

    wait_until(lambda: delivery(db, tenant.tenant_id, event.event_id).get("state") == "rejected", 30, "the refusal")
    assert hook.attempts[0]["signature_ok"] is False and hook.deliveries == []
    assert delivery(db, tenant.tenant_id, event.event_id)["http_status"] == 401


def test_a_poison_message_is_acknowledged_and_does_not_block_the_contacts_next_events(db, tenant, hook, events):
    lead = Lead(tenant.tenant_id)
    after = lead.created()
    publish_raw(b'{"type": "LeadCreated", "tenant_id": "' + tenant.tenant_id.encode() + b'"}', after.contact_key,
                tenant_id=tenant.tenant_id, event_type="LeadCreated")

    emit(after, events)

    wait_until(lambda: len(hook.deliveries) == 1, 30, "the event behind the poison message")
    poison = [d.to_dict() for d in db.collection("tenants").document(tenant.tenant_id)
              .collection("crm_deliveries").stream() if d.id.startswith("poison-")]
    assert len(poison) == 1 and poison[0]["state"] == "poison" and "not a domain event" in poison[0]["detail"]


def test_the_outbox_drain_function_publishes_what_pubsub_did_not_take(stack, db, tenant, hook):
    event = Lead(tenant.tenant_id).created()
    down = EventDeps(outbox=FirestoreEventOutbox(db), publisher=publisher_to(EVENTS_TOPIC, reachable=False))
    assert emit(event, down) is EmitResult.QUEUED

    response = httpx.post(stack.function_url("outbox_drain"), json={"min_age_seconds": 0}, timeout=60)

    assert response.status_code == 200 and response.json()["published"] >= 1
    wait_until(lambda: [d["body"]["event_id"] for d in hook.deliveries] == [event.event_id], 30, "the drained event")


@pytest.mark.parametrize("body", [b"{not json", json.dumps({"max_events": 0}).encode()])
def test_the_outbox_drain_refuses_a_bad_body_with_a_reason(stack, body):
    response = httpx.post(stack.function_url("outbox_drain"), content=body,
                          headers={"Content-Type": "application/json"}, timeout=30)
    assert response.status_code == 400 and response.json()["reason"]
