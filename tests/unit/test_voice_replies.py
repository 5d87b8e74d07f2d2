"""Replying with voice: the agent's policy, what is never spoken, the offline synthesizer's real Ogg/Opus
output, and the Cloud Text-to-Speech adapter against a fake that enforces the REST contract."""

from __future__ import annotations

import httpx
import pytest

from shared.adapters.google_tts import GoogleSpeechSynthesizer
from shared.adapters.offline_speech import OfflineSpeechSynthesizer
from shared.domain.errors import SpeechUnavailable
from shared.domain.voice import (
    VoiceSettings,
    is_ogg_opus,
    ogg_opus_duration,
    should_speak,
    spoken_form,
    synthesis_cost,
    unspeakable_reason,
)
from tests.tts_fake import FakeTextToSpeech


def test_the_policy_speaks_only_when_the_agent_says_so() -> None:
    assert not should_speak(VoiceSettings(), lead_sent_voice=True)  # never, by default
    assert should_speak(VoiceSettings(replies="mirror"), lead_sent_voice=True)
    assert not should_speak(VoiceSettings(replies="mirror"), lead_sent_voice=False)
    assert should_speak(VoiceSettings(replies="always"), lead_sent_voice=False)


@pytest.mark.parametrize(("text", "reason"), [
    ("Claro! A visita técnica é gratuita. Quer que eu agende para amanhã?", None),
    ("Veja em https://solarprime.com.br/kits", "holds a link or an e-mail address"),
    ("Me manda no contato@solarprime.com.br", "holds a link or an e-mail address"),
    ("Temos:\n- Kit 4 kWp\n- Kit 8 kWp", "is a list"),
    ("Fica na Rua Augusta, perto do metrô.", "holds a street address"),
    ("R$ 15.900 à vista, 60x de R$ 389, entrada de 10%, 8 painéis, 4 kWp", "holds more than 4 numbers"),
    ("x" * 401, "longer than 400 characters"),
    ("   ", "empty reply"),
])
def test_what_goes_as_text(text: str, reason: str | None) -> None:
    assert unspeakable_reason(text, VoiceSettings()) == reason


def test_the_spoken_form_drops_markup_and_emoji() -> None:
    assert spoken_form("*Oi* Mariana! 🙂👍🏽 Tudo _bem_?") == "Oi Mariana! Tudo bem?"


def test_a_voice_name_must_be_a_chirp3_hd_voice() -> None:
    with pytest.raises(ValueError, match="Chirp 3 HD"):
        VoiceSettings(voice_name="pt-BR-Wavenet-A")


def test_the_offline_synthesizer_writes_a_playable_ogg_opus_note_whose_length_follows_the_text() -> None:
    import soundfile

    short = OfflineSpeechSynthesizer().synthesize("Oi!", VoiceSettings())
    longer = OfflineSpeechSynthesizer().synthesize("Oi Mariana, a visita técnica é gratuita. Posso agendar?",
                                                   VoiceSettings())
    assert is_ogg_opus(longer.audio) and longer.mime_type.startswith("audio/ogg")
    import io

    info = soundfile.info(io.BytesIO(longer.audio))  # libsndfile decodes it: a real Opus stream in Ogg
    assert (info.format, info.subtype, info.channels, info.samplerate) == ("OGG", "OPUS", 1, 48000)
    assert info.duration == pytest.approx(longer.duration_seconds, abs=0.05)
    assert ogg_opus_duration(longer.audio) == pytest.approx(longer.duration_seconds, abs=0.05)
    assert longer.duration_seconds > 3 * short.duration_seconds
    assert (longer.backend, longer.cost_usd) == ("offline", 0.0)


def test_synthesis_cost_is_per_character_and_unknown_without_a_price() -> None:
    assert synthesis_cost(1000, 30.0) == pytest.approx(0.03)
    assert synthesis_cost(1000, None) is None


@pytest.fixture
def tts():  # noqa: ANN201
    fake = FakeTextToSpeech()
    yield fake
    fake.close()


def synthesizer(fake: FakeTextToSpeech, price: float | None = 30.0) -> GoogleSpeechSynthesizer:
    return GoogleSpeechSynthesizer(httpx.Client(timeout=10), fake.url, price, token=lambda: "test-token")


def test_google_tts_asks_for_ogg_opus_in_the_agents_voice_and_prices_the_characters(tts) -> None:  # noqa: ANN001
    text = "Oi Mariana! A visita técnica é gratuita."
    speech = synthesizer(tts).synthesize(text, VoiceSettings(voice_name="pt-BR-Chirp3-HD-Charon"))
    request = tts.requests[0]
    assert request["voice"] == {"languageCode": "pt-BR", "name": "pt-BR-Chirp3-HD-Charon"}
    assert request["audioConfig"]["audioEncoding"] == "OGG_OPUS"
    assert is_ogg_opus(speech.audio) and speech.duration_seconds and speech.duration_seconds > 1
    assert (speech.characters, speech.voice, speech.backend) == (len(text), "pt-BR-Chirp3-HD-Charon", "google-tts")
    assert speech.cost_usd == pytest.approx(len(text) * 30 / 1_000_000)


def test_google_tts_refusals_become_speech_unavailable_with_the_reason(tts) -> None:  # noqa: ANN001
    settings = VoiceSettings(voice_name="en-US-Chirp3-HD-Kore")  # an English voice asked to speak pt-BR
    with pytest.raises(SpeechUnavailable, match="400: INVALID_ARGUMENT"):
        synthesizer(tts).synthesize("Olá", settings)
    tts.failures.append((503, {"error": {"code": 503, "status": "UNAVAILABLE", "message": "try later"}}))
    with pytest.raises(SpeechUnavailable, match="503"):
        synthesizer(tts).synthesize("Olá", VoiceSettings())


def test_google_tts_checks_the_5000_byte_limit_before_paying_for_a_refused_call(tts) -> None:  # noqa: ANN001
    with pytest.raises(SpeechUnavailable, match="5000-byte"):
        synthesizer(tts).synthesize("ã" * 2600, VoiceSettings())  # 5,200 bytes in UTF-8
    assert tts.requests == []


def test_the_fake_refuses_what_the_api_refuses(tts) -> None:  # noqa: ANN001
    post = lambda body, auth="Bearer x": httpx.post(f"{tts.url}/v1/text:synthesize", json=body,  # noqa: E731
                                                    headers={"Authorization": auth} if auth else {})
    good = {"input": {"text": "Oi"}, "voice": {"languageCode": "pt-BR", "name": "pt-BR-Chirp3-HD-Kore"},
            "audioConfig": {"audioEncoding": "OGG_OPUS"}}
    assert post(good).status_code == 200
    assert post(good, auth="").status_code == 401
    assert post({**good, "input": {"text": "a" * 5001}}).status_code == 400
    assert post({**good, "voice": {"languageCode": "pt-BR", "name": "pt-BR-Chirp3-HD-Nobody"}}).status_code == 400
    assert post({**good, "audioConfig": {}}).status_code == 400
