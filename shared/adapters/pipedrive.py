"""Pipedrive: persons (searched by phone) and deals on API v2, notes on API v1 (notes have no v2 endpoint).

Shapes from Pipedrive's API reference: GET /api/v2/persons/search?term&fields=phone&exact_match=true →
{success, data: {items: [{result_score, item: {id, name, phones...}}]}}; POST /api/v2/persons
{name, phones[{value, primary, label}], emails[...], custom_fields{key: value}} → {success, data: {id...}};
PATCH /api/v2/persons/{id}; POST /api/v2/deals {title, person_id, stage_id, status} and PATCH
/api/v2/deals/{id}; POST /v1/notes {content, person_id, deal_id}. Auth: the `x-api-token` header.
Errors: {success: false, error, error_info}. Recorded examples: tests/data/crm/pipedrive_*.json.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import httpx

from shared.adapters.crm_http import CrmHttp
from shared.domain.crm import CONTACT_NATIVE_FIELDS, CrmKind, PipedriveSettings
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

    def find_contact(self, phone: str) -> str | None:
        found = self._http.call("GET", "/api/v2/persons/search",
                                 params={"term": phone, "fields": "phone", "exact_match": "true", "limit": 1})
        items = ((found or {}).get("data") or {}).get("items") or []
        return str(items[0]["item"]["id"]) if items else None

    def create_contact(self, fields: Mapping[str, FieldValue], phone: str) -> str:
        body = {"name": phone, **self._person(fields),
                "phones": [{"value": phone, "primary": True, "label": "mobile"}]}
        if self._settings.owner_id is not None:
            body["owner_id"] = self._settings.owner_id
        return str(self._http.call("POST", "/api/v2/persons", json=body)["data"]["id"])

    def update_contact(self, contact_id: str, fields: Mapping[str, FieldValue]) -> None:
        body = self._person(fields)
        if body:
            self._http.call("PATCH", f"/api/v2/persons/{contact_id}", json=body)

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

    def move_deal(self, deal_id: str, stage: LeadStage) -> None:
        self._http.call("PATCH", f"/api/v2/deals/{deal_id}", json=self._stage_fields(stage))

    def add_note(self, contact_id: str, deal_id: str | None, text: str) -> str:
        body: dict[str, Any] = {"content": html.escape(text).replace("\n", "<br>"), "person_id": int(contact_id)}
        if deal_id:
            body["deal_id"] = int(deal_id)
        return str(self._http.call("POST", "/v1/notes", json=body)["data"]["id"])
