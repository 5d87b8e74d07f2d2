"""An offline stand-in for Cloud Text-to-Speech: a real, playable Ogg/Opus voice note without words.

It is not a voice: each syllable of the text becomes a short vowel-like tone (a 140 Hz glottal pulse with
two formants), words are separated by short silences and sentences by longer ones, so the note's length
follows the text the way speech would. The audio is encoded to Opus in Ogg by libsndfile (the `soundfile`
package), the same container and codec WhatsApp voice notes use. Every note is labelled offline and free.

For an agent with a cloned voice it still reads the voice-cloning key from Secret Manager (`clone_keys`, the
local fake in the demo), so a revoked key sends the reply as text exactly as in production; the sound stays
the same tones — nothing here imitates a person's voice.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable

from shared.domain.errors import PilotoError, SpeechUnavailable
from shared.domain.voice import Speech, VoiceSettings

OFFLINE_VOICE = "offline-tones"
_RATE = 48_000  # Opus works at 48 kHz
_SYLLABLE = re.compile(r"[aeiouáéíóúâêôãõàü]+", re.IGNORECASE)
# Formant pairs (Hz) of Portuguese vowels, roughly: what makes one tone sound like an "a" and another an "i".
_FORMANTS = {"a": (800, 1300), "e": (500, 1900), "i": (300, 2300), "o": (500, 900), "u": (320, 800)}


def _vowel(group: str) -> str:
    plain = group.lower().translate(str.maketrans("áâãàéêíóôõúü", "aaaaeeiooouu"))
    return plain[0] if plain[0] in _FORMANTS else "a"


class OfflineSpeechSynthesizer:
    backend = "offline"

    def __init__(self, clone_keys: Callable[[str], bytes] | None = None) -> None:
        self._clone_keys = clone_keys

    def synthesize(self, text: str, settings: VoiceSettings) -> Speech:
        import numpy as np  # imported on first use: only local runs and tests synthesize offline
        import soundfile

        started = time.perf_counter()
        voice = OFFLINE_VOICE
        if settings.clone is not None:
            if self._clone_keys is None:
                raise SpeechUnavailable("the agent has a cloned voice but no key store is configured")
            try:
                self._clone_keys(settings.clone.secret_version)
            except PilotoError as err:
                raise SpeechUnavailable(f"the cloned voice's key is unavailable (revoked or unreadable): {err}") \
                    from None
            voice = f"{OFFLINE_VOICE} for clone:{settings.clone.consent_id}"
        rate = settings.speaking_rate
        pieces: list[np.ndarray] = []
        for word in text.split():
            for group in _SYLLABLE.findall(word) or ["a"]:
                pieces.append(self._syllable(np, _vowel(group), 0.14 / rate))
            pause = 0.35 if word[-1] in ".!?" else 0.18 if word[-1] in ",;:" else 0.06
            pieces.append(np.zeros(int(_RATE * pause / rate)))
        signal = np.concatenate(pieces or [np.zeros(_RATE // 2)]).astype(np.float32)
        buffer = io.BytesIO()
        soundfile.write(buffer, signal, _RATE, format="OGG", subtype="OPUS")
        return Speech(audio=buffer.getvalue(), duration_seconds=round(len(signal) / _RATE, 2), characters=len(text),
                      voice=voice, backend=self.backend,
                      latency_ms=int((time.perf_counter() - started) * 1000), cost_usd=0.0)

    @staticmethod
    def _syllable(np, vowel: str, seconds: float):  # noqa: ANN001, ANN205 - numpy is imported lazily
        t = np.arange(int(_RATE * seconds)) / _RATE
        f1, f2 = _FORMANTS[vowel]
        tone = (0.5 * np.sin(2 * np.pi * 140 * t) + 0.3 * np.sin(2 * np.pi * f1 * t)
                + 0.15 * np.sin(2 * np.pi * f2 * t))
        envelope = np.minimum(1.0, np.minimum(t, seconds - t) / 0.02)  # 20 ms fades: no clicks
        return 0.3 * tone * envelope

