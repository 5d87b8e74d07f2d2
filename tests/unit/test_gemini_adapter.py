"""The real Gemini adapter (google-genai over HTTP) against tests/vertex_fake.py, which enforces the documented
generateContent contract: thinking counts against the output limit, Gemini 3 thought signatures, function calling
mode NONE, retired ids answer 404. Each rule's test fails against an adapter that ignores the rule."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest
from google.oauth2.credentials import Credentials

from shared.adapters.gemini import GeminiModel, gemini_api_client, vertex_client
from shared.domain.errors import ModelBlocked, ModelOutOfTokens, ModelRejected, ModelTransient, ModelUnavailable
from shared.domain.usage import CallOutcome, ModelPrice
from shared.ports import ChatTurn, Prompt, ToolCall, ToolResult, ToolSpec
from tests.vertex_fake import FakeVertex, blocked_response, function_call_response, proto_field, text_response

# Shape from the Vertex AI REST reference (GenerateContentResponse).
OK_RESPONSE = {
    "candidates": [{"content": {"role": "model", "parts": [{"text": "Olá Mariana! Qual o valor da sua conta de luz?"}]},
                    "finishReason": "STOP", "avgLogprobs": -0.21}],
    "usageMetadata": {"promptTokenCount": 182, "candidatesTokenCount": 14, "thoughtsTokenCount": 40,
                      "cachedContentTokenCount": 100, "totalTokenCount": 236},
    "modelVersion": "gemini-3.5-flash",
    "createTime": "2026-11-21T12:00:00.000000Z",
    "responseId": "x1",
}
QUOTA_ERROR = {"error": {"code": 429, "message": "Resource exhausted. Please try again later.",
                         "status": "RESOURCE_EXHAUSTED"}}
BAD_REQUEST = {"error": {"code": 400, "message": "Request contains an invalid argument.", "status": "INVALID_ARGUMENT"}}
SPEC = ToolSpec("lookup_catalog", "Search the catalogue", {"type": "object", "properties": {
    "query": {"type": "string"}}, "required": ["query"]})


@pytest.fixture
def vertex():
    fake = FakeVertex()
    fake.default = OK_RESPONSE
    yield fake
    fake.close()


def model(vertex: FakeVertex, price: ModelPrice | None = None, default: str = "gemini-3.5-flash") -> GeminiModel:
    client = vertex_client("acme-prod", "us-central1", 5, vertex.url, credentials=Credentials(token="test-token"))
    return GeminiModel(client, default, {default: price} if price else None)


PROMPT = Prompt(system="Você é a Sol.", turns=[ChatTurn("user", "Oi"), ChatTurn("model", "Olá!"),
                                               ChatTurn("user", "quanto custa?")], max_output_tokens=300)


def test_a_reply_carries_text_tokens_and_cost_and_the_request_has_vertex_shape(vertex):
    price = ModelPrice(input_per_mtok=1.50, output_per_mtok=9.00, cached_input_per_mtok=0.15)

    generation = model(vertex, price).generate(PROMPT)

    assert generation.text == "Olá Mariana! Qual o valor da sua conta de luz?"
    usage = generation.call.usage
    # The fake thinks 300 tokens at level LOW (more than the 40 scripted); output tokens stay as reported.
    assert (usage.prompt_tokens, usage.output_tokens, usage.thoughts_tokens, usage.cached_tokens) == (182, 14, 300, 100)
    assert generation.call.cost_usd == pytest.approx((82 * 1.50 + 100 * 0.15 + (14 + 300) * 9.00) / 1e6)
    assert (generation.call.model, generation.call.backend, generation.call.outcome) == (
        "gemini-3.5-flash", "vertex", CallOutcome.OK)
    path, body = vertex.requests[0]
    assert path.endswith("/projects/acme-prod/locations/us-central1/publishers/google/models/"
                         "gemini-3.5-flash:generateContent")
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["systemInstruction"]["parts"][0]["text"] == "Você é a Sol."


def test_gemini_3_gets_a_thinking_level_room_for_it_and_its_default_temperature(vertex):
    model(vertex).generate(PROMPT)
    config = vertex.requests[0][1]["generationConfig"]
    assert proto_field(config["thinkingConfig"], "thinkingLevel") == "LOW"
    assert config["maxOutputTokens"] == 300 + 1024, "visible budget plus the thinking allowance"
    assert "temperature" not in config, "Gemini 3 guidance: leave temperature at its default"


def test_the_advanced_tier_thinks_more_and_gemini_2_5_gets_a_budget(vertex):
    vertex.retired.discard("gemini-2.5-flash")  # as if it were still served, to see the 2.5 control
    model(vertex).generate(replace(PROMPT, tier="advanced"))
    model(vertex).generate(replace(PROMPT, model="gemini-2.5-flash"))
    assert proto_field(vertex.requests[0][1]["generationConfig"]["thinkingConfig"], "thinkingLevel") == "MEDIUM"
    config = vertex.requests[1][1]["generationConfig"]
    assert proto_field(config["thinkingConfig"], "thinkingBudget") == 1024 and config["maxOutputTokens"] == 1324
    assert config["temperature"] == 0.6


def test_thinking_that_fills_the_output_limit_is_a_max_tokens_failure_not_an_empty_reply(vertex):
    vertex.thinking_at["LOW"] = 5000  # a hard question: the model thinks past the whole limit

    with pytest.raises(ModelOutOfTokens) as failure:
        model(vertex).generate(PROMPT)

    call = failure.value.call
    assert (call.outcome, call.finish_reason, call.usage.thoughts_tokens) == (CallOutcome.MAX_TOKENS, "MAX_TOKENS",
                                                                              1324)


def test_with_no_thinking_control_a_gemini_3_reply_would_come_back_empty(vertex):
    """Against the fake's rule itself: dynamic (high) thinking swallows a 350-token limit."""
    import httpx

    body = {"contents": [{"role": "user", "parts": [{"text": "Oi"}]}], "generationConfig": {"maxOutputTokens": 350}}
    answer = httpx.post(f"{vertex.url}v1beta1/projects/p/locations/global/publishers/google/models/"
                        "gemini-3.5-flash:generateContent", json=body).json()
    assert answer["candidates"][0]["finishReason"] == "MAX_TOKENS" and "content" not in answer["candidates"][0]


def test_a_reply_cut_mid_sentence_is_never_returned_as_is(vertex):
    vertex.thinking_at["LOW"] = 1250  # leaves 74 tokens (~300 characters) of the 1324 for the answer
    long = "Claro! O kit de 5 kWp atende contas de até R$ 600. " + "Ele inclui painéis e inversor " * 20
    vertex.script.append(text_response(long, output_tokens=200))

    generation = model(vertex).generate(PROMPT)

    assert generation.text == "Claro! O kit de 5 kWp atende contas de até R$ 600."
    assert generation.call.finish_reason == "MAX_TOKENS" and "last complete sentence" in generation.call.detail


def test_a_fragment_cut_by_the_limit_is_out_of_tokens(vertex):
    vertex.thinking_at["LOW"] = 1000
    vertex.script.append(text_response("Claro " + "e mais detalhes " * 200, output_tokens=500))
    with pytest.raises(ModelOutOfTokens):
        model(vertex).generate(PROMPT)


def test_a_blocked_answer_is_recorded_with_its_reason(vertex):
    vertex.script.append(blocked_response("SAFETY"))
    with pytest.raises(ModelBlocked) as failure:
        model(vertex).generate(PROMPT)
    assert (failure.value.call.outcome, failure.value.call.finish_reason) == (CallOutcome.BLOCKED, "SAFETY")
    assert failure.value.call.usage.prompt_tokens == 90


def test_quota_errors_are_transient_and_metered(vertex):
    vertex.script.append((429, QUOTA_ERROR))
    with pytest.raises(ModelUnavailable) as failure:
        model(vertex).generate(PROMPT)
    assert isinstance(failure.value, ModelTransient)
    assert (failure.value.call.outcome, failure.value.call.error_code) == (CallOutcome.RATE_LIMITED, 429)
    assert len(vertex.requests) == 1, "one attempt per call: the brain retries and meters each"


def test_an_invalid_request_is_not_worth_retrying(vertex):
    vertex.script.append((400, BAD_REQUEST))
    with pytest.raises(ModelRejected) as failure:
        model(vertex).generate(PROMPT)
    assert failure.value.call.outcome == CallOutcome.REJECTED


def test_a_retired_model_id_is_named_in_the_failure_and_the_log(vertex, caplog):
    with caplog.at_level(logging.ERROR), pytest.raises(ModelRejected, match="gemini-2.5-pro.*unknown or retired"):
        model(vertex, default="gemini-2.5-pro").generate(PROMPT)
    assert any("unknown or retired" in r.getMessage() for r in caplog.records)


def test_an_empty_answer_is_a_failure_not_sent_as_silence(vertex):
    vertex.script.append((200, {"candidates": [{"content": {"role": "model", "parts": []}, "finishReason": "STOP"}],
                                "usageMetadata": {"promptTokenCount": 10, "totalTokenCount": 10}}))
    with pytest.raises(ModelRejected, match="no text"):
        model(vertex).generate(PROMPT)


def test_a_model_without_a_price_costs_unknown_not_zero_and_warns_once(vertex, caplog):
    with caplog.at_level(logging.WARNING):
        first = model(vertex, default="gemini-unpriced-1").generate(PROMPT)
        second = model(vertex, default="gemini-unpriced-1").generate(PROMPT)
    assert first.call.cost_usd is None and second.call.cost_usd is None
    assert sum("no configured price" in r.getMessage() for r in caplog.records) == 1


def test_function_calls_go_back_with_their_thought_signatures_on_gemini_3(vertex):
    vertex.script.append(function_call_response(("lookup_catalog", {"query": "kit 5 kWp"})))
    first = Prompt(system="s", turns=[ChatTurn("user", "quanto custa o kit?")], tools=(SPEC,))
    generation = model(vertex).generate(first)
    assert generation.tool_calls == (ToolCall("lookup_catalog", {"query": "kit 5 kWp"}),)

    follow_up = Prompt(system="s", turns=[
        ChatTurn("user", "quanto custa o kit?"),
        ChatTurn("model", tool_calls=generation.tool_calls, raw=generation.raw),
        ChatTurn("user", tool_results=(ToolResult("lookup_catalog", {"items": [{"name": "Kit 5 kWp"}]}),))],
        tools=(SPEC,))
    answer = model(vertex).generate(follow_up)  # the fake answers 400 to a call without its signature

    assert answer.text == OK_RESPONSE["candidates"][0]["content"]["parts"][0]["text"]
    sent = vertex.requests[1][1]["contents"]
    assert proto_field(sent[1]["parts"][0], "thoughtSignature")
    assert sent[2]["parts"][0]["functionResponse"]["response"] == {"items": [{"name": "Kit 5 kWp"}]}


def test_a_function_call_rebuilt_without_its_signature_is_refused_by_gemini_3(vertex):
    turns = [ChatTurn("user", "quanto custa o kit?"), ChatTurn("model", tool_calls=(ToolCall("lookup_catalog", {}),)),
             ChatTurn("user", tool_results=(ToolResult("lookup_catalog", {"items": []}),))]
    with pytest.raises(ModelRejected, match="400"):
        model(vertex).generate(Prompt(system="s", turns=turns, tools=(SPEC,)))


def test_a_fallback_model_gets_the_documented_skip_value_instead_of_another_models_signature(vertex):
    vertex.script.append(function_call_response(("lookup_catalog", {"query": "kit"})))
    generation = model(vertex).generate(Prompt(system="s", turns=[ChatTurn("user", "kit?")], tools=(SPEC,)))
    turns = [ChatTurn("user", "kit?"), ChatTurn("model", tool_calls=generation.tool_calls, raw=generation.raw),
             ChatTurn("user", tool_results=(ToolResult("lookup_catalog", {"items": []}),))]

    answer = model(vertex).generate(Prompt(system="s", turns=turns, tools=(SPEC,), model="gemini-3.5-flash-lite"))

    assert answer.text


def test_the_last_step_keeps_the_tools_and_forbids_calls_with_mode_none(vertex):
    vertex.script.append(function_call_response(("lookup_catalog", {"query": "kit"})))
    prompt = Prompt(system="s", turns=[ChatTurn("user", "kit?")], tools=(SPEC,), force_text=True)

    generation = model(vertex).generate(prompt)

    assert generation.tool_calls == () and generation.text == vertex.forced_text
    body = vertex.requests[0][1]
    assert body["tools"][0]["functionDeclarations"][0]["name"] == "lookup_catalog"
    assert body["toolConfig"]["functionCallingConfig"]["mode"] == "NONE"


def test_the_prompt_can_choose_the_model_ask_for_json_and_bound_the_attempt(vertex):
    prompt = Prompt(system="s", turns=[ChatTurn("user", "oi")], model="gemini-3.5-flash-lite",
                    json_schema={"type": "object", "properties": {"draft_reply": {"type": "string"}}},
                    timeout_seconds=0.5)
    vertex.script.append(text_response('{"draft_reply": "Oi!"}'))

    model(vertex).generate(prompt)

    path, body = vertex.requests[0]
    assert "/models/gemini-3.5-flash-lite:generateContent" in path
    assert body["generationConfig"]["responseMimeType"] == "application/json"
    assert "draft_reply" in body["generationConfig"]["responseJsonSchema"]["properties"]


def test_an_attempt_that_outlives_its_time_is_a_timeout(vertex):
    from tests.vertex_fake import Hang

    vertex.script.append(Hang(3))
    prompt = Prompt(system="s", turns=[ChatTurn("user", "oi")], timeout_seconds=1)
    with pytest.raises(ModelTransient) as failure:
        model(vertex).generate(prompt)
    assert failure.value.call.outcome == CallOutcome.TIMEOUT


def test_the_gemini_developer_api_uses_the_same_adapter_with_an_api_key(vertex):
    client = gemini_api_client("test-key", 5, vertex.url)
    generation = GeminiModel(client, "gemini-3.5-flash", None, backend="gemini").generate(PROMPT)
    path, _ = vertex.requests[0]
    assert "/models/gemini-3.5-flash:generateContent" in path and "projects/" not in path
    assert generation.call.backend == "gemini"
