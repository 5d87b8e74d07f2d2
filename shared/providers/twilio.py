"""Twilio (Programmable Messaging, WhatsApp): X-Twilio-Signature check, form payload normalization, sends through
the Messages API (free text, Content API templates) and media downloads.

Twilio's documentation, by concern:
- inbound webhook parameters: https://www.twilio.com/docs/messaging/guides/webhook-request
- signature: https://www.twilio.com/docs/usage/webhooks/webhooks-security
- status callbacks: https://www.twilio.com/docs/messaging/guides/track-outbound-message-status
- sending: https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource
- templates: https://www.twilio.com/docs/content/send-templates-created-with-the-content-template-builder
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from shared.domain.conversation import StoredMessage
from shared.domain.errors import (
    BadSignature,
    InvalidPayload,
    MediaUnavailable,
    MissingSignature,
    ProviderRejected,
    UnknownTenant,
)
from shared.domain.inbound import (
    DeliveryState,
    InboundMessage,
    Location,
    MediaRef,
    MessageKind,
    Provider,
    StatusUpdate,
    WebhookBatch,
)
from shared.domain.phone import to_e164
from shared.domain.tenancy import Channel
from shared.ports import DownloadedMedia, RawRequest, WebhookSecrets
from shared.providers.payload import (
    bounded_count,
    constant_time_equals,
    detail_text,
    fail,
    fetch_limited,
    is_transient_status,
    media_failure,
    missing_credential,
    post_form,
    recipient_digits,
    utc_now,
)

if TYPE_CHECKING:
    import httpx

_PROVIDER = Provider.TWILIO.value
_SIGNATURE_HEADER = "x-twilio-signature"
_WHATSAPP = "whatsapp:"
API_BASE_URL = "https://api.twilio.com"

# The answer Twilio's messaging webhook expects: TwiML; an empty <Response/> sends no reply of its own (ours goes
# out later through the Messages API). https://www.twilio.com/docs/messaging/twiml#an-empty-response
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

# MessageStatus of a status callback → our state. queued/accepted/scheduled/sending are Twilio-internal steps
# before WhatsApp has the message; undelivered and failed both mean it never reached the lead.
# https://www.twilio.com/docs/messaging/guides/outbound-message-status-in-status-callbacks
_STATES: dict[str, DeliveryState] = {
    "sent": DeliveryState.SENT,
    "delivered": DeliveryState.DELIVERED,
    "read": DeliveryState.READ,
    "undelivered": DeliveryState.FAILED,
    "failed": DeliveryState.FAILED,
}
# Error codes worth naming in the failure we record (https://www.twilio.com/docs/api/errors/<code>).
_ERRORS = {
    "63016": "free-form message outside the 24-hour window; only an approved template (Content SID) is delivered",
    "63024": "invalid message recipient",
    "63003": "the recipient is not on WhatsApp",
    "63032": "the user's WhatsApp version cannot receive this message",
}
# MessageType of an inbound WhatsApp message (webhook-request page) → our kind.
_KINDS: dict[str, MessageKind] = {
    "text": MessageKind.TEXT,
    "image": MessageKind.IMAGE,
    "video": MessageKind.VIDEO,
    "audio": MessageKind.AUDIO,
    "document": MessageKind.DOCUMENT,
    "sticker": MessageKind.STICKER,
    "location": MessageKind.LOCATION,
    "button": MessageKind.BUTTON,
    "interactive": MessageKind.INTERACTIVE,
    "contacts": MessageKind.CONTACTS,
    "reaction": MessageKind.REACTION,
}
# Click-to-WhatsApp ad parameters (webhook-request page, "WhatsApp advertisement parameters").
_REFERRAL = {"ReferralSourceUrl": "source_url", "ReferralSourceId": "source_id", "ReferralSourceType": "source_type",
             "ReferralHeadline": "headline", "ReferralBody": "body", "ReferralCtwaClid": "ctwa_clid",
             "ReferralMediaUrl": "media_url", "ReferralMediaContentType": "media_content_type"}
# A Content SID names an approved template in Twilio's Content API.
_CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
# The Messages API caps Body at 1600 characters (error 21617).
BODY_LIMIT = 1600


def form_params(raw: RawRequest) -> list[tuple[str, str]]:
    """The webhook's parameters: Twilio POSTs application/x-www-form-urlencoded, UTF-8."""
    content_type = raw.headers.get("content-type", "application/x-www-form-urlencoded")
    if not content_type.lower().startswith("application/x-www-form-urlencoded"):
        raise InvalidPayload("Twilio messaging webhooks are application/x-www-form-urlencoded "
                             f"(got {content_type.split(';', 1)[0][:60]!r})")
    if not raw.body:
        raise InvalidPayload("body is empty")
    try:
        return parse_qsl(raw.body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        raise InvalidPayload("body is not a UTF-8 form (application/x-www-form-urlencoded)") from None


def twilio_signature(auth_token: str, url: str, params: list[tuple[str, str]]) -> str:
    """base64(HMAC-SHA1(auth token, URL + every POST parameter's name and value, sorted by name, no separators))."""
    payload = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode("utf-8"), payload.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def signed_url_candidates(raw: RawRequest, public_url: str | None) -> list[str]:
    """The URLs Twilio may have signed: the configured public URL of this webhook, and the URL rebuilt from the
    proxy headers (Cloud Run terminates TLS, so the function itself sees http and an internal host), each with and
    without the scheme's default port, as Twilio's own validators try both."""
    parts = urlsplit(raw.url)
    query = parts.query
    bases: list[str] = []
    if public_url:
        configured = urlsplit(public_url.rstrip("/"))
        segment = raw.path.rstrip("/").rsplit("/", 1)[-1]
        path = configured.path if configured.path.endswith(f"/{segment}") else f"{configured.path}/{segment}"
        bases.append(urlunsplit((configured.scheme, configured.netloc, path, query, "")))
    proto = (raw.headers.get("x-forwarded-proto") or parts.scheme or "https").split(",", 1)[0].strip()
    host = (raw.headers.get("x-forwarded-host") or raw.headers.get("host") or parts.netloc).split(",", 1)[0].strip()
    if host:
        bases.append(urlunsplit((proto, host, parts.path or raw.path, query, "")))
    candidates: list[str] = []
    for url in bases:
        for variant in (url, _toggle_default_port(url)):
            if variant not in candidates:
                candidates.append(variant)
    return candidates


def _toggle_default_port(url: str) -> str:
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    if default is None or parts.hostname is None:
        return url
    if parts.port == default:
        return urlunsplit((parts.scheme, parts.hostname, parts.path, parts.query, ""))
    if parts.port is None:
        return urlunsplit((parts.scheme, f"{parts.hostname}:{default}", parts.path, parts.query, ""))
    return url


class TwilioWebhook:
    """Each channel is a WhatsApp sender of one Twilio account; the account's auth token signs the request, so the
    channel (the `To` of a message, the `From` of a status callback) is resolved first."""

    authenticates_before_parse = False
    # The signature is still checked after the keyed URL: only it proves that Twilio sent the request.
    url_key_suffices = False

    def __init__(self, public_url: str | None = None, clock: Callable[[], datetime] = utc_now) -> None:
        self._public_url = public_url
        self._clock = clock

    def require_credential(self, raw: RawRequest) -> None:
        """The signature rides in a header: a request without one is refused before the form is parsed or any
        channel is looked up (MissingSignature, 401)."""
        if not raw.headers.get(_SIGNATURE_HEADER):
            raise MissingSignature("X-Twilio-Signature header is missing")

    def authenticate(self, raw: RawRequest, channel: Channel | None, secrets: WebhookSecrets) -> None:
        """The AccountSid must be the channel's; X-Twilio-Signature must match with the account's auth token."""
        params = form_params(raw)
        creds = channel.credentials if channel else None
        account = dict(params).get("AccountSid", "")
        if creds is not None and creds.account_sid and not constant_time_equals(account, creds.account_sid):
            # The number is known but belongs to another Twilio account: to this request, no tenant owns it.
            raise UnknownTenant("no tenant owns this Twilio sender under the request's AccountSid")
        signature = raw.headers.get(_SIGNATURE_HEADER)
        if not signature:
            raise MissingSignature("X-Twilio-Signature header is missing")
        if creds is None or not creds.auth_token or not creds.account_sid:
            raise BadSignature("the channel has no Twilio account_sid/auth_token configured")
        candidates = signed_url_candidates(raw, self._public_url)
        if not any([constant_time_equals(signature, twilio_signature(creds.auth_token, url, params))
                    for url in candidates]):
            raise BadSignature("X-Twilio-Signature does not match this URL and these parameters "
                               "(behind a proxy, set PUBLIC_WEBHOOK_URL to the URL configured in Twilio)")

    def parse(self, raw: RawRequest) -> WebhookBatch:
        """An incoming message (→ one message per media item) or a status callback (MessageStatus)."""
        params = dict(form_params(raw))
        batch = WebhookBatch()
        _require(params, "AccountSid")
        status = params.get("MessageStatus") or ""
        if status and status not in ("received", "receiving"):
            update = _status(params, status, self._clock())
            if isinstance(update, StatusUpdate):
                batch.statuses.append(update)
            else:
                batch.ignored.append(update)
            return batch
        result = _messages(params, self._clock())
        if isinstance(result, str):
            batch.ignored.append(result)
        else:
            batch.messages.extend(result)
        return batch


def _require(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise InvalidPayload(f"{name} must be a non-empty form parameter (got {'empty' if name in params else 'missing'})")
    return value


def _whatsapp_number(params: Mapping[str, str], name: str) -> str | None:
    """The E.164 number of a `whatsapp:+…` address; None for another channel's address (SMS, RCS…)."""
    address = _require(params, name)
    if not address.startswith(_WHATSAPP):
        return None
    try:
        return to_e164(address)
    except ValueError:
        raise InvalidPayload(f"{name} is not a whatsapp:+<number> address") from None


def _status(params: Mapping[str, str], status: str, now: datetime) -> StatusUpdate | str:
    state = _STATES.get(status)
    if state is None:
        return f"status:{status[:40]}"
    channel_id = _whatsapp_number(params, "From")
    if channel_id is None:
        return "not_whatsapp"
    recipient = params.get("To", "")
    try:
        recipient_phone = to_e164(recipient) if recipient.startswith(_WHATSAPP) else None
    except ValueError:
        recipient_phone = None
    error = None
    if state is DeliveryState.FAILED:
        code = params.get("ErrorCode") or ""
        detail = params.get("ErrorMessage") or _ERRORS.get(code) or f"Twilio reported {status}"
        error = f"{code} {detail}".strip()
    return StatusUpdate(
        provider=Provider.TWILIO,
        channel_id=channel_id,
        provider_message_id=_require(params, "MessageSid"),
        state=state,
        recipient_phone=recipient_phone,
        at=now,  # status callbacks carry no event time
        error=error,
    )


def _messages(params: Mapping[str, str], now: datetime) -> list[InboundMessage] | str:
    channel_id = _whatsapp_number(params, "To")
    sender = _whatsapp_number(params, "From")
    if channel_id is None or sender is None:
        return "not_whatsapp"  # an SMS to the same Twilio number: not this webhook's business
    message_sid = params.get("MessageSid") or _require(params, "SmsMessageSid")
    count = bounded_count(params.get("NumMedia", "0") or "0", maximum=10)  # not int(): '²'.isdigit() is True
    if count is None:
        raise InvalidPayload("NumMedia must be a number from 0 to 10")
    media = []
    for index in range(count):
        url = _require(params, f"MediaUrl{index}")
        media.append(MediaRef(url=url, mime_type=params.get(f"MediaContentType{index}") or None))
    raw_type = (params.get("MessageType") or "").lower() or None
    kind = _kind(raw_type, params, media)
    latitude, longitude = _float(params.get("Latitude")), _float(params.get("Longitude"))
    location = None
    if latitude is not None and longitude is not None:
        location = Location(latitude=latitude, longitude=longitude, name=params.get("Label") or None,
                            address=params.get("Address") or None)
    referral = {ours: params[theirs] for theirs, ours in _REFERRAL.items() if params.get(theirs)}
    base = InboundMessage(
        provider=Provider.TWILIO,
        channel_id=channel_id,
        provider_message_id=message_sid,
        contact_phone=sender,
        contact_name=params.get("ProfileName") or None,
        kind=kind,
        text=_text(kind, params, location),
        media=media[0] if media else None,
        sent_at=now,  # the webhook carries no message time; Twilio calls it as the message arrives
        raw_type=raw_type or kind.value,
        reply_to=params.get("OriginalRepliedMessageSid") or None,
        choice_id=params.get("ButtonPayload") or None,
        location=location,
        referral=referral or None,
    )
    messages = [base]
    # WhatsApp carries one file per message, but the parameters allow several: each extra file is kept as its own
    # message (same sender, an id derived from the MessageSid), never dropped.
    for index, ref in enumerate(media[1:], start=1):
        messages.append(base.model_copy(update={
            "provider_message_id": f"{message_sid}#{index}", "media": ref, "text": None,
            "kind": _media_kind(ref.mime_type)}))
    return messages


def _kind(raw_type: str | None, params: Mapping[str, str], media: list[MediaRef]) -> MessageKind:
    if media:
        declared = _KINDS.get(raw_type or "")
        return declared if declared is not None and declared.has_media else _media_kind(media[0].mime_type)
    if raw_type in _KINDS:
        return _KINDS[raw_type]
    if params.get("Latitude") and params.get("Longitude"):
        return MessageKind.LOCATION
    if params.get("ButtonPayload") or params.get("ButtonText"):
        return MessageKind.BUTTON
    if raw_type and raw_type != "text":
        return MessageKind.UNSUPPORTED
    return MessageKind.TEXT


def _media_kind(mime_type: str | None) -> MessageKind:
    family = (mime_type or "").split("/", 1)[0].lower()
    return {"image": MessageKind.IMAGE, "audio": MessageKind.AUDIO, "video": MessageKind.VIDEO}.get(
        family, MessageKind.DOCUMENT)


def _text(kind: MessageKind, params: Mapping[str, str], location: Location | None) -> str | None:
    body = params.get("Body") or None
    if kind is MessageKind.BUTTON:
        return params.get("ButtonText") or body or params.get("ButtonPayload") or None
    if kind is MessageKind.LOCATION and location is not None and not body:
        label = location.name or location.address
        return f"{location.latitude},{location.longitude}" + (f" {label}" if label else "")
    return body


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        raise InvalidPayload("Latitude and Longitude must be numbers") from None


class TwilioProvider:
    """Sends through the Messages API: POST /2010-04-01/Accounts/{AccountSid}/Messages.json, basic auth."""

    def __init__(self, http: httpx.Client, base_url: str = API_BASE_URL,
                 status_callback: Callable[[Channel], str | None] | None = None) -> None:
        """`status_callback` gives each send's StatusCallback URL (the sender's keyed webhook URL); None or a None
        answer leaves the sender's own callback configured at Twilio."""
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._status_callback = status_callback

    def send_audio_url(self, channel: Channel, to_phone: str, url: str, size: int) -> str:
        """A voice note by link: Twilio takes media only as a URL (MediaUrl) it downloads, checking the
        Content-Type it is served with against the file; WhatsApp audio may be OGG (Opus), AMR, 3GP, AAC or MPEG,
        at most 16 MB per message (https://www.twilio.com/docs/whatsapp/guidance-whatsapp-media-messages). No
        Body: the note alone. The caller publishes the file (shared/adapters/media_links.py)."""
        if size > TWILIO_WHATSAPP_MAX_MEDIA_BYTES:
            raise ProviderRejected(_PROVIDER, 0, f"voice note of {size} bytes is over WhatsApp's 16 MB")
        return self._create(channel, to_phone, {"MediaUrl": url})

    def send_text(self, channel: Channel, to_phone: str, text: str) -> str:
        """Free text (the 24-hour window): Body of at most 1600 characters, so a longer reply goes as several
        messages in order; returns the last message's SID (the one whose delivery closes the reply)."""
        parts = split_body(text)
        sid = ""
        for part in parts:
            sid = self._create(channel, to_phone, {"Body": part})
        return sid

    def send_template(self, channel: Channel, to_phone: str, name: str, language: str,
                      params: list[str] | dict[str, str]) -> str:
        """An approved WhatsApp template through the Content API: `name` is its Content SID (HX…); a list fills
        {{1}}, {{2}}…, a mapping the named variables, as ContentVariables. Outside the 24-hour window this is the
        only message WhatsApp delivers."""
        if not _CONTENT_SID.match(name):
            raise ProviderRejected(_PROVIDER, 0, "a Twilio template is named by its Content SID (HX + 32 hex "
                                                 "characters); set the step's template.name to it")
        data = {"ContentSid": name}
        if params:
            variables = params if isinstance(params, dict) else {
                str(i): value for i, value in enumerate(params, start=1)}
            data["ContentVariables"] = json.dumps(variables, ensure_ascii=False)
        return self._create(channel, to_phone, data)

    def _create(self, channel: Channel, to_phone: str, content: dict[str, str]) -> str:
        creds = channel.credentials
        if not creds.account_sid:
            missing_credential(_PROVIDER, "account_sid")
        if not creds.auth_token:
            missing_credential(_PROVIDER, "auth_token")
        url = f"{self._base_url}/2010-04-01/Accounts/{quote(creds.account_sid, safe='')}/Messages.json"
        data = {"To": f"{_WHATSAPP}+{recipient_digits(_PROVIDER, to_phone)}",
                "From": f"{_WHATSAPP}{channel.channel_id}", **content}
        if self._status_callback is not None and (callback := self._status_callback(channel)):
            data["StatusCallback"] = callback
        reply = post_form(self._http, _PROVIDER, url, (creds.account_sid, creds.auth_token), data)
        body = reply.body if isinstance(reply.body, dict) else {}
        secrets = [creds.auth_token]
        if 200 <= reply.status < 300:
            sid = body.get("sid")
            if isinstance(sid, str) and sid:
                return sid
            fail(_PROVIDER, reply.status, "response has no sid", secrets, transient=True)
        # Error body: {"code": 21211, "message": "...", "more_info": "...", "status": 400}
        # https://www.twilio.com/docs/usage/twilios-response#response-formats-exceptions
        code = body.get("code")
        detail = detail_text(body.get("message")) or f"HTTP {reply.status}"
        if code is not None:
            detail = f"code {code}: {detail}"
        # 20429: too many requests (https://www.twilio.com/docs/api/errors/20429)
        transient = is_transient_status(reply.status) or str(code) == "20429"
        fail(_PROVIDER, reply.status, detail, secrets, transient=transient)


# "For a WhatsApp message, the maximum size limit is 16MB" (guidance on WhatsApp media messages, above).
TWILIO_WHATSAPP_MAX_MEDIA_BYTES = 16 * 1024 * 1024


def split_body(text: str, limit: int = BODY_LIMIT) -> list[str]:
    """Pieces of at most `limit` characters, cut at a line break or a space when there is one."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = max(rest.rfind("\n", 0, limit), rest.rfind(" ", 0, limit))
        cut = cut if cut > limit // 2 else limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    pieces.append(rest)
    return [piece for piece in pieces if piece] or [""]


class TwilioMedia:
    """Downloads a lead's file from its MediaUrl. With "HTTP Basic Authentication for media" on (Console → Messaging
    settings), Twilio wants the account's credentials; the URL then redirects to a short-lived file URL.
    Credentials go only to Twilio's API host, never to whatever host a URL names."""

    def __init__(self, http: httpx.Client, base_url: str = API_BASE_URL) -> None:
        self._http = http
        self._api_host = urlsplit(base_url).netloc

    def download(self, channel: Channel, message: StoredMessage, max_bytes: int) -> DownloadedMedia:
        media = message.media
        if media is None or not media.url:
            raise MediaUnavailable("the Twilio webhook carried no MediaUrl")
        creds = channel.credentials
        headers: dict[str, str] = {}
        if creds.account_sid and creds.auth_token and urlsplit(media.url).netloc == self._api_host:
            token = base64.b64encode(f"{creds.account_sid}:{creds.auth_token}".encode()).decode("ascii")
            headers["Authorization"] = f"Basic {token}"
        file = fetch_limited(self._http, _PROVIDER, "GET", media.url, headers, max_bytes)
        if file.status != 200:
            media_failure(_PROVIDER, file.status, "media download", [creds.auth_token])
        return DownloadedMedia(content=file.content, mime_type=media.mime_type or file.content_type,
                               filename=media.filename)

