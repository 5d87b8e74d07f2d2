"""RD Station CRM (API v1, the token as a query parameter): contacts, deals (negociações) and notes (anotações).

Shapes from RD Station CRM's API reference (developers.rdstation.com, "RD Station CRM"): GET /contacts?email=
→ {total, has_more, contacts[{id, _id, name, phones[{phone, type}], emails[{email}], deal_ids}]}; POST /contacts
{contact: {name, phones, emails, contact_custom_fields[{custom_field_id, value}]}}; PUT /contacts/{id}
{contact: {...}}; POST /deals {deal: {name, deal_stage_id, user_id}}; PUT /deals/{id} {deal_stage_id} (outside
`deal`: the documented correction of 2023) and {deal: {win, deal_lost_reason_id}}; POST /activities
{activity: {deal_id, text, user_id}}. Notes (activities) belong to deals, so a lead without a deal gets none:
map LeadStage.NEW to the funnel's first stage to open a deal for every new lead, as RD users usually do.
Recorded examples: tests/data/crm/rdstation_*.json.

- **Finding the lead.** The contact list filters by `email` (documented from the start) and by `phone` (added
  by RD's changelog "Adição dos query params phone e title no recurso de Listar Contatos",
  https://developers.rdstation.com/changelog/adicao-dos-query-params-phone-e-title-no-recurso-de-listar-contatos).
  A filter the server does not apply returns the unfiltered list, so a hit is used only with evidence: one of
  its phones is the lead's line (either ninth-digit form) or one of its e-mails is the lead's.
- **Won and lost** are not funnel stages in RD Station CRM: a deal is closed with `win: true` (won) or
  `win: false` plus a `deal_lost_reason_id` (lost), and `win: null` reopens it (RD's deal payload carries
  `win` and `deal_lost_reason`, "Webhooks payload CRM", https://developers.rdstation.com/reference/webhooks-payload-crm;
  the update body as public RD clients send it). A stage mapped for WON/LOST is also applied.
- **Linking a deal to its contact** replaces the contact's `deal_ids`: there is no add-one call, so the list is
  read, extended, written, and read back; a concurrent writer that dropped the deal is answered by writing again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx

from shared.adapters.crm_http import CrmHttp
from shared.domain.crm import (
    CONTACT_NATIVE_FIELDS,
    CrmKind,
    FieldPolicy,
    RdStationSettings,
    fields_under_policy,
    is_same_lead,
)
from shared.domain.events import FieldValue, LeadStage
from shared.domain.phone import whatsapp_number_variants

logger = logging.getLogger(__name__)

_CLOSED = {LeadStage.WON, LeadStage.LOST}
_LINK_ATTEMPTS = 3
# The funnel order, to open a deal that starts closed (won or lost at creation) in the earliest mapped stage.
_FUNNEL = [LeadStage.NEW, LeadStage.QUALIFIED, LeadStage.MEETING, LeadStage.PROPOSAL]


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

    def find_contact(self, phone: str, email: str | None = None) -> str | None:
        queries = [{"email": email}] if email else []
        queries += [{"phone": form} for form in sorted(whatsapp_number_variants(phone))]
        for query in queries:
            found = self._http.call("GET", "/contacts", params={**query, "limit": 20})
            for contact in (found or {}).get("contacts") or []:
                phones = [str(p.get("phone", "")) for p in contact.get("phones") or [] if isinstance(p, dict)]
                emails = [str(e.get("email", "")) for e in contact.get("emails") or [] if isinstance(e, dict)]
                if is_same_lead(phone, email, phones, emails):
                    return _id_of(contact)
        return None

    def create_contact(self, fields: Mapping[str, FieldValue], phone: str) -> str:
        contact = {"name": phone, **self._contact(fields), "phones": [{"phone": phone, "type": "cellphone"}]}
        return _id_of(self._http.call("POST", "/contacts", json={"contact": contact}))

    def _current(self, contact_id: str) -> dict[str, FieldValue | None]:
        contact = self._http.call("GET", f"/contacts/{contact_id}") or {}
        phones = [str(p.get("phone", "")) for p in contact.get("phones") or [] if isinstance(p, dict)]
        emails = [str(e.get("email", "")) for e in contact.get("emails") or [] if isinstance(e, dict)]
        custom = {str(c.get("custom_field_id")): c.get("value")
                  for c in contact.get("contact_custom_fields") or [] if isinstance(c, dict)}
        name = contact.get("name")
        current: dict[str, FieldValue | None] = {
            "name": None if name in phones else name,  # created by Piloto before the name was known
            "email": next((e for e in emails if e), None)}
        current.update({field: custom.get(field_id)
                        for field, field_id in self._settings.contact_custom_fields.items()})
        return current

    def update_contact(self, contact_id: str, fields: Mapping[str, FieldValue],
                       policy: Mapping[str, FieldPolicy] | None = None) -> str | None:
        fields = fields_under_policy(fields, policy, lambda: self._current(contact_id))
        contact = self._contact(fields)
        if contact:
            self._http.call("PUT", f"/contacts/{contact_id}", json={"contact": contact})
        return None

    def unplaced(self, fields: Mapping[str, FieldValue]) -> dict[str, FieldValue]:
        return {k: v for k, v in fields.items()
                if k not in CONTACT_NATIVE_FIELDS and k not in self._settings.contact_custom_fields}

    def maps_stage(self, stage: LeadStage) -> bool:
        # A deal can be closed whenever it can exist: RD needs a stage to open it, any mapped stage will do.
        return stage in self._settings.stage_map or (stage in _CLOSED and bool(self._settings.stage_map))

    def _stage_id(self, stage: LeadStage) -> str:
        if stage in self._settings.stage_map:
            return self._settings.stage_map[stage]
        return next(self._settings.stage_map[s] for s in [*_FUNNEL, *self._settings.stage_map]
                    if s in self._settings.stage_map)

    def create_deal(self, contact_id: str, title: str, stage: LeadStage) -> str:
        deal: dict[str, Any] = {"name": title, "deal_stage_id": self._stage_id(stage)}
        if self._settings.user_id:
            deal["user_id"] = self._settings.user_id
        deal_id = _id_of(self._http.call("POST", "/deals", json={"deal": deal}))
        self._link(contact_id, deal_id)
        if stage in _CLOSED:
            self._http.call("PUT", f"/deals/{deal_id}", json={"deal": self._closing(stage)})
        return deal_id

    def _link(self, contact_id: str, deal_id: str) -> None:
        """Add the deal to the contact's deal_ids (a whole-list replace), then read back to be sure it stayed."""
        for _ in range(_LINK_ATTEMPTS):
            current = self._http.call("GET", f"/contacts/{contact_id}") or {}
            deal_ids = [str(d) for d in current.get("deal_ids") or []]
            if deal_id in deal_ids:
                return
            self._http.call("PUT", f"/contacts/{contact_id}", json={"contact": {"deal_ids": [*deal_ids, deal_id]}})
            check = self._http.call("GET", f"/contacts/{contact_id}") or {}
            if deal_id in [str(d) for d in check.get("deal_ids") or []]:
                return
        # Someone else keeps rewriting the list. The deal exists and Piloto's link keeps its id, so failing the event
        # would only create a second deal on retry: say so and go on.
        logger.warning("RD Station deal could not be kept on its contact's deal_ids after %d attempts",
                       _LINK_ATTEMPTS)

    def _closing(self, stage: LeadStage) -> dict[str, Any]:
        if stage is LeadStage.WON:
            return {"win": True}
        closing: dict[str, Any] = {"win": False}
        if self._settings.lost_reason_id:
            closing["deal_lost_reason_id"] = self._settings.lost_reason_id
        return closing

    def move_deal(self, deal_id: str, stage: LeadStage, from_stage: LeadStage | None = None) -> None:
        body: dict[str, Any] = {}
        if stage in self._settings.stage_map:
            body["deal_stage_id"] = self._settings.stage_map[stage]
        if stage in _CLOSED:
            body["deal"] = self._closing(stage)
        elif from_stage in _CLOSED:
            body["deal"] = {"win": None}  # the lead came back: the deal is open again
        if body:
            self._http.call("PUT", f"/deals/{deal_id}", json=body)

    def add_note(self, contact_id: str, deal_id: str | None, text: str) -> str | None:
        if not deal_id:
            return None
        activity: dict[str, Any] = {"deal_id": deal_id, "text": text}
        if self._settings.user_id:
            activity["user_id"] = self._settings.user_id
        return _id_of(self._http.call("POST", "/activities", json={"activity": activity}))
