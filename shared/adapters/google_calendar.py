"""Google Calendar API v3 over REST (httpx), as Piloto's service account.

Shapes from the v3 reference (https://developers.google.com/workspace/calendar/api/v3/reference):
- POST /freeBusy {timeMin, timeMax, timeZone, items[{id}]} → {kind: "calendar#freeBusy", calendars: {id: {busy:
  [{start, end}], errors?: [{domain, reason}]}}}; a calendar not shared with us comes back with
  errors[{reason: "notFound"}] inside a 200, not as an HTTP error (…/freebusy/query).
- POST /calendars/{calendarId}/events?conferenceDataVersion=1 with a client-chosen `id` (base32hex, 5–1024
  chars) and `conferenceData.createRequest{requestId, conferenceSolutionKey{type: "hangoutsMeet"}}` for a Meet
  link (…/events/insert, …/events#conferenceData); a repeated id answers 409 "duplicate".
- GET/PATCH/DELETE /calendars/{calendarId}/events/{eventId}; PATCH with If-Match: <etag> answers 412 when the
  event changed (https://developers.google.com/workspace/calendar/api/guides/version-resources); DELETE of a
  deleted event answers 410 "deleted".
- Errors: {"error": {"code", "message", "errors": [{"domain", "reason", "message"}]}}
  (https://developers.google.com/workspace/calendar/api/guides/errors).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from urllib.parse import quote

import httpx

from shared.domain.errors import (
    CalendarConflict,
    CalendarError,
    CalendarNotFound,
    CalendarPreconditionFailed,
    CalendarUnavailable,
)
from shared.domain.scheduling import CalendarEvent, Interval, MeetingDraft

BASE_URL = "https://www.googleapis.com/calendar/v3"
# Least privilege: read availability, write events (https://developers.google.com/workspace/calendar/api/auth)
SCOPES = ("https://www.googleapis.com/auth/calendar.events", "https://www.googleapis.com/auth/calendar.freebusy")


class GoogleCalendar:
    """One instance per process; `token` returns a current OAuth access token."""

    def __init__(self, client: httpx.Client, token: Callable[[], str], base_url: str = BASE_URL) -> None:
        self._http = client
        self._token = token
        self._base = base_url.rstrip("/")

    def busy(self, calendar_ids: list[str], start: datetime, end: datetime, time_zone: str
             ) -> dict[str, list[Interval]]:
        body = {"timeMin": start.isoformat(), "timeMax": end.isoformat(), "timeZone": time_zone,
                "items": [{"id": c} for c in calendar_ids]}
        data = self._call("POST", "/freeBusy", json=body)
        result: dict[str, list[Interval]] = {}
        for calendar_id, entry in (data.get("calendars") or {}).items():
            if entry.get("errors"):
                continue  # not shared with us, or Calendar could not compute it: never offer its time
            result[calendar_id] = [Interval(_parse_time(b["start"]), _parse_time(b["end"]))
                                   for b in entry.get("busy") or []]
        return result

    def get_event(self, calendar_id: str, event_id: str) -> CalendarEvent | None:
        try:
            return _event(calendar_id, self._call("GET", _event_path(calendar_id, event_id)))
        except CalendarNotFound:
            return None

    def insert_event(self, calendar_id: str, draft: MeetingDraft) -> CalendarEvent:
        body: dict = {
            "id": draft.event_id, "summary": draft.summary, "description": draft.description,
            "start": {"dateTime": draft.start.isoformat(), "timeZone": draft.time_zone},
            "end": {"dateTime": draft.end.isoformat(), "timeZone": draft.time_zone},
            # The lead is not an attendee (a WhatsApp number has no e-mail): no invitations go out.
            "reminders": {"useDefault": True},
        }
        if draft.location:
            body["location"] = draft.location
        params = {"sendUpdates": "none"}
        if draft.video_link:
            params["conferenceDataVersion"] = "1"  # without it Calendar ignores conferenceData
            body["conferenceData"] = {"createRequest": {
                "requestId": draft.event_id, "conferenceSolutionKey": {"type": "hangoutsMeet"}}}
        path = f"/calendars/{quote(calendar_id, safe='')}/events"
        return _event(calendar_id, self._call("POST", path, json=body, params=params))

    def patch_event(self, calendar_id: str, event_id: str, etag: str, *, start: datetime | None = None,
                    end: datetime | None = None, status: str | None = None, description: str | None = None,
                    time_zone: str | None = None) -> CalendarEvent:
        body: dict = {}
        if start is not None:
            body["start"] = {"dateTime": start.isoformat(), **({"timeZone": time_zone} if time_zone else {})}
        if end is not None:
            body["end"] = {"dateTime": end.isoformat(), **({"timeZone": time_zone} if time_zone else {})}
        if status is not None:
            body["status"] = status
        if description is not None:
            body["description"] = description
        data = self._call("PATCH", _event_path(calendar_id, event_id), json=body, params={"sendUpdates": "none"},
                          headers={"If-Match": etag})
        return _event(calendar_id, data)

    def delete_event(self, calendar_id: str, event_id: str) -> None:
        try:
            self._call("DELETE", _event_path(calendar_id, event_id), params={"sendUpdates": "none"})
        except CalendarNotFound as err:
            if err.status != 410:  # 410: deleted already (a retried cancel)
                raise

    def _call(self, method: str, path: str, *, json: dict | None = None, params: dict | None = None,
              headers: dict | None = None) -> dict:
        try:
            response = self._http.request(method, self._base + path, json=json, params=params,
                                          headers={"Authorization": f"Bearer {self._token()}", **(headers or {})})
        except httpx.HTTPError as err:
            raise CalendarUnavailable(None, "network", type(err).__name__) from err
        if response.status_code < 300:
            return response.json() if response.content else {}
        raise _error(response)


def _event_path(calendar_id: str, event_id: str) -> str:
    return f"/calendars/{quote(calendar_id, safe='')}/events/{quote(event_id, safe='')}"


def _error(response: httpx.Response) -> CalendarError:
    try:
        error = response.json().get("error") or {}
    except ValueError:
        error = {}
    reasons = [e.get("reason", "") for e in error.get("errors") or []]
    reason = reasons[0] if reasons else ""
    detail = str(error.get("message") or response.reason_phrase)[:300]
    status = response.status_code
    if status == 409:
        return CalendarConflict(status, reason or "duplicate", detail)
    if status == 412:
        return CalendarPreconditionFailed(status, reason or "conditionNotMet", detail)
    if status in (404, 410):
        return CalendarNotFound(status, reason or "notFound", detail)
    if status == 429 or status >= 500 or reason in ("rateLimitExceeded", "userRateLimitExceeded"):
        return CalendarUnavailable(status, reason, detail)
    return CalendarError(status, reason, detail)


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _event(calendar_id: str, data: dict) -> CalendarEvent:
    video = data.get("hangoutLink") or next(
        (e.get("uri") for e in (data.get("conferenceData") or {}).get("entryPoints") or []
         if e.get("entryPointType") == "video"), None)
    return CalendarEvent(event_id=data["id"], calendar_id=calendar_id, etag=data.get("etag", ""),
                         status=data.get("status", "confirmed"), start=_parse_time(data["start"]["dateTime"]),
                         end=_parse_time(data["end"]["dateTime"]), html_link=data.get("htmlLink"), video_link=video)


class ServiceAccountToken:
    """Access tokens for the Calendar scopes: the function's own identity, or a service account it impersonates.

    On Cloud Functions the runtime account's credentials come from the metadata server; with
    CALENDAR_SERVICE_ACCOUNT set, they are exchanged for the calendar account's (the runtime account needs
    roles/iam.serviceAccountTokenCreator on it). No key file exists: a leaked key would be a long-lived
    credential to every shared calendar. Tokens are refreshed when expired.
    """

    def __init__(self, impersonate: str | None) -> None:
        self._impersonate = impersonate
        self._credentials = None
        self._lock = threading.Lock()

    def __call__(self) -> str:
        import google.auth  # lazy: only a turn that books pays this import
        import google.auth.transport.requests

        with self._lock:
            if self._credentials is None:
                source, _ = google.auth.default(scopes=list(SCOPES))
                if self._impersonate:
                    from google.auth import impersonated_credentials

                    source = impersonated_credentials.Credentials(
                        source_credentials=source, target_principal=self._impersonate, target_scopes=list(SCOPES))
                self._credentials = source
            if not self._credentials.valid:
                self._credentials.refresh(google.auth.transport.requests.Request())
            return self._credentials.token
