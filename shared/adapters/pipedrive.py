"""Pipedrive: persons (searched by phone) and deals on API v2, notes on API v1 (notes have no v2 endpoint).

Shapes from Pipedrive's API reference: GET /api/v2/persons/search?term&fields=phone&exact_match=true →
{success, data: {items: [{result_score, item: {id, name, phones...}}]}}; POST /api/v2/persons
{name, phones[{value, primary, label}], emails[...], custom_fields{key: value}} → {success, data: {id...}};
PATCH /api/v2/persons/{id}; POST /api/v2/deals {title, person_id, stage_id, status} and PATCH
/api/v2/deals/{id}; POST /v1/notes {content, person_id, deal_id}. Auth: the `x-api-token` header.
Errors: {success: false, error, error_info}. Recorded examples: tests/data/crm/pipedrive_*.json.

Won and lost are a deal's `status` (open, won, lost), not stages: a lost deal moved to another stage stays lost
until its status is set back to `open` ("Update a deal", DealRequestBody.status,
https://developers.pipedrive.com/docs/api/v1/Deals#updateDeal), which is what a lead who comes back needs.
A search hit is used only with evidence: one of its phones is the lead's line or its e-mail is the lead's.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import httpx

from shared.adapters.crm_http import CrmHttp
from shared.domain.crm import (
    CONTACT_NATIVE_FIELDS,
    CrmKind,
    FieldPolicy,
    PipedriveSettings,
    fields_under_policy,
    is_same_lead,
)
from shared.domain.events import FieldValue, LeadStage

# Won and lost are a deal's status in Pipedrive, not pipeline stages: they need no stage mapping.
_STATUS_STAGES = {LeadStage.WON: "won", LeadStage.LOST: "lost"}


class PipedriveRecords:
    kind = CrmKind.PIPEDRIVE

    def __init__(self, client: httpx.Client, base_url: str, settings: PipedriveSettings) -> None:
        self._http = CrmHttp(client, "pipedrive", base_url, headers={"x-api-token": settings.api_token})
        self._settings = settings

    def _person(self, fields: Mapping[str, FieldValue]) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if fields.get("name"):
            body["name"] = str(fields["name"])
        if fields.get("email"):
            body["emails"] = [{"value": str(fields["email"]), "primary": True, "label": "work"}]
        custom = {key: fields[name] for name, key in self._settings.person_fields.items()
                  if fields.get(name) is not None}
        if custom:
            body["custom_fields"] = custom
        return body

    def _search(self, term: str, field: str, phone: str, email: str | None) -> str | None:
        found = self._http.call("GET", "/api/v2/persons/search",
                                params={"term": term, "fields": field, "exact_match": "false", "limit": 10})
        for hit in ((found or {}).get("data") or {}).get("items") or []:
            item = hit.get("item") or {}
            phones = [p if isinstance(p, str) else str((p or {}).get("value", "")) for p in item.get("phones") or []]
            emails = [e if isinstance(e, str) else str((e or {}).get("value", "")) for e in item.get("emails") or []]
            if is_same_lead(phone, email, phones, emails):
                return str(item["id"])
        return None

    def find_contact(self, phone: str, email: str | None = None) -> str | None:
        # The last eight digits are in every way a seller may have typed the number (with or without +55, the
        # area code or the ninth digit, formatted or not), so one non-exact search finds them all; the evidence
        # check then drops other lines that share those digits.
        if found := self._search(phone[-8:], "phone", phone, email):
            return found
        return self._search(email, "email", phone, email) if email else None

    def create_contact(self, fields: Mapping[str, FieldValue], phone: str) -> str:
        body = {"name": phone, **self._person(fields),
                "phones": [{"value": phone, "primary": True, "label": "mobile"}]}
        if self._settings.owner_id is not None:
            body["owner_id"] = self._settings.owner_id
        return str(self._http.call("POST", "/api/v2/persons", json=body)["data"]["id"])

    def _current(self, contact_id: str) -> dict[str, FieldValue | None]:
        person = (self._http.call("GET", f"/api/v2/persons/{contact_id}") or {}).get("data") or {}
        name = person.get("name")
        phones = [str((p or {}).get("value", "")) for p in person.get("phones") or [] if isinstance(p, dict)]
        emails = [str((e or {}).get("value", "")) for e in person.get("emails") or [] if isinstance(e, dict)]
        custom = person.get("custom_fields") or {}
        current: dict[str, FieldValue | None] = {
            # A person Piloto created before it knew the name is named after the number: that is no name.
            "name": None if name in phones else name,
            "email": next((e for e in emails if e), None)}
        current.update({field: custom.get(key) for field, key in self._settings.person_fields.items()})
        return current

    def update_contact(self, contact_id: str, fields: Mapping[str, FieldValue],
                       policy: Mapping[str, FieldPolicy] | None = None) -> str | None:
        fields = fields_under_policy(fields, policy, lambda: self._current(contact_id))
        body = self._person(fields)
        if body:
            self._http.call("PATCH", f"/api/v2/persons/{contact_id}", json=body)
        return None

    def unplaced(self, fields: Mapping[str, FieldValue]) -> dict[str, FieldValue]:
        return {k: v for k, v in fields.items()
                if k not in CONTACT_NATIVE_FIELDS and k not in self._settings.person_fields}

    def maps_stage(self, stage: LeadStage) -> bool:
        return stage in self._settings.stage_map or stage in _STATUS_STAGES

    def _stage_fields(self, stage: LeadStage) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if stage in self._settings.stage_map:
            body["stage_id"] = self._settings.stage_map[stage]
        if stage in _STATUS_STAGES:
            body["status"] = _STATUS_STAGES[stage]
        return body

    def create_deal(self, contact_id: str, title: str, stage: LeadStage) -> str:
        body = {"title": title, "person_id": int(contact_id), **self._stage_fields(stage)}
        if self._settings.owner_id is not None:
            body["owner_id"] = self._settings.owner_id
        return str(self._http.call("POST", "/api/v2/deals", json=body)["data"]["id"])

    def move_deal(self, deal_id: str, stage: LeadStage, from_stage: LeadStage | None = None) -> None:
        body = self._stage_fields(stage)
        if stage not in _STATUS_STAGES and from_stage in _STATUS_STAGES:
            body["status"] = "open"  # the lead came back: reopen the won/lost deal
        self._http.call("PATCH", f"/api/v2/deals/{deal_id}", json=body)

    def add_note(self, contact_id: str, deal_id: str | None, text: str) -> str:
        body: dict[str, Any] = {"content": html.escape(text).replace("\n", "<br>"), "person_id": int(contact_id)}
        if deal_id:
            body["deal_id"] = int(deal_id)
        return str(self._http.call("POST", "/v1/notes", json=body)["data"]["id"])
