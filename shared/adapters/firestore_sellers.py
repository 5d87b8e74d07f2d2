"""The seller's desk in Firestore: tenants/{t}/seller_messages, seller_refs, sellers (window, held alerts) and
style_examples. Every path is under the tenant."""

from __future__ import annotations

from datetime import datetime, timedelta

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from shared.adapters.google_errors import TRANSIENT_GOOGLE_ERRORS
from shared.domain.conversation import Conversation
from shared.domain.errors import TransientError, TurnInProgress
from shared.domain.seller_desk import ref_code


class FirestoreSellerStore:
    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    def _tenant(self, tenant_id: str) -> firestore.DocumentReference:
        return self._db.collection("tenants").document(tenant_id)

    def record_seller_message(self, tenant_id: str, message_id: str, message: dict) -> bool:
        ref = self._tenant(tenant_id).collection("seller_messages").document(message_id)
        try:
            ref.create({**message, "state": "received", "stored_at": firestore.SERVER_TIMESTAMP})
        except gexc.Conflict:
            return False
        except TRANSIENT_GOOGLE_ERRORS as err:
            raise TransientError("firestore unavailable while storing a seller message") from err
        return True

    def claim_seller_message(self, tenant_id: str, message_id: str, now: datetime, lease_seconds: int) -> dict | None:
        ref = self._tenant(tenant_id).collection("seller_messages").document(message_id)

        @firestore.transactional
        def claim(tx: firestore.Transaction) -> dict | None:
            snap = ref.get(transaction=tx)
            if not snap.exists:
                raise TransientError("the seller message is not stored yet")
            data = snap.to_dict() or {}
            if data.get("state") == "handled":
                return None
            if data.get("state") == "handling" and data.get("lease_until") and data["lease_until"] > now:
                raise TurnInProgress(f"seller message {message_id} is being handled by another delivery")
            tx.update(ref, {"state": "handling", "lease_until": now + timedelta(seconds=lease_seconds)})
            return data

        return claim(self._db.transaction())

    def release_seller_message(self, tenant_id: str, message_id: str) -> None:
        self._tenant(tenant_id).collection("seller_messages").document(message_id).update(
            {"state": "received", "lease_until": None})

    def finish_seller_message(self, tenant_id: str, message_id: str, outcome: str) -> None:
        self._tenant(tenant_id).collection("seller_messages").document(message_id).update(
            {"state": "handled", "outcome": outcome[:500], "handled_at": firestore.SERVER_TIMESTAMP})

    def save_ref(self, tenant_id: str, code: str, ref: dict) -> str:
        refs = self._tenant(tenant_id).collection("seller_refs")
        target = ref["target"]
        for length in range(len(code), 9):
            candidate = code if length == len(code) else ref_code(target, length=length)
            doc = refs.document(candidate)
            try:
                doc.create({**ref, "code": candidate, "provider_message_ids": [],
                            "created_at": firestore.SERVER_TIMESTAMP})
                return candidate
            except gexc.Conflict:
                existing = doc.get().to_dict() or {}
                if existing.get("target") == target:  # the same thing again (a retry): same code
                    doc.set(ref, merge=True)
                    return candidate
        raise TransientError("no free reference code")  # 31^8 codes: never in practice

    def get_ref(self, tenant_id: str, code: str) -> dict | None:
        snap = self._tenant(tenant_id).collection("seller_refs").document(code.upper()).get()
        return snap.to_dict() if snap.exists else None

    def find_ref_by_provider_id(self, tenant_id: str, provider_message_id: str) -> dict | None:
        query = (self._tenant(tenant_id).collection("seller_refs")
                 .where(filter=FieldFilter("provider_message_ids", "array_contains", provider_message_id)).limit(1))
        snap = next(iter(query.stream()), None)
        return snap.to_dict() if snap is not None else None

    def attach_provider_id(self, tenant_id: str, code: str, provider_message_id: str) -> None:
        self._tenant(tenant_id).collection("seller_refs").document(code).update(
            {"provider_message_ids": firestore.ArrayUnion([provider_message_id])})

    def _seller(self, tenant_id: str, seller_key: str) -> firestore.DocumentReference:
        return self._tenant(tenant_id).collection("sellers").document(seller_key)

    def get_seller_state(self, tenant_id: str, seller_key: str) -> dict:
        snap = self._seller(tenant_id, seller_key).get()
        return snap.to_dict() or {} if snap.exists else {}

    def save_seller_state(self, tenant_id: str, seller_key: str, fields: dict) -> None:
        self._seller(tenant_id, seller_key).set(fields, merge=True)

    def hold_alert(self, tenant_id: str, seller_key: str, alert_id: str, alert: dict, state: str = "held") -> None:
        self._seller(tenant_id, seller_key).collection("held_alerts").document(alert_id).set(
            {**alert, "state": state, f"{state}_at": firestore.SERVER_TIMESTAMP}, merge=True)

    def requeue_alert(self, tenant_id: str, seller_key: str, provider_message_id: str) -> bool:
        query = (self._seller(tenant_id, seller_key).collection("held_alerts")
                 .where(filter=FieldFilter("provider_message_id", "==", provider_message_id)).limit(1))
        snap = next(iter(query.stream()), None)
        if snap is None:
            return False
        snap.reference.update({"state": "held", "requeued_at": firestore.SERVER_TIMESTAMP})
        return True

    def held_alerts(self, tenant_id: str, seller_key: str) -> list[tuple[str, dict]]:
        query = (self._seller(tenant_id, seller_key).collection("held_alerts")
                 .where(filter=FieldFilter("state", "==", "held")).limit(20))
        alerts = [(snap.id, snap.to_dict() or {}) for snap in query.stream()]
        return sorted(alerts, key=lambda item: item[1].get("created_at") or datetime.min)

    def mark_alert_delivered(self, tenant_id: str, seller_key: str, alert_id: str, provider_message_id: str) -> None:
        self._seller(tenant_id, seller_key).collection("held_alerts").document(alert_id).update(
            {"state": "delivered", "provider_message_id": provider_message_id,
             "delivered_at": firestore.SERVER_TIMESTAMP})

    def style_examples(self, tenant_id: str, agent_id: str) -> list[dict]:
        snap = self._tenant(tenant_id).collection("style_examples").document(agent_id).get()
        return list((snap.to_dict() or {}).get("examples", [])) if snap.exists else []

    def add_style_example(self, tenant_id: str, agent_id: str, example: dict, keep: int) -> None:
        ref = self._tenant(tenant_id).collection("style_examples").document(agent_id)

        @firestore.transactional
        def add(tx: firestore.Transaction) -> None:
            snap = ref.get(transaction=tx)
            examples = list((snap.to_dict() or {}).get("examples", [])) if snap.exists else []
            examples = [e for e in examples if e.get("suggestion_id") != example.get("suggestion_id")]
            tx.set(ref, {"examples": [example, *examples][:keep]})

        add(self._db.transaction())

    def waiting_conversations(self, tenant_id: str, agent_id: str, since: datetime, limit: int) -> list[Conversation]:
        # Two equality filters: served by Firestore's single-field indexes (no composite index needed).
        query = (self._tenant(tenant_id).collection("conversations")
                 .where(filter=FieldFilter("agent_id", "==", agent_id))
                 .where(filter=FieldFilter("bot_paused", "==", True)).limit(200))
        found = [Conversation.model_validate(snap.to_dict()) for snap in query.stream()]
        found = [c for c in found if c.paused_at is not None and c.paused_at >= since]
        return sorted(found, key=lambda c: c.paused_at)[:limit]
