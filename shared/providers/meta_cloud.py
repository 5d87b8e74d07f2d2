"""WhatsApp Cloud API (Meta): webhook signature, subscription handshake, payload normalization, text sends and
media downloads."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import quote

from shared.domain.conversation import StoredMessage
from shared.domain.errors import (
    BadSignature,
    InvalidPayload,
    MediaTooLarge,
    MediaUnavailable,
    MissingSignature,
    TransientError,
)
from shared.domain.inbound import (
    DeliveryState,
    InboundMessage,
    MediaRef,
    MessageKind,
    Provider,
    RejectedPart,
    StatusUpdate,
    WebhookBatch,
)
from shared.domain.phone import to_e164
from shared.domain.tenancy import Channel
from shared.ports import DownloadedMedia, RawRequest, WebhookSecrets
from shared.providers.payload import (
    HttpReply,
    as_dict,
    as_list,
    constant_time_equals,
    detail_text,
    epoch_to_utc,
    fail,
    fetch_limited,
    is_transient_status,
    json_object,
    json_of,
    location_from,
    media_failure,
    missing_credential,
    optional_str,
    post_multipart,
    post_json,
    recipient_digits,
    redact,
    require_str,
    shape_of,
    string_fields,
)

if TYPE_CHECKING:
    import httpx

_PROVIDER = Provider.META.value
logger = logging.getLogger(__name__)

# Graph API versions and the day each stops working, from Meta's "Available Graph API Versions" table
# (https://developers.facebook.com/docs/graph-api/changelog/versions/, read 2026-11-29). A version ends two
# years after its successor's release; the newest ones say "TBD" until then, so the default is the newest
# version with a published date, the longest support Meta commits to today.
GRAPH_API_VERSION = "v25.0"
GRAPH_VERSION_EXPIRES: dict[str, date] = {
    "v21.0": date(2027, 1, 21),
    "v22.0": date(2027, 5, 20),
    "v23.0": date(2027, 10, 8),
    "v24.0": date(2028, 2, 18),
    "v25.0": date(2028, 7, 29),
}
EXPIRY_WARNING_DAYS = 60
_warned: set[str] = set()


def graph_version_warning(version: str, today: date) -> str | None:
    """Why the configured Graph API version needs attention (expired, within 60 days, or of no known date)."""
    expires = GRAPH_VERSION_EXPIRES.get(version)
    if expires is None:
        return (f"META_GRAPH_VERSION {version} has no expiry date known to Piloto; check "
                "https://developers.facebook.com/docs/graph-api/changelog/versions/")
    days = (expires - today).days
    if days < 0:
        return f"META_GRAPH_VERSION {version} expired on {expires.isoformat()}: Meta answers it as the next version"
    if days <= EXPIRY_WARNING_DAYS:
        return f"META_GRAPH_VERSION {version} expires on {expires.isoformat()} ({days} days): move to a newer one"
    return None


def _warn_about_version(version: str) -> None:
    """Once per instance: logged at startup of the function that talks to Meta, so the deploy owner sees it."""
    if version in _warned:
        return
    _warned.add(version)
    warning = graph_version_warning(version, datetime.now(UTC).date())
    if warning:
        logger.warning(warning)
_SIGNATURE_HEADER = "x-hub-signature-256"
_SIGNATURE_PREFIX = "sha256="

_KINDS: dict[str, MessageKind] = {
    "text": MessageKind.TEXT,
    "image": MessageKind.IMAGE,
    "audio": MessageKind.AUDIO,
    "video": MessageKind.VIDEO,
    "document": MessageKind.DOCUMENT,
    "sticker": MessageKind.STICKER,
    "location": MessageKind.LOCATION,
    "contacts": MessageKind.CONTACTS,
    "interactive": MessageKind.INTERACTIVE,
    "button": MessageKind.BUTTON,
    "reaction": MessageKind.REACTION,
}
_MEDIA_TYPES = {"image", "audio", "video", "document", "sticker"}

_STATES: dict[str, DeliveryState] = {
    "sent": DeliveryState.SENT,
    "delivered": DeliveryState.DELIVERED,
    "read": DeliveryState.READ,
    "failed": DeliveryState.FAILED,
}

# Meta error codes that mean "later", whatever HTTP status carries them: throughput limits
# (130429 per number, 131056 per business-user pair, 4 and 80007 per app/account) and outages.
_TRANSIENT_CODES = {4, 80007, 130429, 131056, 131000, 131016}


def verify_subscription(query: Mapping[str, str], verify_token: str | None) -> str:
    """Answer Meta's GET handshake: the hub.challenge to echo, if hub.verify_token is ours."""
    mode = query.get("hub.mode")
    token = query.get("hub.verify_token")
    challenge = query.get("hub.challenge")
    if not mode or not token or not challenge:
        raise InvalidPayload("hub.mode, hub.verify_token and hub.challenge are all required")
    if mode != "subscribe":
        raise InvalidPayload("hub.mode must be 'subscribe'")
    if not verify_token:
        raise BadSignature("the Meta verify token is not configured")
    if not constant_time_equals(token, verify_token):
        raise BadSignature("hub.verify_token does not match")
    return challenge


class MetaCloudWebhook:
    """Cloud API webhooks, signed with the app secret of our one Meta app (so checked before parsing)."""

    authenticates_before_parse = True

    def authenticate(self, raw: RawRequest, channel: Channel | None, secrets: WebhookSecrets) -> None:
        """Check X-Hub-Signature-256 against HMAC-SHA256(app secret, raw body)."""
        header = raw.headers.get(_SIGNATURE_HEADER)
        if not header:
            raise MissingSignature("X-Hub-Signature-256 header is missing")
        if not secrets.meta_app_secret:
            # Never accept an unsigned body just because the secret was forgotten in configuration.
            raise BadSignature("the Meta app secret is not configured, so no signature can be verified")
        if not header.startswith(_SIGNATURE_PREFIX):
            raise BadSignature("X-Hub-Signature-256 must look like 'sha256=<hex>'")
        expected = hmac.new(secrets.meta_app_secret.encode("utf-8"), raw.body, hashlib.sha256).hexdigest()
        if not constant_time_equals(header[len(_SIGNATURE_PREFIX):].lower(), expected):
            raise BadSignature("X-Hub-Signature-256 does not match the body")

    def parse(self, raw: RawRequest) -> WebhookBatch:
        """Normalize every entry and change of one notification."""
        body = json_object(raw.body)
        kind = body.get("object")
        if kind != "whatsapp_business_account":
            got = repr(kind[:40]) if isinstance(kind, str) and kind else shape_of(kind)
            got = got if "object" in body else "missing"
            raise InvalidPayload(f"object must be 'whatsapp_business_account' (got {got})")
        batch = WebhookBatch()
        for e, entry in enumerate(as_list(body.get("entry"), "entry")):
            entry = as_dict(entry, f"entry[{e}]")
            for c, change in enumerate(as_list(entry.get("changes"), f"entry[{e}].changes")):
                where = f"entry[{e}].changes[{c}]"
                change = as_dict(change, where)
                field = change.get("field")
                # Route by the change's field, never by what its value holds: a `history` change also carries
                # value.messages[] (past messages), which must not be answered.
                if field == "messages":
                    _parse_messages_change(as_dict(change.get("value"), f"{where}.value"), f"{where}.value", batch)
                elif field == "smb_message_echoes":
                    _parse_echoes_change(as_dict(change.get("value"), f"{where}.value"), f"{where}.value", batch)
                else:
                    batch.ignored.append(field if isinstance(field, str) and field else "unknown_field")
        return batch


def _parse_messages_change(value: dict[str, Any], where: str, batch: WebhookBatch) -> None:
    messages = as_list(value.get("messages", []), f"{where}.messages")
    statuses = as_list(value.get("statuses", []), f"{where}.statuses")
    if not messages and not statuses:
        batch.ignored.append("errors" if value.get("errors") else "empty_change")
        return
    metadata = as_dict(value.get("metadata"), f"{where}.metadata")
    channel_id = require_str(metadata, "phone_number_id", f"{where}.metadata")

    names: dict[str, str] = {}
    for i, contact in enumerate(as_list(value.get("contacts", []), f"{where}.contacts")):
        contact = as_dict(contact, f"{where}.contacts[{i}]")
        name = optional_str(contact.get("profile"), "name")
        wa_id = optional_str(contact, "wa_id")
        if wa_id and name:
            names[wa_id] = name

    # One malformed message must not cost the others: Meta does not redeliver a refused (4xx) notification
    # forever, so the good messages are kept and the bad one recorded with its reason (RejectedPart).
    for i, message in enumerate(messages):
        try:
            batch.messages.append(_message(as_dict(message, f"{where}.messages[{i}]"), channel_id, names,
                                           f"{where}.messages[{i}]"))
        except InvalidPayload as err:
            batch.rejected.append(RejectedPart(channel_id=channel_id, provider_message_id=optional_str(message, "id"),
                                               reason=str(err)))
    for i, status in enumerate(statuses):
        try:
            update = _status(as_dict(status, f"{where}.statuses[{i}]"), channel_id, f"{where}.statuses[{i}]")
        except InvalidPayload:
            update = "invalid_status"  # a status of ours we cannot read moves nothing; the rest still counts
        if isinstance(update, StatusUpdate):
            batch.statuses.append(update)
        else:
            batch.ignored.append(update)


def _parse_echoes_change(value: dict[str, Any], where: str, batch: WebhookBatch) -> None:
    """Coexistence: what the business sent from the WhatsApp Business app (or a linked device), its edits and
    revokes. https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/smb_message_echoes
    `from` is the business's own number and `to` the user's; the content object is named by `type`, as in
    inbound messages; `edit` holds `original_message_id` and the new `message`, `revoke` the `original_message_id`."""
    echoes = as_list(value.get("message_echoes", []), f"{where}.message_echoes")
    if not echoes:
        batch.ignored.append("empty_echoes")
        return
    metadata = as_dict(value.get("metadata"), f"{where}.metadata")
    channel_id = require_str(metadata, "phone_number_id", f"{where}.metadata")
    for i, echo in enumerate(echoes):
        batch.messages.append(_echo(as_dict(echo, f"{where}.message_echoes[{i}]"), channel_id,
                                    f"{where}.message_echoes[{i}]"))


def _echo(echo: dict[str, Any], channel_id: str, where: str) -> InboundMessage:
    try:
        phone = to_e164(require_str(echo, "to", where))
    except ValueError:
        raise InvalidPayload(f"{where}.to is not a phone number") from None
    raw_type = require_str(echo, "type", where)
    edits = None
    content_message = echo
    content_type = raw_type
    if raw_type in ("edit", "revoke"):
        target = as_dict(echo.get(raw_type), f"{where}.{raw_type}")
        edits = require_str(target, "original_message_id", f"{where}.{raw_type}")
        if raw_type == "edit":
            content_message = target.get("message") if isinstance(target.get("message"), dict) else {}
            content_type = optional_str(content_message, "type") or "unknown"
    content = content_message.get(content_type) if raw_type != "revoke" else None
    content = content if isinstance(content, dict) else {}
    kind = MessageKind.UNSUPPORTED if raw_type == "revoke" else _KINDS.get(content_type, MessageKind.UNSUPPORTED)
    return InboundMessage(
        provider=Provider.META,
        channel_id=channel_id,
        provider_message_id=require_str(echo, "id", where),
        contact_phone=phone,
        kind=kind,
        text=None if raw_type == "revoke" else _text(content_type, content_message, content),
        media=_media(content_type, content) if content_type in _MEDIA_TYPES and raw_type != "revoke" else None,
        from_business=True,
        sent_at=epoch_to_utc(echo.get("timestamp"), f"{where}.timestamp"),
        raw_type=raw_type,
        reply_to=optional_str(echo.get("context"), "id"),
        edits=edits,
    )


def _message(message: dict[str, Any], channel_id: str, names: dict[str, str], where: str) -> InboundMessage:
    sender = require_str(message, "from", where)
    try:
        phone = to_e164(sender)
    except ValueError:
        raise InvalidPayload(f"{where}.from is not a phone number") from None
    raw_type = require_str(message, "type", where)
    kind = _KINDS.get(raw_type, MessageKind.UNSUPPORTED)
    content = message.get(raw_type)
    content = content if isinstance(content, dict) else {}
    return InboundMessage(
        provider=Provider.META,
        channel_id=channel_id,
        provider_message_id=require_str(message, "id", where),
        contact_phone=phone,
        contact_name=names.get(sender),
        kind=kind,
        text=_text(raw_type, message, content),
        media=_media(raw_type, content) if raw_type in _MEDIA_TYPES else None,
        sent_at=epoch_to_utc(message.get("timestamp"), f"{where}.timestamp"),
        raw_type=raw_type,
        reply_to=optional_str(message.get("context"), "id"),
        **_details(raw_type, message, content),
    )


def _details(raw_type: str, message: dict[str, Any], content: dict[str, Any]) -> dict[str, Any]:
    """What the docs carry beyond the text: the chosen option's id and description, a reaction's target, the
    place, and the click-to-WhatsApp ad the lead came from (`referral`)."""
    details: dict[str, Any] = {"referral": string_fields(message.get("referral"))}
    if raw_type == "interactive":
        reply = content.get(content.get("type") or "")
        details["choice_id"] = optional_str(reply, "id")
        details["choice_description"] = optional_str(reply, "description")
    elif raw_type == "button":
        details["choice_id"] = optional_str(content, "payload")
    elif raw_type == "reaction":
        details["reaction_to"] = optional_str(content, "message_id")
    elif raw_type == "location":
        details["location"] = location_from(content.get("latitude"), content.get("longitude"), content.get("name"),
                                            content.get("address"))
    return details


def _text(raw_type: str, message: dict[str, Any], content: dict[str, Any]) -> str | None:
    if raw_type == "text":
        return optional_str(content, "body")
    if raw_type in ("image", "video", "document"):
        return optional_str(content, "caption")
    if raw_type == "interactive":
        reply = content.get(content.get("type") or "")
        if isinstance(reply, dict):
            return optional_str(reply, "title") or optional_str(reply, "body")
        return None
    if raw_type == "button":
        return optional_str(content, "text") or optional_str(content, "payload")
    if raw_type == "reaction":
        return optional_str(content, "emoji")
    if raw_type == "location":
        return _location_text(content)
    if raw_type == "contacts":
        return _contacts_text(message.get("contacts"))
    return None


def _location_text(location: dict[str, Any]) -> str | None:
    lat, long = location.get("latitude"), location.get("longitude")
    if lat is None or long is None:
        return None
    label = optional_str(location, "name") or optional_str(location, "address")
    return f"{lat},{long}" + (f" {label}" if label else "")


def _contacts_text(contacts: object) -> str | None:
    if not isinstance(contacts, list):
        return None
    cards = []
    for card in contacts:
        if not isinstance(card, dict):
            continue
        name = optional_str(card.get("name"), "formatted_name") or ""
        phones = [p["phone"] for p in card.get("phones") or [] if isinstance(p, dict) and optional_str(p, "phone")]
        cards.append(f"{name}: {', '.join(phones)}" if phones else name)
    return "; ".join(c for c in cards if c) or None


def _media(raw_type: str, content: dict[str, Any]) -> MediaRef:
    return MediaRef(
        media_id=optional_str(content, "id"),
        url=optional_str(content, "url"),
        mime_type=optional_str(content, "mime_type"),
        sha256=optional_str(content, "sha256"),
        filename=optional_str(content, "filename"),
        voice=raw_type == "audio" and content.get("voice") is True,
    )


def _status(status: dict[str, Any], channel_id: str, where: str) -> StatusUpdate | str:
    name = require_str(status, "status", where)
    state = _STATES.get(name)
    if state is None:
        return f"status:{name}"
    recipient = optional_str(status, "recipient_id")
    try:
        recipient_phone = to_e164(recipient) if recipient else None
    except ValueError:
        recipient_phone = None  # a group id, say: the status is still worth keeping
    return StatusUpdate(
        provider=Provider.META,
        channel_id=channel_id,
        provider_message_id=require_str(status, "id", where),
        state=state,
        recipient_phone=recipient_phone,
        at=epoch_to_utc(status.get("timestamp"), f"{where}.timestamp"),
        error=_status_error(status.get("errors")) if state is DeliveryState.FAILED else None,
    )


def _status_error(errors: object) -> str:
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return "failed without error detail"
    first = errors[0]
    code = first.get("code")
    title = optional_str(first, "title") or optional_str(first, "message") or "unknown error"
    details = optional_str(first.get("error_data"), "details")
    text = f"{code} {title}" if code is not None else title
    return f"{text}: {details}" if details and details != title else text


class MetaCloudProvider:
    """Sends free-form text through the Cloud API (valid inside the 24-hour customer service window)."""

    def __init__(self, http: httpx.Client, base_url: str = "https://graph.facebook.com",
                 graph_version: str = GRAPH_API_VERSION) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._graph_version = graph_version.strip("/")
        _warn_about_version(self._graph_version)

    def send_text(self, channel: Channel, to_phone: str, text: str) -> str:
        """POST /{version}/{phone-number-id}/messages; returns the wamid Meta assigned."""
        token = channel.credentials.access_token
        if not token:
            missing_credential(_PROVIDER, "access_token")
        payload = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": recipient_digits(_PROVIDER, to_phone),
            "type": "text",
            "text": {"preview_url": False, "body": text},
        }
        return self._post_message(channel, token, payload)

    def send_template(self, channel: Channel, to_phone: str, name: str, language: str,
                      params: list[str] | Mapping[str, str]) -> str:
        """An approved template (the only message allowed outside the 24 h window).

        A list fills a positional template's {{1}}, {{2}}… in order; a mapping fills a template created with
        `parameter_format: NAMED`, each value sent with its `parameter_name` ({{first_name}} ← "first_name"), as
        Meta requires for named templates ("Template fundamentals",
        https://developers.facebook.com/documentation/business-messaging/whatsapp/templates/overview).
        """
        token = channel.credentials.access_token
        if not token:
            missing_credential(_PROVIDER, "access_token")
        template: dict = {"name": name, "language": {"code": language}}
        if isinstance(params, Mapping):
            parameters = [{"type": "text", "parameter_name": key, "text": value} for key, value in params.items()]
        else:
            parameters = [{"type": "text", "text": value} for value in params]
        if parameters:
            template["components"] = [{"type": "body", "parameters": parameters}]
        payload = {"messaging_product": "whatsapp", "recipient_type": "individual",
                   "to": recipient_digits(_PROVIDER, to_phone), "type": "template", "template": template}
        return self._post_message(channel, token, payload)

    def send_media(self, channel: Channel, to_phone: str, media: DownloadedMedia, kind: str,
                   caption: str | None = None) -> str:
        """A file relayed from a seller: upload it (POST /{phone-number-id}/media, multipart `file`, `type`,
        `messaging_product`; answers {"id"}), then send a message of that type naming the media id. Captions
        exist on image, video and document; `filename` on document
        (https://developers.facebook.com/documentation/business-messaging/whatsapp/business-phone-numbers/media)."""
        token = channel.credentials.access_token
        if not token:
            missing_credential(_PROVIDER, "access_token")
        mime = (media.mime_type or "application/octet-stream").split(";")[0].strip()
        media_id = self._upload(channel, token, media.content, mime, media.filename or f"file.{kind}")
        content: dict[str, Any] = {"id": media_id}
        meta_kind = kind if kind in ("audio", "image", "video", "sticker") else "document"
        if caption and meta_kind in ("image", "video", "document"):
            content["caption"] = caption
        if meta_kind == "document" and media.filename:
            content["filename"] = media.filename
        payload = {"messaging_product": "whatsapp", "recipient_type": "individual",
                   "to": recipient_digits(_PROVIDER, to_phone), "type": meta_kind, meta_kind: content}
        return self._post_message(channel, token, payload)

    def send_audio(self, channel: Channel, to_phone: str, audio: bytes, mime_type: str) -> str:
        """An agent's voice reply: upload the Ogg/Opus file, then send it as a voice message (`audio.voice: true`:
        voice icon, automatic download, transcription;
        https://developers.facebook.com/documentation/business-messaging/whatsapp/messages/audio-messages/)."""
        token = channel.credentials.access_token
        if not token:
            missing_credential(_PROVIDER, "access_token")
        media_id = self._upload(channel, token, audio, "audio/ogg", "voice.ogg")
        payload = {"messaging_product": "whatsapp", "recipient_type": "individual",
                   "to": recipient_digits(_PROVIDER, to_phone), "type": "audio",
                   "audio": {"id": media_id, "voice": True}}
        return self._post_message(channel, token, payload)

    def _upload(self, channel: Channel, token: str, content: bytes, mime: str, filename: str) -> str:
        """POST /{phone-number-id}/media (multipart `file`, `type`, `messaging_product`; answers {"id"})."""
        url = f"{self._base_url}/{self._graph_version}/{quote(channel.channel_id, safe='')}/media"
        reply = post_multipart(self._http, _PROVIDER, url, {"Authorization": f"Bearer {token}"},
                               {"messaging_product": "whatsapp", "type": mime}, {"file": (filename, content, mime)})
        media_id = optional_str(reply.body, "id") if 200 <= reply.status < 300 else None
        if media_id is None:
            self._raise_for(reply, token, "media upload answered without an id")
        return media_id

    def _post_message(self, channel: Channel, token: str, payload: dict) -> str:
        url = f"{self._base_url}/{self._graph_version}/{quote(channel.channel_id, safe='')}/messages"
        reply = post_json(self._http, _PROVIDER, url, {"Authorization": f"Bearer {token}"}, payload)
        body = reply.body if isinstance(reply.body, dict) else {}
        if 200 <= reply.status < 300:
            messages = body.get("messages")
            if isinstance(messages, list) and messages and isinstance(messages[0], dict):
                message_id = optional_str(messages[0], "id")
                if message_id:
                    return message_id
            fail(_PROVIDER, reply.status, "response has no messages[0].id", [token], transient=True)
        self._raise_for(reply, token, "")

    def _raise_for(self, reply: HttpReply, token: str, missing: str) -> NoReturn:
        body = reply.body if isinstance(reply.body, dict) else {}
        if 200 <= reply.status < 300:
            fail(_PROVIDER, reply.status, missing, [token], transient=True)
        error = body.get("error")
        if not isinstance(error, dict):
            error = {}
        code = error.get("code")
        detail = detail_text(error.get("message")) or f"HTTP {reply.status}"
        details = optional_str(error.get("error_data"), "details")
        if details and details not in detail:
            detail = f"{detail} ({details})"
        if code is not None:
            detail = f"code {code}: {detail}"
        transient = is_transient_status(reply.status) or _as_int(code) in _TRANSIENT_CODES
        fail(_PROVIDER, reply.status, detail, [token], transient=transient)


def _as_int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


class MetaCloudMedia:
    """Downloads a lead's file: GET /{media-id} for a short-lived URL, then GET that URL, both with the bearer token."""

    def __init__(self, http: httpx.Client, base_url: str = "https://graph.facebook.com",
                 graph_version: str = GRAPH_API_VERSION) -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")
        self._graph_version = graph_version.strip("/")
        _warn_about_version(self._graph_version)

    def download(self, channel: Channel, message: StoredMessage, max_bytes: int) -> DownloadedMedia:
        media = message.media
        if media is None or not media.media_id:
            raise MediaUnavailable("the message names no Meta media id")
        token = channel.credentials.access_token
        if not token:
            raise MediaUnavailable("the channel has no access_token configured")
        headers = {"Authorization": f"Bearer {token}"}
        url = f"{self._base_url}/{self._graph_version}/{quote(media.media_id, safe='')}"
        reply = fetch_limited(self._http, _PROVIDER, "GET", url, headers, 64_000)
        info = json_of(reply)
        info = info if isinstance(info, dict) else {}
        if reply.status != 200:
            error = info.get("error") if isinstance(info.get("error"), dict) else {}
            detail = detail_text(error.get("message")) or f"HTTP {reply.status}"
            if _as_int(error.get("code")) in _TRANSIENT_CODES:
                raise TransientError(f"meta media lookup rate-limited: {redact(detail, [token])[:200]}")
            media_failure(_PROVIDER, reply.status, f"media lookup: {detail}", [token])
        download_url = optional_str(info, "url")
        if not download_url:
            raise TransientError("meta media lookup answered without a url")
        size = _as_int(info.get("file_size"))
        if size is not None and size > max_bytes:
            raise MediaTooLarge(size)
        # The URL is valid for about five minutes and needs the same token.
        file = fetch_limited(self._http, _PROVIDER, "GET", download_url, headers, max_bytes)
        if file.status != 200:
            media_failure(_PROVIDER, file.status, "media download", [token])
        expected = optional_str(info, "sha256")
        if expected and len(expected) == 64 and hashlib.sha256(file.content).hexdigest() != expected.lower():
            raise TransientError("meta media download does not match its sha256; retrying")
        return DownloadedMedia(content=file.content, mime_type=optional_str(info, "mime_type") or media.mime_type,
                               filename=media.filename)
