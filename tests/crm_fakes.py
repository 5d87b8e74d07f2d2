"""In-memory CRMs at the HTTP layer (httpx.MockTransport handlers): HubSpot, Pipedrive and RD Station CRM.

They are the only fakes of the CRM work, because the CRMs are paid remote APIs. Each asserts that a request
has the shape its CRM documents (tests/data/crm/README.md), keeps the records it was asked to create, and
answers with the documented bodies from tests/data/crm/. A shape the CRM would not accept fails the test
with an AssertionError naming what is wrong, rather than being answered.

They also behave the way real accounts do where the code must cope:
- HubSpot's search index lags: a contact created less than `search_lag_seconds` ago is not found by
  /contacts/search ("it may take a few moments for newly created or updated objects to appear in search
  results", https://developers.hubspot.com/docs/guides/api/crm/search); a PATCH that sets an e-mail another
  contact has answers 409 "Contact already exists. Existing ID: n" (e-mail is unique per contact,
  https://developers.hubspot.com/docs/guides/api/crm/objects/contacts).
- RD Station CRM applies only the list filters it documents (`email`, and `phone` only when `phone_filter`
  says the account has the changelog's phone filter); any other query parameter is ignored and the list
  comes back unfiltered, as an API does with parameters it does not know.
- Pipedrive keeps a deal's `status` apart from its `stage_id`: moving a lost deal to a stage leaves it lost
  (https://developers.pipedrive.com/docs/api/v1/Deals#updateDeal).
- `fail_next(..., headers=...)` answers with rate-limit headers (Retry-After, X-HubSpot-RateLimit-*).
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

DATA = Path(__file__).parent / "data" / "crm"


def recorded(name: str) -> dict:
    return json.loads((DATA / name).read_text())


@dataclass
class Failure:
    status: int
    body: dict
    path_contains: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    method: str = ""


@dataclass
class FakeCrm:
    """What every fake shares: a request log and failures queued for the next matching requests."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    ids: itertools.count = field(default_factory=lambda: itertools.count(1001))

    def fail_next(self, status: int, body: dict | str, count: int = 1, path_contains: str = "",
                  headers: dict[str, str] | None = None, method: str = "") -> None:
        payload = recorded(body) if isinstance(body, str) else body
        self.failures.extend(Failure(status, payload, path_contains, dict(headers or {}), method)
                             for _ in range(count))

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=self.transport(), timeout=5)

    def calls(self, method: str, path_pattern: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == method and re.fullmatch(path_pattern, r["path"])]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        entry = {"method": request.method, "path": request.url.path, "params": dict(request.url.params),
                 "json": body, "headers": {k.lower(): v for k, v in request.headers.items()}}
        self.requests.append(entry)
        for failure in list(self.failures):
            if failure.path_contains in request.url.path and failure.method in ("", request.method):
                self.failures.remove(failure)
                return httpx.Response(failure.status, json=failure.body, headers=failure.headers)
        unauthorized = self.refuse(entry)
        if unauthorized is not None:
            return unauthorized
        return self.route(entry)

    def refuse(self, entry: dict[str, Any]) -> httpx.Response | None:
        raise NotImplementedError

    def route(self, entry: dict[str, Any]) -> httpx.Response:
        raise NotImplementedError


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise AssertionError(f"request not in the documented shape: {what}")


# -- HubSpot CRM v3 -----------------------------------------------------------------------------------

@dataclass
class FakeHubSpot(FakeCrm):
    token: str = "hubspot-private-app-token"
    contacts: dict[str, dict[str, str]] = field(default_factory=dict)
    deals: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: dict[str, dict[str, Any]] = field(default_factory=dict)
    search_lag_seconds: float = 5.0
    clock: Callable[[], float] = time.monotonic
    indexed_at: dict[str, float] = field(default_factory=dict)  # when a contact becomes searchable

    def _searchable(self, cid: str) -> bool:
        # Contacts put in `contacts` by a test (no indexed_at) exist from before: searchable.
        return self.indexed_at.get(cid, 0.0) <= self.clock()

    def _email_owner(self, email: str | None, other_than: str | None = None) -> str | None:
        return next((cid for cid, c in self.contacts.items()
                     if email and cid != other_than and (c.get("email") or "").lower() == email.lower()), None)

    def _conflict(self, cid: str) -> httpx.Response:
        conflict = recorded("hubspot_error_409_contact_exists.json")
        conflict["message"] = f"Contact already exists. Existing ID: {cid}"
        return httpx.Response(409, json=conflict)

    def refuse(self, entry: dict[str, Any]) -> httpx.Response | None:
        if entry["headers"].get("authorization") != f"Bearer {self.token}":
            return httpx.Response(401, json=recorded("hubspot_error_401.json"))
        return None

    def _created(self, object_id: str, properties: dict[str, str]) -> httpx.Response:
        body = recorded("hubspot_object_created_response.json")
        body["id"] = object_id
        body["properties"] = {**body["properties"], **properties, "hs_object_id": object_id}
        return httpx.Response(201, json=body)

    @staticmethod
    def _properties(body: Any) -> dict[str, str]:
        _require(isinstance(body, dict) and isinstance(body.get("properties"), dict), "a 'properties' object")
        props = body["properties"]
        _require(all(isinstance(v, str) for v in props.values()), "property values are strings")
        return props

    def _associations(self, body: dict, allowed: dict[int, dict]) -> list[tuple[int, str]]:
        found = []
        for association in body.get("associations", []):
            _require(set(association) == {"to", "types"} and "id" in association["to"], "association {to: {id}, types}")
            for kind in association["types"]:
                _require(kind.get("associationCategory") == "HUBSPOT_DEFINED", "associationCategory HUBSPOT_DEFINED")
                type_id = kind.get("associationTypeId")
                _require(type_id in allowed, f"associationTypeId {type_id} allowed here")
                _require(association["to"]["id"] in allowed[type_id], f"associated record {association['to']['id']} exists")
                found.append((type_id, association["to"]["id"]))
        return found

    def route(self, entry: dict[str, Any]) -> httpx.Response:
        method, path, body = entry["method"], entry["path"], entry["json"]
        if (method, path) == ("POST", "/crm/v3/objects/contacts/search"):
            _require(isinstance(body.get("filterGroups"), list) and len(body["filterGroups"]) <= 5, "filterGroups list")
            matches = []
            for group in body["filterGroups"]:
                for f in group["filters"]:
                    _require({"propertyName", "operator", "value"} <= set(f), "filter {propertyName, operator, value}")
                    _require(f["operator"] in ("EQ", "NEQ", "CONTAINS_TOKEN", "HAS_PROPERTY"), "a documented operator")
                matches += [cid for cid, props in self.contacts.items() if self._searchable(cid)
                            and all(props.get(f["propertyName"]) == f["value"] for f in group["filters"])]
            _require(isinstance(body.get("limit"), int) and 1 <= body["limit"] <= 200, "limit between 1 and 200")
            result = recorded("hubspot_contact_search_response.json")
            hits = sorted(set(matches))[: body["limit"]]
            template = result["results"][0]
            result["results"] = [{**copy.deepcopy(template), "id": cid, "properties": {**self.contacts[cid], "hs_object_id": cid}}
                                 for cid in hits]
            result["total"] = len(hits)
            return httpx.Response(200, json=result)
        if (method, path) == ("POST", "/crm/v3/objects/contacts"):
            props = self._properties(body)
            if owner := self._email_owner(props.get("email")):
                return self._conflict(owner)
            cid = str(next(self.ids))
            self.contacts[cid] = dict(props)
            self.indexed_at[cid] = self.clock() + self.search_lag_seconds
            return self._created(cid, props)
        if method == "GET" and (m := re.fullmatch(r"/crm/v3/objects/contacts/(\d+)", path)):
            if m[1] not in self.contacts:
                return httpx.Response(404, json={"status": "error", "message": "resource not found",
                                                 "category": "OBJECT_NOT_FOUND"})
            wanted = [p for p in entry["params"].get("properties", "").split(",") if p]
            props = {k: v for k, v in self.contacts[m[1]].items() if not wanted or k in wanted}
            return httpx.Response(200, json={**recorded("hubspot_object_created_response.json"), "id": m[1],
                                             "properties": {**props, "hs_object_id": m[1]}})
        if method == "PATCH" and (m := re.fullmatch(r"/crm/v3/objects/(contacts|deals)/(\d+)", path)):
            store = self.contacts if m[1] == "contacts" else self.deals
            _require(m[2] in store, f"{m[1]} {m[2]} exists")
            if m[1] == "contacts" and (owner := self._email_owner(self._properties(body).get("email"), m[2])):
                return self._conflict(owner)
            (store[m[2]]["properties"] if m[1] == "deals" else store[m[2]]).update(self._properties(body))
            return httpx.Response(200, json={**recorded("hubspot_object_created_response.json"), "id": m[2]})
        if (method, path) == ("POST", "/crm/v3/objects/deals"):
            props = self._properties(body)
            _require({"dealname", "pipeline", "dealstage"} <= set(props), "dealname, pipeline and dealstage")
            links = self._associations(body, {3: self.contacts})
            did = str(next(self.ids))
            self.deals[did] = {"properties": dict(props), "associations": links}
            return self._created(did, props)
        if (method, path) == ("POST", "/crm/v3/objects/notes"):
            props = self._properties(body)
            _require("hs_timestamp" in props and "hs_note_body" in props, "hs_timestamp and hs_note_body")
            datetime.fromisoformat(props["hs_timestamp"].replace("Z", "+00:00"))
            _require(len(props["hs_note_body"]) <= 65536, "a note body of at most 65,536 characters")
            links = self._associations(body, {202: self.contacts, 214: self.deals})
            nid = str(next(self.ids))
            self.notes[nid] = {"properties": dict(props), "associations": links}
            return self._created(nid, props)
        raise AssertionError(f"HubSpot has no route {method} {path}")


# -- Pipedrive (persons and deals v2, notes v1) -------------------------------------------------------

@dataclass
class FakePipedrive(FakeCrm):
    token: str = "pipedrive-api-token"
    persons: dict[int, dict[str, Any]] = field(default_factory=dict)
    deals: dict[int, dict[str, Any]] = field(default_factory=dict)
    notes: dict[int, dict[str, Any]] = field(default_factory=dict)

    def refuse(self, entry: dict[str, Any]) -> httpx.Response | None:
        if entry["headers"].get("x-api-token") != self.token:
            return httpx.Response(401, json=recorded("pipedrive_error_401.json"))
        return None

    @staticmethod
    def _ok(template: str, data: dict, status: int = 201) -> httpx.Response:
        body = recorded(template)
        body["data"] = {**body["data"], **data}
        return httpx.Response(status, json=body)

    def route(self, entry: dict[str, Any]) -> httpx.Response:
        method, path, body, params = entry["method"], entry["path"], entry["json"], entry["params"]
        if (method, path) == ("GET", "/api/v2/persons/search"):
            _require(len(params.get("term", "")) >= 2, "term of 2+ characters")
            _require(params.get("fields") in (None, "phone", "name", "email", "notes", "custom_fields"), "fields")
            term, exact = params["term"], params.get("exact_match") == "true"
            def digits(value: str) -> str:
                return re.sub(r"\D", "", value) if params.get("fields") == "phone" else value.lower()
            def hit(value: str) -> bool:
                return digits(value) == digits(term) if exact else digits(term) in digits(value)
            key = "emails" if params.get("fields") == "email" else "phones"
            hits = [pid for pid, p in self.persons.items() if any(hit(v["value"]) for v in p[key])]
            result = recorded("pipedrive_person_search_response.json")
            template = result["data"]["items"][0]
            result["data"]["items"] = [{**copy.deepcopy(template), "item": {
                **template["item"], "id": pid, "name": self.persons[pid]["name"],
                "phones": [ph["value"] for ph in self.persons[pid]["phones"]],
                "emails": [em["value"] for em in self.persons[pid]["emails"]]}}
                for pid in hits[: int(params.get("limit", 100))]]
            return httpx.Response(200, json=result)
        if method == "GET" and (m := re.fullmatch(r"/api/v2/persons/(\d+)", path)):
            _require(int(m[1]) in self.persons, f"person {m[1]} exists")
            return self._ok("pipedrive_person_created_response.json", {"id": int(m[1]), **self.persons[int(m[1])]}, 200)
        if (method, path) == ("POST", "/api/v2/persons"):
            _require(isinstance(body.get("name"), str) and body["name"], "a name")
            for phone in body.get("phones", []):
                _require(set(phone) <= {"value", "primary", "label"} and "value" in phone, "phones[{value, primary, label}]")
            _require(isinstance(body.get("custom_fields", {}), dict), "custom_fields object")
            pid = next(self.ids)
            self.persons[pid] = {"name": body["name"], "phones": body.get("phones", []),
                                 "emails": body.get("emails", []), "custom_fields": body.get("custom_fields", {})}
            return self._ok("pipedrive_person_created_response.json", {"id": pid, **self.persons[pid]})
        if method == "PATCH" and (m := re.fullmatch(r"/api/v2/(persons|deals)/(\d+)", path)):
            store = self.persons if m[1] == "persons" else self.deals
            _require(int(m[2]) in store, f"{m[1]} {m[2]} exists")
            _require(body.get("status", "open") in ("open", "won", "lost", "deleted"), "a documented status")
            store[int(m[2])].update(body)  # a stage_id alone leaves the status as it was
            return self._ok(f"pipedrive_{'person' if m[1] == 'persons' else 'deal'}_created_response.json",
                            {"id": int(m[2])}, 200)
        if (method, path) == ("POST", "/api/v2/deals"):
            _require(isinstance(body.get("title"), str) and body["title"], "a title")
            _require(isinstance(body.get("person_id"), int) and body["person_id"] in self.persons, "an existing person_id")
            _require("stage_id" not in body or isinstance(body["stage_id"], int), "an integer stage_id")
            _require(body.get("status", "open") in ("open", "won", "lost", "deleted"), "a documented status")
            did = next(self.ids)
            self.deals[did] = dict(body)
            return self._ok("pipedrive_deal_created_response.json", {"id": did, **body})
        if (method, path) == ("POST", "/v1/notes"):
            _require(isinstance(body.get("content"), str) and body["content"], "content")
            _require(any(k in body for k in ("deal_id", "person_id", "org_id", "lead_id")), "an item to attach to")
            _require(body.get("person_id") in self.persons, "an existing person_id")
            _require("deal_id" not in body or body["deal_id"] in self.deals, "an existing deal_id")
            nid = next(self.ids)
            self.notes[nid] = dict(body)
            return self._ok("pipedrive_note_created_response.json", {"id": nid, **body})
        raise AssertionError(f"Pipedrive has no route {method} {path}")


# -- RD Station CRM (API v1) --------------------------------------------------------------------------

@dataclass
class FakeRdStation(FakeCrm):
    token: str = "rdstation-crm-token"
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    deals: dict[str, dict[str, Any]] = field(default_factory=dict)
    activities: dict[str, dict[str, Any]] = field(default_factory=dict)
    phone_filter: bool = False  # the account's API applies ?phone= (RD's changelog); by default it is ignored
    # Called after each PUT /contacts/{id}: a test's stand-in for another integration writing the same contact.
    after_contact_put: Callable[[dict[str, Any]], None] | None = None

    def refuse(self, entry: dict[str, Any]) -> httpx.Response | None:
        if entry["params"].get("token") != self.token:
            return httpx.Response(401, json=recorded("rdstation_error_401.json"))
        return None

    def _id(self) -> str:
        return f"6414{next(self.ids):020x}"

    def route(self, entry: dict[str, Any]) -> httpx.Response:
        method, path, body, params = entry["method"], entry["path"], entry["json"], entry["params"]
        path = path.removeprefix("/api/v1")
        if (method, path) == ("GET", "/contacts"):
            # Only documented filters are applied; anything else is ignored and the whole list comes back.
            def kept(c: dict[str, Any]) -> bool:
                if params.get("email") and not any(e.get("email") == params["email"] for e in c.get("emails", [])):
                    return False
                if self.phone_filter and params.get("phone"):
                    return any(p["phone"] == params["phone"] for p in c["phones"])
                return True
            hits = [c for c in self.contacts.values() if kept(c)]
            result = recorded("rdstation_contacts_response.json")
            result["contacts"], result["total"] = hits[: int(params.get("limit", 20))], len(hits)
            return httpx.Response(200, json=result)
        if (method, path) == ("POST", "/contacts"):
            _require(set(body) == {"contact"}, "body {contact: {...}}")
            contact = body["contact"]
            _require(isinstance(contact.get("name"), str) and contact["name"], "contact.name")
            for phone in contact.get("phones", []):
                _require("phone" in phone, "phones[{phone, type}]")
            for custom in contact.get("contact_custom_fields", []):
                _require(set(custom) == {"custom_field_id", "value"}, "contact_custom_fields[{custom_field_id, value}]")
            cid = self._id()
            self.contacts[cid] = {**recorded("rdstation_contact_created_response.json"), **contact,
                                  "_id": cid, "id": cid, "deal_ids": []}
            return httpx.Response(200, json=self.contacts[cid])
        if m := re.fullmatch(r"/contacts/([0-9a-f]+)", path):
            _require(m[1] in self.contacts, f"contact {m[1]} exists")
            if method == "GET":
                return httpx.Response(200, json=self.contacts[m[1]])
            _require(method == "PUT" and set(body) == {"contact"}, "PUT {contact: {...}}")
            if "deal_ids" in body["contact"]:
                _require(all(d in self.deals for d in body["contact"]["deal_ids"]), "deal_ids of existing deals")
            self.contacts[m[1]].update(copy.deepcopy(body["contact"]))
            if self.after_contact_put:
                self.after_contact_put(self.contacts[m[1]])
            return httpx.Response(200, json=self.contacts[m[1]])
        if (method, path) == ("POST", "/deals"):
            _require("deal" in body and isinstance(body["deal"].get("name"), str), "body {deal: {name, ...}}")
            _require(isinstance(body["deal"].get("deal_stage_id"), str), "deal.deal_stage_id")
            did = self._id()
            self.deals[did] = {**recorded("rdstation_deal_created_response.json"), **body["deal"], "_id": did, "id": did}
            return httpx.Response(200, json=self.deals[did])
        if method == "PUT" and (m := re.fullmatch(r"/deals/([0-9a-f]+)", path)):
            _require(m[1] in self.deals, f"deal {m[1]} exists")
            _require("deal" not in body or "deal_stage_id" not in body["deal"],
                     "deal_stage_id outside 'deal' (inside it is ignored by RD)")
            closing = body.get("deal") or {}
            _require(set(closing) <= {"win", "deal_lost_reason_id", "name", "user_id", "rating"},
                     "deal fields RD documents")
            _require(closing.get("win", None) in (True, False, None), "win true, false or null")
            _require("deal_lost_reason_id" not in closing or closing.get("win") is False,
                     "a lost reason only on a lost deal")
            self.deals[m[1]].update({k: v for k, v in body.items() if k != "deal"})
            self.deals[m[1]].update(closing)
            return httpx.Response(200, json=self.deals[m[1]])
        if (method, path) == ("POST", "/activities"):
            _require(set(body) == {"activity"}, "body {activity: {...}}")
            activity = body["activity"]
            _require(activity.get("deal_id") in self.deals and isinstance(activity.get("text"), str), "deal_id and text")
            aid = self._id()
            self.activities[aid] = {**recorded("rdstation_activity_created_response.json"), **activity, "_id": aid, "id": aid}
            return httpx.Response(200, json=self.activities[aid])
        raise AssertionError(f"RD Station CRM has no route {method} {path}")
