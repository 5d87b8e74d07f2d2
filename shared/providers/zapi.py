"""Z-API (hosted WhatsApp Web gateway): webhook token check, payload normalization, text sends."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from shared.domain.conversation import StoredMessage
from shared.domain.errors import InvalidPayload, MediaUnavailable, MissingSignature
from shared.domain.inbound import (
    DeliveryState,
    InboundMessage,
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
    as_list,
    check_channel_token,
    detail_text,
    epoch_to_utc,
    fail,
    fetch_limited,
    is_transient_status,
    json_object,
    location_from,
    loose_phone,
    media_failure,
    missing_credential,
    optional_str,
    post_json,
    recipient_digits,
    require_str,
    string_fields,
    utc_now,
)

if TYPE_CHECKING:
    import httpx

_PROVIDER = Provider.ZAPI.value

# Content object → (kind, field holding the media URL). Checked in this order.
_CONTENT: dict[str, tuple[MessageKind, str | None]] = {
    "text": (MessageKind.TEXT, None),
    "image": (MessageKind.IMAGE, "imageUrl"),
    "audio": (MessageKind.AUDIO, "audioUrl"),
    "video": (MessageKind.VIDEO, "videoUrl"),
    "document": (MessageKind.DOCUMENT, "documentUrl"),
    "sticker": (MessageKind.STICKER, "stickerUrl"),
    "location": (MessageKind.LOCATION, None),
    "contact": (MessageKind.CONTACTS, None),
    "reaction": (MessageKind.REACTION, None),
    "buttonsResponseMessage": (MessageKind.BUTTON, None),
    "listResponseMessage": (MessageKind.INTERACTIVE, None),
}
# Objects on a ReceivedCallback that describe the message's context, not its content.
_CONTEXT_OBJECTS = {"externalAdReply", "referencedMessage"}

_STATES: dict[str, DeliveryState] = {
    "SENT": DeliveryState.SENT,
    "RECEIVED": DeliveryState.DELIVERED,
    "READ": DeliveryState.READ,
    "PLAYED": DeliveryState.READ,
}


class ZApiWebhook:
    """Z-API only lets you set a webhook URL, so the channel's token rides in the query (or a header we add)."""

    authenticates_before_parse = False
    # The keyed URL replaces the channel's webhook_token: both ride in the URL Z-API stores, so the token adds
    # no protection the key lacks. The token is checked only for an unkeyed request (WEBHOOK_URL_KEY_MODE=optional).
    url_key_suffices = True

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock

    def require_credential(self, raw: RawRequest) -> None:
        """The token rides outside the body: a request without one is refused before the body is read or any
        channel is looked up (MissingSignature, 401)."""
        if not _tokens(raw):
            raise MissingSignature("no Client-Token header or token query parameter")

    def authenticate(self, raw: RawRequest, channel: Channel | None, secrets: WebhookSecrets) -> None:
        """Compare the Client-Token header or the `token` query parameter with the channel's webhook_token."""
        check_channel_token(
            _tokens(raw),
            channel.credentials.webhook_token if channel else None,
            missing="no Client-Token header or token query parameter",
            unconfigured="the channel has no Z-API webhook_token configured",
            mismatch="webhook token does not match the channel's")

    def parse(self, raw: RawRequest) -> WebhookBatch:
        """ReceivedCallback → message; MessageStatusCallback and DeliveryCallback → statuses; others ignored."""
        body = json_object(raw.body)
        event = require_str(body, "type", "body")
        name = event.lower()  # the docs spell it both "ReceivedCallback" and "ReceivedCallBack"
        batch = WebhookBatch()
        if name == "receivedcallback":
            result = _message(body)
            if isinstance(result, InboundMessage):
                batch.messages.append(result)
            else:
                batch.ignored.append(result)
        elif name == "messagestatuscallback":
            statuses = _statuses(body)
            if isinstance(statuses, str):
                batch.ignored.append(statuses)
            else:
                batch.statuses.extend(statuses)
        elif name == "deliverycallback":
            if optional_str(body, "instanceId") is None:
                # One version of the docs omits instanceId here; without it no channel can own the update.
                batch.ignored.append("delivery_without_instance")
            else:
                batch.statuses.append(_delivery(body, self._clock()))
        else:
            batch.ignored.append(event)
        return batch


def _tokens(raw: RawRequest) -> list[str]:
    return [token for token in (raw.headers.get("client-token"), raw.query.get("token")) if token]


def _message(body: dict[str, Any]) -> InboundMessage | str:
    if body.get("notification"):
        # Calls, group membership, encryption notices: WhatsApp system events, not something a lead wrote.
        return f"notification:{body['notification']}"
    channel_id = require_str(body, "instanceId", "body")
    message_id = require_str(body, "messageId", "body")
    chat = require_str(body, "phone", "body")
    is_group = body.get("isGroup") is True
    # A broadcast list ("broadcast": true, a "…-broadcast" id) or a channel post ("isNewsletter") has no person
    # behind its "phone": recorded like a group message, never turned into a contact or a conversation.
    not_a_chat = None
    if body.get("broadcast") is True or chat.endswith(("-broadcast", "@broadcast")):
        not_a_chat = "broadcast"
    elif body.get("isNewsletter") is True or chat.endswith("@newsletter"):
        not_a_chat = "newsletter"
    if not_a_chat:
        phone = loose_phone(chat)
    elif is_group:
        phone = _phone_or_none(optional_str(body, "participantPhone")) or loose_phone(chat)
    elif "@lid" in chat:
        return "lid_without_phone"
    else:
        try:
            phone = to_e164(chat)
        except ValueError:
            raise InvalidPayload("body.phone is not a phone number") from None
    from_me = body.get("fromMe") is True

    content_key, content = _content(body)
    kind, url_field = _CONTENT.get(content_key, (MessageKind.UNSUPPORTED, None))
    return InboundMessage(
        provider=Provider.ZAPI,
        channel_id=channel_id,
        provider_message_id=message_id,
        contact_phone=phone,
        # senderName on our own messages is the business's name, not the lead's.
        contact_name=None if from_me else optional_str(body, "senderName") or optional_str(body, "chatName"),
        kind=kind,
        text=_text(content_key, content),
        media=_media(content, url_field, content_key) if url_field else None,
        from_business=from_me,
        is_group=is_group,
        sent_at=epoch_to_utc(body.get("momment"), "body.momment", millis=True),
        raw_type=content_key,
        reply_to=_reply_to(body),
        not_a_chat=not_a_chat,
        **_details(content_key, content, body),
    )


def _reply_to(body: dict[str, Any]) -> str | None:
    """The quoted message: `referenceMessageId` (https://developer.z-api.io/en/webhooks/on-message-received).

    A reply to a status post (`isStatusReply`) quotes the business's story, not a chat message: no reference.
    """
    if body.get("isStatusReply") is True:
        return None
    return optional_str(body, "referenceMessageId")


def _details(content_key: str, content: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The chosen option's id and description, a reaction's target, the place, and the ad (externalAdReply)."""
    details: dict[str, Any] = {"referral": string_fields(body.get("externalAdReply"))}
    if content_key == "buttonsResponseMessage":
        details["choice_id"] = optional_str(content, "buttonId")
    elif content_key == "listResponseMessage":
        details["choice_id"] = optional_str(content, "selectedRowId")
        details["choice_description"] = optional_str(content, "message")
    elif content_key == "reaction":
        details["reaction_to"] = optional_str(content.get("referencedMessage"), "messageId")
    elif content_key == "location":
        details["location"] = location_from(content.get("latitude"), content.get("longitude"), content.get("name"),
                                            content.get("address"))
    return details


def _content(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    for key in _CONTENT:
        if isinstance(body.get(key), dict):
            return key, body[key]
    # An undocumented or newer content type (poll, product, order…): name it so it is kept as unsupported.
    for key, value in body.items():
        if isinstance(value, dict) and key not in _CONTEXT_OBJECTS:
            return key, value
    return ("waitingMessage" if body.get("waitingMessage") is True else "unknown"), {}


def _text(content_key: str, content: dict[str, Any]) -> str | None:
    if content_key == "text":
        return optional_str(content, "message")
    if content_key in ("image", "video", "document"):
        return optional_str(content, "caption")
    if content_key == "location":
        lat, long = content.get("latitude"), content.get("longitude")
        if lat is None or long is None:
            return None
        label = optional_str(content, "name") or optional_str(content, "address")
        return f"{lat},{long}" + (f" {label}" if label else "")
    if content_key == "contact":
        name = optional_str(content, "displayName") or ""
        phones = [p for p in content.get("phones") or [] if isinstance(p, str) and p]
        return (f"{name}: {', '.join(phones)}" if phones else name) or None
    if content_key == "reaction":
        return optional_str(content, "value")
    if content_key == "buttonsResponseMessage":
        return optional_str(content, "message") or optional_str(content, "buttonId")
    if content_key == "listResponseMessage":
        return optional_str(content, "title") or optional_str(content, "message")
    return None


def _media(content: dict[str, Any], url_field: str, content_key: str) -> MediaRef:
    return MediaRef(
        url=optional_str(content, url_field),
        mime_type=optional_str(content, "mimeType"),
        filename=optional_str(content, "fileName"),
        voice=content_key == "audio" and content.get("ptt") is True,
    )


def _phone_or_none(raw: str | None) -> str | None:
    if not raw or "@lid" in raw:
        return None
    try:
        return to_e164(raw)
    except ValueError:
        return None


def _statuses(body: dict[str, Any]) -> list[StatusUpdate] | str:
    name = optional_str(body, "status")
    state = _STATES.get(name or "")
    if state is None:
        return f"status:{name or 'missing'}"  # READ_BY_ME: we read the lead's message; nothing of ours moved
    channel_id = require_str(body, "instanceId", "body")
    at = epoch_to_utc(body.get("momment"), "body.momment", millis=True)
    recipient = None if body.get("isGroup") is True else _phone_or_none(optional_str(body, "phone"))
    ids = as_list(body.get("ids"), "body.ids")
    if not ids or not all(isinstance(i, str) and i for i in ids):
        raise InvalidPayload("body.ids must be a non-empty array of message ids")
    return [
        StatusUpdate(provider=Provider.ZAPI, channel_id=channel_id, provider_message_id=message_id, state=state,
                     recipient_phone=recipient, at=at)
        for message_id in ids
    ]


def _delivery(body: dict[str, Any], now: datetime) -> StatusUpdate:
    message_id = optional_str(body, "messageId") or optional_str(body, "zaapId")
    if not message_id:
        raise InvalidPayload("body.messageId must be a non-empty string (got missing)")
    momment = body.get("momment")
    return StatusUpdate(
        provider=Provider.ZAPI,
        channel_id=require_str(body, "instanceId", "body"),
        provider_message_id=message_id,
        state=DeliveryState.SENT,
        recipient_phone=_phone_or_none(optional_str(body, "phone")),
        # DeliveryCallback documents no timestamp; use momment if a server sends one, else receipt time.
        at=epoch_to_utc(momment, "body.momment", millis=True) if momment is not None else now,
    )


# Z-API's answer to a request without the account's security token once the account has it active ("Account
# security token", https://developer.z-api.io/en/security/client-token): `{"error": "null not allowed"}`.
_TOKEN_REFUSED = "null not allowed"


def _token_explanation(channel_has_token: bool) -> str:
    if channel_has_token:
        return ("null not allowed: Z-API refused the channel's client_token (Client-Token header); it is not this "
                "account's security token (Z-API panel → Segurança → Token de segurança da conta)")
    return ("null not allowed: this Z-API account requires its security token and the channel has no client_token; "
            "copy it from the Z-API panel (Segurança → Token de segurança da conta) into the channel's "
            "credentials.client_token")


class ZApiProvider:
    """Sends text through Z-API; the instance token is part of the URL, so URLs never go into messages."""

    def __init__(self, http: httpx.Client, base_url: str = "https://api.z-api.io") -> None:
        self._http = http
        self._base_url = base_url.rstrip("/")

    def send_text(self, channel: Channel, to_phone: str, text: str) -> str:
        """POST /instances/{id}/token/{token}/send-text; returns messageId (zaapId or id if absent)."""
        return self._send(channel, "send-text", {"phone": recipient_digits(_PROVIDER, to_phone), "message": text})

    def send_media(self, channel: Channel, to_phone: str, media: DownloadedMedia, kind: str,
                   caption: str | None = None) -> str:
        """A file relayed from a seller, as base64 (https://developer.z-api.io/en/message/send-message-audio,
        /send-message-image, /send-message-video, /send-message-document: `phone` plus the file as a link or
        base64; images and documents need the `data:<mime>;base64,` prefix, documents the extension in the path)."""
        mime = media.mime_type or "application/octet-stream"
        data = f"data:{mime};base64,{base64.b64encode(media.content).decode()}"
        payload: dict[str, Any] = {"phone": recipient_digits(_PROVIDER, to_phone)}
        if kind == "audio":
            return self._send(channel, "send-audio", {**payload, "audio": data})
        if kind in ("image", "video"):
            return self._send(channel, f"send-{kind}", {**payload, kind: data, **({"caption": caption} if caption
                                                                                  else {})})
        extension = (media.filename or "").rsplit(".", 1)[-1].lower() if "." in (media.filename or "") else (
            mime.rsplit("/", 1)[-1].split(";")[0] or "bin")
        document = {**payload, "document": data, **({"fileName": media.filename} if media.filename else {}),
                    **({"caption": caption} if caption else {})}
        return self._send(channel, f"send-document/{quote(extension, safe='')}", document)

    def send_audio(self, channel: Channel, to_phone: str, audio: bytes, mime_type: str) -> str:
        """POST .../send-audio with the audio as a base64 data URI; waveform true shows it as a voice note
        (https://developer.z-api.io/en/message/send-message-audio)."""
        data_uri = f"data:audio/ogg;base64,{base64.b64encode(audio).decode()}"
        return self._send(channel, "send-audio", {"phone": recipient_digits(_PROVIDER, to_phone), "audio": data_uri,
                                                  "waveform": True})

    def _send(self, channel: Channel, endpoint: str, payload: dict[str, Any]) -> str:
        creds = channel.credentials
        if not creds.instance_token:
            missing_credential(_PROVIDER, "instance_token")
        url = (f"{self._base_url}/instances/{quote(channel.channel_id, safe='')}"
               f"/token/{quote(creds.instance_token, safe='')}/{endpoint}")
        headers = {"Client-Token": creds.client_token} if creds.client_token else {}
        reply = post_json(self._http, _PROVIDER, url, headers, payload)
        body = reply.body if isinstance(reply.body, dict) else {}
        secrets = [creds.instance_token, creds.client_token]
        if 200 <= reply.status < 300:
            message_id = optional_str(body, "messageId") or optional_str(body, "zaapId") or optional_str(body, "id")
            if message_id:
                return message_id
            detail = detail_text(body.get("error")) or "response has no messageId"
            fail(_PROVIDER, reply.status, detail, secrets, transient=True)
        detail = detail_text(body.get("error")) or detail_text(body.get("message")) or f"HTTP {reply.status}"
        if detail.strip().lower() == _TOKEN_REFUSED:
            detail = _token_explanation(bool(creds.client_token))
        fail(_PROVIDER, reply.status, detail, secrets, transient=is_transient_status(reply.status))


class ZApiMedia:
    """Downloads a lead's file from the temporary public URL Z-API puts in the webhook (no credentials needed)."""

    def __init__(self, http: httpx.Client) -> None:
        self._http = http

    def download(self, channel: Channel, message: StoredMessage, max_bytes: int) -> DownloadedMedia:
        media = message.media
        if media is None or not media.url:
            raise MediaUnavailable("the Z-API webhook carried no media URL")
        file = fetch_limited(self._http, _PROVIDER, "GET", media.url, {}, max_bytes)
        if file.status != 200:
            media_failure(_PROVIDER, file.status, "media download", [])
        return DownloadedMedia(content=file.content, mime_type=media.mime_type or file.content_type,
                               filename=media.filename)
