"""Firestore: a conversation's meeting (tenants/{t}/bookings/{conversation_id}) and slot holds
(tenants/{t}/slot_holds/{hash of calendar and start}), the lock that keeps two leads off one slot."""

from __future__ import annotations

import hashlib
from datetime import datetime

from google.api_core import exceptions as gexc
from google.cloud import firestore

from shared.domain.scheduling import Booking


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

    def _hold(self, tenant_id: str, calendar_id: str, start: datetime) -> firestore.DocumentReference:
        key = hashlib.sha256(f"{calendar_id}\x1f{start.timestamp():.0f}".encode()).hexdigest()[:32]
        return self._tenant(tenant_id).collection("slot_holds").document(key)

    def hold_slot(self, tenant_id: str, calendar_id: str, start: datetime, conversation_id: str) -> bool:
        ref = self._hold(tenant_id, calendar_id, start)
        try:
            # create() fails when the document exists: exactly one conversation wins a slot
            ref.create({"calendar_id": calendar_id, "start": start, "conversation_id": conversation_id})
            return True
        except gexc.Conflict:
            snap = ref.get()
            return bool(snap.exists and snap.get("conversation_id") == conversation_id)

    def release_slot(self, tenant_id: str, calendar_id: str, start: datetime, conversation_id: str) -> None:
        ref = self._hold(tenant_id, calendar_id, start)
        snap = ref.get()
        if snap.exists and snap.get("conversation_id") == conversation_id:
            ref.delete(option=self._db.write_option(last_update_time=snap.update_time))
