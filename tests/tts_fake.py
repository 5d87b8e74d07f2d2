"""A local HTTP server speaking Cloud Text-to-Speech's text:synthesize REST contract, so the real
GoogleSpeechSynthesizer (httpx) is what the tests drive. It refuses what the real API documents as refused and
answers a real Ogg/Opus file (made by the offline synthesizer) for what it accepts."""

from __future__ import annotations

import base64
import json
import re

from dev.json_http import JsonHandler, serve_in_background
from shared.adapters.offline_speech import OfflineSpeechSynthesizer
from shared.domain.voice import VoiceSettings

# AudioEncoding values of the v1 API (https://cloud.google.com/text-to-speech/docs/reference/rest/v1/AudioConfig).
ENCODINGS = {"LINEAR16", "MP3", "OGG_OPUS", "MULAW", "ALAW", "PCM", "M4A"}
# Chirp 3 HD voice names: <locale>-Chirp3-HD-<Voice> (https://cloud.google.com/text-to-speech/docs/chirp3-hd).
CHIRP3 = re.compile(r"^(?P<locale>[a-z]{2,3}-[A-Z]{2})-Chirp3-HD-(?P<voice>[A-Za-z]+)$")
# Voices of the Chirp 3 HD page's "Voice options" table.
VOICES = {"Achernar", "Achird", "Algenib", "Algieba", "Alnilam", "Aoede", "Autonoe", "Callirrhoe", "Charon",
          "Despina", "Enceladus", "Erinome", "Fenrir", "Gacrux", "Iapetus", "Kore", "Laomedeia", "Leda", "Orus",
          "Pulcherrima", "Puck", "Rasalgethi", "Sadachbia", "Sadaltager", "Schedar", "Sulafat", "Umbriel",
          "Vindemiatrix", "Zephyr", "Zubenelgenubi"}


def _error(code: int, status: str, message: str) -> tuple[int, dict]:
    return code, {"error": {"code": code, "status": status, "message": message}}


class FakeTextToSpeech:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.failures: list[tuple[int, dict]] = []
        fake = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.read_body() or b"{}")
                fake.requests.append(body)
                self.reply_json(*fake.answer(self.path, self.headers.get("Authorization", ""), body))

        self.server, _ = serve_in_background(Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, path: str, authorization: str, body: dict) -> tuple[int, dict]:
        if path != "/v1/text:synthesize":
            return _error(404, "NOT_FOUND", f"no method {path}")
        if not authorization.startswith("Bearer "):
            # Every call needs OAuth credentials (https://cloud.google.com/text-to-speech/docs/authentication).
            return _error(401, "UNAUTHENTICATED", "Request is missing required authentication credential.")
        if self.failures:
            return self.failures.pop(0)
        text = (body.get("input") or {}).get("text")
        if not text:
            return _error(400, "INVALID_ARGUMENT", "input: one of text, ssml or markup is required")
        if len(text.encode()) > 5000:
            # Quotas: 5,000 bytes of input per request (https://cloud.google.com/text-to-speech/quotas).
            return _error(400, "INVALID_ARGUMENT", "Either `input.text` or `input.ssml` is longer than the limit "
                                                   "of 5000 bytes.")
        voice = body.get("voice") or {}
        if not voice.get("languageCode"):
            return _error(400, "INVALID_ARGUMENT", "voice.language_code is required")
        match = CHIRP3.match(voice.get("name") or "")
        if voice.get("name") and (not match or match["voice"] not in VOICES):
            return _error(400, "INVALID_ARGUMENT", f"Voice '{voice.get('name')}' does not exist.")
        if match and match["locale"] != voice["languageCode"]:
            return _error(400, "INVALID_ARGUMENT", "voice.name's locale does not match voice.language_code")
        encoding = (body.get("audioConfig") or {}).get("audioEncoding")
        if encoding not in ENCODINGS:
            return _error(400, "INVALID_ARGUMENT", "audio_config.audio_encoding is required")
        rate = (body.get("audioConfig") or {}).get("speakingRate", 1.0)
        if not 0.25 <= rate <= 2.0:
            return _error(400, "INVALID_ARGUMENT", "speaking_rate must be between 0.25 and 2.0")
        audio = OfflineSpeechSynthesizer().synthesize(text, VoiceSettings(speaking_rate=rate)).audio
        return 200, {"audioContent": base64.b64encode(audio).decode()}

    def close(self) -> None:
        self.server.shutdown()
