"""Evolution API v2 (self-hosted Baileys gateway): webhook apikey check, payload normalization, text sends."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from shared.domain.conversation import StoredMessage
from shared.domain.errors import InvalidPayload, MediaTooLarge, MediaUnavailable, MissingSignature
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
    as_dict,
    bounded_count,
    check_channel_token,
    detail_text,
    epoch_to_utc,
    fail,
    fetch_limited,
    is_transient_status,
    json_object,
    json_of,
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

_PROVIDER = Provider.EVOLUTION.value

# Keyed by the Baileys message-content key (data.message.<key>), which data.messageType repeats.
_KINDS: dict[str, MessageKind] = {
    "conversation": MessageKind.TEXT,
    "extendedTextMessage": MessageKind.TEXT,
    "imageMessage": MessageKind.IMAGE,
    "videoMessage": MessageKind.VIDEO,
    "ptvMessage": MessageKind.VIDEO,
    "audioMessage": MessageKind.AUDIO,
    "documentMessage": MessageKind.DOCUMENT,
    "stickerMessage": MessageKind.STICKER,
    "locationMessage": MessageKind.LOCATION,
    "liveLocationMessage": MessageKind.LOCATION,
    "contactMessage": MessageKind.CONTACTS,
    "contactsArrayMessage": MessageKind.CONTACTS,
    "reactionMessage": MessageKind.REACTION,
    "buttonsResponseMessage": MessageKind.BUTTON,
    "templateButtonReplyMessage": MessageKind.BUTTON,
    "listResponseMessage": MessageKind.INTERACTIVE,
    "interactiveResponseMessage": MessageKind.INTERACTIVE,
}
# Containers whose real content sits under <wrapper>.message.
_WRAPPERS = {"ephemeralMessage", "viewOnceMessage", "viewOnceMessageV2", "viewOnceMessageV2Extension",
             "documentWithCaptionMessage"}
# Keys Evolution adds next to the content inside data.message.
_NOT_CONTENT = {"messageContextInfo", "mediaUrl", "base64", "speechToText"}

# The message key fields Baileys' download uses (remoteJid, fromMe, id; participant in groups).
_KEY_FIELDS = {"remoteJid", "fromMe", "id", "participant"}
# Base64 the webhook carried is kept on the message only up to this size: a Firestore document holds at most
# 1 MiB (https://firebase.google.com/docs/firestore/quotas); bigger files are fetched with the message instead.
INLINE_BASE64_LIMIT = 600_000

_STATES: dict[str, DeliveryState] = {
    "SERVER_ACK": DeliveryState.SENT,
    "DELIVERY_ACK": DeliveryState.DELIVERED,
    "READ": DeliveryState.READ,
    "PLAYED": DeliveryState.READ,
    "ERROR": DeliveryState.FAILED,
}


class EvolutionWebhook:
    """Evolution webhooks carry the instance apikey; which instance (and so which key) comes from the body."""

    authenticates_before_parse = False
    # The instance apikey is still compared after the keyed URL (defense in depth): Evolution sends it anyway.
    url_key_suffices = False

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock

    def require_credential(self, raw: RawRequest) -> None:
        """A request carrying no apikey at all (header or body) is refused before any channel is looked up."""
        if not raw.headers.get("apikey") and not _body_apikey(raw.body):
            raise MissingSignature(_MISSING_APIKEY)

    def authenticate(self, raw: RawRequest, channel: Channel | None, secrets: WebhookSecrets) -> None:
        """Compare the body's `apikey` (or an `apikey` header) with the channel's instance apikey."""
        check_channel_token(
            [key for key in (raw.headers.get("apikey"), _body_apikey(raw.body)) if key],
            channel.credentials.api_key if channel else None,
            missing=_MISSING_APIKEY,
            unconfigured="the channel has no Evolution api_key configured",
            mismatch="apikey does not match the channel's")

    def parse(self, raw: RawRequest) -> WebhookBatch:
        """messages.upsert → messages, messages.update → statuses, anything else → ignored."""
        body = json_object(raw.body)
        event = require_str(body, "event", "body")
        name = event.strip().lower().replace("_", ".")
        batch = WebhookBatch()
        if name not in ("messages.upsert", "messages.update"):
            batch.ignored.append(name)
            return batch
        channel_id = require_str(body, "instance", "body")
        data = body.get("data")
        items = data if isinstance(data, list) else [as_dict(data, "data")]
        for i, item in enumerate(items):
            where = f"data[{i}]" if isinstance(data, list) else "data"
            try:
                item = as_dict(item, where)
                if name == "messages.upsert":
                    result: InboundMessage | StatusUpdate | str = _message(item, channel_id, where)
                else:
                    result = _status(item, channel_id, self._clock(), where)
            except InvalidPayload as err:
                if not isinstance(data, list):
                    raise  # a single malformed event is the whole request: 400 with the reason
                # One bad item of a batch must not cost the others (the same rule as Meta's deliveries).
                key = item.get("key") if isinstance(item, dict) else None
                batch.rejected.append(RejectedPart(channel_id=channel_id, reason=str(err),
                                                   provider_message_id=optional_str(key, "id")
                                                   or optional_str(item, "keyId")))
                continue
            if isinstance(result, InboundMessage):
                batch.messages.append(result)
            elif isinstance(result, StatusUpdate):
                batch.statuses.append(result)
            else:
                batch.ignored.append(result)
        return batch


_MISSING_APIKEY = ("no apikey in the body or headers: most Evolution v2 servers send \"apikey\": null, so set the "
                   "instance webhook to send the header (POST /webhook/set/{instance} with "
                   "webhook.headers = {\"apikey\": \"<instance apikey>\"}; see README, Connecting a provider)")


def _body_apikey(body: bytes) -> str | None:
    try:
        return optional_str(json_object(body), "apikey")
    except InvalidPayload:
        return None


def _message(item: dict[str, Any], channel_id: str, where: str) -> InboundMessage | str:
    key = as_dict(item.get("key"), f"{where}.key")
    remote = require_str(key, "remoteJid", f"{where}.key")
    message_id = require_str(key, "id", f"{where}.key")
    if remote.endswith("@broadcast"):
        return "status_broadcast" if remote == "status@broadcast" else "broadcast"
    if remote.endswith("@newsletter"):
        return "newsletter"
    is_group = remote.endswith("@g.us")
    phone = _group_sender(key, remote) if is_group else _direct_phone(key, remote, where)
    if phone is None:
        return "lid_without_phone"
    from_me = key.get("fromMe") is True

    message = item.get("message")
    message = message if isinstance(message, dict) else {}
    message_type = optional_str(item, "messageType")
    content_key, content = _content(message, message_type)
    kind = _KINDS.get(content_key or "", MessageKind.UNSUPPORTED)
    return InboundMessage(
        provider=Provider.EVOLUTION,
        channel_id=channel_id,
        provider_message_id=message_id,
        contact_phone=phone,
        # On our own side's messages pushName is the business's name, not the lead's.
        contact_name=None if from_me else optional_str(item, "pushName"),
        kind=kind,
        text=_text(content_key, content),
        media=_media(message, content_key, content, key) if kind.has_media else None,
        from_business=from_me,
        is_group=is_group,
        sent_at=_timestamp(item.get("messageTimestamp"), f"{where}.messageTimestamp"),
        raw_type=message_type or content_key or "unknown",
        reply_to=_reply_to(item, content),
        **_details(content_key, content, item),
    )


def _reply_to(item: dict[str, Any], content: object) -> str | None:
    """The quoted message id: Evolution v2 copies Baileys' contextInfo to `data.contextInfo`; the raw content node
    (`message.<type>Message.contextInfo`) carries it too. Since v2.3.3 text replies may arrive flattened to
    `conversation` with the quote lost (evolution-api issues #2078, #2713): then there is no reference, and the
    seller's desk falls back to the short code typed in the text."""
    for holder in (item.get("contextInfo"), content.get("contextInfo") if isinstance(content, dict) else None):
        if isinstance(holder, dict) and (stanza := optional_str(holder, "stanzaId")):
            return stanza
    return None


def _details(content_key: str | None, content: object, item: dict[str, Any]) -> dict[str, Any]:
    """The chosen option's id and description, a reaction's target, the place, and the ad the lead came from
    (Baileys' contextInfo.externalAdReply, on the content or copied to data.contextInfo)."""
    if not isinstance(content, dict):
        content = {}
    context = content.get("contextInfo") if isinstance(content.get("contextInfo"), dict) else item.get("contextInfo")
    ad = context.get("externalAdReply") if isinstance(context, dict) else None
    details: dict[str, Any] = {"referral": string_fields(ad)}
    if content_key == "buttonsResponseMessage":
        details["choice_id"] = optional_str(content, "selectedButtonId")
    elif content_key == "templateButtonReplyMessage":
        details["choice_id"] = optional_str(content, "selectedId")
    elif content_key == "listResponseMessage":
        details["choice_id"] = optional_str(content.get("singleSelectReply"), "selectedRowId")
        details["choice_description"] = optional_str(content, "description")
    elif content_key == "reactionMessage":
        details["reaction_to"] = optional_str(content.get("key"), "id")
    elif content_key in ("locationMessage", "liveLocationMessage"):
        details["location"] = location_from(content.get("degreesLatitude"), content.get("degreesLongitude"),
                                            content.get("name"), content.get("address"))
    return details


def _direct_phone(key: dict[str, Any], remote: str, where: str) -> str | None:
    if remote.endswith("@lid"):
        # A LID is a privacy alias, not a number; newer servers put the phone JID next to it.
        alternative = optional_str(key, "remoteJidAlt") or optional_str(key, "senderPn")
        if not alternative or alternative.endswith("@lid"):
            return None
        remote = alternative
    try:
        return to_e164(remote)
    except ValueError:
        raise InvalidPayload(f"{where}.key.remoteJid is not a phone JID") from None


def _group_sender(key: dict[str, Any], remote: str) -> str:
    for field in ("participant", "participantAlt", "participantPn"):
        jid = optional_str(key, field)
        if jid and not jid.endswith("@lid"):
            try:
                return to_e164(jid)
            except ValueError:
                continue
    # Group messages are recorded, never answered: any stable digits will do.
    return loose_phone(remote)


def _content(message: dict[str, Any], message_type: str | None) -> tuple[str | None, object]:
    key = message_type if message_type and message_type in message else _first_content_key(message)
    content = message.get(key) if key else None
    for _ in range(3):  # wrappers nest a level or two at most
        if key not in _WRAPPERS or not isinstance(content, dict) or not isinstance(content.get("message"), dict):
            break
        inner = content["message"]
        key = _first_content_key(inner)
        content = inner.get(key) if key else None
    return key, content


def _first_content_key(message: dict[str, Any]) -> str | None:
    keys = [k for k in message if k not in _NOT_CONTENT]
    return next((k for k in keys if k in _KINDS or k in _WRAPPERS), keys[0] if keys else None)


def _text(content_key: str | None, content: object) -> str | None:
    if content_key == "conversation":
        return content if isinstance(content, str) and content else None
    if not isinstance(content, dict):
        return None
    if content_key == "extendedTextMessage":
        return optional_str(content, "text")
    if content_key in ("imageMessage", "videoMessage", "documentMessage", "ptvMessage"):
        return optional_str(content, "caption")
    if content_key in ("locationMessage", "liveLocationMessage"):
        lat, long = content.get("degreesLatitude"), content.get("degreesLongitude")
        if lat is None or long is None:
            return None
        label = optional_str(content, "name") or optional_str(content, "address")
        return f"{lat},{long}" + (f" {label}" if label else "")
    if content_key == "contactMessage":
        return optional_str(content, "displayName")
    if content_key == "contactsArrayMessage":
        names = [optional_str(c, "displayName") for c in content.get("contacts") or [] if isinstance(c, dict)]
        return ", ".join(n for n in names if n) or None
    if content_key == "reactionMessage":
        return optional_str(content, "text")  # empty when a reaction is removed
    if content_key == "buttonsResponseMessage":
        return optional_str(content, "selectedDisplayText") or optional_str(content, "selectedButtonId")
    if content_key == "templateButtonReplyMessage":
        return optional_str(content, "selectedDisplayText") or optional_str(content, "selectedId")
    if content_key == "listResponseMessage":
        return optional_str(content, "title") or optional_str(content.get("singleSelectReply"), "selectedRowId")
    if content_key == "interactiveResponseMessage":
        return optional_str(content.get("body"), "text")
    return None


def _media(message: dict[str, Any], content_key: str | None, content: object, key: dict[str, Any]) -> MediaRef:
    if not isinstance(content, dict):
        content = {}
    stored_url = optional_str(message, "mediaUrl")
    size = content.get("fileLength")
    inline = message.get("base64")
    return MediaRef(
        # What getBase64FromMediaMessage needs to decrypt the file with no database lookup (see EvolutionMedia).
        provider_message={"key": {k: v for k, v in key.items() if k in _KEY_FIELDS},
                          "message": {k: v for k, v in message.items() if k not in ("base64", "mediaUrl")}},
        inline_base64=inline if isinstance(inline, str) and 0 < len(inline) <= INLINE_BASE64_LIMIT else None,
        # mediaUrl is set when the server stores media in S3/MinIO; the WhatsApp CDN url is end-to-end encrypted.
        url=stored_url or optional_str(content, "url"),
        encrypted=stored_url is None,
        file_size=bounded_count(size),
        mime_type=optional_str(content, "mimetype"),
        filename=optional_str(content, "fileName"),
        sha256=optional_str(content, "fileSha256"),
        voice=content_key == "audioMessage" and content.get("ptt") is True,
    )


def _timestamp(value: object, where: str) -> datetime:
    if isinstance(value, dict) and isinstance(value.get("low"), int):
        # Older servers serialize protobuf Long values as {low, high, unsigned}.
        high = value.get("high")
        value = ((high if isinstance(high, int) else 0) << 32) + (value["low"] & 0xFFFFFFFF)
    return epoch_to_utc(value, where)


def _status(item: dict[str, Any], channel_id: str, now: datetime, where: str) -> StatusUpdate | str:
    if item.get("fromMe") is False:
        return "status_of_inbound"  # receipts for messages the lead sent us: nothing of ours to track
    name = optional_str(item, "status")
    state = _STATES.get(name or "")
    if state is None:
        return f"status:{name or 'missing'}"
    remote = optional_str(item, "remoteJid")
    recipient = None
    if remote and remote.endswith("@s.whatsapp.net"):
        try:
            recipient = to_e164(remote)
        except ValueError:
            recipient = None
    return StatusUpdate(
        provider=Provider.EVOLUTION,
        channel_id=channel_id,
        provider_message_id=require_str(item, "keyId", where),
        state=state,
        recipient_phone=recipient,
        # messages.update has no event time, and the envelope's date_time is the server's local
        # clock labelled as UTC; the moment we received it is the more truthful of the two.
        at=now,
        error="Evolution reported status ERROR" if state is DeliveryState.FAILED else None,
    )


class EvolutionProvider:
    """Sends text through an Evolution API v2 server (each channel names its own server and instance)."""

    def __init__(self, http: httpx.Client) -> None:
        self._http = http

    def send_text(self, channel: Channel, to_phone: str, text: str) -> str:
        """POST {server_url}/message/sendText/{instance}; returns key.id of the sent message."""
        return self._send(channel, "sendText", {"number": recipient_digits(_PROVIDER, to_phone), "text": text})

    def send_media(self, channel: Channel, to_phone: str, media: DownloadedMedia, kind: str,
                   caption: str | None = None) -> str:
        """A file relayed from a seller, as base64. Voice notes: POST /message/sendWhatsAppAudio/{instance}
        {number, audio}; other files: POST /message/sendMedia/{instance} {number, mediatype (image, video,
        document, audio), mimetype, media, fileName (required for base64 documents), caption}
        (https://www.mintlify.com/EvolutionAPI/evolution-api/api/messages/send-media)."""
        number = recipient_digits(_PROVIDER, to_phone)
        encoded = base64.b64encode(media.content).decode()
        if kind == "audio":
            return self._send(channel, "sendWhatsAppAudio", {"number": number, "audio": encoded})
        mediatype = kind if kind in ("image", "video") else "document"
        payload: dict[str, Any] = {"number": number, "mediatype": mediatype,
                                   "mimetype": media.mime_type or "application/octet-stream", "media": encoded,
                                   "fileName": media.filename or f"arquivo.{mediatype}"}
        if caption:
            payload["caption"] = caption
        return self._send(channel, "sendMedia", payload)

    def send_audio(self, channel: Channel, to_phone: str, audio: bytes, mime_type: str) -> str:
        """POST {server_url}/message/sendWhatsAppAudio/{instance}: a voice note (PTT), audio as base64
        (https://doc.evolution-api.com/v2/api-reference/message-controller/send-audio)."""
        return self._send(channel, "sendWhatsAppAudio", {"number": recipient_digits(_PROVIDER, to_phone),
                                                         "audio": base64.b64encode(audio).decode(),
                                                         "encoding": True})

    def _send(self, channel: Channel, endpoint: str, payload: dict[str, Any]) -> str:
        creds = channel.credentials
        if not creds.server_url:
            missing_credential(_PROVIDER, "server_url")
        if not creds.api_key:
            missing_credential(_PROVIDER, "api_key")
        url = f"{creds.server_url.rstrip('/')}/message/{endpoint}/{quote(channel.channel_id, safe='')}"
        reply = post_json(self._http, _PROVIDER, url, {"apikey": creds.api_key}, payload)
        body = reply.body if isinstance(reply.body, dict) else {}
        if 200 <= reply.status < 300:
            message_id = optional_str(body.get("key"), "id")
            if message_id:
                return message_id
            fail(_PROVIDER, reply.status, "response has no key.id", [creds.api_key], transient=True)
        response = body.get("response")
        detail = detail_text(response.get("message") if isinstance(response, dict) else None)
        detail = detail or detail_text(body.get("error")) or detail_text(body.get("message")) or f"HTTP {reply.status}"
        fail(_PROVIDER, reply.status, detail, [creds.api_key], transient=is_transient_status(reply.status))


class EvolutionMedia:
    """Downloads a lead's file from the channel's Evolution server.

    The webhook's `url` points at WhatsApp's end-to-end encrypted CDN and cannot be used as is. In order:
    1. a plain `mediaUrl` (the server keeps media in S3/MinIO) is fetched directly;
    2. base64 the webhook already carried (the instance's webhook_base64 setting) is used as is;
    3. POST /chat/getBase64FromMediaMessage/{instance} with the webhook's whole message (key and message): the
       server decrypts it from the message's mediaKey. Given only `key.id`, the server must find the message
       in its own database and answers 400 "Message not found" when it does not keep messages
       (DATABASE_SAVE_DATA_NEW_MESSAGE=false) — Evolution's getBase64FromMediaMessage: `m?.message ? m :
       await this.getMessage(m.key)`, EvolutionAPI/evolution-api,
       src/api/integrations/channel/whatsapp/whatsapp.baileys.service.ts, and the endpoint's Postman note
       "payload message or key.id only for get message in database".
    """

    def __init__(self, http: httpx.Client) -> None:
        self._http = http

    def download(self, channel: Channel, message: StoredMessage, max_bytes: int) -> DownloadedMedia:
        media = message.media
        creds = channel.credentials
        if media is not None and media.url and not media.encrypted:
            file = fetch_limited(self._http, _PROVIDER, "GET", media.url, {}, max_bytes)
            if file.status != 200:
                media_failure(_PROVIDER, file.status, "stored media download", [creds.api_key])
            return DownloadedMedia(content=file.content, mime_type=media.mime_type or file.content_type,
                                   filename=media.filename)
        if media is not None and media.inline_base64:
            content = _decoded(media.inline_base64, "the webhook's base64")
            if len(content) > max_bytes:
                raise MediaTooLarge(len(content))
            return DownloadedMedia(content=content, mime_type=media.mime_type, filename=media.filename)
        if not creds.server_url or not creds.api_key:
            raise MediaUnavailable("the channel has no Evolution server_url/api_key configured")
        if not message.provider_message_id:
            raise MediaUnavailable("the message has no Evolution key id")
        url = f"{creds.server_url.rstrip('/')}/chat/getBase64FromMediaMessage/{quote(channel.channel_id, safe='')}"
        whole = media.provider_message if media is not None else None
        payload = {"message": whole or {"key": {"id": message.provider_message_id}}, "convertToMp4": False}
        # base64 is 4/3 of the file, plus the JSON around it.
        reply = fetch_limited(self._http, _PROVIDER, "POST", url, {"apikey": creds.api_key},
                              max_bytes * 4 // 3 + 65_536, json_body=payload)
        body = json_of(reply)
        body = body if isinstance(body, dict) else {}
        if not 200 <= reply.status < 300:
            response = body.get("response")
            detail = detail_text(response.get("message") if isinstance(response, dict) else None)
            detail = detail or detail_text(body.get("error")) or detail_text(body.get("message")) or ""
            if reply.status == 400:
                detail += (" — the server could not decrypt the file from the webhook's message (expired on "
                           "WhatsApp's servers?)" if whole else
                           " — only the message id was available, so the server looked the message up in its "
                           "database: set DATABASE_SAVE_DATA_NEW_MESSAGE=true on the Evolution server, or enable "
                           "webhook_base64 on the instance")
            media_failure(_PROVIDER, reply.status, f"getBase64FromMediaMessage: {detail}", [creds.api_key])
        encoded = optional_str(body, "base64")
        if not encoded:
            raise MediaUnavailable("getBase64FromMediaMessage answered without base64")
        content = _decoded(encoded, "getBase64FromMediaMessage's base64")
        if len(content) > max_bytes:
            raise MediaTooLarge(len(content))
        return DownloadedMedia(content=content,
                               mime_type=optional_str(body, "mimetype") or (media.mime_type if media else None),
                               filename=(media.filename if media else None) or optional_str(body, "fileName"))


def _decoded(encoded: str, what: str) -> bytes:
    try:
        # A data URL ("data:audio/ogg;base64,...") or bare base64.
        return base64.b64decode(encoded.split(",", 1)[-1], validate=False)
    except (binascii.Error, ValueError):
        raise MediaUnavailable(f"{what} is not valid base64") from None
