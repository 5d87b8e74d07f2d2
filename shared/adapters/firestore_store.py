"""Firestore adapter: tenants, channels, agents, conversation memory and the usage ledger.

Every path starts at tenants/{tenant_id}. The only cross-tenant read is the channel lookup, a
collection-group query on `channel_key`, because a webhook knows the number before it knows the tenant.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from pydantic import ValidationError

from shared.domain.catalog import CatalogItem
from shared.domain.conversation import Conversation, OutboundState, StoredMessage
from shared.domain.crm import FINAL_DELIVERY_STATES, CrmConfig, CrmDeliveryState, CrmKind, CrmLink, link_id
from shared.domain.config_document import config_problems, parse_config
from shared.domain.errors import (
    ChannelAlreadyRegistered,
    CrmMisconfigured,
    InvalidConfiguration,
    DeliveryInProgress,
    LeadSyncInProgress,
    InvalidPayload,
    MediaInProgress,
    TransientError,
    TurnInProgress,
)
from shared.domain.events import DomainEvent, decode_event
from shared.domain.followup import cadence_with_defaults
from shared.domain.inbound import DeliveryState, StatusUpdate
from shared.domain.media import MediaStatus, StoredMedia
from shared.domain.lead import LeadProfile
from shared.domain.meeting import MeetingRequest
from shared.domain.tenancy import AgentConfig, Channel, Tenant, agent_path, channel_key, channel_path, tenant_path
from shared.domain.usage import ModelCall
from shared.ports import DeliveryClaim, OutboxEntry, ReplyClaim, SendSlot

_client: firestore.Client | None = None
_client_lock = threading.Lock()

_DELIVERY_RANK = {
    OutboundState.GENERATING: 0,
    OutboundState.SENDING: 1,
    OutboundState.SENT: 2,
    OutboundState.DELIVERED: 3,
    OutboundState.READ: 4,
    OutboundState.FAILED: 5,
    OutboundState.REJECTED: 5,
    OutboundState.SUGGESTED: 5,
    OutboundState.UNCERTAIN: 5,
}
_DONE = {OutboundState.SENT, OutboundState.DELIVERED, OutboundState.READ, OutboundState.FAILED, OutboundState.REJECTED,
         OutboundState.SUGGESTED, OutboundState.UNCERTAIN}
# What a stalled or overloaded Firestore raises; the webhook answers these with 503 so the provider retries.
_UNAVAILABLE = (gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.InternalServerError, gexc.TooManyRequests,
                gexc.Aborted, gexc.RetryError)
# Compare-and-set attempts of one status update before giving up with 503 (the provider retries it).
_STATUS_CAS_ATTEMPTS = 6


def _deadline(seconds: float | None) -> dict[str, Any]:
    """Keyword arguments bounding one call: a single attempt that gives up after `seconds` (the caller's
    client retries — a provider re-delivering a webhook). None keeps the library's own retry and timeout."""
    return {} if seconds is None else {"timeout": seconds, "retry": None}


def firestore_client(project: str) -> firestore.Client:
    """One client per instance, created on first use (FIRESTORE_EMULATOR_HOST switches it to the emulator)."""
    global _client
    if _client is None:
        with _client_lock:
            if _client is None:
                _client = firestore.Client(project=project)
    return _client


def _tenant(db: firestore.Client, tenant_id: str) -> firestore.DocumentReference:
    return db.collection("tenants").document(tenant_id)


def _conversation(db: firestore.Client, tenant_id: str, conversation_id: str) -> firestore.DocumentReference:
    return _tenant(db, tenant_id).collection("conversations").document(conversation_id)


def _message(db: firestore.Client, tenant_id: str, conversation_id: str, message_id: str) -> firestore.DocumentReference:
    return _conversation(db, tenant_id, conversation_id).collection("messages").document(message_id)


class FirestoreChannelDirectory:
    """Channel and agent lookups, cached per instance: they change rarely and sit on the webhook's hot path."""

    def __init__(self, db: firestore.Client, cache_seconds: float = 60.0,
                 cadence_defaults: Mapping[str, Any] | None = None, call_timeout: float | None = None) -> None:
        self._db = db
        self._call = _deadline(call_timeout)
        self._ttl = cache_seconds
        self._cache: dict[str, tuple[float, Any]] = {}
        self._cadence_defaults = dict(cadence_defaults or {})

    def _cached(self, key: str, load: Any) -> Any:
        hit = self._cache.get(key)
        now = time.monotonic()
        if hit and now - hit[0] < self._ttl:
            return hit[1]
        value = load()
        self._cache[key] = (now, value)
        return value

    def find_channel(self, provider: str, channel_id: str) -> Channel | None:
        """The channel a number is registered to, inactive ones included (their messages are stored, not answered).

        The registry document names the one tenant that owns the number; no query can pick another tenant's
        document that happens to carry the same key. Raises InvalidConfiguration for an invalid channel document.
        """
        key = channel_key(provider, channel_id)
        if not _usable_id(key):
            return None

        def load() -> Channel | None:
            try:
                entry = self._db.collection(CHANNEL_REGISTRY).document(key).get(**self._call)
                if not entry.exists:
                    return None
                tenant_id = (entry.to_dict() or {}).get("tenant_id")
                if not isinstance(tenant_id, str) or not _usable_id(tenant_id):
                    raise InvalidConfiguration(f"{CHANNEL_REGISTRY}/{key}", ["tenant_id: not a tenant id"])
                snap = _tenant(self._db, tenant_id).collection("channels").document(key).get(**self._call)
            except _UNAVAILABLE as err:
                raise TransientError("firestore unavailable while looking up a channel") from err
            if not snap.exists:
                return None  # registered, but its tenant removed the channel document
            return parse_config(Channel, snap.to_dict(), channel_path(tenant_id, key))

        return self._cached(f"channel:{key}", load)

    def find_agent(self, tenant_id: str, agent_id: str) -> AgentConfig | None:
        """The agent's document, validated; None if there is none. Raises InvalidConfiguration if it is invalid."""
        def load() -> AgentConfig | None:
            try:
                snap = _tenant(self._db, tenant_id).collection("agents").document(agent_id).get(**self._call)
            except _UNAVAILABLE as err:
                raise TransientError("firestore unavailable while reading an agent") from err
            if not snap.exists:
                return None
            doc = {**(snap.to_dict() or {}), "agent_id": agent_id}
            if self._cadence_defaults:
                doc["followup"] = cadence_with_defaults(doc.get("followup"), self._cadence_defaults)
            return parse_config(AgentConfig, doc, agent_path(tenant_id, agent_id))

        return self._cached(f"agent:{tenant_id}:{agent_id}", load)

    def get_agent(self, tenant_id: str, agent_id: str) -> AgentConfig:
        """The agent, or the defaults when the tenant wrote no document for it."""
        agent = self.find_agent(tenant_id, agent_id)
        if agent is not None:
            return agent
        followup = cadence_with_defaults(None, self._cadence_defaults) if self._cadence_defaults else None
        return AgentConfig(agent_id=agent_id, **({"followup": followup} if followup else {}))

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        """The tenant's document, validated; None if there is none. Raises InvalidConfiguration if it is invalid."""
        def load() -> Tenant | None:
            try:
                snap = _tenant(self._db, tenant_id).get(**self._call)
            except _UNAVAILABLE as err:
                raise TransientError("firestore unavailable while reading a tenant") from err
            if not snap.exists:
                return None
            return parse_config(Tenant, snap.to_dict(), tenant_path(tenant_id))

        return self._cached(f"tenant:{tenant_id}", load)

    def save_channel(self, channel: Channel) -> None:
        """Register the number to this tenant and write its channel document, in one transaction.

        The registry document (channel_registry/{provider}:{channel_id}) is created with create(): a number
        registered to another tenant raises ChannelAlreadyRegistered and nothing is written. Saving a channel
        again for its own tenant (new credentials, another agent) just rewrites the channel document.
        """
        registry = self._db.collection(CHANNEL_REGISTRY).document(channel.key)
        ref = _tenant(self._db, channel.tenant_id).collection("channels").document(channel.key)

        @firestore.transactional
        def register(tx: firestore.Transaction) -> None:
            entry = registry.get(transaction=tx)
            if entry.exists:
                _same_owner_or_refuse(channel.key, entry.to_dict() or {}, channel.tenant_id)
            else:
                tx.create(registry, _registry_entry(channel))
            tx.set(ref, {**channel.model_dump(mode="json", exclude={"channel_key"}), "channel_key": channel.key})

        try:
            register(self._db.transaction())
        except gexc.Conflict as err:  # a concurrent registration created the entry first
            entry = registry.get()
            _same_owner_or_refuse(channel.key, entry.to_dict() or {}, channel.tenant_id)
            raise TransientError(f"{channel.key} was registered concurrently; save it again") from err
        self._cache.pop(f"channel:{channel.key}", None)

    def registered_channels(self) -> list[tuple[str, str]]:
        """(provider:channel_id, tenant id) of every registered number, for admin listings."""
        return [(snap.id, (snap.to_dict() or {}).get("tenant_id", "")) for snap in
                self._db.collection(CHANNEL_REGISTRY).order_by("__name__").stream()]

    def register_existing_channels(self) -> RegistryMigration:
        """Migration for channel documents written before the registry: register each one whose number no other
        tenant claims; report the numbers two tenants claim (an admin decides; nothing is picked for them)."""
        report = RegistryMigration()
        # Ordered by channel_key (every channel document carries it): the collection-group index Terraform keeps.
        for snap in self._db.collection_group("channels").order_by("channel_key").stream():
            tenant_id = snap.reference.parent.parent.id
            registry = self._db.collection(CHANNEL_REGISTRY).document(snap.id)
            try:
                registry.create({"tenant_id": tenant_id, "channel_key": snap.id,
                                 "registered_at": firestore.SERVER_TIMESTAMP, "registered_by": "migration"})
                report.registered.append(snap.id)
            except gexc.Conflict:
                owner = (registry.get().to_dict() or {}).get("tenant_id")
                if owner == tenant_id:
                    report.already.append(snap.id)
                else:
                    report.conflicts.append(f"{snap.id}: registered to {owner}, also claimed by {tenant_id}")
        return report


CHANNEL_REGISTRY = "channel_registry"  # the one global collection: which tenant owns each number


@dataclass
class RegistryMigration:
    registered: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)


def _usable_id(value: str) -> bool:
    """Firestore document id rules (https://firebase.google.com/docs/firestore/quotas): no '/', not '.' or '..',
    not __.*__, at most 1,500 bytes. Anything else is no document of ours (and would make the client raise)."""
    return (bool(value) and "/" not in value and value not in (".", "..")
            and not (value.startswith("__") and value.endswith("__")) and len(value.encode("utf-8", "replace")) <= 1500)


def _registry_entry(channel: Channel) -> dict[str, Any]:
    return {"tenant_id": channel.tenant_id, "channel_key": channel.key, "provider": channel.provider.value,
            "registered_at": firestore.SERVER_TIMESTAMP}


def _same_owner_or_refuse(key: str, entry: Mapping[str, Any], tenant_id: str) -> None:
    if entry.get("tenant_id") != tenant_id:
        raise ChannelAlreadyRegistered(f"{key} is already registered to another tenant; remove it there first")


class FirestoreConversationStore:
    """Conversation memory: tenants/{t}/conversations/{c} and its messages subcollection.

    `call_timeout` bounds the calls the webhook makes (one attempt each, TransientError past it), so a stalled
    Firestore is answered with 503 inside the provider's webhook timeout; None keeps the library defaults.
    """

    def __init__(self, db: firestore.Client, call_timeout: float | None = None) -> None:
        self._db = db
        self._call = _deadline(call_timeout)

    def record_inbound(self, tenant_id: str, conversation_id: str, message: StoredMessage) -> bool:
        ref = _message(self._db, tenant_id, conversation_id, message.message_id)
        try:
            # create() is the dedupe: the message write and the "seen before?" check are one operation.
            ref.create({**message.model_dump(mode="python", exclude_none=True), "stored_at": firestore.SERVER_TIMESTAMP},
                       **self._call)
        except gexc.Conflict:  # AlreadyExists is a Conflict subclass
            return False
        except _UNAVAILABLE as err:
            raise TransientError("firestore unavailable while storing an inbound message") from err
        return True

    def save_conversation(self, conversation: Conversation) -> None:
        try:
            _conversation(self._db, conversation.tenant_id, conversation.conversation_id).set(
                {**conversation.model_dump(mode="python", exclude_unset=True),
                 "updated_at": firestore.SERVER_TIMESTAMP},
                merge=True, **self._call,
            )
        except _UNAVAILABLE as err:
            raise TransientError("firestore unavailable while saving a conversation") from err

    def record_ignored(self, tenant_id: str, message_id: str, reason: str, message: StoredMessage,
                       contact_phone: str | None = None) -> None:
        ref = _tenant(self._db, tenant_id).collection("ignored_messages").document(message_id)
        try:
            ref.set({**message.model_dump(mode="python", exclude_none=True), "reason": reason,
                     **({"contact_phone": contact_phone} if contact_phone else {}),
                     "stored_at": firestore.SERVER_TIMESTAMP}, **self._call)
        except _UNAVAILABLE as err:
            raise TransientError("firestore unavailable while recording an ignored message") from err

    def get_conversation(self, tenant_id: str, conversation_id: str) -> Conversation | None:
        try:
            snap = _conversation(self._db, tenant_id, conversation_id).get(**self._call)
        except _UNAVAILABLE as err:
            raise TransientError("firestore unavailable while reading a conversation") from err
        return Conversation.model_validate(snap.to_dict()) if snap.exists else None

    def message_exists(self, tenant_id: str, conversation_id: str, message_id: str) -> bool:
        return _message(self._db, tenant_id, conversation_id, message_id).get(field_paths=["role"]).exists

    def get_message(self, tenant_id: str, conversation_id: str, message_id: str) -> StoredMessage | None:
        snap = _message(self._db, tenant_id, conversation_id, message_id).get()
        return StoredMessage.model_validate(snap.to_dict()) if snap.exists else None

    def get_learning_candidate(self, tenant_id: str, candidate_id: str) -> dict | None:
        snap = _tenant(self._db, tenant_id).collection("learned_candidates").document(candidate_id).get()
        return snap.to_dict() if snap.exists else None

    def record_failed_turn(self, tenant_id: str, conversation_id: str, reply_id: str, in_reply_to: str,
                           reason: str) -> None:
        # No stored_at: memory (ordered by stored_at) never shows a turn that produced no text.
        _message(self._db, tenant_id, conversation_id, reply_id).set(
            {"message_id": reply_id, "role": "agent", "state": OutboundState.FAILED.value, "in_reply_to": in_reply_to,
             "error": reason[:1000], "failed_at": firestore.SERVER_TIMESTAMP}, merge=True)

    def first_config_alert(self, tenant_id: str, path: str, problems: list[str]) -> bool:
        alert_id = hashlib.sha256("\x1f".join([path, *problems]).encode()).hexdigest()[:32]
        try:
            _tenant(self._db, tenant_id).collection("config_alerts").document(alert_id).create(
                {"path": path, "problems": problems, "at": firestore.SERVER_TIMESTAMP})
        except gexc.Conflict:
            return False
        return True

    def save_learning_candidate(self, tenant_id: str, candidate_id: str, candidate: dict) -> None:
        _tenant(self._db, tenant_id).collection("learned_candidates").document(candidate_id).set(
            {**candidate, "created_at": firestore.SERVER_TIMESTAMP}, merge=True)

    def recent_messages(self, tenant_id: str, conversation_id: str, limit: int,
                        after: datetime | None = None) -> list[StoredMessage]:
        messages_ref = _conversation(self._db, tenant_id, conversation_id).collection("messages")
        if after is not None:
            messages_ref = messages_ref.where(filter=FieldFilter("stored_at", ">", after))
        query = (
            messages_ref
            # Piloto's own clock orders memory: provider timestamps have second resolution and
            # would put a seller's reply before the bot's message sent in the same second.
            .order_by("stored_at", direction=firestore.Query.DESCENDING)
            .limit(limit)
        )
        messages = [StoredMessage.model_validate(snap.to_dict()) for snap in query.stream()]
        return list(reversed(messages))

    def claim_reply(
        self, tenant_id: str, conversation_id: str, reply_id: str, in_reply_to: str, now: datetime, lease_seconds: int
    ) -> ReplyClaim:
        ref = _message(self._db, tenant_id, conversation_id, reply_id)
        lease_until = now + timedelta(seconds=lease_seconds)

        @firestore.transactional
        def claim(tx: firestore.Transaction) -> ReplyClaim:
            snap = ref.get(transaction=tx)
            data = snap.to_dict() if snap.exists else None
            if data is not None:
                state = OutboundState(data["state"])
                call = ModelCall.model_validate(data["model_call"]) if data.get("model_call") else None
                if state in _DONE or state == OutboundState.SENDING:
                    return ReplyClaim(state=state, text=data.get("text"), model_call=call)
                if data["lease_until"] > now:
                    raise TurnInProgress(f"reply {reply_id} is being generated by another delivery")
            tx.set(ref, {"message_id": reply_id, "state": OutboundState.GENERATING.value, "in_reply_to": in_reply_to,
                         "lease_until": lease_until, "role": "agent"}, merge=True)
            return ReplyClaim(state=OutboundState.GENERATING, fresh=True)

        return claim(self._db.transaction())

    def save_generated_reply(
        self, tenant_id: str, conversation_id: str, reply_id: str, text: str, model_call: ModelCall | None,
        tool_calls: list[dict] | None = None, tier: str | None = None,
    ) -> None:
        _message(self._db, tenant_id, conversation_id, reply_id).update(
            {"state": OutboundState.SENDING.value, "text": text,
             "model_call": model_call.model_dump(mode="python") if model_call else None,
             "tool_calls": tool_calls or [], "tier": tier}
        )

    def save_suggestion(self, tenant_id: str, conversation_id: str, reply_id: str, suggestion: dict) -> None:
        conv_ref = _conversation(self._db, tenant_id, conversation_id)
        batch = self._db.batch()
        batch.set(conv_ref.collection("suggestions").document(reply_id),
                  {**suggestion, "status": "pending", "created_at": firestore.SERVER_TIMESTAMP})
        batch.update(conv_ref.collection("messages").document(reply_id), {"state": OutboundState.SUGGESTED.value})
        batch.commit()

    def latest_suggestion(self, tenant_id: str, conversation_id: str) -> tuple[str, dict] | None:
        query = (_conversation(self._db, tenant_id, conversation_id).collection("suggestions")
                 .order_by("created_at", direction=firestore.Query.DESCENDING).limit(1))
        try:
            snap = next(iter(query.stream(**self._call)), None)
        except _UNAVAILABLE as err:
            raise TransientError("firestore unavailable while reading the latest suggestion") from err
        return (snap.id, snap.to_dict() or {}) if snap is not None else None

    def mark_suggestion(self, tenant_id: str, conversation_id: str, suggestion_id: str, feedback: dict) -> None:
        try:
            _conversation(self._db, tenant_id, conversation_id).collection("suggestions").document(
                suggestion_id).update({**feedback, "judged_at": firestore.SERVER_TIMESTAMP}, **self._call)
        except _UNAVAILABLE as err:
            raise TransientError("firestore unavailable while judging a suggestion") from err

    def mark_reply_sent(
        self, tenant_id: str, conversation_id: str, reply_id: str, provider: str, provider_message_id: str,
        in_reply_to: str, at: datetime,
    ) -> None:
        conv_ref = _conversation(self._db, tenant_id, conversation_id)
        batch = self._db.batch()
        batch.update(
            conv_ref.collection("messages").document(reply_id),
            {"state": OutboundState.SENT.value, "provider": provider, "provider_message_id": provider_message_id,
             "sent_at": at, "stored_at": firestore.SERVER_TIMESTAMP, "kind": "text"},
        )
        batch.set(conv_ref, {"last_outbound_at": at, "last_replied_message_id": in_reply_to}, merge=True)
        batch.commit()

    def release_reply(self, tenant_id: str, conversation_id: str, reply_id: str) -> None:
        ref = _message(self._db, tenant_id, conversation_id, reply_id)
        snap = ref.get()
        if snap.exists and (snap.to_dict() or {}).get("state") == OutboundState.GENERATING.value:
            ref.delete(option=self._db.write_option(last_update_time=snap.update_time))

    def mark_reply_rejected(self, tenant_id: str, conversation_id: str, reply_id: str, reason: str) -> None:
        _message(self._db, tenant_id, conversation_id, reply_id).update(
            {"state": OutboundState.REJECTED.value, "error": reason[:500]}
        )

    def _find_by_provider_id(self, tenant_id: str, conversation_id: str, provider_message_id: str) -> Any:
        query = (
            _conversation(self._db, tenant_id, conversation_id)
            .collection("messages")
            .where(filter=FieldFilter("provider_message_id", "==", provider_message_id))
            .limit(1)
        )
        try:
            return next(iter(query.stream(**self._call)), None)
        except _UNAVAILABLE as err:
            raise TransientError("firestore unavailable while finding a message by its provider id") from err

    def is_own_outbound(self, tenant_id: str, conversation_id: str, provider_message_id: str) -> bool:
        snap = self._find_by_provider_id(tenant_id, conversation_id, provider_message_id)
        return snap is not None and (snap.to_dict() or {}).get("role") == "agent"

    def apply_status(self, tenant_id: str, conversation_id: str, status: StatusUpdate) -> bool:
        """A monotonic compare-and-set: read the state, write the later one on condition that the document has not
        changed since the read, re-read on conflict. Concurrent callbacks for one reply never wait on each other's
        locks (a transaction's retries ran out under contention); a status that is not forward writes nothing.
        After _STATUS_CAS_ATTEMPTS lost races, TransientError (503): the provider delivers the status again."""
        snap = self._find_by_provider_id(tenant_id, conversation_id, status.provider_message_id)
        if snap is None:
            return False
        new_state = OutboundState(status.state.value)
        ref = snap.reference
        try:
            for attempt in range(_STATUS_CAS_ATTEMPTS):
                if attempt:
                    time.sleep(random.uniform(0, 0.02 * 2**attempt))  # jitter: racing writers spread out
                    snap = ref.get(**self._call)
                current = OutboundState((snap.to_dict() or {}).get("state", "sent"))
                if not _moves_forward(current, new_state):
                    return True
                update: dict[str, Any] = {"state": new_state.value, f"status_at.{new_state.value}": status.at}
                if status.state == DeliveryState.FAILED and status.error:
                    update["error"] = status.error[:500]
                try:
                    ref.update(update, option=self._db.write_option(last_update_time=snap.update_time), **self._call)
                    return True
                except gexc.FailedPrecondition:
                    continue  # another callback wrote first: read again and decide again
        except _UNAVAILABLE as err:
            raise TransientError("firestore unavailable while applying a delivery status") from err
        raise TransientError(f"status {status.state.value} lost {_STATUS_CAS_ATTEMPTS} races on one message; "
                             "the provider will deliver it again")

    def begin_send(self, tenant_id: str, conversation_id: str, reply_id: str, max_attempts: int) -> SendSlot:
        """Record one more send attempt of a reply before the provider is called (transaction). Past max_attempts
        the reply is marked `uncertain` instead, by exactly one caller (newly_uncertain), who tells the seller."""
        ref = _message(self._db, tenant_id, conversation_id, reply_id)

        @firestore.transactional
        def record(tx: firestore.Transaction) -> SendSlot:
            data = ref.get(transaction=tx).to_dict() or {}
            if data.get("state") != OutboundState.SENDING.value:
                return SendSlot(attempt=None)
            attempts = int(data.get("send_attempts") or 0)
            if attempts >= max_attempts:
                tx.update(ref, {"state": OutboundState.UNCERTAIN.value, "uncertain_at": firestore.SERVER_TIMESTAMP,
                                "error": f"{attempts} send attempt(s) without a confirmed answer from the provider"})
                return SendSlot(attempt=None, newly_uncertain=True)
            tx.update(ref, {"send_attempts": attempts + 1, "last_send_attempt_at": firestore.SERVER_TIMESTAMP})
            return SendSlot(attempt=attempts + 1)

        try:
            return record(self._db.transaction())
        except _UNAVAILABLE as err:
            raise TransientError("firestore unavailable while recording a send attempt") from err


def _moves_forward(current: OutboundState, new: OutboundState) -> bool:
    """Providers deliver statuses out of order; 'read' must not fall back to 'delivered'."""
    return _DELIVERY_RANK[new] > _DELIVERY_RANK[current] or (
        new == OutboundState.FAILED and current not in (OutboundState.READ, OutboundState.FAILED))


class FirestoreFollowupStore:
    """The sweep's one cross-tenant read: a collection-group query on conversations' next_followup_at
    (needs the collection-group single-field index on conversations.next_followup_at, ascending)."""

    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    def due_followups(self, now: datetime, limit: int, after: Conversation | None = None) -> list[Conversation]:
        query = (self._db.collection_group("conversations")
                 .where(filter=FieldFilter("next_followup_at", "<=", now))
                 .order_by("next_followup_at").limit(limit))
        if after is not None:
            cursor = _conversation(self._db, after.tenant_id, after.conversation_id).get()
            if cursor.exists:
                query = query.start_after(cursor)
        try:
            snaps = list(query.stream())
        except (gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.InternalServerError) as err:
            raise TransientError("firestore unavailable while paging due follow-ups") from err
        due: list[Conversation] = []
        for snap in snaps:
            try:
                due.append(Conversation.model_validate(snap.to_dict()))
            except ValidationError:
                continue  # a hand-edited document; the sweep must not stop on it
        return due


class FirestoreUsageLedger:
    """tenants/{t}/model_calls/{auto}: one document per model call, queried and summed per agent or conversation."""

    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    def record_model_call(self, tenant_id: str, agent_id: str, conversation_id: str, call: ModelCall) -> None:
        _tenant(self._db, tenant_id).collection("model_calls").add(
            {**call.model_dump(mode="python"), "tenant_id": tenant_id, "agent_id": agent_id,
             "conversation_id": conversation_id, "at": firestore.SERVER_TIMESTAMP}
        )


class FirestoreMediaStore:
    """The media fields of a lead's message document; a lease keeps two deliveries of one task from paying twice."""

    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    def claim_media(self, tenant_id: str, conversation_id: str, message_id: str, now: datetime,
                    lease_seconds: int) -> StoredMessage | None:
        ref = _message(self._db, tenant_id, conversation_id, message_id)

        @firestore.transactional
        def claim(tx: firestore.Transaction) -> StoredMessage | None:
            snap = ref.get(transaction=tx)
            if not snap.exists:
                return None
            data = snap.to_dict() or {}
            message = StoredMessage.model_validate(data)
            if message.media_status is not MediaStatus.PENDING:
                return message
            lease = data.get("media_lease_until")
            if lease is not None and lease > now:
                raise MediaInProgress(f"media of {message_id} is being read by another delivery")
            tx.update(ref, {"media_lease_until": now + timedelta(seconds=lease_seconds)})
            return message

        try:
            return claim(self._db.transaction())
        except (gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.InternalServerError) as err:
            raise TransientError("firestore unavailable while claiming a media task") from err

    def save_media_file(self, tenant_id: str, conversation_id: str, message_id: str, stored: StoredMedia) -> None:
        _message(self._db, tenant_id, conversation_id, message_id).update(
            {"media_file": stored.model_dump(mode="python", exclude_none=True)})

    def finish_media(self, tenant_id: str, conversation_id: str, message_id: str, status: MediaStatus,
                     text: str | None, reason: str | None, call: ModelCall | None) -> None:
        update: dict[str, Any] = {"media_status": status.value, "media_lease_until": firestore.DELETE_FIELD,
                                  "media_processed_at": firestore.SERVER_TIMESTAMP}
        if text is not None:
            update["media_text"] = text
        if reason is not None:
            update["media_reason"] = reason[:500]
        if call is not None:
            update["media_model_call"] = call.model_dump(mode="python")
        _message(self._db, tenant_id, conversation_id, message_id).update(update)

    def release_media(self, tenant_id: str, conversation_id: str, message_id: str) -> None:
        _message(self._db, tenant_id, conversation_id, message_id).update({"media_lease_until": firestore.DELETE_FIELD})


class FirestoreLeadStore:
    """Leads (tenants/{t}/contacts/{contact}), the catalogue (tenants/{t}/catalog) and meeting requests."""

    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    def get_lead(self, tenant_id: str, contact_id: str) -> LeadProfile | None:
        snap = _tenant(self._db, tenant_id).collection("contacts").document(contact_id).get()
        return LeadProfile.model_validate(snap.to_dict()) if snap.exists else None

    def save_lead(self, tenant_id: str, contact_id: str, profile: LeadProfile) -> None:
        _tenant(self._db, tenant_id).collection("contacts").document(contact_id).set(
            {**profile.model_dump(mode="json"), "updated_at": firestore.SERVER_TIMESTAMP}, merge=True)

    def list_catalog(self, tenant_id: str, limit: int) -> list[CatalogItem]:
        query = _tenant(self._db, tenant_id).collection("catalog").limit(limit)
        return [CatalogItem.model_validate({**snap.to_dict(), "item_id": snap.id}) for snap in query.stream()]

    def record_meeting(self, tenant_id: str, meeting: MeetingRequest) -> bool:
        ref = _tenant(self._db, tenant_id).collection("meetings").document(meeting.meeting_id)
        try:
            ref.create({**asdict(meeting), "status": "requested"})
        except gexc.Conflict:
            return False
        return True


class FirestoreAnswerCache:
    """tenants/{t}/answer_cache/{key}; `expire_at` is also a Firestore TTL field, so stale entries disappear."""

    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    def content_version(self, tenant_id: str) -> str:
        from shared.adapters.content_versions import content_version

        return content_version(self._db, tenant_id)

    def get(self, tenant_id: str, key: str, now: datetime) -> str | None:
        snap = _tenant(self._db, tenant_id).collection("answer_cache").document(key).get()
        data = snap.to_dict() if snap.exists else None
        if not data or data["expire_at"] <= now:  # TTL deletion lags by up to a day: check it here too
            return None
        return data["answer"]

    def put(self, tenant_id: str, key: str, question: str, answer: str, expire_at: datetime,
            conversation_id: str | None = None) -> None:
        _tenant(self._db, tenant_id).collection("answer_cache").document(key).set(
            {"question": question[:500], "answer": answer, "expire_at": expire_at,
             "conversation_id": conversation_id, "created_at": firestore.SERVER_TIMESTAMP})


# -- Domain events and CRM sync (issue 7) ------------------------------------------------------------

_TRANSIENT = (gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.InternalServerError, gexc.TooManyRequests)


class FirestoreEventOutbox:
    """tenants/{t}/outbox/{event_id}: the event, its state (pending → published) and publish attempts.

    The drain reads pending events of every tenant with a collection-group query on (state, occurred_at,
    event_id): a composite index provisioned by Terraform. Published documents carry `expire_at` for TTL.
    """

    def __init__(self, db: firestore.Client, retention_days: int = 30) -> None:
        self._db = db
        self._retention = timedelta(days=retention_days)

    def _ref(self, event: DomainEvent) -> firestore.DocumentReference:
        return _tenant(self._db, event.tenant_id).collection("outbox").document(event.event_id)

    def record(self, event: DomainEvent) -> bool:
        try:
            self._ref(event).create({
                "event_id": event.event_id, "type": event.type, "tenant_id": event.tenant_id,
                "conversation_id": event.conversation_id, "contact_key": event.contact_key,
                "occurred_at": event.occurred_at, "recorded_at": firestore.SERVER_TIMESTAMP,
                "state": "pending", "attempts": 0, "event": event.model_dump(mode="json"),
            })
        except gexc.Conflict:
            return False
        except _TRANSIENT as err:
            raise TransientError("firestore unavailable while recording an event in the outbox") from err
        return True

    def is_published(self, event: DomainEvent) -> bool:
        snap = self._ref(event).get(field_paths=["state"])
        return snap.exists and (snap.to_dict() or {}).get("state") == "published"

    def has_older_pending(self, event: DomainEvent) -> bool:
        # Two equality filters need no composite index; a contact rarely has more than a handful pending.
        query = (_tenant(self._db, event.tenant_id).collection("outbox")
                 .where(filter=FieldFilter("contact_key", "==", event.contact_key))
                 .where(filter=FieldFilter("state", "==", "pending"))
                 .limit(20))
        mine = (event.occurred_at, event.event_id)
        for snap in query.stream():
            data = snap.to_dict() or {}
            if (data["occurred_at"], data["event_id"]) < mine:
                return True
        return False

    def mark_published(self, event: DomainEvent, message_id: str, at: datetime) -> None:
        self._ref(event).update({"state": "published", "pubsub_message_id": message_id, "published_at": at,
                                 "expire_at": at + self._retention})

    def mark_publish_failed(self, event: DomainEvent, error: str) -> None:
        self._ref(event).update({"attempts": firestore.Increment(1), "last_error": error[:500],
                                 "last_attempt_at": firestore.SERVER_TIMESTAMP})

    def pending(self, older_than: datetime, limit: int, after: DomainEvent | None = None) -> list[OutboxEntry]:
        query = (self._db.collection_group("outbox")
                 .where(filter=FieldFilter("state", "==", "pending"))
                 .where(filter=FieldFilter("occurred_at", "<=", older_than))
                 .order_by("occurred_at").order_by("event_id"))
        if after is not None:
            query = query.start_after({"occurred_at": after.occurred_at, "event_id": after.event_id})
        entries: list[OutboxEntry] = []
        for snap in query.limit(limit).stream():
            data = snap.to_dict() or {}
            try:
                entries.append(OutboxEntry(event=decode_event(data["event"]), attempts=data.get("attempts", 0)))
            except (InvalidPayload, KeyError) as err:
                # Kept, not deleted, but out of the drain's way: an operator decides what it was.
                snap.reference.update({"state": "unreadable", "last_error": str(err)[:500]})
        return entries


class FirestoreCrmStore:
    """The CRM side of a tenant: tenants/{t}/integrations/crm (configuration, cached per instance),
    tenants/{t}/crm_deliveries/{event_id} (one per event: the apply-once record) and
    tenants/{t}/crm_links/{kind}:{contact_key} (the CRM's ids for a lead)."""

    def __init__(self, db: firestore.Client, cache_seconds: float = 60.0, retention_days: int = 30) -> None:
        self._db = db
        self._ttl = cache_seconds
        self._retention = timedelta(days=retention_days)
        self._configs: dict[str, tuple[float, CrmConfig | None]] = {}

    def _delivery(self, tenant_id: str, delivery_id: str) -> firestore.DocumentReference:
        return _tenant(self._db, tenant_id).collection("crm_deliveries").document(delivery_id)

    def get_crm_config(self, tenant_id: str) -> CrmConfig | None:
        hit = self._configs.get(tenant_id)
        now = time.monotonic()
        if hit and now - hit[0] < self._ttl:
            return hit[1]
        snap = _tenant(self._db, tenant_id).collection("integrations").document("crm").get()
        try:
            config = CrmConfig.model_validate(snap.to_dict()) if snap.exists else None
        except ValidationError as err:
            problems = "; ".join(config_problems(err))
            raise CrmMisconfigured(f"tenants/{tenant_id}/integrations/crm: {problems}") from None
        self._configs[tenant_id] = (now, config)
        return config

    def save_crm_config(self, tenant_id: str, config: CrmConfig) -> None:
        """Admin/seed helper."""
        _tenant(self._db, tenant_id).collection("integrations").document("crm").set(config.model_dump(mode="json"))
        self._configs.pop(tenant_id, None)

    def claim_delivery(self, event: DomainEvent, crm: CrmKind, now: datetime, lease_seconds: int) -> DeliveryClaim:
        ref = self._delivery(event.tenant_id, event.event_id)

        @firestore.transactional
        def claim(tx: firestore.Transaction) -> DeliveryClaim:
            snap = ref.get(transaction=tx)
            data = snap.to_dict() if snap.exists else None
            if data is not None:
                state = CrmDeliveryState(data["state"])
                if state in FINAL_DELIVERY_STATES:
                    return DeliveryClaim(state=state)
                if data.get("lease_until") and data["lease_until"] > now:
                    raise DeliveryInProgress(f"event {event.event_id} is being delivered by another attempt")
            tx.set(ref, {"event_id": event.event_id, "type": event.type, "crm": crm.value,
                         "contact_key": event.contact_key, "state": CrmDeliveryState.DELIVERING.value,
                         "lease_until": now + timedelta(seconds=lease_seconds), "attempts": firestore.Increment(1),
                         "first_attempt_at": (data or {}).get("first_attempt_at", now)}, merge=True)
            return DeliveryClaim(state=CrmDeliveryState.DELIVERING, steps=(data or {}).get("steps", {}), fresh=True)

        try:
            return claim(self._db.transaction())
        except _TRANSIENT as err:
            raise TransientError("firestore unavailable while claiming a CRM delivery") from err

    def record_step(self, event: DomainEvent, step: str, value: str) -> None:
        self._delivery(event.tenant_id, event.event_id).update({f"steps.{step}": value})

    def finish_delivery(self, event: DomainEvent, state: CrmDeliveryState, detail: str, status: int | None = None) -> None:
        at = datetime.now(UTC)
        update: dict[str, Any] = {"state": state.value, "detail": detail[:1000], "finished_at": at,
                                  "lease_until": firestore.DELETE_FIELD, "expire_at": at + self._retention}
        if status is not None:
            update["http_status"] = status
        self._delivery(event.tenant_id, event.event_id).update(update)

    def release_delivery(self, event: DomainEvent, error: str) -> None:
        self._delivery(event.tenant_id, event.event_id).update(
            {"lease_until": firestore.DELETE_FIELD, "last_error": error[:1000],
             "last_attempt_at": firestore.SERVER_TIMESTAMP})

    def record_poison(self, tenant_id: str, message_id: str, attributes: Mapping[str, str], reason: str) -> None:
        at = datetime.now(UTC)
        self._delivery(tenant_id, f"poison-{message_id}").set({
            "state": CrmDeliveryState.POISON.value, "pubsub_message_id": message_id, "detail": reason[:1000],
            "attributes": {k: str(v)[:200] for k, v in attributes.items()}, "finished_at": at,
            "expire_at": at + self._retention})

    def get_link(self, tenant_id: str, crm: CrmKind, contact_key: str) -> CrmLink:
        snap = _tenant(self._db, tenant_id).collection("crm_links").document(link_id(crm, contact_key)).get()
        if not snap.exists:
            return CrmLink(contact_key=contact_key, crm=crm)
        return CrmLink.model_validate(snap.to_dict())

    def save_link(self, tenant_id: str, link: CrmLink) -> None:
        _tenant(self._db, tenant_id).collection("crm_links").document(link.doc_id).set(
            {**link.model_dump(mode="python"), "updated_at": firestore.SERVER_TIMESTAMP})

    def _lead_hold(self, tenant_id: str, crm: CrmKind, contact_key: str) -> firestore.DocumentReference:
        # Beside the link, not on it: save_link rewrites the link document whole.
        return _tenant(self._db, tenant_id).collection("crm_lead_holds").document(link_id(crm, contact_key))

    def hold_lead(self, tenant_id: str, crm: CrmKind, contact_key: str, holder: str, now: datetime,
                  lease_seconds: int) -> None:
        ref = self._lead_hold(tenant_id, crm, contact_key)

        @firestore.transactional
        def hold(tx: firestore.Transaction) -> None:
            snap = ref.get(transaction=tx)
            data = snap.to_dict() if snap.exists else None
            if data and data.get("holder") != holder and data.get("held_until") and data["held_until"] > now:
                raise LeadSyncInProgress(f"another event of lead {contact_key} is being applied to {crm.value}")
            until = now + timedelta(seconds=lease_seconds)
            # No expire_at: release deletes the document; one left by a crashed holder is reused by the next hold.
            tx.set(ref, {"holder": holder, "held_until": until})

        try:
            hold(self._db.transaction())
        except _TRANSIENT as err:
            raise TransientError("firestore unavailable while holding a lead for CRM sync") from err

    def release_lead(self, tenant_id: str, crm: CrmKind, contact_key: str, holder: str) -> None:
        ref = self._lead_hold(tenant_id, crm, contact_key)

        @firestore.transactional
        def release(tx: firestore.Transaction) -> None:
            snap = ref.get(transaction=tx)
            if snap.exists and (snap.to_dict() or {}).get("holder") == holder:
                tx.delete(ref)

        try:
            release(self._db.transaction())
        except _TRANSIENT:
            pass  # the lease expires by itself

    def _pause(self, tenant_id: str) -> firestore.DocumentReference:
        return _tenant(self._db, tenant_id).collection("integrations").document("crm_pause")

    def crm_paused_until(self, tenant_id: str) -> datetime | None:
        snap = self._pause(tenant_id).get()
        return (snap.to_dict() or {}).get("until") if snap.exists else None

    def pause_crm(self, tenant_id: str, until: datetime, reason: str) -> None:
        self._pause(tenant_id).set({"until": until, "reason": reason[:300], "paused_at": firestore.SERVER_TIMESTAMP})

class FirestoreApiKeyStore:
    """tenants/{t}/api_keys/{key_id}: {secret_hash, label, created_at, revoked_at}. Never the key itself."""

    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    def _ref(self, tenant_id: str, key_id: str) -> firestore.DocumentReference:
        return _tenant(self._db, tenant_id).collection("api_keys").document(key_id)

    def get_api_key(self, tenant_id: str, key_id: str) -> dict[str, Any] | None:
        snap = self._ref(tenant_id, key_id).get()
        return snap.to_dict() if snap.exists else None

    def save_api_key(self, tenant_id: str, key_id: str, secret_hash: str, label: str) -> None:
        self._ref(tenant_id, key_id).create({"key_id": key_id, "secret_hash": secret_hash, "label": label[:200],
                                             "created_at": firestore.SERVER_TIMESTAMP, "revoked_at": None})

    def revoke_api_key(self, tenant_id: str, key_id: str) -> bool:
        ref = self._ref(tenant_id, key_id)
        if not ref.get(field_paths=["key_id"]).exists:
            return False
        ref.update({"revoked_at": firestore.SERVER_TIMESTAMP})
        return True

    def list_api_keys(self, tenant_id: str) -> list[dict[str, Any]]:
        return [{k: v for k, v in (snap.to_dict() or {}).items() if k != "secret_hash"}
                for snap in _tenant(self._db, tenant_id).collection("api_keys").stream()]
