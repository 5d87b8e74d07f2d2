"""The rules a cloning request must meet before anything leaves for Google: Google's consent statement per language,
and a recording Piloto can check (16-bit PCM mono WAV, a known rate, 3–60 s)."""

from __future__ import annotations

import io
import wave

import pytest

from shared.domain.voice import VoiceSettings
from shared.domain.voice_clone import (
    clone_secret_id,
    consent_id,
    consent_script,
    wav_facts,
)


def wav(seconds: float, rate: int = 24_000, channels: int = 1, width: int = 2) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(b"\x01\x00" * int(seconds * rate) * channels * (width // 2 or 1))
    return buffer.getvalue()


def test_a_good_recording_gives_its_rate_length_and_checksum() -> None:
    facts = wav_facts(wav(8.0))
    assert (facts.sample_rate_hertz, facts.channels, facts.seconds) == (24_000, 1, 8.0)
    assert len(facts.sha256) == 64 and facts.sha256 != wav_facts(wav(8.5)).sha256


@pytest.mark.parametrize(("audio", "problem"), [
    (b"OggS" + b"\0" * 100, "not a WAV"),
    (wav(8.0, channels=2), "mono"),
    (wav(8.0, rate=8_000), "sample rate"),
    (wav(2.0), "s long"),
    (wav(61.0), "s long"),
])
def test_recordings_piloto_cannot_vouch_for_are_refused_with_the_reason(audio: bytes, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        wav_facts(audio)


def test_the_consent_statement_is_googles_for_the_language() -> None:
    assert consent_script("pt-BR").startswith("Eu sou o proprietário desta voz e autorizo o Google")
    with pytest.raises(ValueError, match="no consent statement"):
        consent_script("pt-PT")


def test_one_secret_per_agent_and_one_consent_per_agent_and_recordings() -> None:
    assert clone_secret_id("acme", "default") == "voice-clone--acme--default"
    assert consent_id("a", "r", "c") == consent_id("a", "r", "c") != consent_id("b", "r", "c")


def test_an_agent_points_at_a_secret_version_never_at_a_key() -> None:
    with pytest.raises(ValueError):
        VoiceSettings.model_validate({"clone": {"speaker_name": "Ana", "consent_id": "c",
                                                "secret_version": "fake-cloning-key-abc"}})
