"""An in-memory Google Calendar API v3 at the HTTP layer (an httpx.MockTransport handler).

Google Calendar is a remote API, so this is the only fake of the calendar work. It enforces the rules the v3
reference documents, each cited, and answers with the documented error body
{"error": {"code", "message", "errors": [{"domain", "reason", "message"}]}}
(https://developers.google.com/workspace/calendar/api/guides/errors):

- every request carries `Authorization: Bearer …`, else 401 authError (guides/errors#401_invalid_credentials);
- freeBusy.query needs timeMin < timeMax, else 400 timeRangeEmpty (guides/errors#400_bad_request); a calendar
  not shared with the caller comes back inside the 200 with errors[{reason: "notFound"}]
  (https://developers.google.com/workspace/calendar/api/v3/reference/freebusy/query, response `calendars.(key).errors`);
  cancelled and transparent events are not busy (v3/reference/events: `transparency`);
- events.* on a calendar the caller cannot see: 404 notFound (guides/errors#404_not_found);
- events.insert: `start` and `end` required; end before start → 400 timeRangeEmpty; a client `id` must be
  base32hex (a–v, 0–9) and 5–1024 long, else 400 invalid; an id that exists (even a cancelled event) → 409
  duplicate (v3/reference/events#id, guides/errors#409_conflict); `conferenceData` is ignored unless
  `conferenceDataVersion=1` (v3/reference/events/insert) and a Meet link is made only when the calendar allows
  `hangoutsMeet` (v3/reference/calendars#conferenceProperties), else 400 invalid "Invalid conference type value.";
- events.patch with `If-Match` not equal to the current etag → 412 conditionNotMet
  (https://developers.google.com/workspace/calendar/api/guides/version-resources); each change bumps the etag;
- events.delete keeps the event as `status: cancelled`; deleting it again → 410 deleted (guides/errors#410_gone);
  events.get of a cancelled event still returns it (v3/reference/events: "cancelled" status).
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import unquote

import httpx

BASE = "https://www.googleapis.com/calendar/v3"
_ID = re.compile(r"^[a-v0-9]{5,1024}$")


def _error(code: int, reason: str, message: str, domain: str = "global") -> httpx.Response:
    return httpx.Response(code, json={"error": {"code": code, "message": message,
                                                "errors": [{"domain": domain, "reason": reason, "message": message}]}})


def _time(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


@dataclass
class FakeGoogleCalendar:
    """Calendars by id; `meet_allowed` lists calendars that can create Meet links."""

    calendars: dict[str, dict[str, dict]] = field(default_factory=dict)
    meet_allowed: set[str] = field(default_factory=set)
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_next: list[tuple[int, str]] = field(default_factory=list)  # (status, reason) for the next requests
    _etags: itertools.count = field(default_factory=lambda: itertools.count(1))

    @classmethod
    def with_calendars(cls, *calendar_ids: str) -> FakeGoogleCalendar:
        fake = cls()
        for calendar_id in calendar_ids:
            fake.add_calendar(calendar_id)
        return fake

    def add_calendar(self, calendar_id: str, *, meet: bool = True) -> None:
        self.calendars.setdefault(calendar_id, {})
        if meet:
            self.meet_allowed.add(calendar_id)

    def add_busy(self, calendar_id: str, start: datetime, end: datetime, summary: str = "ocupado") -> str:
        event_id = uuid.uuid4().hex[:20].translate(str.maketrans("wxyz", "0123"))
        self.calendars[calendar_id][event_id] = {
            "kind": "calendar#event", "id": event_id, "etag": self._etag(), "status": "confirmed",
            "summary": summary, "start": {"dateTime": start.isoformat()}, "end": {"dateTime": end.isoformat()}}
        return event_id

    def events(self, calendar_id: str, *, include_cancelled: bool = False) -> list[dict]:
        return [e for e in self.calendars[calendar_id].values() if include_cancelled or e["status"] != "cancelled"]

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=self.transport())

    def _etag(self) -> str:
        return f'"{next(self._etags)}"'

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        path = request.url.path.removeprefix("/calendar/v3")
        self.requests.append({"method": request.method, "path": unquote(path), "params": dict(request.url.params),
                              "body": body, "if_match": request.headers.get("if-match")})
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or not token.strip():
            return _error(401, "authError", "Invalid Credentials")
        if self.fail_next:
            status, reason = self.fail_next.pop(0)
            return _error(status, reason, f"injected {reason}")
        if request.method == "POST" and path == "/freeBusy":
            return self._free_busy(body or {})
        match = re.fullmatch(r"/calendars/([^/]+)/events(?:/([^/]+))?", request.url.raw_path.decode().split("?")[0]
                             .removeprefix("/calendar/v3"))
        if not match:
            return _error(404, "notFound", "Not Found")
        calendar_id, event_id = unquote(match.group(1)), match.group(2) and unquote(match.group(2))
        if calendar_id not in self.calendars:
            return _error(404, "notFound", "Not Found")
        events = self.calendars[calendar_id]
        if request.method == "POST" and event_id is None:
            return self._insert(calendar_id, events, body or {}, dict(request.url.params))
        if event_id not in events:
            return _error(404, "notFound", "Not Found")
        event = events[event_id]
        if request.method == "GET":
            return httpx.Response(200, json=event)
        if request.method == "PATCH":
            if_match = request.headers.get("if-match")
            if if_match and if_match != event["etag"]:
                return _error(412, "conditionNotMet", "Precondition Failed")
            for key in ("start", "end"):
                if key in (body or {}) and _time((body or {})[key].get("dateTime")) is None:
                    return _error(400, "invalid", f"Invalid {key} time.")
            updated = {**event, **(body or {}), "etag": self._etag()}
            if _time(updated["end"]["dateTime"]) <= _time(updated["start"]["dateTime"]):
                return _error(400, "timeRangeEmpty", "The specified time range is empty.", "calendar")
            events[event_id] = updated
            return httpx.Response(200, json=updated)
        if request.method == "DELETE":
            if event["status"] == "cancelled":
                return _error(410, "deleted", "Resource has been deleted")
            events[event_id] = {**event, "status": "cancelled", "etag": self._etag()}
            return httpx.Response(204)
        return _error(405, "methodNotAllowed", "Method Not Allowed")

    def _free_busy(self, body: dict) -> httpx.Response:
        start, end = _time(body.get("timeMin")), _time(body.get("timeMax"))
        if start is None or end is None:
            return _error(400, "badRequest", "Missing or invalid timeMin/timeMax.")
        if end <= start:
            return _error(400, "timeRangeEmpty", "The specified time range is empty.", "calendar")
        calendars: dict[str, dict] = {}
        for item in body.get("items") or []:
            calendar_id = item.get("id")
            if calendar_id not in self.calendars:
                calendars[calendar_id] = {"errors": [{"domain": "global", "reason": "notFound"}], "busy": []}
                continue
            busy = []
            for event in self.calendars[calendar_id].values():
                if event["status"] == "cancelled" or event.get("transparency") == "transparent":
                    continue
                s, e = _time(event["start"]["dateTime"]), _time(event["end"]["dateTime"])
                if s < end and start < e:
                    busy.append({"start": max(s, start).isoformat(), "end": min(e, end).isoformat()})
            calendars[calendar_id] = {"busy": sorted(busy, key=lambda b: b["start"])}
        return httpx.Response(200, json={"kind": "calendar#freeBusy", "timeMin": body["timeMin"],
                                         "timeMax": body["timeMax"], "calendars": calendars})

    def _insert(self, calendar_id: str, events: dict[str, dict], body: dict, params: dict) -> httpx.Response:
        for key in ("start", "end"):
            if not isinstance(body.get(key), dict) or _time(body[key].get("dateTime")) is None:
                return _error(400, "required", f"Missing {key} time.")
        if _time(body["end"]["dateTime"]) <= _time(body["start"]["dateTime"]):
            return _error(400, "timeRangeEmpty", "The specified time range is empty.", "calendar")
        event_id = body.get("id") or uuid.uuid4().hex
        if "id" in body and not _ID.match(str(body["id"])):
            return _error(400, "invalid", "Invalid resource id value.")
        if event_id in events:
            return _error(409, "duplicate", "The requested identifier already exists.")
        event = {**body, "kind": "calendar#event", "id": event_id, "etag": self._etag(),
                 "status": body.get("status", "confirmed"),
                 "htmlLink": f"https://www.google.com/calendar/event?eid={event_id}"}
        conference = body.get("conferenceData")
        event.pop("conferenceData", None)
        if conference and params.get("conferenceDataVersion") == "1":
            kind = conference.get("createRequest", {}).get("conferenceSolutionKey", {}).get("type")
            if kind != "hangoutsMeet" or calendar_id not in self.meet_allowed:
                return _error(400, "invalid", "Invalid conference type value.")
            link = f"https://meet.google.com/{event_id[:3]}-{event_id[3:7]}-{event_id[7:10]}"
            event["hangoutLink"] = link
            event["conferenceData"] = {**conference, "entryPoints": [{"entryPointType": "video", "uri": link}],
                                       "conferenceSolution": {"key": {"type": "hangoutsMeet"}, "name": "Google Meet"}}
        events[event_id] = event
        return httpx.Response(200, json=event)
