"""A local HTTP server speaking Cloud Text-to-Speech's text:synthesize REST contract, so the real
GoogleSpeechSynthesizer (httpx) is what the tests drive. It refuses what the real API documents as refused and
answers a real Ogg/Opus file (made by the offline synthesizer) for what it accepts.

It also speaks v1beta1 voices:generateVoiceCloningKey (Chirp 3 Instant Custom Voice) and accepts a
voice.voiceClone.voiceCloningKey at synthesis only when it issued that key."""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets

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


# Chirp 3 Instant Custom Voice (https://cloud.google.com/text-to-speech/docs/chirp3-instant-custom-voice):
# the consent statement of each language, verbatim from the page's "Language availability" table; the request's
# consent_script must be the one of its language_code.
CONSENT_STATEMENTS = {
    "pt-BR": "Eu sou o proprietário desta voz e autorizo o Google a usá-la para criar um modelo de voz sintética.",
    "en-US": "I am the owner of this voice and I consent to Google using this voice to create a synthetic voice "
             "model.",
    "es-ES": "Soy el propietario de esta voz y doy mi consentimiento para que Google la utilice para crear un modelo "
             "de voz sintética.",
    "de-DE": "Ich bin der Eigentümer dieser Stimme und bin damit einverstanden, dass Google diese Stimme zur "
             "Erstellung eines synthetischen Stimmmodells verwendet.",
}
# Same page, "Supported encoding formats" of the recordings.
CLONING_INPUT_ENCODINGS = {"LINEAR16", "PCM", "MP3", "M4A"}


def _field(body: dict, snake: str, camel: str):  # noqa: ANN202 - JSON value
    """Proto3 JSON accepts both the field's name and its lowerCamelCase form (protobuf JSON mapping)."""
    return body.get(snake, body.get(camel))


def _error(code: int, status: str, message: str) -> tuple[int, dict]:
    return code, {"error": {"code": code, "status": status, "message": message}}


class FakeTextToSpeech:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.failures: list[tuple[int, dict]] = []
        self.allow_listed = True  # Instant Custom Voice is for allow-listed projects only (see the page above)
        self.cloning_keys: set[str] = set()
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
        if path not in ("/v1/text:synthesize", "/v1beta1/text:synthesize", "/v1beta1/voices:generateVoiceCloningKey"):
            return _error(404, "NOT_FOUND", f"no method {path}")
        if not authorization.startswith("Bearer "):
            # Every call needs OAuth credentials (https://cloud.google.com/text-to-speech/docs/authentication).
            return _error(401, "UNAUTHENTICATED", "Request is missing required authentication credential.")
        if self.failures:
            return self.failures.pop(0)
        if path.endswith("generateVoiceCloningKey"):
            return self._cloning_key(body)
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
        clone = voice.get("voiceClone") or voice.get("voice_clone")
        if clone is not None:
            # VoiceCloneParams.voice_cloning_key: "Required. Created by GenerateVoiceCloningKey."
            # (https://cloud.google.com/text-to-speech/docs/reference/rest/v1/VoiceSelectionParams)
            if _field(clone, "voice_cloning_key", "voiceCloningKey") not in self.cloning_keys:
                return _error(400, "INVALID_ARGUMENT", "voice_clone.voice_cloning_key is invalid")
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

    def _cloning_key(self, body: dict) -> tuple[int, dict]:
        """POST v1beta1/voices:generateVoiceCloningKey, as the Instant Custom Voice page documents it."""
        if not self.allow_listed:
            # "access to this voice cloning capability is restricted to allow-listed users" (same page)
            return _error(403, "PERMISSION_DENIED", "The caller does not have permission to use voice cloning.")
        language = _field(body, "language_code", "languageCode")
        if language not in CONSENT_STATEMENTS:
            return _error(400, "INVALID_ARGUMENT", f"language_code {language!r} is not supported")
        script = _field(body, "consent_script", "consentScript")
        if not script:
            return _error(400, "INVALID_ARGUMENT", "consent_script is required")
        if script != CONSENT_STATEMENTS[language]:
            return _error(400, "INVALID_ARGUMENT", f"consent_script does not match the consent statement for {language}")
        for snake, camel in (("reference_audio", "referenceAudio"), ("voice_talent_consent", "voiceTalentConsent")):
            audio = _field(body, snake, camel)
            if not isinstance(audio, dict) or not audio.get("content"):
                return _error(400, "INVALID_ARGUMENT", f"{snake}.content is required")
            config = _field(audio, "audio_config", "audioConfig") or {}
            encoding = _field(config, "audio_encoding", "audioEncoding")
            if encoding not in CLONING_INPUT_ENCODINGS:
                return _error(400, "INVALID_ARGUMENT", f"{snake}.audio_config.audio_encoding must be one of "
                                                       f"{sorted(CLONING_INPUT_ENCODINGS)}")
            try:
                content = base64.b64decode(audio["content"], validate=True)
            except (binascii.Error, ValueError):
                return _error(400, "INVALID_ARGUMENT", f"{snake}.content is not valid base64")
            rate = _field(config, "sample_rate_hertz", "sampleRateHertz")
            if encoding == "LINEAR16" and (content[:4] != b"RIFF" or (rate and int.from_bytes(content[24:28], "little")
                                                                      != int(rate))):
                # LINEAR16 content carries a WAV header whose rate must be the declared one (AudioConfig docs).
                return _error(400, "INVALID_ARGUMENT", f"{snake} is not LINEAR16 audio at {rate} Hz")
        key = f"fake-cloning-key-{secrets.token_urlsafe(24)}"
        self.cloning_keys.add(key)
        return 200, {"voiceCloningKey": key}

    def close(self) -> None:
        self.server.shutdown()
