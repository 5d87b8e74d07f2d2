"""A contract-true stand-in for Twilio's Messages API on WhatsApp (sends, status callbacks, media files).

It holds the rules Twilio documents and answers the way Twilio answers, so code that breaks a rule fails here as it
would in production. Every rule names its page. Used by the provider sandbox (demo, end-to-end tests) and by the
unit tests through httpx.MockTransport. Pure Python: no HTTP server of its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, Callable
from urllib.parse import parse_qsl, urlencode

_MESSAGES = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json$")
_MEDIA = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages/(?P<message>[^/]+)/Media/(?P<media>[^/]+)$")
_CDN = re.compile(r"^/cdn/(?P<media>[^/]+)$")
# E.164: '+' and up to 15 digits. https://www.twilio.com/docs/glossary/what-e164
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# https://www.twilio.com/docs/content/content-api-resources (a Content SID is HX + 32 hex characters)
_CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
# https://www.twilio.com/docs/whatsapp/key-concepts#the-customer-service-window
SERVICE_WINDOW = timedelta(hours=24)
# Media on WhatsApp (https://www.twilio.com/docs/whatsapp/guidance-whatsapp-media-messages): Twilio downloads the
# MediaUrl and checks its Content-Type against the file; supported types below; 16 MB per message.
WHATSAPP_MEDIA_TYPES = {"image/jpeg", "image/png", "image/webp", "audio/ogg", "audio/amr", "audio/3gpp",
                        "audio/aac", "audio/mpeg", "video/mp4", "application/pdf"}
WHATSAPP_MAX_MEDIA_BYTES = 16 * 1024 * 1024
# A file's first bytes per type: how the fake tells a Content-Type that does not match the file.
_MAGIC = {"audio/ogg": (b"OggS",), "audio/mpeg": (b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"),
          "image/png": (b"\x89PNG",), "image/jpeg": (b"\xff\xd8",), "application/pdf": (b"%PDF",)}


def _http_fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    import httpx

    try:
        response = httpx.get(url, timeout=10, follow_redirects=True)
    except httpx.HTTPError:
        return 0, {}, b""
    return response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content


def _error(status: int, code: int, message: str) -> tuple[int, dict[str, Any]]:
    """Twilio's error body: https://www.twilio.com/docs/usage/twilios-response#response-formats-exceptions"""
    return status, {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                    "status": status}


@dataclass
class FakeAccount:
    auth_token: str
    senders: set[str] = field(default_factory=set)  # "whatsapp:+14155238886"
    content_sids: set[str] = field(default_factory=set)  # approved templates


@dataclass
class FakeFile:
    content: bytes
    mime_type: str


@dataclass
class Answer:
    status: int
    body: Any  # dict (JSON) or bytes
    headers: dict[str, str] = field(default_factory=dict)


def inbound_form(account_sid: str, sender: str, lead: str, sid: str, profile_name: str = "",
                 **params: str) -> dict[str, str]:
    """The parameters Twilio POSTs when a lead writes to a WhatsApp sender; `params` adds or overrides some.
    https://www.twilio.com/docs/messaging/guides/webhook-request"""
    return {"MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid, "AccountSid": account_sid,
            "From": f"whatsapp:{lead}", "To": f"whatsapp:{sender}", "WaId": lead.removeprefix("+"),
            "ProfileName": profile_name, "NumMedia": "0", "NumSegments": "1", "SmsStatus": "received",
            "ApiVersion": "2010-04-01", "Body": "", **params}


def sign(auth_token: str, url: str, params: dict[str, str]) -> str:
    """X-Twilio-Signature: base64(HMAC-SHA1(auth token, the full URL as called, query included, then each POST
    parameter's name and value sorted by name)).
    https://www.twilio.com/docs/usage/webhooks/webhooks-security#validating-signatures-from-twilio"""
    data = url
    for name in sorted(params):
        data += name + params[name]
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()


class TwilioFake:
    """State of a few Twilio accounts: their WhatsApp senders, the leads' service windows, messages and files."""

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC), base_url: str = "") -> None:
        self.accounts: dict[str, FakeAccount] = {}
        self.messages: list[dict[str, Any]] = []  # every accepted Message resource, in order
        self.callbacks: list[tuple[str, dict[str, str]]] = []  # (StatusCallback URL, form params) to deliver
        self.media_requests: list[str] = []
        self.fetch_media: Callable[[str], tuple[int, dict[str, str], bytes]] = _http_fetch  # how MediaUrl is read
        self.base_url = base_url  # where this fake is served (its CDN redirects point there)
        self.enforce_media_auth = True
        self._windows: dict[tuple[str, str], datetime] = {}
        self._files: dict[str, FakeFile] = {}
        self._failures: list[tuple[int, dict[str, Any]]] = []
        self._clock = clock
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # -- arranging -----------------------------------------------------------------------------------

    def add_account(self, account_sid: str, auth_token: str, senders: list[str]) -> None:
        self.accounts[account_sid] = FakeAccount(auth_token, {f"whatsapp:{s}" for s in senders})

    def approve_template(self, account_sid: str, content_sid: str) -> None:
        self.accounts[account_sid].content_sids.add(content_sid)

    def lead_wrote(self, sender: str, lead: str, at: datetime | None = None) -> None:
        """A lead's message opens (or renews) the 24-hour customer service window with that sender."""
        self._windows[(sender, lead)] = at or self._clock()

    def host_file(self, account_sid: str, message_sid: str, media_sid: str, file: FakeFile) -> str:
        """A lead's file as Twilio keeps it; returns its MediaUrl (the webhook's MediaUrl0)."""
        self._files[media_sid] = file
        return f"{self.base_url}/2010-04-01/Accounts/{account_sid}/Messages/{message_sid}/Media/{media_sid}"

    def fail_next(self, count: int, status: int = 429, code: int = 20429,
                  message: str = "Too Many Requests") -> None:
        """https://www.twilio.com/docs/api/errors/20429"""
        self._failures.extend([_error(status, code, message)] * count)

    def sent_to(self, lead: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["to"] == f"whatsapp:{lead}"]

    def incoming(self, account_sid: str, sender: str, lead: str, webhook_url: str, profile_name: str = "",
                 **params: str) -> tuple[bytes, dict[str, str]]:
        """What Twilio POSTs to the sender's webhook when a lead writes (and the window it opens): the form body and
        its headers, signed for `webhook_url`. `params` adds or overrides parameters (Body, NumMedia, MediaUrl0…).
        https://www.twilio.com/docs/messaging/guides/webhook-request"""
        sid = params.pop("MessageSid", None) or f"SM{hashlib.md5(f'in{next(self._ids)}'.encode()).hexdigest()}"
        form = inbound_form(account_sid, sender, lead, sid, profile_name, **params)
        self.lead_wrote(sender, lead)
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "X-Twilio-Signature": self.signature(account_sid, webhook_url, form)}
        return urlencode(form).encode(), headers

    # -- the API -------------------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        """One request to the fake (path without the host); headers with lower-case names."""
        if match := _MESSAGES.match(path):
            if method != "POST":
                return Answer(405, {"message": "use POST"})
            status, payload = self._create_message(match["account"], headers, body)
            return Answer(status, payload)
        if match := _MEDIA.match(path):
            return self._media(match["account"], match["media"], headers)
        if match := _CDN.match(path):
            file = self._files.get(match["media"])
            self.media_requests.append(f"cdn:{match['media']}")
            if file is None:
                return Answer(404, {"message": "expired"})
            return Answer(200, file.content, {"Content-Type": file.mime_type})
        return Answer(*_error(404, 20404, "The requested resource was not found"))

    def _authenticated(self, account_sid: str, headers: dict[str, str]) -> FakeAccount | None:
        """HTTP basic auth, the Account SID as user and the auth token as password, for that account's own URL.
        https://www.twilio.com/docs/usage/requests-to-twilio#authenticate-with-http"""
        scheme, _, encoded = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(encoded).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        account = self.accounts.get(account_sid)
        if account is None or user != account_sid or not hmac.compare_digest(password, account.auth_token):
            return None
        return account

    def _create_message(self, account_sid: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        account = self._authenticated(account_sid, headers)
        if account is None:
            # https://www.twilio.com/docs/api/errors/20003
            return _error(401, 20003, "Authenticate")
        with self._lock:
            if self._failures:
                return self._failures.pop(0)
        # The Messages API takes form parameters; a JSON body carries none of them.
        # https://www.twilio.com/docs/usage/requests-to-twilio#post
        params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True)) if (
            headers.get("content-type", "").startswith("application/x-www-form-urlencoded")) else {}
        to, sender = params.get("To", ""), params.get("From", "")
        text, content_sid = params.get("Body", ""), params.get("ContentSid", "")
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")  # https://www.twilio.com/docs/errors/21604
        if not sender and not params.get("MessagingServiceSid"):
            return _error(400, 21603, "A 'From' phone number is required.")  # https://www.twilio.com/docs/errors/21603
        if not text and not params.get("MediaUrl") and not content_sid:
            return _error(400, 21602, "Message body is required.")  # https://www.twilio.com/docs/errors/21602
        if to.startswith("whatsapp:") != sender.startswith("whatsapp:"):
            # https://www.twilio.com/docs/errors/21910
            return _error(400, 21910, "Invalid From and To pair. From and To should be of the same channel")
        if not to.startswith("whatsapp:"):
            return _error(400, 21211, f"Invalid 'To' Phone Number: {to[:4]}…")  # this fake is WhatsApp only
        if not _E164.match(to.removeprefix("whatsapp:")):
            return _error(400, 21211, "Invalid 'To' Phone Number")  # https://www.twilio.com/docs/errors/21211
        if sender not in account.senders:
            # https://www.twilio.com/docs/errors/63007
            return _error(400, 63007, "Twilio could not find a Channel with the specified From address")
        if len(text) > 1600:
            # https://www.twilio.com/docs/errors/21617
            return _error(400, 21617, "The concatenated message body exceeds the 1600 character limit")
        if content_sid:
            if not _CONTENT_SID.match(content_sid) or content_sid not in account.content_sids:
                return _error(400, 21655, "The ContentSid is Invalid")  # https://www.twilio.com/docs/errors/21655
            variables = params.get("ContentVariables")
            if variables is not None and not _json_object(variables):
                # https://www.twilio.com/docs/errors/21656
                return _error(400, 21656, "The ContentVariables Parameter is invalid")
        media: dict[str, Any] | None = None
        media_error: int | None = None
        if media_url := params.get("MediaUrl"):
            media, refusal, media_error = self._fetch(media_url)
            if refusal is not None:
                return refusal
        now = self._clock()
        sid = f"SM{hashlib.md5(f'{account_sid}{next(self._ids)}'.encode()).hexdigest()}"
        opened = self._windows.get((sender.removeprefix("whatsapp:"), to.removeprefix("whatsapp:")))
        in_window = opened is not None and now - opened < SERVICE_WINDOW
        # Free-form text outside the window is accepted (201, queued) and then fails with 63016; a template is the
        # only message WhatsApp delivers there. https://www.twilio.com/docs/errors/63016
        error_code = None if content_sid or in_window else 63016
        error_code = error_code or media_error
        resource = {
            "sid": sid, "account_sid": account_sid, "from": sender, "to": to, "body": text or None,
            "status": "queued", "num_media": "1" if media else "0", "num_segments": "1", "direction": "outbound-api",
            "api_version": "2010-04-01", "date_created": format_datetime(now), "date_updated": format_datetime(now),
            "date_sent": None, "error_code": None, "error_message": None, "messaging_service_sid": None,
            "price": None, "price_unit": "USD",
            "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}/Media.json"},
        }
        with self._lock:
            self.messages.append({**resource, "content_sid": content_sid or None, "media": media,
                                  "content_variables": params.get("ContentVariables"),
                                  "final_status": "failed" if error_code else "delivered",
                                  "final_error_code": error_code})
            if callback := params.get("StatusCallback"):
                self._queue_callbacks(callback, account_sid, sid, sender, to, error_code)
        return 201, resource

    def _fetch(self, url: str) -> tuple[dict[str, Any] | None, tuple[int, dict[str, Any]] | None, int | None]:
        """(media facts, a synchronous refusal, an error the message fails with later) for one MediaUrl."""
        status, headers, content = self.fetch_media(url)
        self.media_requests.append(f"fetch:{url}")
        if status != 200 or not content:
            # Twilio could not download it, or got 0 bytes: the message fails. https://www.twilio.com/docs/errors/63019
            return None, None, 63019
        content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if not content_type:
            # "You must return a Content-Type for all requests." https://www.twilio.com/docs/errors/12300
            return None, _error(400, 12300, "Invalid Content-Type"), None
        magic = _MAGIC.get(content_type)
        if magic is not None and not content.startswith(magic):
            # "If the content-type header does not match that of the media file, Twilio rejects the request."
            # (guidance on WhatsApp media messages) https://www.twilio.com/docs/errors/12300
            return None, _error(400, 12300, "Invalid Content-Type: it does not match the media file"), None
        facts = {"url": url, "content_type": content_type, "bytes": len(content), "content": content}
        if len(content) > WHATSAPP_MAX_MEDIA_BYTES or content_type not in WHATSAPP_MEDIA_TYPES:
            # Over 16 MB or a type WhatsApp does not take: the channel refuses the content (the guidance page names
            # no code; 63021 is "Channel invalid content error", https://www.twilio.com/docs/errors/63021).
            return facts, None, 63021
        return facts, None, None

    def _queue_callbacks(self, url: str, account_sid: str, sid: str, sender: str, to: str,
                         error_code: int | None) -> None:
        """The callbacks Twilio would POST: sent then delivered, or failed with its ErrorCode.
        https://www.twilio.com/docs/messaging/guides/track-outbound-message-status"""
        steps = [("failed", str(error_code))] if error_code else [("sent", None), ("delivered", None)]
        for status, code in steps:
            params = {"AccountSid": account_sid, "ApiVersion": "2010-04-01", "ChannelPrefix": "whatsapp",
                      "From": sender, "To": to, "MessageSid": sid, "SmsSid": sid, "MessageStatus": status,
                      "SmsStatus": status}
            if code:
                params["ErrorCode"] = code
            self.callbacks.append((url, params))

    def signature(self, account_sid: str, url: str, params: dict[str, str]) -> str:
        """X-Twilio-Signature as Twilio computes it for a request to `url` with these POST parameters.
        https://www.twilio.com/docs/usage/webhooks/webhooks-security#validating-signatures-from-twilio"""
        return sign(self.accounts[account_sid].auth_token, url, params)

    def _media(self, account_sid: str, media_sid: str, headers: dict[str, str]) -> Answer:
        """With HTTP basic auth on media enforced, a MediaUrl needs the account's credentials; it answers with a
        redirect to a short-lived file URL. https://www.twilio.com/docs/messaging/api/media-resource#fetch-media-file
        and https://www.twilio.com/docs/usage/security#http-authentication"""
        self.media_requests.append(f"media:{media_sid}")
        if self.enforce_media_auth and self._authenticated(account_sid, headers) is None:
            return Answer(*_error(401, 20003, "Authenticate"))
        if media_sid not in self._files:
            return Answer(*_error(404, 20404, "The requested resource was not found"))
        return Answer(307, b"", {"Location": f"{self.base_url}/cdn/{media_sid}"})


def _json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False
