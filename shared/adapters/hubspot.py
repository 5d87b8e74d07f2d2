"""HubSpot CRM v3: contacts (searched by phone or e-mail, used only with evidence), deals in a pipeline, notes on
the contact's timeline.

Shapes from HubSpot's API reference: POST /crm/v3/objects/contacts/search {filterGroups, properties, limit}
→ {total, results[{id, properties}]}; POST /crm/v3/objects/{contacts|deals|notes} {properties, associations}
→ 201 {id, properties, createdAt, updatedAt, archived}; PATCH /crm/v3/objects/{type}/{id} {properties}.
Errors: {status: "error", message, correlationId, category}. Default association type ids: deal→contact 3,
note→contact 202, note→deal 214. Recorded examples: tests/data/crm/hubspot_*.json.

Search is eventually consistent: "it may take a few moments for newly created or updated objects to appear
in search results" (https://developers.hubspot.com/docs/guides/api/crm/search), so a search is never the
proof that a lead has no contact yet; the first sync of a lead is serialized by crm_sync instead. A search
allows at most 5 filterGroups (same page).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from datetime import UTC, datetime

import httpx

from shared.adapters.crm_http import CrmHttp
from shared.domain.crm import (
    CONTACT_NATIVE_FIELDS,
    CrmKind,
    FieldPolicy,
    HubSpotSettings,
    fields_under_policy,
    is_same_lead,
    split_name,
)
from shared.domain.errors import CrmRejected
from shared.domain.events import FieldValue, LeadStage
from shared.domain.phone import whatsapp_number_variants

DEAL_TO_CONTACT = 3
NOTE_TO_CONTACT = 202
NOTE_TO_DEAL = 214
_EXISTING_ID = re.compile(r"Existing ID:\s*(\d+)")


def _association(to_id: str, type_id: int) -> dict:
    return {"to": {"id": to_id}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}]}


def _as_property(value: FieldValue) -> str:
    # HubSpot property values travel as strings; booleans as "true"/"false".
    return str(value).lower() if isinstance(value, bool) else str(value)


class HubSpotRecords:
    kind = CrmKind.HUBSPOT

    def __init__(self, client: httpx.Client, base_url: str, settings: HubSpotSettings) -> None:
        self._http = CrmHttp(client, "hubspot", base_url,
                             headers={"Authorization": f"Bearer {settings.access_token}"})
        self._settings = settings

    def _properties(self, fields: Mapping[str, FieldValue]) -> dict[str, str]:
        props: dict[str, str] = {}
        first, last = split_name(fields.get("name") if isinstance(fields.get("name"), str) else None)
        if first:
            props["firstname"] = first
        if last:
            props["lastname"] = last
        if fields.get("email"):
            props["email"] = str(fields["email"])
        for name, prop in self._settings.contact_properties.items():
            if name in fields and fields[name] is not None:
                props[prop] = _as_property(fields[name])
        return props

    def find_contact(self, phone: str, email: str | None = None) -> str | None:
        # One group per (property, number form), ORed; plus the e-mail: at most 5 groups, HubSpot's limit.
        groups = [{"filters": [{"propertyName": prop, "operator": "EQ", "value": form}]}
                  for form in sorted(whatsapp_number_variants(phone)) for prop in ("phone", "mobilephone")]
        if email:
            groups.append({"filters": [{"propertyName": "email", "operator": "EQ", "value": email}]})
        body = {"filterGroups": groups[:5], "properties": ["phone", "mobilephone", "firstname", "lastname", "email"],
                "limit": 10}
        results = (self._http.call("POST", "/crm/v3/objects/contacts/search", json=body) or {}).get("results") or []
        for record in results:
            props = record.get("properties") or {}
            if is_same_lead(phone, email, [props.get("phone") or "", props.get("mobilephone") or ""],
                            [props.get("email") or ""]):
                return str(record["id"])
        return None

    def create_contact(self, fields: Mapping[str, FieldValue], phone: str) -> str:
        props = {**self._properties(fields), "phone": phone, "lifecyclestage": "lead"}
        if self._settings.owner_id:
            props["hubspot_owner_id"] = self._settings.owner_id
        try:
            created = self._http.call("POST", "/crm/v3/objects/contacts", json={"properties": props})
        except CrmRejected as err:
            # Contacts dedupe on email: a lead who gave an email already in the CRM is that contact (the e-mail
            # is the evidence); what the CRM already holds there stays, the rest is filled in.
            existing = _EXISTING_ID.search(err.detail) if err.status == 409 else None
            if existing is None:
                raise
            rest = {k: v for k, v in fields.items() if k != "email"}
            self.update_contact(existing[1], rest, {k: FieldPolicy.FILL_EMPTY for k in rest})
            return existing[1]
        return str(created["id"])

    def _current(self, contact_id: str) -> dict[str, FieldValue | None]:
        """The record's values by Piloto field name, for the fill-empty policy."""
        wanted = ["firstname", "lastname", "email", *self._settings.contact_properties.values()]
        record = self._http.call("GET", f"/crm/v3/objects/contacts/{contact_id}",
                                 params={"properties": ",".join(wanted)}) or {}
        props = record.get("properties") or {}
        name = " ".join(p for p in (props.get("firstname"), props.get("lastname")) if p) or None
        current: dict[str, FieldValue | None] = {"name": name, "email": props.get("email")}
        current.update({field: props.get(prop) for field, prop in self._settings.contact_properties.items()})
        return current

    def update_contact(self, contact_id: str, fields: Mapping[str, FieldValue],
                       policy: Mapping[str, FieldPolicy] | None = None) -> str | None:
        fields = fields_under_policy(fields, policy, lambda: self._current(contact_id))
        props = self._properties(fields)
        if not props:
            return None
        path = f"/crm/v3/objects/contacts/{contact_id}"
        try:
            self._http.call("PATCH", path, json={"properties": props})
        except CrmRejected as err:
            # 409: the e-mail belongs to another contact. Only that field conflicts: the rest of the update (and
            # the event's stage and note) still go through, and the seller is told in the note.
            if err.status != 409 or "email" not in props:
                raise
            owner = _EXISTING_ID.search(err.detail)
            props.pop("email")
            if props:
                self._http.call("PATCH", path, json={"properties": props})
            # pt-BR: this remark lands in the seller's timeline note.
            return (f"e-mail {fields.get('email')} não salvo: já pertence a outro contato do HubSpot"
                    f"{f' (ID {owner[1]})' if owner else ''}")
        return None

    def unplaced(self, fields: Mapping[str, FieldValue]) -> dict[str, FieldValue]:
        return {k: v for k, v in fields.items()
                if k not in CONTACT_NATIVE_FIELDS and k not in self._settings.contact_properties}

    def maps_stage(self, stage: LeadStage) -> bool:
        return stage in self._settings.stage_map

    def create_deal(self, contact_id: str, title: str, stage: LeadStage) -> str:
        props = {"dealname": title, "pipeline": self._settings.pipeline, "dealstage": self._settings.stage_map[stage]}
        if self._settings.owner_id:
            props["hubspot_owner_id"] = self._settings.owner_id
        created = self._http.call("POST", "/crm/v3/objects/deals",
                                  json={"properties": props, "associations": [_association(contact_id, DEAL_TO_CONTACT)]})
        return str(created["id"])

    def move_deal(self, deal_id: str, stage: LeadStage, from_stage: LeadStage | None = None) -> None:
        # Won and lost are stages of the pipeline in HubSpot (closedwon/closedlost by default): moving out of
        # them reopens the deal, so from_stage needs nothing more.
        self._http.call("PATCH", f"/crm/v3/objects/deals/{deal_id}",
                        json={"properties": {"dealstage": self._settings.stage_map[stage]}})

    def add_note(self, contact_id: str, deal_id: str | None, text: str) -> str:
        associations = [_association(contact_id, NOTE_TO_CONTACT)]
        if deal_id:
            associations.append(_association(deal_id, NOTE_TO_DEAL))
        props = {"hs_timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                 # hs_note_body is HTML: escape the lead's words and keep the line breaks.
                 "hs_note_body": html.escape(text).replace("\n", "<br>")}
        created = self._http.call("POST", "/crm/v3/objects/notes", json={"properties": props, "associations": associations})
        return str(created["id"])
