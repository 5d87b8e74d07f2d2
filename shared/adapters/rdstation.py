"""RD Station CRM (API v1, the token as a query parameter): contacts, deals (negociações) and notes (anotações).

Shapes from RD Station CRM's API reference (developers.rdstation.com, "RD Station CRM"): GET /contacts?phone=
→ {total, has_more, contacts[{id, _id, name, phones[{phone, type}], deal_ids}]}; POST /contacts
{contact: {name, phones, emails, contact_custom_fields[{custom_field_id, value}]}}; PUT /contacts/{id}
{contact: {...}}; POST /deals {deal: {name, deal_stage_id, user_id}}; PUT /deals/{id} {deal_stage_id} (outside
`deal`: the documented correction of 2023); POST /activities {activity: {deal_id, text, user_id}}.
Notes (activities) belong to deals, so a lead without a deal gets none: map LeadStage.NEW to the funnel's
first stage to open a deal for every new lead, as RD users usually do. Recorded examples: tests/data/crm/rdstation_*.json.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from shared.adapters.crm_http import CrmHttp
from shared.domain.crm import CONTACT_NATIVE_FIELDS, CrmKind, RdStationSettings
from shared.domain.events import FieldValue, LeadStage


def _id_of(record: Mapping[str, Any]) -> str:
    return str(record.get("id") or record["_id"])


class RdStationRecords:
    kind = CrmKind.RDSTATION

    def __init__(self, client: httpx.Client, base_url: str, settings: RdStationSettings) -> None:
        self._http = CrmHttp(client, "rdstation", base_url, params={"token": settings.token})
        self._settings = settings

    def _contact(self, fields: Mapping[str, FieldValue]) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if fields.get("name"):
            body["name"] = str(fields["name"])
        if fields.get("email"):
            body["emails"] = [{"email": str(fields["email"])}]
        custom = [{"custom_field_id": field_id, "value": fields[name]}
                  for name, field_id in self._settings.contact_custom_fields.items() if fields.get(name) is not None]
        if custom:
            body["contact_custom_fields"] = custom
        return body

    def find_contact(self, phone: str) -> str | None:
        found = self._http.call("GET", "/contacts", params={"phone": phone, "limit": 1})
        contacts = (found or {}).get("contacts") or []
        return _id_of(contacts[0]) if contacts else None

    def create_contact(self, fields: Mapping[str, FieldValue], phone: str) -> str:
        contact = {"name": phone, **self._contact(fields), "phones": [{"phone": phone, "type": "cellphone"}]}
        return _id_of(self._http.call("POST", "/contacts", json={"contact": contact}))

    def update_contact(self, contact_id: str, fields: Mapping[str, FieldValue]) -> None:
        contact = self._contact(fields)
        if contact:
            self._http.call("PUT", f"/contacts/{contact_id}", json={"contact": contact})

    def unplaced(self, fields: Mapping[str, FieldValue]) -> dict[str, FieldValue]:
        return {k: v for k, v in fields.items()
                if k not in CONTACT_NATIVE_FIELDS and k not in self._settings.contact_custom_fields}

    def maps_stage(self, stage: LeadStage) -> bool:
        return stage in self._settings.stage_map

    def create_deal(self, contact_id: str, title: str, stage: LeadStage) -> str:
        deal: dict[str, Any] = {"name": title, "deal_stage_id": self._settings.stage_map[stage]}
        if self._settings.user_id:
            deal["user_id"] = self._settings.user_id
        deal_id = _id_of(self._http.call("POST", "/deals", json={"deal": deal}))
        # The deal joins the contact's deals (read first: the update replaces the list).
        current = self._http.call("GET", f"/contacts/{contact_id}") or {}
        deal_ids = [str(d) for d in current.get("deal_ids") or []]
        self._http.call("PUT", f"/contacts/{contact_id}", json={"contact": {"deal_ids": [*deal_ids, deal_id]}})
        return deal_id

    def move_deal(self, deal_id: str, stage: LeadStage) -> None:
        self._http.call("PUT", f"/deals/{deal_id}", json={"deal_stage_id": self._settings.stage_map[stage]})

    def add_note(self, contact_id: str, deal_id: str | None, text: str) -> str | None:
        if not deal_id:
            return None
        activity: dict[str, Any] = {"deal_id": deal_id, "text": text}
        if self._settings.user_id:
            activity["user_id"] = self._settings.user_id
        return _id_of(self._http.call("POST", "/activities", json={"activity": activity}))
