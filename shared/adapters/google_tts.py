"""Cloud Text-to-Speech over REST: a Chirp 3 HD voice (or a cloned voice) speaking a reply as Ogg/Opus.

POST {endpoint}/v1/text:synthesize with input.text, voice.languageCode + voice.name and
audioConfig.audioEncoding OGG_OPUS, answered with base64 audioContent
(https://cloud.google.com/text-to-speech/docs/reference/rest/v1/text/synthesize). Chirp 3 HD voices are
offered in the global, us, eu, asia-southeast1, europe-west2 and asia-northeast1 locations — not in
southamerica-east1 (https://cloud.google.com/text-to-speech/docs/chirp3-hd): the endpoint is configuration
(TTS_ENDPOINT, e.g. https://texttospeech.googleapis.com or https://us-texttospeech.googleapis.com).
Billed per input character (https://cloud.google.com/text-to-speech/pricing): the price is configuration.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

import httpx

from shared.domain.errors import SpeechUnavailable
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
                 token: Callable[[], str] = adc_token) -> None:
        self._http = http
        self._endpoint = endpoint.rstrip("/")
        self._price = price_per_million_chars
        self._token = token

    def synthesize(self, text: str, settings: VoiceSettings) -> Speech:
        if len(text.encode()) > MAX_INPUT_BYTES:
            raise SpeechUnavailable(f"text of {len(text.encode())} bytes is over the {MAX_INPUT_BYTES}-byte limit")
        body = {"input": {"text": text},
                "voice": {"languageCode": settings.language_code, "name": settings.voice_name},
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
                      voice=settings.voice_name, backend=self.backend, latency_ms=latency_ms,
                      cost_usd=synthesis_cost(len(text), self._price))


def _message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error") or {}
        return f"{error.get('status', '')} {error.get('message', '')}".strip()[:200] or response.reason_phrase
    except ValueError:
        return response.reason_phrase
