"""The real Gemini adapter against a local server speaking Vertex AI's documented generateContent REST shape."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from google.oauth2.credentials import Credentials

from shared.adapters.gemini import GeminiModel, ModelRejected, vertex_client
from shared.domain.errors import ModelUnavailable
from shared.domain.usage import ModelPrice
from shared.ports import ChatTurn, Prompt

# Shape from the Vertex AI REST reference (GenerateContentResponse).
OK_RESPONSE = {
    "candidates": [{"content": {"role": "model", "parts": [{"text": "Olá Mariana! Qual o valor da sua conta de luz?"}]},
                    "finishReason": "STOP", "avgLogprobs": -0.21}],
    "usageMetadata": {"promptTokenCount": 182, "candidatesTokenCount": 14, "thoughtsTokenCount": 40,
                      "cachedContentTokenCount": 100, "totalTokenCount": 236},
    "modelVersion": "gemini-2.5-flash",
    "createTime": "2026-11-21T12:00:00.000000Z",
    "responseId": "x1",
}
QUOTA_ERROR = {"error": {"code": 429, "message": "Resource exhausted. Please try again later.",
                         "status": "RESOURCE_EXHAUSTED"}}
BAD_REQUEST = {"error": {"code": 400, "message": "Request contains an invalid argument.", "status": "INVALID_ARGUMENT"}}


class FakeVertex:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict, dict]] = []
        self.responses: list[tuple[int, dict]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append((self.path, dict(self.headers), body))
                status, payload = fake.responses.pop(0) if fake.responses else (200, OK_RESPONSE)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"


@pytest.fixture
def vertex():
    fake = FakeVertex()
    yield fake
    fake.server.shutdown()


def model(vertex: FakeVertex, price: ModelPrice | None = None) -> GeminiModel:
    client = vertex_client("acme-prod", "us-central1", 5, vertex.url, credentials=Credentials(token="test-token"),
                           attempts=1)
    return GeminiModel(client, "gemini-2.5-flash", price)


PROMPT = Prompt(system="Você é a Sol.", turns=[ChatTurn("user", "Oi"), ChatTurn("model", "Olá!"),
                                               ChatTurn("user", "quanto custa?")], max_output_tokens=300)


def test_a_reply_carries_text_tokens_and_cost_and_the_request_has_vertex_shape(vertex):
    price = ModelPrice(input_per_mtok=0.30, output_per_mtok=2.50, cached_input_per_mtok=0.03)

    generation = model(vertex, price).generate(PROMPT)

    assert generation.text == "Olá Mariana! Qual o valor da sua conta de luz?"
    usage = generation.call.usage
    assert (usage.prompt_tokens, usage.output_tokens, usage.thoughts_tokens, usage.cached_tokens) == (182, 14, 40, 100)
    assert generation.call.cost_usd == pytest.approx((82 * 0.30 + 100 * 0.03 + 54 * 2.50) / 1e6)
    assert generation.call.model == "gemini-2.5-flash" and generation.call.backend == "vertex"
    path, headers, body = vertex.requests[0]
    assert path.endswith("/projects/acme-prod/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent")
    assert headers["Authorization"] == "Bearer test-token"
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["systemInstruction"]["parts"][0]["text"] == "Você é a Sol."
    assert body["generationConfig"]["maxOutputTokens"] == 300


def test_quota_errors_are_transient(vertex):
    vertex.responses.append((429, QUOTA_ERROR))
    with pytest.raises(ModelUnavailable):
        model(vertex).generate(PROMPT)


def test_an_invalid_request_is_not_worth_retrying(vertex):
    vertex.responses.append((400, BAD_REQUEST))
    with pytest.raises(ModelRejected):
        model(vertex).generate(PROMPT)


def test_an_empty_answer_is_treated_as_a_failure_not_sent_as_silence(vertex):
    vertex.responses.append((200, {"candidates": [{"content": {"role": "model", "parts": []}, "finishReason": "SAFETY"}],
                                   "usageMetadata": {"promptTokenCount": 10, "totalTokenCount": 10}}))
    with pytest.raises(ModelUnavailable, match="no text"):
        model(vertex).generate(PROMPT)
