"""emit and the outbox drain on the real Firestore and Pub/Sub emulators: nothing lost, order kept per contact."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from dev.stack import PROJECT
from shared.adapters.firestore_outbox import FirestoreEventOutbox
from shared.adapters.pubsub import PubSubEventPublisher
from shared.domain.events import Contact, LeadStageChanged, decode_event, lead_created
from shared.services.events import EmitResult, EventDeps, drain_outbox, emit

pytestmark = pytest.mark.emulators


@pytest.fixture
def topic(stack):  # noqa: ANN001, ANN201
    """A topic of this test's own with an ordered pull subscription, so nothing else reads or writes it."""
    from google.cloud import pubsub_v1

    name = f"events-{uuid.uuid4().hex[:10]}"
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    topic_path = publisher.create_topic(name=publisher.topic_path(PROJECT, name)).name
    subscription = subscriber.create_subscription(request={
        "name": subscriber.subscription_path(PROJECT, f"{name}-pull"), "topic": topic_path,
        "enable_message_ordering": True}).name
    return name, subscriber, subscription


def pull(subscriber, subscription: str, at_least: int) -> list:  # noqa: ANN001
    """Pull (and acknowledge) until `at_least` messages came; with 0, whatever one pull finds."""
    from google.api_core import exceptions as gexc

    received: list = []
    for _ in range(6):
        try:
            response = subscriber.pull(request={"subscription": subscription, "max_messages": 50}, timeout=5)
        except gexc.DeadlineExceeded:
            response = None
        if response and response.received_messages:
            subscriber.acknowledge(request={"subscription": subscription,
                                            "ack_ids": [m.ack_id for m in response.received_messages]})
            received += [m.message for m in response.received_messages]
        if len(received) >= at_least:
            break
    return received


def publisher_to(topic_name: str, reachable: bool = True) -> PubSubEventPublisher:  # noqa: FBT001, FBT002
    from google.cloud import pubsub_v1
    from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport

    options = pubsub_v1.types.PublisherOptions(enable_message_ordering=True)
    if reachable:
        client = pubsub_v1.PublisherClient(publisher_options=options)
    else:  # Pub/Sub down: nothing listens on port 9
        transport = PublisherGrpcTransport(channel=grpc.insecure_channel("127.0.0.1:9"))
        client = pubsub_v1.PublisherClient(transport=transport, publisher_options=options)
    return PubSubEventPublisher(client, PROJECT, topic_name, timeout_seconds=1.0 if not reachable else 10.0)


def new_lead(tenant_id: str, phone: str | None = None, minutes_ago: int = 5):  # noqa: ANN201
    phone = phone or "+55119" + str(uuid.uuid4().int)[:8]
    return lead_created(tenant_id=tenant_id, conversation_id=uuid.uuid4().hex[:24], channel_key="meta:1",
                        contact=Contact(phone=phone, name="Ana"), agent_id="default", first_message="Oi",
                        occurred_at=datetime.now(UTC) - timedelta(minutes=minutes_ago))


def outbox_doc(db, event) -> dict:  # noqa: ANN001
    return db.collection("tenants").document(event.tenant_id).collection("outbox").document(event.event_id).get().to_dict()


def test_an_event_is_recorded_once_and_published_with_the_contact_as_ordering_key(db, tenant, topic):
    name, subscriber, subscription = topic
    deps = EventDeps(outbox=FirestoreEventOutbox(db), publisher=publisher_to(name))
    event = new_lead(tenant.tenant_id)

    assert emit(event, deps) is EmitResult.PUBLISHED
    assert emit(event, deps) is EmitResult.ALREADY_PUBLISHED

    [message] = pull(subscriber, subscription, 1)
    assert decode_event(message.data) == event
    assert message.ordering_key == event.contact_key
    assert dict(message.attributes) == {"event_id": event.event_id, "event_type": "LeadCreated",
                                        "tenant_id": tenant.tenant_id, "schema_version": "1"}
    doc = outbox_doc(db, event)
    assert doc["state"] == "published" and doc["pubsub_message_id"] == message.message_id
    assert doc["expire_at"] > doc["published_at"], "published events expire (Firestore TTL)"
    assert pull(subscriber, subscription, 0) == [], "the second emit published nothing"


def test_an_event_pubsub_did_not_take_stays_in_the_outbox_until_the_drain_publishes_it(db, tenant, topic):
    name, subscriber, subscription = topic
    outbox = FirestoreEventOutbox(db)
    event = new_lead(tenant.tenant_id)

    assert emit(event, EventDeps(outbox=outbox, publisher=publisher_to(name, reachable=False))) is EmitResult.QUEUED
    pending = outbox_doc(db, event)
    assert pending["state"] == "pending" and pending["attempts"] == 1 and "did not take" in pending["last_error"]

    outcome = drain_outbox(EventDeps(outbox=outbox, publisher=publisher_to(name)), max_events=100, page_size=10,
                           min_age_seconds=0, time_budget_seconds=60)

    assert outcome.published >= 1 and outcome.failed == 0
    assert [decode_event(m.data).event_id for m in pull(subscriber, subscription, 1)
            if m.attributes["tenant_id"] == tenant.tenant_id] == [event.event_id]
    assert outbox_doc(db, event)["state"] == "published"


def test_a_later_event_waits_behind_an_unpublished_one_of_the_same_contact_and_the_drain_keeps_the_order(db, tenant, topic):
    name, subscriber, subscription = topic
    outbox = FirestoreEventOutbox(db)
    up, down = EventDeps(outbox=outbox, publisher=publisher_to(name)), \
        EventDeps(outbox=outbox, publisher=publisher_to(name, reachable=False))
    created = new_lead(tenant.tenant_id, minutes_ago=3)
    stage = LeadStageChanged(event_id=LeadStageChanged.make_id(tenant.tenant_id, "s1"), payload={"to_stage": "meeting"},
                             **created.model_dump(exclude={"event_id", "type", "payload", "occurred_at"}),
                             occurred_at=created.occurred_at + timedelta(minutes=1))
    someone_else = new_lead(tenant.tenant_id, minutes_ago=2)

    assert emit(created, down) is EmitResult.QUEUED
    assert emit(stage, up) is EmitResult.QUEUED, "publishing it now would overtake the lead's LeadCreated"
    assert emit(someone_else, up) is EmitResult.PUBLISHED, "other contacts are not held up"

    drain_outbox(up, max_events=100, page_size=1, min_age_seconds=0, time_budget_seconds=60)

    mine = [decode_event(m.data) for m in pull(subscriber, subscription, 3) if m.attributes["tenant_id"] == tenant.tenant_id]
    ordered = [e.type for e in mine if e.contact_key == created.contact_key]
    assert ordered == ["LeadCreated", "LeadStageChanged"]
    assert {outbox_doc(db, e)["state"] for e in (created, stage, someone_else)} == {"published"}


def test_the_drain_stops_at_its_event_budget_and_says_more_are_left(db, tenant, topic):
    name, subscriber, subscription = topic
    outbox = FirestoreEventOutbox(db)
    down = EventDeps(outbox=outbox, publisher=publisher_to(name, reachable=False))
    events = [new_lead(tenant.tenant_id, minutes_ago=10 - i) for i in range(3)]
    for event in events:
        emit(event, down)
    up = EventDeps(outbox=outbox, publisher=publisher_to(name))

    first = drain_outbox(up, max_events=2, page_size=1, min_age_seconds=0, time_budget_seconds=60)
    rest = drain_outbox(up, max_events=100, page_size=10, min_age_seconds=0, time_budget_seconds=60)

    assert (first.published, first.more) == (2, True)
    assert rest.published >= 1 and not rest.more
    assert {outbox_doc(db, e)["state"] for e in events} == {"published"}


def test_the_drain_leaves_events_younger_than_its_minimum_age_to_emit(db, tenant, topic):
    name, _, _ = topic
    outbox = FirestoreEventOutbox(db)
    fresh = new_lead(tenant.tenant_id, minutes_ago=0)
    emit(fresh, EventDeps(outbox=outbox, publisher=publisher_to(name, reachable=False)))

    drain_outbox(EventDeps(outbox=outbox, publisher=publisher_to(name)), max_events=100, page_size=10,
                 min_age_seconds=300, time_budget_seconds=60)

    assert outbox_doc(db, fresh)["state"] == "pending"
    drain_outbox(EventDeps(outbox=outbox, publisher=publisher_to(name)), max_events=100, page_size=10,
                 min_age_seconds=0, time_budget_seconds=60)
    assert outbox_doc(db, fresh)["state"] == "published"
