"""receive_webhook under abuse and bad days, on the real Firestore and Cloud Tasks emulators: batches bounded
and de-duplicated, concurrent status callbacks, a stalled Firestore answered with 503 inside the deadline."""

from __future__ import annotations

import copy
import os
import socket
import threading
import time
import uuid
from datetime import UTC, datetime

import pytest

from dev import payloads
from dev.seed import DemoTenant
from dev.stack import DEMO_META_APP_SECRET, PROJECT, REGION
from functions.http_errors import RETRY_AFTER_SECONDS, json_errors, status_for
from shared.adapters.cloud_tasks import CloudTasksScheduler, CloudTasksTurnQueue, tasks_client
from shared.adapters.firestore_channels import FirestoreChannelDirectory
from shared.adapters.firestore_conversations import FirestoreConversationStore
from shared.bootstrap import webhook_for
from shared.domain.conversation import OutboundState
from shared.domain.errors import BatchTooLarge, DeadlinePassed, MissingSignature, TransientError
from shared.domain.ids import conversation_id
from shared.domain.inbound import DeliveryState, Provider, StatusUpdate
from shared.domain.tenancy import channel_key
from shared.ports import RawRequest, TurnRequest, WebhookSecrets
from shared.services.inbound import InboundDeps, receive_webhook

pytestmark = pytest.mark.emulators


class CountingTurns:
    """The real Cloud Tasks turn queue, counting how often the webhook asked it for a task."""

    def __init__(self, inner: CloudTasksTurnQueue) -> None:
        self.inner = inner
        self.calls = 0

    def enqueue_turn(self, turn: TurnRequest, delay_seconds: float) -> None:
        self.calls += 1
        self.inner.enqueue_turn(turn, delay_seconds)


class NoDirectory:
    """A channel directory that must not be reached."""

    def find_channel(self, provider: str, channel_id: str):  # noqa: ANN201
        raise AssertionError("the channel was looked up before the credentials were checked")

    def get_agent(self, tenant_id: str, agent_id: str):  # noqa: ANN201
        raise AssertionError("unexpected")


@pytest.fixture
def turns(stack) -> CountingTurns:  # noqa: ANN001
    scheduler = CloudTasksScheduler(tasks_client(stack.client_env()["TASKS_EMULATOR_HOST"]), PROJECT, REGION, None)
    # Tasks point at a closed port: this test counts creations, it does not run turns.
    return CountingTurns(CloudTasksTurnQueue(scheduler, "agent-turns", "http://127.0.0.1:9/"))


def make_deps(db, turns, **overrides) -> InboundDeps:  # noqa: ANN001
    fields = dict(directory=FirestoreChannelDirectory(db, cache_seconds=0), store=FirestoreConversationStore(db),
                  turns=turns, webhook_for=webhook_for, secrets=WebhookSecrets(meta_app_secret=DEMO_META_APP_SECRET),
                  debounce_seconds=60)
    fields.update(overrides)
    return InboundDeps(**fields)


def meta_request(payload: dict) -> RawRequest:
    body, headers = payloads.signed_meta(payload, DEMO_META_APP_SECRET)
    return RawRequest(method="POST", path="/meta", headers={k.lower(): v for k, v in headers.items()}, query={},
                      body=body)


def messages_ref(db, tenant: DemoTenant, phone: str):  # noqa: ANN001, ANN201
    conv = conversation_id(channel_key("meta", tenant.meta_phone_number_id), f"+{phone}")
    return (db.collection("tenants").document(tenant.tenant_id).collection("conversations").document(conv)
            .collection("messages"))


def batch_of(tenant: DemoTenant, phone: str, wamids: list[str]) -> dict:
    payload = payloads.meta_text(tenant.meta_phone_number_id, phone, "Mariana", wamids[0], "Oi")
    value = payload["entry"][0]["changes"][0]["value"]
    template = value["messages"][0]
    value["messages"] = [{**copy.deepcopy(template), "id": wamid} for wamid in wamids]
    return payload


def test_a_signed_batch_repeating_one_message_writes_it_once_and_asks_for_one_task(db, tenant, lead_phone, turns):
    outcome = receive_webhook(Provider.META, meta_request(batch_of(tenant, lead_phone, ["wamid.REPEAT"] * 50)),
                              make_deps(db, turns))

    assert (outcome.queued, outcome.duplicates) == (1, 0)
    assert turns.calls == 1
    assert [snap.id for snap in messages_ref(db, tenant, lead_phone).stream()] != []
    assert len(list(messages_ref(db, tenant, lead_phone).stream())) == 1


def test_a_batch_over_the_limit_is_refused_with_413_before_anything_is_written(db, tenant, lead_phone, turns):
    wamids = [f"wamid.MANY.{i}" for i in range(11)]

    with pytest.raises(BatchTooLarge, match="carries 11 .* the limit is 10") as refused:
        receive_webhook(Provider.META, meta_request(batch_of(tenant, lead_phone, wamids)),
                        make_deps(db, turns, max_batch_items=10))

    assert status_for(refused.value) == 413
    assert turns.calls == 0
    assert list(messages_ref(db, tenant, lead_phone).stream()) == []
    # At the limit, all are stored.
    outcome = receive_webhook(Provider.META, meta_request(batch_of(tenant, lead_phone, wamids[:10])),
                              make_deps(db, turns, max_batch_items=10))
    assert outcome.queued == 10


def test_zapi_without_a_token_is_refused_before_the_body_is_parsed_or_a_channel_read(turns):
    request = RawRequest(method="POST", path="/zapi", headers={}, query={}, body=b'{"instanceId": ["not json')

    with pytest.raises(MissingSignature):
        receive_webhook(Provider.ZAPI, request, make_deps(None, turns, directory=NoDirectory(), store=None))


def test_concurrent_status_callbacks_for_one_reply_end_in_the_latest_state_and_never_fail_unexpectedly(db):
    store = FirestoreConversationStore(db)
    tenant_id, conv = f"t-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    reply = (db.collection("tenants").document(tenant_id).collection("conversations").document(conv)
             .collection("messages").document("r1"))
    reply.set({"message_id": "r1", "role": "agent", "state": "sent", "provider_message_id": "wamid.OUT.1"})
    states = [DeliveryState.DELIVERED, DeliveryState.READ, DeliveryState.SENT] * 8
    unexpected: list[BaseException] = []
    retry_later: list[TransientError] = []
    start = threading.Barrier(len(states))

    def callback(state: DeliveryState) -> None:
        update = StatusUpdate(provider=Provider.META, channel_id="1", provider_message_id="wamid.OUT.1", state=state,
                              recipient_phone="+5511987654321", at=datetime.now(UTC))
        start.wait()
        try:
            store.apply_status(tenant_id, conv, update)
        except TransientError as err:  # 503: the provider delivers it again
            retry_later.append(err)
        except BaseException as err:  # noqa: BLE001 - exactly what this test looks for
            unexpected.append(err)

    threads = [threading.Thread(target=callback, args=(state,)) for state in states]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert unexpected == []
    assert reply.get().to_dict()["state"] == OutboundState.READ.value
    assert len(retry_later) <= len(states) // 4  # contention is absorbed, not passed on wholesale


def test_a_status_that_lost_a_race_reads_again_and_never_moves_the_state_back(db):
    """The compare-and-set path, made deterministic: a 'read' lands between the 'delivered' callback's read and
    its write. The emulator refuses the stale write (precondition on update_time); the callback reads again and,
    'delivered' being behind 'read', writes nothing."""
    tenant_id, conv = f"t-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    reply = (db.collection("tenants").document(tenant_id).collection("conversations").document(conv)
             .collection("messages").document("r1"))
    reply.set({"message_id": "r1", "role": "agent", "state": "sent", "provider_message_id": "wamid.OUT.2"})

    class RacedStore(FirestoreConversationStore):
        def _find_by_provider_id(self, tenant_id: str, conversation_id: str, provider_message_id: str):  # noqa: ANN202
            snap = super()._find_by_provider_id(tenant_id, conversation_id, provider_message_id)
            reply.update({"state": "read"})  # the concurrent callback wins after our read
            return snap

    def status(state: DeliveryState) -> StatusUpdate:
        return StatusUpdate(provider=Provider.META, channel_id="1", provider_message_id="wamid.OUT.2", state=state,
                            recipient_phone="+5511987654321", at=datetime.now(UTC))

    assert RacedStore(db).apply_status(tenant_id, conv, status(DeliveryState.DELIVERED)) is True
    assert reply.get().to_dict()["state"] == "read"
    assert "status_at" not in reply.get().to_dict()  # the stale write never landed


@pytest.fixture
def stalled_firestore():
    """A port that accepts connections and never answers: a Firestore that stalls, reached through the real
    client library (HTTP/2 preface sent, nothing comes back)."""
    from google.cloud import firestore

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def swallow() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    threading.Thread(target=swallow, daemon=True).start()
    previous = os.environ.get("FIRESTORE_EMULATOR_HOST")
    os.environ["FIRESTORE_EMULATOR_HOST"] = f"127.0.0.1:{server.getsockname()[1]}"
    try:
        client = firestore.Client(project=PROJECT)
    finally:
        if previous is None:
            os.environ.pop("FIRESTORE_EMULATOR_HOST")
        else:
            os.environ["FIRESTORE_EMULATOR_HOST"] = previous
    yield client
    stop.set()
    for conn in accepted:
        conn.close()
    server.close()


def test_a_stalled_firestore_is_answered_with_503_inside_the_deadline_and_nothing_is_acknowledged(
        db, tenant, lead_phone, turns, stalled_firestore):
    deps = make_deps(db, turns, store=FirestoreConversationStore(stalled_firestore, call_timeout=0.5),
                     deadline_seconds=1.0)
    started = time.monotonic()

    with pytest.raises(TransientError) as stalled:
        receive_webhook(Provider.META, meta_request(batch_of(tenant, lead_phone, ["wamid.STALL.1"])), deps)

    assert time.monotonic() - started < 2.5  # the library's own retries would wait ~60 s
    assert status_for(stalled.value) == 503
    assert list(messages_ref(db, tenant, lead_phone).stream()) == []  # nothing stored, nothing acknowledged


def test_a_stalled_channel_lookup_is_a_503_too(turns, stalled_firestore):
    deps = make_deps(None, turns, directory=FirestoreChannelDirectory(stalled_firestore, cache_seconds=0,
                                                                      call_timeout=0.5), store=None)
    payload = payloads.meta_text("123456789", "5511987654321", "Mariana", "wamid.STALL.2", "Oi")
    started = time.monotonic()

    with pytest.raises(TransientError):
        receive_webhook(Provider.META, meta_request(payload), deps)
    assert time.monotonic() - started < 2.5


def test_a_request_past_its_deadline_stops_before_the_next_call(db, tenant, lead_phone, turns):
    ticks = iter([0.0, 0.1, 0.2, 5.0, 5.1, 5.2])
    deps = make_deps(db, turns, deadline_seconds=1.0, monotonic=lambda: next(ticks))
    wamids = ["wamid.LATE.1", "wamid.LATE.2"]

    with pytest.raises(DeadlinePassed):
        receive_webhook(Provider.META, meta_request(batch_of(tenant, lead_phone, wamids)), deps)

    stored = [snap.to_dict()["provider_message_id"] for snap in messages_ref(db, tenant, lead_phone).stream()]
    assert stored == ["wamid.LATE.1"]  # what was stored stays; the provider's retry finds it as a duplicate


def test_a_503_carries_retry_after():
    @json_errors
    def stalled() -> tuple[dict, int]:
        raise DeadlinePassed("firestore did not answer")

    body, status, headers = stalled()
    assert status == 503 and headers == {"Retry-After": str(RETRY_AFTER_SECONDS)}
    assert body["error"] == "DeadlinePassed"
