"""GeminiMediaReader against a local server speaking Vertex AI's documented generateContent REST shape."""

from __future__ import annotations

import base64

import pytest
from google.oauth2.credentials import Credentials

from dev.sample_media import png_image, wav_voice_note
from shared.adapters.gemini import GeminiMediaReader, vertex_client
from shared.domain.errors import MediaUnreadable, ModelUnavailable
from shared.domain.usage import ModelPrice
from tests.unit.test_gemini_adapter import QUOTA_ERROR
from tests.vertex_fake import FakeVertex

# GenerateContentResponse as the Vertex AI REST reference documents it, for an audio prompt.
TRANSCRIPT = {
    "candidates": [{"content": {"role": "model", "parts": [{"text": "Oi, queria saber quanto custa o kit de 5 kWp."}]},
                    "finishReason": "STOP"}],
    "usageMetadata": {"promptTokenCount": 61, "candidatesTokenCount": 15, "totalTokenCount": 76,
                      "promptTokensDetails": [{"modality": "AUDIO", "tokenCount": 48},
                                              {"modality": "TEXT", "tokenCount": 13}]},
    "modelVersion": "gemini-3.5-flash-lite",
}
SILENCE = {"candidates": [{"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "STOP"}],
           "usageMetadata": {"promptTokenCount": 40, "totalTokenCount": 40}}
BLOCKED = {"candidates": [{"finishReason": "SAFETY"}], "usageMetadata": {"promptTokenCount": 40, "totalTokenCount": 40}}
BAD_REQUEST = {"error": {"code": 400, "message": "Unsupported MIME type: audio/amr", "status": "INVALID_ARGUMENT"}}


@pytest.fixture
def vertex():
    fake = FakeVertex()
    yield fake
    fake.server.shutdown()


def mime_of(inline: dict) -> str:
    # google-genai writes inlineData.mime_type; Vertex parses proto JSON, which accepts it as well as mimeType.
    return inline.get("mimeType") or inline["mime_type"]


def reader(vertex: FakeVertex) -> GeminiMediaReader:
    client = vertex_client("acme-prod", "us-central1", 5, vertex.url, credentials=Credentials(token="test-token"),
                           attempts=1)
    # Audio priced apart from text, as Vertex AI prices some models (https://cloud.google.com/vertex-ai/generative-ai/pricing).
    return GeminiMediaReader(client, "gemini-3.5-flash-lite", ModelPrice(input_per_mtok=0.3, audio_input_per_mtok=1.0,
                                                                        output_per_mtok=2.5))


def test_a_voice_note_goes_inline_with_its_type_and_the_transcript_comes_back_with_its_cost(vertex):
    vertex.script.append((200, TRANSCRIPT))
    audio = wav_voice_note(1.0)

    extraction = reader(vertex).transcribe(audio, "audio/ogg", "pt-BR")

    assert extraction.text == "Oi, queria saber quanto custa o kit de 5 kWp."
    call = extraction.call
    assert (call.purpose, call.backend, call.model) == ("transcription", "vertex", "gemini-3.5-flash-lite")
    assert (call.usage.prompt_tokens, call.usage.audio_prompt_tokens, call.usage.output_tokens) == (61, 48, 15)
    thoughts = call.usage.thoughts_tokens  # the fake thinks at level LOW; thinking bills as output
    assert call.cost_usd == pytest.approx((48 * 1.0 + 13 * 0.3 + (15 + thoughts) * 2.5) / 1e6)
    path, body = vertex.requests[0]
    assert path.endswith("/models/gemini-3.5-flash-lite:generateContent")
    [content] = body["contents"]
    inline, instruction = content["parts"]
    assert mime_of(inline["inlineData"]) == "audio/ogg"
    data = inline["inlineData"]["data"]  # base64 (the SDK writes the URL-safe alphabet, which Vertex accepts)
    assert base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)) == audio
    assert "word for word" in instruction["text"] and "pt-BR" in instruction["text"]
    assert "temperature" not in body["generationConfig"], "Gemini 3: temperature stays at its default"
    assert body["generationConfig"]["maxOutputTokens"] == 2048 + 1024, "room for the transcript and for thinking"


def test_an_image_is_described_and_recorded_as_an_image_call(vertex):
    vertex.script.append((200, {**TRANSCRIPT, "candidates": [
        {"content": {"role": "model", "parts": [{"text": "Foto de uma conta de luz. Texto: Total R$ 468,90"}]},
         "finishReason": "STOP"}]}))

    extraction = reader(vertex).describe_image(png_image(), "image/png", "pt-BR")

    assert extraction.text.endswith("Total R$ 468,90") and extraction.call.purpose == "image"
    assert mime_of(vertex.requests[0][1]["contents"][0]["parts"][0]["inlineData"]) == "image/png"


def test_a_voice_note_without_speech_is_an_empty_transcript_not_a_failure(vertex):
    vertex.script.append((200, SILENCE))
    assert reader(vertex).transcribe(b"RIFF....", "audio/wav", "pt-BR").text == ""


def test_a_blocked_or_refused_file_is_unreadable_and_quota_is_transient(vertex):
    vertex.script += [(200, BLOCKED), (400, BAD_REQUEST), (429, QUOTA_ERROR)]
    media = reader(vertex)

    with pytest.raises(MediaUnreadable, match="no usable text.*SAFETY"):
        media.describe_image(png_image(), "image/png", "pt-BR")
    with pytest.raises(MediaUnreadable, match="400"):
        media.transcribe(b"#!AMR", "audio/amr", "pt-BR")
    with pytest.raises(ModelUnavailable):
        media.read_scanned_document(b"%PDF-1.4", "pt-BR")


def test_a_failed_read_carries_its_metered_attempt(vertex):
    from shared.domain.usage import CallOutcome

    vertex.script += [(200, BLOCKED), (429, QUOTA_ERROR)]
    media = reader(vertex)
    with pytest.raises(MediaUnreadable) as blocked:
        media.describe_image(png_image(), "image/png", "pt-BR")
    assert (blocked.value.model_call.outcome, blocked.value.model_call.usage.prompt_tokens) == (CallOutcome.BLOCKED, 40)
    with pytest.raises(ModelUnavailable) as quota:
        media.transcribe(b"OggS", "audio/ogg", "pt-BR")
    assert (quota.value.call.outcome, quota.value.call.error_code) == (CallOutcome.RATE_LIMITED, 429)
