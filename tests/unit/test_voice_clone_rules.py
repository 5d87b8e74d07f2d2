"""The rules a cloning request must meet before anything leaves for Google: Google's consent statement per language,
and a recording Piloto can decode and check (WAV, Ogg/Opus, FLAC or MP3; one channel; 16 kHz or more; 3–60 s),
sent as the 16-bit PCM mono WAV libsndfile makes from it."""

from __future__ import annotations

import hashlib
import io
import wave

import numpy as np
import pytest
import soundfile

from dev.sample_media import M4A_VOICE_MEMO_START, opus_voice_note
from shared.adapters.recording_decoder import LibsndfileRecordings
from shared.domain.voice import VoiceSettings
from shared.domain.voice_clone import (
    clone_secret_id,
    consent_id,
    consent_script,
    sent_sample_rate,
)

prepare = LibsndfileRecordings().prepare


def wav(seconds: float, rate: int = 24_000, channels: int = 1, width: int = 2) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(b"\x01\x00" * int(seconds * rate) * channels * (width // 2 or 1))
    return buffer.getvalue()


def encoded(signal: np.ndarray, rate: int, container: str, subtype: str) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, signal.astype(np.float32), rate, format=container, subtype=subtype)
    return buffer.getvalue()


def test_a_whatsapp_voice_note_is_sent_as_linear16_wav_and_keeps_the_uploaded_checksum() -> None:
    note = opus_voice_note(8.0)
    sent, facts = prepare(note)
    info = soundfile.info(io.BytesIO(sent))
    assert (info.format, info.subtype, info.channels, info.samplerate) == ("WAV", "PCM_16", 1, 24_000)
    assert sent[:4] == b"RIFF" and abs(info.duration - 8.0) < 0.01
    assert facts.uploaded_format == "OGG/OPUS" and facts.uploaded_sample_rate_hertz == 48_000
    assert facts.uploaded_sha256 == hashlib.sha256(note).hexdigest() != facts.sent_sha256
    assert facts.sent_sha256 == hashlib.sha256(sent).hexdigest() and facts.seconds == 8.0
    assert prepare(note) == (sent, facts)  # the same upload makes the same WAV


def test_stereo_is_downmixed_to_the_mean_of_its_channels() -> None:
    t = np.arange(8 * 24_000) / 24_000
    left, right = 0.4 * np.sin(2 * np.pi * 200 * t), 0.2 * np.sin(2 * np.pi * 200 * t)
    sent, facts = prepare(encoded(np.stack([left, right], axis=1), 24_000, "WAV", "PCM_16"))
    mono, rate = soundfile.read(io.BytesIO(sent))
    assert mono.ndim == 1 and rate == 24_000 and facts.uploaded_channels == 2
    assert np.max(np.abs(mono - (left + right) / 2)) < 1e-3


@pytest.mark.parametrize(("container", "subtype"), [("FLAC", "PCM_16"), ("MP3", "MPEG_LAYER_III"),
                                                    ("WAV", "FLOAT"), ("OGG", "VORBIS")])
def test_flac_mp3_float_wav_and_vorbis_are_decoded_too(container: str, subtype: str) -> None:
    t = np.arange(6 * 44_100) / 44_100
    sent, facts = prepare(encoded(0.3 * np.sin(2 * np.pi * 220 * t), 44_100, container, subtype))
    info = soundfile.info(io.BytesIO(sent))
    assert facts.uploaded_format == f"{container}/{subtype}" and (info.subtype, info.samplerate) == ("PCM_16", 24_000)
    assert abs(info.duration - 6.0) < 0.1  # MP3 decoders pad a few ms


def test_resampling_keeps_the_voice_band_and_drops_what_24_khz_cannot_carry_without_aliasing() -> None:
    t = np.arange(4 * 48_000) / 48_000
    voice, hiss = 0.3 * np.sin(2 * np.pi * 1_000 * t), 0.3 * np.sin(2 * np.pi * 15_000 * t)
    sent, _ = prepare(encoded(voice + hiss, 48_000, "WAV", "PCM_16"))
    mono, rate = soundfile.read(io.BytesIO(sent))
    spectrum = np.abs(np.fft.rfft(mono))
    frequencies = np.fft.rfftfreq(len(mono), 1 / rate)
    assert abs(frequencies[np.argmax(spectrum)] - 1_000) < 1
    # 15 kHz is above 24 kHz's Nyquist: dropped, not folded down to 9 kHz.
    assert spectrum[np.abs(frequencies - 9_000) < 5].max() < spectrum.max() / 1000


def test_accepted_rates_up_to_24_khz_are_kept_higher_ones_go_to_24_khz_lower_ones_are_refused() -> None:
    assert [sent_sample_rate(r) for r in (16_000, 22_050, 24_000, 32_000, 44_100, 48_000)] == \
        [16_000, 22_050, 24_000, 24_000, 24_000, 24_000]
    assert prepare(wav(8.0, rate=16_000))[1].sample_rate_hertz == 16_000
    with pytest.raises(ValueError, match="too low"):
        sent_sample_rate(8_000)


@pytest.mark.parametrize(("audio", "problem"), [
    (b"OggS" + b"\0" * 100, "cannot be decoded|not an audio file"),
    (M4A_VOICE_MEMO_START, "M4A/AAC.*Ogg/Opus.*ffmpeg"),
    (b"#!AMR\n" + b"\0" * 400, "AMR"),
    (wav(8.0, rate=8_000), "too low"),
    (wav(2.0), "s long"),
    (wav(61.0), "s long"),
    (opus_voice_note(2.5), "2.5 s long"),
    (opus_voice_note(61.0), "s long"),
    (encoded(np.zeros(8 * 24_000), 24_000, "AIFF", "PCM_16"), "AIFF file is not accepted"),
])
def test_recordings_piloto_cannot_vouch_for_are_refused_with_the_reason(audio: bytes, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        prepare(audio)


def test_the_consent_statement_is_googles_for_the_language() -> None:
    assert consent_script("pt-BR").startswith("Eu sou o proprietário desta voz e autorizo o Google")
    with pytest.raises(ValueError, match="no consent statement"):
        consent_script("pt-PT")
    # The operator's statements (VOICE_CONSENT_STATEMENTS) win over the built-in copy and add languages.
    reworded = {"pt-BR": "Eu sou a dona desta voz.", "pt-PT": "Eu sou o dono desta voz."}
    assert consent_script("pt-BR", reworded) == "Eu sou a dona desta voz."
    assert consent_script("pt-PT", reworded) == "Eu sou o dono desta voz."
    assert consent_script("en-US", reworded).startswith("I am the owner of this voice")


def test_one_secret_per_agent_and_one_consent_per_agent_and_recordings() -> None:
    assert clone_secret_id("acme", "default") == "voice-clone--acme--default"
    assert consent_id("a", "r", "c") == consent_id("a", "r", "c") != consent_id("b", "r", "c")


def test_an_agent_points_at_a_secret_version_never_at_a_key() -> None:
    with pytest.raises(ValueError):
        VoiceSettings.model_validate({"clone": {"speaker_name": "Ana", "consent_id": "c",
                                                "secret_version": "fake-cloning-key-abc"}})
