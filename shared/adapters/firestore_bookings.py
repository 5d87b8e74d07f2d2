"""Firestore: a conversation's meeting (tenants/{t}/bookings/{conversation_id}) and slot holds
(tenants/{t}/slot_holds/{hash of calendar and start}), the lock that keeps two leads off one slot."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from google.cloud import firestore

from shared.domain.scheduling import Booking, BookingStatus

STALE_HOLD = timedelta(minutes=10)  # longer than any booking attempt (a few Calendar calls of 10 s at most)


def _booking_ref(db: firestore.Client, tenant_id: str, conversation_id: str) -> firestore.DocumentReference:
    return db.collection("tenants").document(tenant_id).collection("bookings").document(conversation_id)


class FirestoreBookings:
    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    def _tenant(self, tenant_id: str) -> firestore.DocumentReference:
        return self._db.collection("tenants").document(tenant_id)

    def get_booking(self, tenant_id: str, conversation_id: str) -> Booking | None:
        snap = self._tenant(tenant_id).collection("bookings").document(conversation_id).get()
        return Booking.model_validate(snap.to_dict()) if snap.exists else None

    def save_booking(self, tenant_id: str, booking: Booking) -> None:
        self._tenant(tenant_id).collection("bookings").document(booking.conversation_id).set(
            booking.model_dump(mode="python"))

    def note_seller_alert(self, tenant_id: str, conversation_id: str, alert_id: str, status: str) -> None:
        """Merged into the booking's seller_alerts map: the booking's other fields are left as they are."""
        self._tenant(tenant_id).collection("bookings").document(conversation_id).set(
            {"seller_alerts": {alert_id: status[:300]}}, merge=True)

    def _hold(self, tenant_id: str, calendar_id: str, start: datetime) -> firestore.DocumentReference:
        key = hashlib.sha256(f"{calendar_id}\x1f{start.timestamp():.0f}".encode()).hexdigest()[:32]
        return self._tenant(tenant_id).collection("slot_holds").document(key)

    def hold_slot(self, tenant_id: str, calendar_id: str, start: datetime, conversation_id: str) -> bool:
        ref = self._hold(tenant_id, calendar_id, start)
        now = datetime.now(UTC)

        @firestore.transactional
        def claim(tx: firestore.Transaction) -> bool:
            snap = ref.get(transaction=tx)
            if snap.exists:
                holder = snap.get("conversation_id")
                if holder == conversation_id:
                    return True
                booked = _booking_ref(self._db, tenant_id, holder).get(transaction=tx)
                data = booked.to_dict() if booked.exists else {}
                holds_it = (data.get("status") == BookingStatus.BOOKED.value and data.get("start") == start
                            and data.get("calendar_id") == calendar_id)
                # A hold whose conversation never booked this slot (it crashed mid-booking, then chose another
                # time) would block the slot forever: it lapses after a few minutes.
                if holds_it or snap.get("held_at") > now - STALE_HOLD:
                    return False
            # expire_at: a Firestore TTL field (terraform/firestore.tf) clears holds of past meetings
            tx.set(ref, {"calendar_id": calendar_id, "start": start, "conversation_id": conversation_id,
                         "held_at": now, "expire_at": start + timedelta(days=1)})
            return True

        return claim(self._db.transaction())

    def release_slot(self, tenant_id: str, calendar_id: str, start: datetime, conversation_id: str) -> None:
        ref = self._hold(tenant_id, calendar_id, start)
        snap = ref.get()
        if snap.exists and snap.get("conversation_id") == conversation_id:
            ref.delete(option=self._db.write_option(last_update_time=snap.update_time))
