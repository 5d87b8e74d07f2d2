"""The real Gemini adapter against a local server speaking Vertex AI's documented generateContent REST shape."""

from __future__ import annotations

import pytest
from google.oauth2.credentials import Credentials

from shared.adapters.gemini import GeminiModel, ModelRejected, vertex_client
from shared.domain.errors import ModelUnavailable
from shared.domain.usage import ModelPrice
from shared.ports import ChatTurn, Prompt, ToolCall, ToolResult, ToolSpec
from tests.vertex_fake import FakeVertex, function_call_response

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


@pytest.fixture
def vertex():
    fake = FakeVertex()
    fake.default = OK_RESPONSE
    yield fake
    fake.close()


def model(vertex: FakeVertex, price: ModelPrice | None = None) -> GeminiModel:
    client = vertex_client("acme-prod", "us-central1", 5, vertex.url, credentials=Credentials(token="test-token"),
                           attempts=1)
    return GeminiModel(client, "gemini-2.5-flash", {"gemini-2.5-flash": price} if price else None)


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
    path, body = vertex.requests[0]
    assert path.endswith("/projects/acme-prod/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent")
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["systemInstruction"]["parts"][0]["text"] == "Você é a Sol."
    assert body["generationConfig"]["maxOutputTokens"] == 300


def test_quota_errors_are_transient(vertex):
    vertex.script.append((429, QUOTA_ERROR))
    with pytest.raises(ModelUnavailable):
        model(vertex).generate(PROMPT)


def test_an_invalid_request_is_not_worth_retrying(vertex):
    vertex.script.append((400, BAD_REQUEST))
    with pytest.raises(ModelRejected):
        model(vertex).generate(PROMPT)


def test_an_empty_answer_is_treated_as_a_failure_not_sent_as_silence(vertex):
    vertex.script.append((200, {"candidates": [{"content": {"role": "model", "parts": []}, "finishReason": "SAFETY"}],
                                   "usageMetadata": {"promptTokenCount": 10, "totalTokenCount": 10}}))
    with pytest.raises(ModelUnavailable, match="no text"):
        model(vertex).generate(PROMPT)


def test_tools_are_declared_and_function_calls_and_responses_round_trip(vertex):
    vertex.script.append(function_call_response(("lookup_catalog", {"query": "kit 5 kWp"})))
    spec = ToolSpec("lookup_catalog", "Search the catalogue", {"type": "object", "properties": {
        "query": {"type": "string"}}, "required": ["query"]})
    prompt = Prompt(system="s", turns=[ChatTurn("user", "quanto custa o kit?")], tools=(spec,))

    generation = model(vertex).generate(prompt)

    assert generation.tool_calls == (ToolCall("lookup_catalog", {"query": "kit 5 kWp"}),)
    declared = vertex.requests[0][1]["tools"][0]["functionDeclarations"][0]
    # Proto JSON accepts the snake_case field name the SDK sends as well as camelCase.
    schema = declared.get("parametersJsonSchema") or declared["parameters_json_schema"]
    assert declared["name"] == "lookup_catalog" and schema["required"] == ["query"]

    follow_up = Prompt(system="s", turns=[
        ChatTurn("user", "quanto custa o kit?"),
        ChatTurn("model", tool_calls=generation.tool_calls),
        ChatTurn("user", tool_results=(ToolResult("lookup_catalog", {"items": [{"name": "Kit 5 kWp"}]}),))],
        tools=(spec,))
    model(vertex).generate(follow_up)
    sent = vertex.requests[1][1]["contents"]
    assert sent[1]["parts"][0]["functionCall"] == {"name": "lookup_catalog", "args": {"query": "kit 5 kWp"}}
    assert sent[2]["parts"][0]["functionResponse"]["response"] == {"items": [{"name": "Kit 5 kWp"}]}


def test_the_prompt_can_choose_the_model_and_ask_for_json(vertex):
    prompt = Prompt(system="s", turns=[ChatTurn("user", "oi")], model="gemini-2.5-flash-lite",
                    json_schema={"type": "object", "properties": {"draft_reply": {"type": "string"}}})

    model(vertex).generate(prompt)

    path, body = vertex.requests[0]
    assert "/models/gemini-2.5-flash-lite:generateContent" in path
    assert body["generationConfig"]["responseMimeType"] == "application/json"
    assert "draft_reply" in body["generationConfig"]["responseJsonSchema"]["properties"]
