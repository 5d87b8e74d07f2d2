"""A local stand-in for the WhatsApp providers' send and media APIs, so outbound messages can be seen.

It answers the documented request shapes of Meta's Graph API (/{version}/{phone-number-id}/messages and the
multipart media upload /{version}/{phone-number-id}/media), Evolution API v2 (/message/sendText, sendMedia,
sendWhatsAppAudio/{instance}) and Z-API (/instances/{id}/token/{token}/send-text, send-audio, send-image,
send-video, send-document/{ext}) with their documented response shapes, refuses sends missing a required
field, records every send, and can be told to fail the next sends.
Twilio (/twilio/2010-04-01/…) is served by the contract fake in dev/twilio_fake.py, which also delivers the
status callbacks Twilio would send, signed, to the StatusCallback URL of each send.

It also serves the leads' files the way each provider hands them over: Meta's GET /{version}/{media-id}
(→ url, mime_type, sha256, file_size) and the bearer-protected download URL it names; Evolution's
POST /chat/getBase64FromMediaMessage/{instance} (→ base64, mimetype, fileName); and plain file URLs (Z-API's
temporary storage, Evolution's S3 mediaUrl). Every media request is recorded.

Evolution's getBase64FromMediaMessage follows the server's source (EvolutionAPI/evolution-api,
src/api/integrations/channel/whatsapp/whatsapp.baileys.service.ts: `const msg = m?.message ? m : await
this.getMessage(m.key, true); if (!msg) throw 'Message not found'` → 400): a request carrying the webhook's
message (key and message with the media's mediaKey/directPath) is decrypted without any lookup; a `key.id`-only
request is answered only when the server keeps messages (`evolution_stores_messages`, the server's
DATABASE_SAVE_DATA_NEW_MESSAGE), else 400 "Message not found".
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from dev.json_http import JsonHandler
from dev.twilio_fake import TwilioFake
from shared.domain.voice import MAX_VOICE_NOTE_BYTES, is_ogg_opus, ogg_opus_duration

_META = re.compile(r"^/meta/(?P<version>v[\d.]+)/(?P<channel>[^/]+)/messages$")
_META_UPLOAD = re.compile(r"^/meta/(?P<version>v[\d.]+)/(?P<channel>[^/]+)/media$")
_EVOLUTION = re.compile(r"^/evolution/message/(?P<endpoint>sendText|sendMedia|sendWhatsAppAudio)/(?P<channel>[^/]+)$")
_ZAPI = re.compile(r"^/zapi/instances/(?P<channel>[^/]+)/token/(?P<token>[^/]+)/"
                   r"(?P<endpoint>send-text|send-audio|send-image|send-video|send-document/[^/]+)$")
# Required body fields per send, as each provider's docs list them (a missing one is refused with 400 here too).
_EVOLUTION_REQUIRED = {"sendText": ("number", "text"), "sendMedia": ("number", "mediatype", "media"),
                       "sendWhatsAppAudio": ("number", "audio")}
_ZAPI_REQUIRED = {"send-text": ("phone", "message"), "send-audio": ("phone", "audio"),
                  "send-image": ("phone", "image"), "send-video": ("phone", "video"),
                  "send-document": ("phone", "document")}
_META_MEDIA = re.compile(r"^/meta/(?P<version>v[\d.]+)/(?P<media_id>\d+)$")
_META_MEDIA_FILE = re.compile(r"^/meta/media-download/(?P<media_id>\d+)$")
_EVOLUTION_BASE64 = re.compile(r"^/evolution/chat/getBase64FromMediaMessage/(?P<channel>[^/]+)$")
_FILE = re.compile(r"^/files/(?P<name>[^/?]+)$")


@dataclass
class HostedMedia:
    content: bytes
    mime_type: str
    filename: str | None = None
    delay_seconds: float = 0.0  # answer slowly, to show a turn waiting for its file


def _b64_len(value: object) -> int | None:
    """Bytes of a base64 payload (with or without a data: prefix), to show that a file really went out."""
    if not isinstance(value, str):
        return None
    try:
        return len(base64.b64decode(value.split(",", 1)[-1], validate=False))
    except ValueError:
        return None


def _template_refusal(template: dict) -> dict | None:
    """Meta refuses a template whose body parameters mix named and positional forms, or name a parameter
    against its rule (lowercase letters, digits, underscores): "Template fundamentals",
    https://developers.facebook.com/documentation/business-messaging/whatsapp/templates/overview."""
    for component in template.get("components") or []:
        parameters = component.get("parameters") or []
        names = [p.get("parameter_name") for p in parameters]
        if any(names) and (not all(names) or not all(re.fullmatch(r"[a-z0-9_]+", n or "") for n in names)):
            return {"error": {"message": "(#132000) Number of parameters does not match the expected number of "
                                         "params", "type": "OAuthException", "code": 132000,
                              "fbtrace_id": "SANDBOX"}}
    return None


class ProviderSandbox:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, evolution_stores_messages: bool = False) -> None:
        self.evolution_stores_messages = evolution_stores_messages
        self.zapi_requires_client_token = True  # the demo tenant's Z-API account has its security token active
        self.sent: list[dict[str, Any]] = []
        self._failures: list[tuple[int, dict]] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._meta_media: dict[str, HostedMedia] = {}
        self._evolution_media: dict[str, HostedMedia] = {}
        self._files: dict[str, HostedMedia] = {}
        self.uploads: list[dict[str, Any]] = []  # Meta media uploads (POST /{phone-number-id}/media)
        self._uploaded: dict[str, bytes] = {}  # their content by media id (voice notes are checked when sent)
        self.media_requests: list[str] = []  # "meta-lookup:<id>", "meta-download:<id>", "evolution:<key>", "file:<n>"
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self.twilio = TwilioFake(base_url=f"{self.url}/twilio")
        self.twilio_callbacks_delivered: list[str] = []
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ProviderSandbox:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, count: int, status: int = 500, body: dict | None = None) -> None:
        """Make the next `count` sends answer `status` (for retry tests and the demo)."""
        with self._lock:
            self._failures.extend([(status, body or {"error": {"message": "sandbox failure"}})] * count)

    def sends_to(self, phone_digits: str) -> list[dict[str, Any]]:
        return [s for s in self.sent if s["to"] == phone_digits]

    # -- media -------------------------------------------------------------------------------------

    def host_meta_media(self, media_id: str, media: HostedMedia) -> None:
        """Serve a file the Cloud API way: lookup by media id, then a bearer-protected download."""
        with self._lock:
            self._meta_media[media_id] = media

    def host_evolution_media(self, key_id: str, media: HostedMedia) -> None:
        """Serve a file through getBase64FromMediaMessage for the message with this key id."""
        with self._lock:
            self._evolution_media[key_id] = media

    def host_file(self, name: str, media: HostedMedia) -> str:
        """Serve a file at a plain URL (Z-API's storage, an Evolution S3 mediaUrl); returns the URL."""
        with self._lock:
            self._files[name] = media
        return f"{self.url}/files/{name}"

    def media_requests_for(self, marker: str) -> list[str]:
        return [r for r in self.media_requests if r.endswith(f":{marker}")]

    def _media_get(self, path: str, headers: dict[str, str]) -> tuple[int, Any, str]:
        """(status, JSON payload or raw bytes, content type) for a media GET."""
        bearer = headers.get("authorization", "").startswith("Bearer ")
        if match := _META_MEDIA.match(path):
            media_id = match["media_id"]
            self.media_requests.append(f"meta-lookup:{media_id}")
            media = self._meta_media.get(media_id)
            if not bearer:
                return 401, {"error": {"message": "An access token is required to request this resource.",
                                       "type": "OAuthException", "code": 104, "fbtrace_id": "SANDBOX"}}, ""
            if media is None:
                return 400, {"error": {"message": f"Unsupported get request. Object with ID '{media_id}' does not "
                                                  "exist, cannot be loaded due to missing permissions, or does not "
                                                  "support this operation.", "type": "GraphMethodException",
                                       "code": 100, "error_subcode": 33, "fbtrace_id": "SANDBOX"}}, ""
            return 200, {"messaging_product": "whatsapp", "url": f"{self.url}/meta/media-download/{media_id}",
                         "mime_type": media.mime_type, "sha256": hashlib.sha256(media.content).hexdigest(),
                         "file_size": str(len(media.content)), "id": media_id}, ""
        if match := _META_MEDIA_FILE.match(path):
            media_id = match["media_id"]
            self.media_requests.append(f"meta-download:{media_id}")
            media = self._meta_media.get(media_id)
            if not bearer:
                return 401, {"error": {"message": "unauthorized"}}, ""
            if media is None:
                return 404, {"error": {"message": "not found"}}, ""
            time.sleep(media.delay_seconds)
            return 200, media.content, media.mime_type
        if match := _FILE.match(path):
            name = match["name"]
            self.media_requests.append(f"file:{name}")
            media = self._files.get(name)
            if media is None:
                return 404, {"error": "file expired or not found"}, ""
            time.sleep(media.delay_seconds)
            return 200, media.content, media.mime_type
        return 404, {"error": f"sandbox has no route {path}"}, ""

    def _evolution_base64(self, channel: str, headers: dict[str, str], body: dict) -> tuple[int, dict]:
        given = body.get("message") or {}
        key_id = (given.get("key") or {}).get("id")
        whole = isinstance(given.get("message"), dict)
        self.media_requests.append(f"evolution{'' if whole else '-key-only'}:{key_id}")
        if not headers.get("apikey"):
            return 401, {"status": 401, "error": "Unauthorized", "response": {"message": "Unauthorized"}}
        not_found = (400, {"status": 400, "error": "Bad Request", "response": {"message": ["Message not found"]}})
        if whole:
            content = next((v for k, v in given["message"].items() if k.endswith("Message") and isinstance(v, dict)), {})
            if isinstance(content.get("message"), dict):  # ephemeral/viewOnce/documentWithCaption wrappers
                content = next((v for v in content["message"].values() if isinstance(v, dict)), {})
            if not content.get("mediaKey") or not (content.get("directPath") or content.get("url")):
                return 400, {"status": 400, "error": "Bad Request",
                             "response": {"message": ["The message is not of the media type"]}}
        elif not self.evolution_stores_messages:
            return not_found
        media = self._evolution_media.get(key_id or "")
        if media is None:
            return not_found
        time.sleep(media.delay_seconds)
        kind = media.mime_type.split("/", 1)[0]
        media_type = {"audio": "audioMessage", "image": "imageMessage", "video": "videoMessage"}.get(
            kind, "documentMessage")
        return 200, {"mediaType": media_type, "fileName": media.filename or "file",
                     "caption": None, "size": {"fileLength": str(len(media.content))},
                     "mimetype": media.mime_type, "base64": base64.b64encode(media.content).decode()}

    def _record(self, path: str, headers: dict[str, str], body: dict) -> tuple[int, dict]:
        with self._lock:
            if self._failures:
                return self._failures.pop(0)
            n = next(self._ids)
        if match := _META.match(path):
            if body.get("type") == "template" and (refusal := _template_refusal(body.get("template") or {})):
                return 400, refusal
            wamid = f"wamid.SANDBOX{n:06d}"
            kind = body.get("type") or "text"
            entry = {"provider": "meta", "channel": match["channel"], "to": body.get("to"),
                     "text": (body.get("text") or {}).get("body"), "id": wamid, "type": kind,
                     "authorized": headers.get("authorization", "").startswith("Bearer ")}
            if kind == "template":
                entry["template"] = body.get("template")
            elif kind != "text":
                content = body.get(kind) or {}
                if not content.get("id") and not content.get("link"):
                    return 400, {"error": {"message": f"(#100) Param {kind}['id'] or {kind}['link'] is required",
                                           "type": "OAuthException", "code": 100, "fbtrace_id": "SANDBOX"}}
                if content.get("id") and content["id"] not in self._uploaded:
                    return 400, {"error": {"message": "(#131053) Media upload error: unknown media id",
                                           "type": "OAuthException", "code": 131053, "fbtrace_id": "SANDBOX"}}
                entry.update({"media_id": content.get("id"), "text": content.get("caption"),
                              "filename": content.get("filename")})
                if kind == "audio" and content.get("id"):
                    entry["audio"] = _audio_entry(self._uploaded[content["id"]], voice=bool(content.get("voice")))
            response = {"messaging_product": "whatsapp", "contacts": [{"input": body.get("to"), "wa_id": body.get("to")}],
                        "messages": [{"id": wamid}]}
        elif match := _EVOLUTION.match(path):
            missing = [f for f in _EVOLUTION_REQUIRED[match["endpoint"]] if not body.get(f)]
            if missing:
                return 400, {"status": 400, "error": "Bad Request",
                             "response": {"message": [f"instance requires property \"{f}\"" for f in missing]}}
            key_id = f"3EB0SANDBOX{n:06d}"
            entry = {"provider": "evolution", "channel": match["channel"], "to": body.get("number"),
                     "text": body.get("text") if match["endpoint"] == "sendText" else body.get("caption"),
                     "id": key_id, "authorized": bool(headers.get("apikey")),
                     "type": {"sendText": "text", "sendWhatsAppAudio": "audio"}.get(match["endpoint"],
                                                                                    body.get("mediatype")),
                     "media_bytes": _b64_len(body.get("audio") or body.get("media"))}
            if match["endpoint"] == "sendWhatsAppAudio":  # always sent as a voice note (PTT)
                entry["audio"] = _audio_entry(_b64_bytes(body.get("audio")), voice=True)
            response = {"key": {"remoteJid": f"{body.get('number')}@s.whatsapp.net", "fromMe": True, "id": key_id},
                        "message": {"extendedTextMessage": {"text": body.get("text")}},
                        "messageTimestamp": "1732233600", "status": "PENDING"}
        elif match := _ZAPI.match(path):
            if self.zapi_requires_client_token and not headers.get("client-token"):
                # Z-API with the account security token active: https://developer.z-api.io/en/security/client-token
                return 403, {"error": "null not allowed"}
            endpoint = match["endpoint"].split("/", 1)[0]
            missing = [f for f in _ZAPI_REQUIRED[endpoint] if not body.get(f)]
            if missing:
                return 400, {"error": f"{', '.join(missing)} is required"}
            message_id = f"SANDBOXZ{n:06d}"
            kind = endpoint.removeprefix("send-")
            entry = {"provider": "zapi", "channel": match["channel"], "to": body.get("phone"),
                     "text": body.get("message") if kind == "text" else body.get("caption"), "id": message_id,
                     "authorized": bool(headers.get("client-token")), "type": kind,
                     "media_bytes": _b64_len(body.get(kind)) if kind != "text" else None}
            if kind == "audio":  # `waveform: true` shows it as a voice note
                entry["audio"] = _audio_entry(_b64_bytes(body.get("audio")), voice=bool(body.get("waveform")))
            response = {"zaapId": f"zaap-{n}", "messageId": message_id, "id": message_id}
        else:
            return 404, {"error": f"sandbox has no route {path}"}
        entry["received_at"] = time.time()  # wall clock, for bench/reply_latency.py
        with self._lock:
            self.sent.append(entry)
        return 200, response

    # -- voice notes --------------------------------------------------------------------------------------

    def _meta_upload(self, channel: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict]:
        """POST /{phone-number-id}/media, multipart with `file`, `type` and `messaging_product` (all required)
        (https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media#upload-media). audio/ogg must
        be Opus to be a voice message; at most 16 MB."""
        headers = {k.lower(): v for k, v in headers.items()}
        if not headers.get("authorization", "").startswith("Bearer "):
            return 401, {"error": {"message": "An access token is required to request this resource.",
                                   "type": "OAuthException", "code": 104, "fbtrace_id": "SANDBOX"}}
        parts = _form_parts(headers.get("content-type", ""), raw)
        missing = [f for f in ("messaging_product", "type", "file") if f not in parts]
        if missing:
            return 400, {"error": {"message": f"(#100) The parameter {missing[0]} is required",
                                   "type": "OAuthException", "code": 100, "fbtrace_id": "SANDBOX"}}
        content = parts["file"]
        if parts["type"].startswith(b"audio/ogg") and not is_ogg_opus(content):
            return 400, {"error": {"code": 131053, "message": "Media upload error: audio/ogg must be OPUS"}}
        if len(content) > MAX_VOICE_NOTE_BYTES:
            return 400, {"error": {"code": 131053, "message": "Media upload error: file too large"}}
        with self._lock:
            media_id = str(900000000000000 + next(self._ids))
            self.uploads.append({"channel": channel, "id": media_id, "bytes": len(content)})
            self._uploaded[media_id] = content
        return 200, {"id": media_id}

    def _twilio(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any, dict[str, str]]:
        """Twilio's API through the contract fake; accepted sends are recorded like the others' and their status
        callbacks delivered a moment later, as Twilio does."""
        with self._lock:
            failure = self._failures.pop(0) if self._failures and method == "POST" else None
        if failure is not None:
            return failure[0], {"code": 20500, "message": "sandbox failure", "status": failure[0]}, {}
        before = len(self.twilio.messages)
        pending = len(self.twilio.callbacks)
        answer = self.twilio.handle(method, path, headers, body)
        for message in self.twilio.messages[before:]:
            with self._lock:
                entry = {"provider": "twilio", "channel": message["from"].removeprefix("whatsapp:"),
                         "to": message["to"].removeprefix("whatsapp:+"), "text": message["body"],
                         "id": message["sid"], "authorized": True,
                         "template": message["content_sid"], "final_status": message["final_status"]}
                media = message.get("media")
                if media and media["content_type"].startswith("audio/"):
                    # Twilio documents no voice-note flag: the lead gets an audio message (voice unknown).
                    entry["audio"] = {**_audio_entry(media["content"], voice=False), "voice": None,
                                      "content_type": media["content_type"], "url": media["url"]}
                self.sent.append(entry)
        callbacks = self.twilio.callbacks[pending:]
        if callbacks:
            threading.Timer(0.3, self._deliver_twilio_callbacks, args=(callbacks,)).start()
        return answer.status, answer.body, answer.headers

    def _deliver_twilio_callbacks(self, callbacks: list[tuple[str, dict[str, str]]]) -> None:
        import urllib.parse
        import urllib.request

        for url, params in callbacks:
            signature = self.twilio.signature(params["AccountSid"], url, params)
            request = urllib.request.Request(url, data=urllib.parse.urlencode(params).encode(), method="POST",
                                             headers={"Content-Type": "application/x-www-form-urlencoded",
                                                      "X-Twilio-Signature": signature})
            try:
                urllib.request.urlopen(request, timeout=5).close()
                self.twilio_callbacks_delivered.append(params["MessageStatus"])
            except OSError:
                self.twilio_callbacks_delivered.append(f"undeliverable:{params['MessageStatus']}")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        sandbox = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path == "/sent":
                    self.reply_json(200, sandbox.sent)
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                if self.path.startswith("/twilio/"):
                    self._reply_twilio(*sandbox._twilio("GET", self.path[len("/twilio"):].split("?", 1)[0], headers,
                                                        b""))
                    return
                status, payload, content_type = sandbox._media_get(self.path.split("?", 1)[0], headers)
                if isinstance(payload, bytes):
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                else:
                    self.reply_json(status, payload)

            def _reply_twilio(self, status: int, payload: Any, extra: dict[str, str]) -> None:
                if isinstance(payload, bytes):
                    self.send_response(status)
                    for name, value in extra.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                else:
                    self.reply_json(status, payload)

            def do_POST(self) -> None:  # noqa: N802
                headers = {k.lower(): v for k, v in self.headers.items()}
                if self.path.startswith("/twilio/"):
                    self._reply_twilio(*sandbox._twilio("POST", self.path[len("/twilio"):].split("?", 1)[0], headers,
                                                        self.read_body()))
                    return
                if match := _META_UPLOAD.match(self.path):
                    self.reply_json(*sandbox._meta_upload(match["channel"], dict(self.headers.items()),
                                                          self.read_body()))
                    return
                try:
                    body = json.loads(self.read_body() or b"{}")
                except ValueError:
                    self.reply_json(400, {"error": "body is not JSON"})
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                if match := _EVOLUTION_BASE64.match(self.path):
                    self.reply_json(*sandbox._evolution_base64(match["channel"], headers, body))
                    return
                self.reply_json(*sandbox._record(self.path, headers, body))

        return Handler


def _form_parts(content_type: str, raw: bytes) -> dict[str, bytes]:
    """The named parts of a multipart/form-data body."""
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    parts: dict[str, bytes] = {}
    for part in message.iter_parts() if message.is_multipart() else []:
        name = part.get_param("name", header="content-disposition")
        if name:
            parts[str(name)] = part.get_payload(decode=True) or b""
    return parts


def _audio_entry(content: bytes, voice: bool) -> dict:
    return {"bytes": len(content), "ogg_opus": is_ogg_opus(content), "duration_s": ogg_opus_duration(content),
            "voice": voice}


def _b64_bytes(value: object) -> bytes:
    """The bytes of a base64 value or data URI (an audio sent inline); empty when it is neither."""
    raw = str(value or "")
    try:
        return base64.b64decode(raw.split(",", 1)[1] if raw.startswith("data:") else raw, validate=True)
    except ValueError:
        return b""
