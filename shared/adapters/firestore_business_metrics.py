"""Firestore adapter of the business metrics: reads a tenant's stored facts, writes its daily rollups.

Reads stay inside one tenant (tenants/{t}/...). Every query is a single-field range or equality, served
by Firestore's automatic indexes: conversations by last_inbound_at / last_outbound_at, messages by
stored_at, outbox by occurred_at, model_calls by at.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from pydantic import ValidationError

from shared.domain.audit import AuditMessage, ConversationAudit
from shared.domain.business_metrics import (
    AgentClock,
    ConversationFacts,
    CostFact,
    DailyRollup,
    EventFact,
    MessageFact,
)
from shared.domain.config_document import parse_config
from shared.domain.followup import cadence_with_defaults
from shared.domain.tenancy import AgentConfig, Channel, Tenant
from shared.services.audits import QuietConversation

# A conversation's messages read per day window; an SMB's busiest conversation stays far below it.
_MESSAGES_PER_CONVERSATION = 2000


class FirestoreBusinessFacts:
    """The facts a rollup is computed from."""

    def __init__(self, db: firestore.Client, followup_defaults: dict | None = None) -> None:
        self._db = db
        self._followup_defaults = followup_defaults or {}

    def _tenant(self, tenant_id: str) -> firestore.DocumentReference:
        return self._db.collection("tenants").document(tenant_id)

    def active_tenants(self) -> list[str]:
        return [snap.id for snap in self._db.collection("tenants").stream()
                if (snap.to_dict() or {}).get("active", True) is not False]

    def tenant_exists(self, tenant_id: str) -> bool:
        return self._tenant(tenant_id).get().exists

    def tenant(self, tenant_id: str) -> Tenant | None:
        snap = self._tenant(tenant_id).get()
        if not snap.exists:
            return None
        return parse_config(Tenant, {**(snap.to_dict() or {}), "tenant_id": tenant_id}, f"tenants/{tenant_id}")

    def channels(self, tenant_id: str) -> list[Channel]:
        return [Channel.model_validate(snap.to_dict()) for snap in self._tenant(tenant_id).collection("channels").stream()]

    def unanswered_questions(self, tenant_id: str, since: datetime, until: datetime) -> list[str]:
        """The open question of each conversation handed off in the period (conversations.paused_at)."""
        query = (self._tenant(tenant_id).collection("conversations")
                 .where(filter=FieldFilter("paused_at", ">=", since)).where(filter=FieldFilter("paused_at", "<", until)))
        return [q for snap in query.stream() if (q := (snap.to_dict() or {}).get("handoff_question"))]

    def human_conversations(self, tenant_id: str, since: datetime, limit: int) -> list[QuietConversation]:
        query = (self._tenant(tenant_id).collection("conversations")
                 .where(filter=FieldFilter("paused_at", ">=", since)).limit(limit))
        return [QuietConversation(tenant_id=tenant_id, conversation_id=snap.id,
                                  agent_id=(snap.to_dict() or {}).get("agent_id") or "default")
                for snap in query.stream()]

    def audit_messages(self, tenant_id: str, conversation_id: str, limit: int) -> list[AuditMessage]:
        query = (self._tenant(tenant_id).collection("conversations").document(conversation_id).collection("messages")
                 .order_by("stored_at", direction=firestore.Query.DESCENDING).limit(limit))
        messages = []
        for snap in query.stream():
            data = snap.to_dict() or {}
            if data.get("stored_at") is None or data.get("state") in ("suggested", "failed", "rejected"):
                continue  # copilot drafts and undelivered replies never reached the lead
            text = data.get("text") or data.get("media_text") or (f"[{data.get('kind')}]" if data.get("kind") else "")
            messages.append(AuditMessage(role=data.get("role", "lead"), at=data["stored_at"], text=text,
                                         seller=data.get("seller")))
        return list(reversed(messages))

    def agent_clocks(self, tenant_id: str) -> list[AgentClock]:
        clocks = []
        for snap in self._tenant(tenant_id).collection("agents").stream():
            data = snap.to_dict() or {}
            data["followup"] = cadence_with_defaults(data.get("followup"), self._followup_defaults)
            try:
                zone = AgentConfig.model_validate({**data, "agent_id": snap.id}).followup.time_zone
            except ValidationError:
                zone = "America/Sao_Paulo"  # an invalid agent still has numbers; its turns report the error
            clocks.append(AgentClock(agent_id=snap.id, time_zone=zone))
        return clocks

    def conversations(self, tenant_id: str, since: datetime, until: datetime) -> list[ConversationFacts]:
        collection = self._tenant(tenant_id).collection("conversations")
        found: dict[str, dict[str, Any]] = {}
        for field_name in ("last_inbound_at", "last_outbound_at"):
            for snap in collection.where(filter=FieldFilter(field_name, ">=", since)).stream():
                found[snap.id] = snap.to_dict() or {}
        return [self._conversation_facts(collection.document(cid), cid, data, since, until)
                for cid, data in found.items()]

    def _conversation_facts(self, ref: firestore.DocumentReference, conversation_id: str, data: dict[str, Any],
                            since: datetime, until: datetime) -> ConversationFacts:
        messages_ref = ref.collection("messages")
        query = (messages_ref.where(filter=FieldFilter("stored_at", ">=", since))
                 .where(filter=FieldFilter("stored_at", "<", until))
                 .order_by("stored_at").limit(_MESSAGES_PER_CONVERSATION))
        messages = [fact for snap in query.stream() if (fact := _message_fact(snap.to_dict() or {})) is not None]
        earlier = messages_ref.where(filter=FieldFilter("stored_at", "<", since)).limit(1).get()
        return ConversationFacts(conversation_id=conversation_id, agent_id=data.get("agent_id") or "default",
                                 messages=messages, began_before=bool(earlier))

    def events(self, tenant_id: str, since: datetime, until: datetime) -> list[EventFact]:
        query = (self._tenant(tenant_id).collection("outbox")
                 .where(filter=FieldFilter("occurred_at", ">=", since))
                 .where(filter=FieldFilter("occurred_at", "<", until)))
        facts = []
        for snap in query.stream():
            data = snap.to_dict() or {}
            payload = (data.get("event") or {}).get("payload") or {}
            facts.append(EventFact(type=data.get("type", ""), occurred_at=data["occurred_at"],
                                   conversation_id=data.get("conversation_id", ""),
                                   contact_key=data.get("contact_key", ""),
                                   requested_by=payload.get("requested_by"), reason=payload.get("reason")))
        return facts

    def model_costs(self, tenant_id: str, since: datetime, until: datetime) -> list[CostFact]:
        query = (self._tenant(tenant_id).collection("model_calls")
                 .where(filter=FieldFilter("at", ">=", since)).where(filter=FieldFilter("at", "<", until)))
        return [CostFact(agent_id=d.get("agent_id") or "default", at=d["at"], cost_usd=d.get("cost_usd"))
                for d in (snap.to_dict() or {} for snap in query.stream()) if d.get("at") is not None]


def _message_fact(data: dict[str, Any]) -> MessageFact | None:
    at = data.get("stored_at")
    if at is None:
        return None  # written before stored_at existed, or a server timestamp not yet resolved
    model_call = data.get("model_call") or {}
    followup = data.get("tier") == "template" or model_call.get("purpose") == "followup"
    return MessageFact(role=data.get("role", "lead"), at=at, state=data.get("state"), followup=followup)


class FirestoreRollupStore:
    """tenants/{t}/daily_metrics/{agent}:{YYYY-MM-DD} and tenants/{t}/daily_metrics_sealed/{agent}:{day}."""

    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    def _collection(self, tenant_id: str, name: str) -> firestore.CollectionReference:
        return self._db.collection("tenants").document(tenant_id).collection(name)

    def save_rollup(self, tenant_id: str, rollup: DailyRollup) -> None:
        body = rollup.model_dump(mode="json")
        body["updated_at"] = firestore.SERVER_TIMESTAMP
        self._collection(tenant_id, "daily_metrics").document(_rollup_id(rollup.agent_id, rollup.day)).set(body)

    def rollups(self, tenant_id: str, start: date, end: date) -> list[DailyRollup]:
        query = (self._collection(tenant_id, "daily_metrics")
                 .where(filter=FieldFilter("day", ">=", start.isoformat()))
                 .where(filter=FieldFilter("day", "<=", end.isoformat())))
        return [DailyRollup.model_validate(snap.to_dict()) for snap in query.stream()]

    def seal(self, tenant_id: str, agent_id: str, day: date) -> bool:
        try:
            self._collection(tenant_id, "daily_metrics_sealed").document(_rollup_id(agent_id, day)).create(
                {"agent_id": agent_id, "day": day.isoformat(), "sealed_at": firestore.SERVER_TIMESTAMP})
        except gexc.Conflict:
            return False
        return True


def _rollup_id(agent_id: str, day: date) -> str:
    return f"{agent_id}:{day.isoformat()}"


class FirestoreDigestLog:
    """tenants/{t}/digests/{YYYY-Www}: claimed with create() before the send, so a week's digest goes once."""

    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    def _ref(self, tenant_id: str, week_id: str) -> firestore.DocumentReference:
        return self._db.collection("tenants").document(tenant_id).collection("digests").document(week_id)

    def claim(self, tenant_id: str, week_id: str) -> bool:
        try:
            self._ref(tenant_id, week_id).create({"state": "sending", "claimed_at": firestore.SERVER_TIMESTAMP})
        except gexc.Conflict:
            return False
        return True

    def release(self, tenant_id: str, week_id: str) -> None:
        self._ref(tenant_id, week_id).delete()

    def finish(self, tenant_id: str, week_id: str, outcome: str, detail: str) -> None:
        self._ref(tenant_id, week_id).update({"state": outcome, "detail": detail,
                                              "finished_at": firestore.SERVER_TIMESTAMP})


class FirestoreAuditStore:
    """tenants/{t}/audits/{audit_id} (create(): one per conversation and last message) and review candidates."""

    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    def _tenant(self, tenant_id: str) -> firestore.DocumentReference:
        return self._db.collection("tenants").document(tenant_id)

    def audit_exists(self, tenant_id: str, audit_id: str) -> bool:
        return self._tenant(tenant_id).collection("audits").document(audit_id).get().exists

    def create_audit(self, tenant_id: str, audit: ConversationAudit) -> bool:
        body = {**audit.model_dump(mode="python"), "average_score": audit.average_score,
                "created_at": firestore.SERVER_TIMESTAMP}
        try:
            self._tenant(tenant_id).collection("audits").document(audit.audit_id).create(body)
        except gexc.Conflict:
            return False
        return True

    def audits_of_week(self, tenant_id: str, week: str) -> list[ConversationAudit]:
        query = self._tenant(tenant_id).collection("audits").where(filter=FieldFilter("week", "==", week))
        return [ConversationAudit.model_validate(snap.to_dict()) for snap in query.stream()]

    def save_candidate(self, tenant_id: str, candidate_id: str, candidate: dict) -> None:
        """Never overwrites a candidate an admin already decided on."""
        ref = self._tenant(tenant_id).collection("learned_candidates").document(candidate_id)
        try:
            ref.create({**candidate, "created_at": firestore.SERVER_TIMESTAMP})
        except gexc.Conflict:
            pass
