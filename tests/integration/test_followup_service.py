"""The follow-up turn and the sweep on the real Firestore emulator and the real Cloud Tasks emulator, with the
clock injected (a Monday in March 2027: the tasks it creates are far in the future and never fire here)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from dev.seed import DemoTenant
from shared.adapters.cloud_tasks import CloudTasksFollowupQueue, CloudTasksScheduler, tasks_client
from shared.adapters.firestore_channels import FirestoreChannelDirectory
from shared.adapters.firestore_conversations import FirestoreConversationStore
from shared.adapters.firestore_followups import FirestoreFollowupStore
from shared.adapters.firestore_usage import FirestoreUsageLedger
from shared.domain.conversation import Conversation, InboundDisposition, Role, StoredMessage
from shared.domain.errors import ProviderSendError
from shared.domain.ids import conversation_id, inbound_message_id
from shared.domain.inbound import Provider
from shared.domain.tenancy import Channel, channel_key
from shared.ports import FollowupRequest
from shared.services.followup import FollowupDeps, run_followup, schedule_after_reply, sweep_due_followups
from tests.fakes import RecordingSender, ScriptedModel

pytestmark = pytest.mark.emulators
MONDAY_10H_SP = datetime(2027, 3, 1, 13, 0, tzinfo=UTC)  # 10:00 in São Paulo (UTC-3)
TIERS = {"lite": "gemini-lite", "standard": "gemini-standard", "advanced": "gemini-advanced"}


@dataclass
class TemplateRecordingSender(RecordingSender):
    """The Meta send API's two calls; the request bodies themselves are checked in test_provider_meta_cloud."""

    templates: list[tuple[str, str, str, list[str]]] = field(default_factory=list)

    def send_template(self, channel: Channel, to_phone: str, name: str, language: str, params: list[str]) -> str:
        self.templates.append((to_phone, name, language, params))
        return f"wamid.TEMPLATE{len(self.templates)}"


@dataclass
class SpyQueue:
    """The real Cloud Tasks queue, with the calls kept so a test can read when each task is due."""

    real: CloudTasksFollowupQueue
    calls: list[tuple[FollowupRequest, datetime, str]] = field(default_factory=list)

    def schedule_followup(self, request: FollowupRequest, at: datetime, attempt_key: str = "") -> bool:
        self.calls.append((request, at, attempt_key))
        return self.real.schedule_followup(request, at, attempt_key)


class World:
    def __init__(self, stack, db, tenant: DemoTenant, provider: str = "meta") -> None:  # noqa: ANN001
        env = stack.client_env()
        scheduler = CloudTasksScheduler(tasks_client(env["TASKS_EMULATOR_HOST"]), env["GOOGLE_CLOUD_PROJECT"],
                                        env["REGION"], None)
        self.queue = SpyQueue(CloudTasksFollowupQueue(scheduler, "followups", stack.function_url("followup_turn")))
        self.sender = TemplateRecordingSender()
        self.model = ScriptedModel(["Oi Mariana! Conseguiu ver a simulação do kit de 4 kWp? Posso reservar a visita?"])
        self.now = MONDAY_10H_SP
        self.store = FirestoreConversationStore(db)
        self.deps = FollowupDeps(directory=FirestoreChannelDirectory(db, cache_seconds=0), store=self.store,
                                 queue=self.queue, clock=lambda: self.now, model=self.model, tiers=TIERS,
                                 sender_for=lambda _: self.sender, ledger=FirestoreUsageLedger(db),
                                 due=FirestoreFollowupStore(db))
        self.tenant, self.db = tenant, db
        channel = tenant.meta_phone_number_id if provider == "meta" else tenant.zapi_instance
        self.key = channel_key(provider, channel)
        self.phone = "+55119" + str(uuid.uuid4().int)[:8]
        self.conv = conversation_id(self.key, self.phone)
        self.tenant_ref = db.collection("tenants").document(tenant.tenant_id)

    def cadence(self, **fields: object) -> None:
        self.tenant_ref.collection("agents").document("default").set(
            {"followup": {"enabled": True, **fields}}, merge=True)

    def lead_said(self, text: str, at: datetime) -> str:
        message_id = inbound_message_id("x", "y", uuid.uuid4().hex)
        self.store.record_inbound(self.tenant.tenant_id, self.conv, StoredMessage(
            message_id=message_id, role=Role.LEAD, text=text, provider=Provider.META, contact_name="Mariana",
            sent_at=at, disposition=InboundDisposition.QUEUED))
        self.store.save_conversation(Conversation(
            conversation_id=self.conv, tenant_id=self.tenant.tenant_id, channel_key=self.key, agent_id="default",
            contact_phone=self.phone, contact_name="Mariana", last_inbound_message_id=message_id,
            last_inbound_at=at))
        return message_id

    def state(self) -> dict:
        return self.tenant_ref.collection("conversations").document(self.conv).get().to_dict() or {}

    def due_request(self) -> FollowupRequest:
        request, _, _ = self.queue.calls[-1]
        return request


def test_a_due_step_inside_the_window_is_written_by_the_model_recorded_and_the_next_one_planned(stack, db, tenant):
    world = World(stack, db, tenant)
    world.cadence()
    anchor = world.lead_said("Quanto sai o kit de 4 kWp?", MONDAY_10H_SP - timedelta(minutes=5))

    due = schedule_after_reply(tenant.tenant_id, world.conv, anchor, MONDAY_10H_SP, world.deps)
    assert due == MONDAY_10H_SP + timedelta(hours=1)
    world.now = due
    result = run_followup(world.due_request(), world.deps)

    assert result.outcome == "sent" and "simulação" in (result.text or "")
    assert [text for _, _, text in world.sender.sent] == [result.text]
    assert "has not answered" in world.model.prompts[0].system and world.model.prompts[0].purpose == "followup"
    state = world.state()
    assert state["followup_step"] == 1 and state["next_followup_at"] == due + timedelta(days=1)
    calls = [c.to_dict() for c in world.tenant_ref.collection("model_calls").stream()]
    assert [c["conversation_id"] for c in calls] == [world.conv]


def test_a_step_firing_at_night_is_deferred_to_the_morning_without_sending(stack, db, tenant):
    world = World(stack, db, tenant)
    world.cadence()
    anchor = world.lead_said("Oi", MONDAY_10H_SP)
    schedule_after_reply(tenant.tenant_id, world.conv, anchor, MONDAY_10H_SP, world.deps)
    world.now = datetime(2027, 3, 1, 23, 30, tzinfo=UTC)  # 20:30 in São Paulo

    result = run_followup(world.due_request(), world.deps)

    assert result.outcome == "deferred" and world.sender.sent == []
    tuesday_9h = datetime(2027, 3, 2, 12, 0, tzinfo=UTC)
    assert result.next_at == tuesday_9h and world.state()["next_followup_at"] == tuesday_9h
    assert world.queue.calls[-1][1] == tuesday_9h and world.queue.calls[-1][2], "a re-schedule has its own name"


def test_outside_the_24_hour_window_meta_gets_the_approved_template_and_no_model_call(stack, db, tenant):
    world = World(stack, db, tenant)
    world.cadence(steps=[{"delay_minutes": 60}, {"delay_minutes": 2 * 24 * 60, "template": {
        "name": "retomar_conversa", "language": "pt_BR", "params": ["{contact_name}", "{business_name}"]}}])
    anchor = world.lead_said("Vou pensar", MONDAY_10H_SP)
    schedule_after_reply(tenant.tenant_id, world.conv, anchor, MONDAY_10H_SP, world.deps)
    world.now = MONDAY_10H_SP + timedelta(hours=1)
    run_followup(world.due_request(), world.deps)
    world.now = MONDAY_10H_SP + timedelta(days=2, hours=1)  # Wednesday: 49 h after the lead's last message

    result = run_followup(world.due_request(), world.deps)

    assert result.outcome == "template_sent"
    assert world.sender.templates == [(world.phone, "retomar_conversa", "pt_BR", ["Mariana", "Solar Prime Energia"])]
    assert len(world.model.prompts) == 1, "only the first, in-window step called the model"
    assert world.state()["followup_step"] == 2


def test_outside_the_window_a_gateway_skips_the_step_by_default(stack, db, tenant):
    world = World(stack, db, tenant, provider="zapi")
    world.cadence()
    anchor = world.lead_said("Oi", MONDAY_10H_SP - timedelta(days=2))
    schedule_after_reply(tenant.tenant_id, world.conv, anchor, MONDAY_10H_SP, world.deps)
    world.now = MONDAY_10H_SP + timedelta(hours=1)

    result = run_followup(world.due_request(), world.deps)

    assert result.outcome == "skipped" and world.sender.sent == [] and world.state()["followup_step"] == 1


def test_a_conversation_a_human_took_over_gets_no_follow_up(stack, db, tenant):
    world = World(stack, db, tenant)
    world.cadence()
    anchor = world.lead_said("Oi", MONDAY_10H_SP)
    schedule_after_reply(tenant.tenant_id, world.conv, anchor, MONDAY_10H_SP, world.deps)
    world.tenant_ref.collection("conversations").document(world.conv).set({"bot_paused": True}, merge=True)
    world.now = MONDAY_10H_SP + timedelta(hours=1)

    assert run_followup(world.due_request(), world.deps).outcome == "human"
    assert world.sender.sent == []


def test_the_sweep_closes_an_exhausted_cadence_and_reschedules_a_lost_task(stack, db, tenant):
    exhausted, lost = World(stack, db, tenant), World(stack, db, tenant)
    exhausted.cadence(steps=[{"delay_minutes": 60}])
    for world in (exhausted, lost):
        anchor = world.lead_said("Oi", MONDAY_10H_SP - timedelta(days=10))
        schedule_after_reply(tenant.tenant_id, world.conv, anchor, MONDAY_10H_SP - timedelta(days=10), world.deps)
    exhausted.tenant_ref.collection("conversations").document(exhausted.conv).set({"followup_step": 1}, merge=True)
    lost.now = exhausted.now = MONDAY_10H_SP

    report = sweep_due_followups(lost.deps, page_size=1, max_pages=50, grace_seconds=300)

    assert report.closed >= 1 and report.scheduled >= 1 and report.pages >= 2
    assert exhausted.state()["closed"] is True and exhausted.state().get("next_followup_at") is None
    request, at, _ = lost.queue.calls[-1]
    assert (request.conversation_id, request.step, at) == (lost.conv, 0, MONDAY_10H_SP)
    before = len(lost.queue.calls)
    sweep_due_followups(lost.deps, page_size=100, max_pages=5, grace_seconds=300)
    assert exhausted.conv not in [r.conversation_id for r, _, _ in lost.queue.calls[before:]], "closed stays closed"


def test_a_follow_up_whose_send_answers_are_lost_is_sent_a_bounded_number_of_times(stack, db, tenant):
    world = World(stack, db, tenant)
    world.cadence()
    world.deps.max_send_attempts = 2
    anchor = world.lead_said("Quanto sai o kit de 4 kWp?", MONDAY_10H_SP - timedelta(minutes=5))
    world.now = schedule_after_reply(tenant.tenant_id, world.conv, anchor, MONDAY_10H_SP, world.deps)
    request = world.due_request()
    attempts: list[str] = []

    class LostAnswers(TemplateRecordingSender):  # the request reaches Meta; its answer never comes back
        def send_text(self, channel: Channel, to_phone: str, text: str) -> str:
            attempts.append(text)
            raise ProviderSendError("meta", 0, "request timed out (ReadTimeout)")

    world.sender = LostAnswers()
    outcomes = []
    for _ in range(6):  # Cloud Tasks redeliveries
        try:
            outcomes.append(run_followup(request, world.deps).outcome)
        except ProviderSendError:
            outcomes.append("retry")

    assert len(attempts) == 2 and outcomes[:3] == ["retry", "retry", "uncertain"]
    assert len(world.model.prompts) == 1  # written once, never re-paid
