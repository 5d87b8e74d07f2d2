"""Cloud Text-to-Speech over REST: a Chirp 3 HD voice (or a cloned voice) speaking a reply as Ogg/Opus.

POST {endpoint}/v1/text:synthesize with input.text, voice.languageCode + voice.name and
audioConfig.audioEncoding OGG_OPUS, answered with base64 audioContent
(https://cloud.google.com/text-to-speech/docs/reference/rest/v1/text/synthesize). Chirp 3 HD voices are
offered in the global, us, eu, asia-southeast1, europe-west2 and asia-northeast1 locations — not in
southamerica-east1 (https://cloud.google.com/text-to-speech/docs/chirp3-hd): the endpoint is configuration
(TTS_ENDPOINT, e.g. https://texttospeech.googleapis.com or https://us-texttospeech.googleapis.com).
Billed per input character (https://cloud.google.com/text-to-speech/pricing): the price is configuration.

A cloned voice (Chirp 3 Instant Custom Voice, https://cloud.google.com/text-to-speech/docs/chirp3-instant-custom-voice)
is named by its voice-cloning key instead of a voice name: voice.voiceClone.voiceCloningKey
(https://cloud.google.com/text-to-speech/docs/reference/rest/v1/VoiceSelectionParams). The key is read from
Secret Manager (`clone_keys`, cached per instance); a revoked (disabled) or unreadable key makes the reply go
as text with the reason. The key is created once, by voice_admin, with voices:generateVoiceCloningKey.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

import httpx

from shared.domain.errors import PilotoError, SpeechUnavailable
from shared.domain.voice import (
    MAX_VOICE_NOTE_BYTES,
    Speech,
    VoiceSettings,
    is_ogg_opus,
    ogg_opus_duration,
    synthesis_cost,
)

# "Total characters per request: 5,000" (input text is limited to 5,000 bytes,
# https://cloud.google.com/text-to-speech/quotas): checked before paying for a refused call.
MAX_INPUT_BYTES = 5000


def adc_token() -> str:
    """An access token from Application Default Credentials (the function's service account in production)."""
    import google.auth
    from google.auth.transport.requests import Request

    credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    credentials.refresh(Request())
    return credentials.token


class GoogleSpeechSynthesizer:
    backend = "google-tts"

    def __init__(self, http: httpx.Client, endpoint: str, price_per_million_chars: float | None,
                 token: Callable[[], str] = adc_token, clone_keys: Callable[[str], bytes] | None = None,
                 clone_price_per_million_chars: float | None = None) -> None:
        self._http = http
        self._endpoint = endpoint.rstrip("/")
        self._price = price_per_million_chars
        self._token = token
        self._clone_keys = clone_keys
        self._clone_price = clone_price_per_million_chars

    def synthesize(self, text: str, settings: VoiceSettings) -> Speech:
        if len(text.encode()) > MAX_INPUT_BYTES:
            raise SpeechUnavailable(f"text of {len(text.encode())} bytes is over the {MAX_INPUT_BYTES}-byte limit")
        voice, voice_label, price = self._voice(settings)
        body = {"input": {"text": text}, "voice": voice,
                "audioConfig": {"audioEncoding": "OGG_OPUS", "speakingRate": settings.speaking_rate}}
        started = time.perf_counter()
        try:
            response = self._http.post(f"{self._endpoint}/v1/text:synthesize", json=body,
                                       headers={"Authorization": f"Bearer {self._token()}"})
        except httpx.HTTPError as err:
            raise SpeechUnavailable(f"Text-to-Speech unreachable ({type(err).__name__})") from None
        latency_ms = int((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SpeechUnavailable(f"Text-to-Speech answered {response.status_code}: {_message(response)}")
        try:
            audio = base64.b64decode(response.json()["audioContent"], validate=True)
        except (ValueError, KeyError, TypeError) as err:
            raise SpeechUnavailable(f"Text-to-Speech returned no audio ({type(err).__name__})") from None
        if not is_ogg_opus(audio) or len(audio) > MAX_VOICE_NOTE_BYTES:
            raise SpeechUnavailable("Text-to-Speech returned audio that is not a WhatsApp-sized Ogg/Opus note")
        return Speech(audio=audio, duration_seconds=ogg_opus_duration(audio), characters=len(text),
                      voice=voice_label, backend=self.backend, latency_ms=latency_ms,
                      cost_usd=synthesis_cost(len(text), price))

    def _voice(self, settings: VoiceSettings) -> tuple[dict, str, float | None]:
        """The request's voice, the label recorded on the reply and the price per 1M characters."""
        clone = settings.clone
        if clone is None:
            return {"languageCode": settings.language_code, "name": settings.voice_name}, settings.voice_name, \
                self._price
        if self._clone_keys is None:
            raise SpeechUnavailable("the agent has a cloned voice but no key store is configured")
        try:
            key = self._clone_keys(clone.secret_version).decode()
        except PilotoError as err:
            raise SpeechUnavailable(f"the cloned voice's key is unavailable (revoked or unreadable): {err}") from None
        return ({"languageCode": settings.language_code, "voiceClone": {"voiceCloningKey": key}},
                f"clone:{clone.consent_id}", self._clone_price)


class GoogleVoiceCloning:
    """POST v1beta1/voices:generateVoiceCloningKey: a voice-cloning key from a consented reference recording.

    Request (https://cloud.google.com/text-to-speech/docs/chirp3-instant-custom-voice, "Create an Instant Custom
    Voice"): reference_audio and voice_talent_consent as {audio_config: {audio_encoding, sample_rate_hertz},
    content: base64}, consent_script (the statement read in the consent recording) and language_code; answered
    with {voiceCloningKey}. Only allow-listed projects may call it; others get 403 PERMISSION_DENIED.
    """

    def __init__(self, http: httpx.Client, endpoint: str, token: Callable[[], str] = adc_token) -> None:
        self._http = http
        self._endpoint = endpoint.rstrip("/")
        self._token = token

    def generate_key(self, reference_wav: bytes, reference_rate: int, consent_wav: bytes, consent_rate: int,
                     consent_script: str, language_code: str) -> str:
        def audio(content: bytes, rate: int) -> dict:
            return {"audio_config": {"audio_encoding": "LINEAR16", "sample_rate_hertz": rate},
                    "content": base64.b64encode(content).decode()}

        body = {"reference_audio": audio(reference_wav, reference_rate),
                "voice_talent_consent": audio(consent_wav, consent_rate),
                "consent_script": consent_script, "language_code": language_code}
        try:
            response = self._http.post(f"{self._endpoint}/v1beta1/voices:generateVoiceCloningKey", json=body,
                                       headers={"Authorization": f"Bearer {self._token()}"})
        except httpx.HTTPError as err:
            raise VoiceCloningFailed(0, f"Text-to-Speech unreachable ({type(err).__name__})") from None
        if response.status_code != 200:
            raise VoiceCloningFailed(response.status_code, _message(response))
        key = (response.json() or {}).get("voiceCloningKey")
        if not key:
            raise VoiceCloningFailed(502, "Text-to-Speech answered without a voiceCloningKey")
        return key


class VoiceCloningFailed(PilotoError):
    """generateVoiceCloningKey refused or failed; status is Google's HTTP status (0 when unreachable)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def _message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error") or {}
        return f"{error.get('status', '')} {error.get('message', '')}".strip()[:200] or response.reason_phrase
    except ValueError:
        return response.reason_phrase
