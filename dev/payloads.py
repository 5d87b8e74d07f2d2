"""Build webhook requests the way each provider sends them (for the demo, the e2e tests and the benchmark)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any


def meta_text(phone_number_id: str, wa_id: str, name: str, wamid: str, body: str, ts: int | None = None,
              context_id: str | None = None) -> dict:
    """A Cloud API `messages` webhook with one text message (a reply when context_id names the quoted wamid)."""
    message = {"from": wa_id, "id": wamid, "timestamp": str(ts or int(time.time())), "type": "text",
               "text": {"body": body}}
    if context_id:
        message["context"] = {"from": "15550783881", "id": context_id}
    return {
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
                    "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
                    "messages": [message],
                },
            }],
        }],
    }


def meta_status(phone_number_id: str, wa_id: str, wamid: str, status: str, ts: int | None = None) -> dict:
    """A Cloud API `statuses` webhook about a message we sent."""
    return {
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
                    "statuses": [{"id": wamid, "status": status, "timestamp": str(ts or int(time.time())),
                                  "recipient_id": wa_id}],
                },
            }],
        }],
    }


def meta_signature(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def signed_meta(payload: dict, app_secret: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    return body, {"Content-Type": "application/json", "X-Hub-Signature-256": meta_signature(app_secret, body)}


def evolution_text(instance: str, apikey: str, phone_digits: str, name: str, key_id: str, text: str,
                   from_me: bool = False, ts: int | None = None, quoted_id: str | None = None) -> dict:
    """Evolution API v2 `messages.upsert` with a plain conversation message (a reply when quoted_id is given:
    data.contextInfo.stanzaId, as tests/data/providers/evolution_text_reply.json)."""
    payload = {
        "event": "messages.upsert",
        "instance": instance,
        "data": {
            "key": {"remoteJid": f"{phone_digits}@s.whatsapp.net", "fromMe": from_me, "id": key_id},
            "pushName": name,
            "message": {"conversation": text},
            "messageType": "conversation",
            "messageTimestamp": ts or int(time.time()),
            "instanceId": "5e2c7b4a-1f3d-4b1e-9c8a-3f1e2d4c5b6a",
            "source": "android",
        },
        "destination": "https://example.invalid/webhook",
        "date_time": "2026-11-21T10:00:00.000Z",
        "sender": "5511900000000@s.whatsapp.net",
        "server_url": "http://localhost:8080",
        "apikey": apikey,
    }
    if quoted_id:
        payload["data"]["contextInfo"] = {"stanzaId": quoted_id, "participant": "", "quotedMessage": {"conversation": ""}}
    return payload


def zapi_text(instance_id: str, phone_digits: str, name: str, message_id: str, text: str,
              from_me: bool = False, ts_ms: int | None = None, reference_id: str | None = None) -> dict:
    """Z-API `ReceivedCallback` for a text message (a reply when reference_id names the quoted message)."""
    return {
        "isStatusReply": False,
        "senderLid": "81896604192873@lid",
        "connectedPhone": "5511900000000",
        "waitingMessage": False,
        "isEdit": False,
        "isGroup": False,
        "isNewsletter": False,
        "instanceId": instance_id,
        "messageId": message_id,
        "phone": phone_digits,
        "fromMe": from_me,
        "momment": ts_ms or int(time.time() * 1000),
        "status": "RECEIVED",
        "chatName": name,
        "senderPhoto": None,
        "senderName": name,
        "participantPhone": None,
        "photo": None,
        "broadcast": False,
        "type": "ReceivedCallback",
        "referenceMessageId": reference_id,
        "text": {"message": text},
    }


def meta_media(phone_number_id: str, wa_id: str, name: str, wamid: str, kind: str, media_id: str, mime_type: str,
               voice: bool = False, filename: str | None = None, caption: str | None = None) -> dict:
    """A Cloud API `messages` webhook with one audio/image/document/video message (media by id, as Meta sends)."""
    payload = meta_text(phone_number_id, wa_id, name, wamid, "")
    content: dict[str, Any] = {"mime_type": mime_type, "sha256": "c2FuZGJveA==", "id": media_id}
    if kind == "audio":
        content["voice"] = voice
    if filename:
        content["filename"] = filename
    if caption:
        content["caption"] = caption
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message.pop("text")
    message.update({"type": kind, kind: content})
    return payload


def evolution_media(instance: str, apikey: str, phone_digits: str, name: str, key_id: str, content_key: str,
                    mime_type: str, file_length: int, filename: str | None = None, media_url: str | None = None,
                    ptt: bool = False) -> dict:
    """Evolution API v2 `messages.upsert` with a media message (audioMessage, documentMessage, imageMessage…):
    the url is WhatsApp's encrypted CDN; `mediaUrl` appears only when the server stores media in S3."""
    payload = evolution_text(instance, apikey, phone_digits, name, key_id, "")
    content: dict[str, Any] = {
        "url": "https://mmg.whatsapp.net/v/t62.7117-24/00000000_n.enc?ccb=11-4",
        "mimetype": mime_type, "fileSha256": "c2FuZGJveA==", "fileLength": str(file_length),
        "mediaKey": "c2FuZGJveC1tZWRpYS1rZXk=", "directPath": "/v/t62.7117-24/00000000_n.enc",
        "mediaKeyTimestamp": "1732276918",
    }
    if content_key == "audioMessage":
        content.update({"ptt": ptt, "seconds": 2})
    if filename:
        content.update({"fileName": filename, "title": filename})
    message: dict[str, Any] = {content_key: content}
    if media_url:
        message["mediaUrl"] = media_url
    payload["data"].update({"message": message, "messageType": content_key})
    return payload


def zapi_media(instance_id: str, phone_digits: str, name: str, message_id: str, kind: str, url: str, mime_type: str,
               filename: str | None = None, ptt: bool = False) -> dict:
    """Z-API `ReceivedCallback` with audio/image/document/video: a temporary public URL to the file."""
    payload = zapi_text(instance_id, phone_digits, name, message_id, "")
    payload.pop("text")
    content: dict[str, Any] = {f"{kind}Url": url, "mimeType": mime_type}
    if kind == "audio":
        content.update({"ptt": ptt, "seconds": 2, "viewOnce": False})
    if filename:
        content.update({"fileName": filename, "title": filename.rsplit(".", 1)[0]})
    payload[kind] = content
    return payload


def as_json(payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    return json.dumps(payload).encode(), {"Content-Type": "application/json"}


def gateway_channel(provider: str, payload: dict[str, Any]) -> str | None:
    """The channel whose keyed webhook URL a gateway calls with this payload (each channel has its own URL):
    Evolution's `instance`, Z-API's `instanceId`; None for Meta, whose URL is not keyed."""
    return {"evolution": payload.get("instance"), "zapi": payload.get("instanceId")}.get(provider)
