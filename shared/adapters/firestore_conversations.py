"""Conversation memory: tenants/{t}/conversations/{c}, its messages, suggestions and the reply lifecycle."""

from __future__ import annotations

import hashlib
import random
import time
from datetime import datetime, timedelta
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.adapters.firestore_client import _conversation, _deadline, _message, _tenant
from shared.adapters.google_errors import TRANSIENT_GOOGLE_ERRORS
from shared.domain.conversation import Conversation, OutboundState, StoredMessage
from shared.domain.errors import TransientError, TurnInProgress
from shared.domain.inbound import DeliveryState, StatusUpdate
from shared.domain.usage import ModelCall
from shared.ports import ReplyClaim, SendSlot

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
# Compare-and-set attempts of one status update before giving up with 503 (the provider retries it).
_STATUS_CAS_ATTEMPTS = 6


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
        except TRANSIENT_GOOGLE_ERRORS as err:
            raise TransientError("firestore unavailable while storing an inbound message") from err
        return True

    def save_conversation(self, conversation: Conversation) -> None:
        try:
            _conversation(self._db, conversation.tenant_id, conversation.conversation_id).set(
                {**conversation.model_dump(mode="python", exclude_unset=True),
                 "updated_at": firestore.SERVER_TIMESTAMP},
                merge=True, **self._call,
            )
        except TRANSIENT_GOOGLE_ERRORS as err:
            raise TransientError("firestore unavailable while saving a conversation") from err

    def record_ignored(self, tenant_id: str, message_id: str, reason: str, message: StoredMessage,
                       contact_phone: str | None = None) -> None:
        ref = _tenant(self._db, tenant_id).collection("ignored_messages").document(message_id)
        try:
            ref.set({**message.model_dump(mode="python", exclude_none=True), "reason": reason,
                     **({"contact_phone": contact_phone} if contact_phone else {}),
                     "stored_at": firestore.SERVER_TIMESTAMP}, **self._call)
        except TRANSIENT_GOOGLE_ERRORS as err:
            raise TransientError("firestore unavailable while recording an ignored message") from err

    def get_conversation(self, tenant_id: str, conversation_id: str) -> Conversation | None:
        try:
            snap = _conversation(self._db, tenant_id, conversation_id).get(**self._call)
        except TRANSIENT_GOOGLE_ERRORS as err:
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
        except TRANSIENT_GOOGLE_ERRORS as err:
            raise TransientError("firestore unavailable while reading the latest suggestion") from err
        return (snap.id, snap.to_dict() or {}) if snap is not None else None

    def mark_suggestion(self, tenant_id: str, conversation_id: str, suggestion_id: str, feedback: dict) -> None:
        try:
            _conversation(self._db, tenant_id, conversation_id).collection("suggestions").document(
                suggestion_id).update({**feedback, "judged_at": firestore.SERVER_TIMESTAMP}, **self._call)
        except TRANSIENT_GOOGLE_ERRORS as err:
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
        except TRANSIENT_GOOGLE_ERRORS as err:
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
        except TRANSIENT_GOOGLE_ERRORS as err:
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
        except TRANSIENT_GOOGLE_ERRORS as err:
            raise TransientError("firestore unavailable while recording a send attempt") from err


def _moves_forward(current: OutboundState, new: OutboundState) -> bool:
    """Providers deliver statuses out of order; 'read' must not fall back to 'delivered'."""
    return _DELIVERY_RANK[new] > _DELIVERY_RANK[current] or (
        new == OutboundState.FAILED and current not in (OutboundState.READ, OutboundState.FAILED))
