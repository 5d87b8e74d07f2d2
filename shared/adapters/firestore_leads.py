"""Leads (tenants/{t}/contacts), the catalogue (tenants/{t}/catalog) and meeting requests (tenants/{t}/meetings)."""

from __future__ import annotations

from dataclasses import asdict

from google.api_core import exceptions as gexc
from google.cloud import firestore

from shared.adapters.firestore_client import _tenant
from shared.domain.catalog import CatalogItem
from shared.domain.lead import LeadProfile
from shared.domain.meeting import MeetingRequest


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
