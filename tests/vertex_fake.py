"""A local HTTP server speaking Gemini's generateContent REST shapes (Vertex AI and the Gemini Developer API), so
the real adapters (google-genai) are what the tests drive. It answers from a script, and it enforces the documented
rules a scripted answer cannot bypass — each rule cites its page (read 2026-11-29):

1. A retired model id answers 404 NOT_FOUND.
   https://docs.cloud.google.com/gemini-enterprise-agent-platform/models/model-versions ("API requests referencing
   a retired model ID typically return a 404 error"; gemini-2.5-pro/-flash/-flash-lite retire on 2026-10-20
   there, and Google's deprecation table https://ai.google.dev/gemini-api/docs/deprecations lists shutdowns).
2. Thinking tokens count against maxOutputTokens: a model that thinks more than the limit ends with
   finishReason MAX_TOKENS and no text; one that thinks less leaves the rest for the answer, which is cut at the
   limit. https://docs.cloud.google.com/vertex-ai/generative-ai/docs/thinking and
   https://cloud.google.com/vertex-ai/generative-ai/pricing ("output … including thinking tokens"). Without a
   thinkingConfig a Gemini 3 model thinks dynamically (high)
   (https://docs.cloud.google.com/vertex-ai/generative-ai/docs/start/get-started-with-gemini-3).
3. Gemini 3+: a functionCall sent back without its thoughtSignature (in the current turn) is a 400, and so is a
   signature this model did not issue, unless it is the documented skip value.
   https://docs.cloud.google.com/vertex-ai/generative-ai/docs/thought-signatures ,
   https://ai.google.dev/gemini-api/docs/thought-signatures
4. toolConfig.functionCallingConfig.mode NONE: "the model is prohibited from making function calls": it answers
   in text. https://docs.cloud.google.com/vertex-ai/generative-ai/docs/multimodal/function-calling
5. thinkingLevel and thinkingBudget in one request is a 400 on Gemini 3 (get-started-with-gemini-3); a level the
   model does not have is a 400 (Gemini 4 Argon: low/medium/high,
   https://docs.cloud.google.com/gemini-enterprise-agent-platform/models/start/get-started-with-gemini-4);
   thinkingLevel on a 2.5 model is a 400 (2.5 takes thinkingBudget, .../docs/thinking).

Response shape from the REST reference: GenerateContentResponse{candidates[{content{role, parts[{text} |
{functionCall{name,args}, thoughtSignature}]}, finishReason}], promptFeedback{blockReason},
usageMetadata{promptTokenCount, candidatesTokenCount, thoughtsTokenCount, totalTokenCount, promptTokensDetails}}.
"""

from __future__ import annotations

import base64
import copy
import json
import threading
import time
from typing import Any

from google.oauth2.credentials import Credentials

from dev.json_http import JsonHandler, serve_in_background
from shared.domain.model_contract import family

RETIRED = frozenset({"gemini-1.5-pro-002", "gemini-1.5-flash-002", "gemini-2.0-flash-001", "gemini-2.0-flash-lite-001",
                     "gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite"})
SKIP_SIGNATURE = "skip_thought_signature_validator"
# Tokens the fake spends thinking at each level (dynamic = high when no config is sent to a Gemini 3 model).
THINKING_AT = {"MINIMAL": 40, "LOW": 300, "MEDIUM": 1200, "HIGH": 3000}


def text_response(text: str, prompt_tokens: int = 120, output_tokens: int = 20, thoughts: int = 0) -> dict:
    return {
        "candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": prompt_tokens, "candidatesTokenCount": output_tokens,
                          "thoughtsTokenCount": thoughts,
                          "totalTokenCount": prompt_tokens + output_tokens + thoughts},
    }


def function_call_response(*calls: tuple[str, dict[str, Any]], prompt_tokens: int = 150) -> dict:
    return {
        "candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"name": name, "args": args}} for name, args in calls]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": prompt_tokens, "candidatesTokenCount": 12,
                          "totalTokenCount": prompt_tokens + 12},
    }


def blocked_response(reason: str = "SAFETY", prompt_tokens: int = 90) -> dict:
    return {"candidates": [{"finishReason": reason}],
            "usageMetadata": {"promptTokenCount": prompt_tokens, "totalTokenCount": prompt_tokens}}


def error_response(code: int, status: str, message: str = "error") -> tuple[int, dict]:
    return code, {"error": {"code": code, "message": message, "status": status}}


class Hang:
    """A scripted step that answers only after `seconds` (longer than the client's timeout: a hang)."""

    def __init__(self, seconds: float, then: dict | tuple[int, dict] | None = None) -> None:
        self.seconds, self.then = seconds, then


def _model_of(path: str) -> str:
    return path.rsplit("/models/", 1)[1].split(":", 1)[0]


class FakeVertex:
    """Answers from a script of (status, body) pairs; a dict alone means 200. Records every request."""

    def __init__(self, latency_seconds: float = 0.0) -> None:
        self.requests: list[tuple[str, dict]] = []
        self.script: list[dict | tuple[int, dict] | Hang] = []
        self.default: dict | tuple[int, dict] = text_response("Olá! Como posso ajudar?")
        self.retired = set(RETIRED)
        self.thinking_at = dict(THINKING_AT)
        self.latency_seconds = latency_seconds
        self.forced_text = "Certo! Anotei tudo por aqui."
        self._issued: dict[str, str] = {}  # signature -> model that issued it
        self._lock = threading.Lock()
        fake = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.read_body())
                model = _model_of(self.path)
                with fake._lock:
                    fake.requests.append((self.path, body))
                    refused = fake.refusal(model, body)
                    # A refused request never reaches the model: the script's next answer stays for the next one.
                    step = refused or (fake.script.pop(0) if fake.script else fake.default)
                if fake.latency_seconds:
                    time.sleep(fake.latency_seconds)
                if isinstance(step, Hang):
                    time.sleep(step.seconds)
                    step = step.then if step.then is not None else text_response("(answer after the hang)")
                status, answer = fake.answer(model, body, step)
                try:
                    self.reply_json(status, answer)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a hang past its timeout)

        self.server, _ = serve_in_background(Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def model_of(self, index: int) -> str:
        """The model id a request asked for (from its URL)."""
        return _model_of(self.requests[index][0])

    def close(self) -> None:
        self.server.shutdown()

    # -- the documented rules --------------------------------------------------------------------------------

    def refusal(self, model: str, body: dict) -> tuple[int, dict] | None:
        """The API's own refusal of a request, whatever the model would have answered."""
        if model in self.retired:  # rule 1
            return error_response(404, "NOT_FOUND", f"Publisher Model `{model}` was not found or your project "
                                  "does not have access to it.")
        if (problem := self._thinking_config_problem(model, body)) is not None:  # rule 5
            return error_response(400, "INVALID_ARGUMENT", problem)
        if family(model) == "gemini-3" and (problem := self._signature_problem(model, body)) is not None:  # rule 3
            return error_response(400, "INVALID_ARGUMENT", problem)
        return None

    def answer(self, model: str, body: dict, step: dict | tuple[int, dict]) -> tuple[int, dict]:
        if isinstance(step, tuple):
            return step
        answer = copy.deepcopy(step)
        mode = (((body.get("toolConfig") or {}).get("functionCallingConfig") or {}).get("mode"))
        if mode == "NONE" and _has_function_call(answer):  # rule 4
            usage = answer.get("usageMetadata", {})
            answer = text_response(self.forced_text, usage.get("promptTokenCount", 120))
        if family(model) == "gemini-3":
            self._sign(model, answer)
        return 200, self._spend_thinking(model, body, answer)  # rule 2

    def _thinking_config_problem(self, model: str, body: dict) -> str | None:
        thinking = (body.get("generationConfig") or {}).get("thinkingConfig") or {}
        level, budget = proto_field(thinking, "thinkingLevel"), proto_field(thinking, "thinkingBudget")
        kind = family(model)
        if kind == "gemini-3" and level is not None and budget is not None:
            return "thinking_level and thinking_budget cannot be used in the same request."
        if kind == "gemini-2.5" and level is not None:
            return "thinking_level is not supported by this model; use thinking_budget."
        if model.startswith("gemini-4") and level == "MINIMAL":
            return f"Thinking level MINIMAL is not supported by {model}."
        return None

    def _signature_problem(self, model: str, body: dict) -> str | None:
        contents = body.get("contents") or []
        # The current turn starts after the last user message that carries text (not a function response).
        start = max((i for i, c in enumerate(contents) if c.get("role") == "user"
                     and any("text" in p for p in c.get("parts") or [])), default=0)
        for position, content in enumerate(contents[start:], start=start):
            if content.get("role") != "model":
                continue
            calls = [p for p in content.get("parts") or [] if "functionCall" in p]
            if not calls:
                continue
            signature = proto_field(calls[0], "thoughtSignature")  # parallel calls: only the first carries one
            if not signature:
                return (f"Function call is missing a thought_signature in functionCall parts. Additional data, "
                        f"function call `{calls[0]['functionCall'].get('name')}`, position {position}.")
            issued_by = self._issued.get(signature)
            if signature != _b64(SKIP_SIGNATURE) and signature != SKIP_SIGNATURE and issued_by != model:
                return "Corrupted thought signature."
        return None

    def _sign(self, model: str, answer: dict) -> None:
        for candidate in answer.get("candidates") or []:
            parts = (candidate.get("content") or {}).get("parts") or []
            calls = [p for p in parts if "functionCall" in p]
            if calls and "thoughtSignature" not in calls[0]:
                signature = _b64(f"sig:{model}:{len(self._issued)}")
                self._issued[signature] = model
                calls[0]["thoughtSignature"] = signature

    def _spend_thinking(self, model: str, body: dict, answer: dict) -> dict:
        kind = family(model)
        if kind == "other" or not answer.get("candidates"):
            return answer
        config = body.get("generationConfig") or {}
        thinking = config.get("thinkingConfig") or {}
        if kind == "gemini-3":
            thoughts = self.thinking_at[proto_field(thinking, "thinkingLevel") or "HIGH"]
        else:
            budget = proto_field(thinking, "thinkingBudget")
            dynamic = self.thinking_at["MEDIUM"]  # 2.5 without a budget (or -1) thinks dynamically
            thoughts = dynamic if budget is None or budget < 0 else min(budget, dynamic)
        usage = answer.setdefault("usageMetadata", {"promptTokenCount": 100})
        thoughts = max(thoughts, usage.get("thoughtsTokenCount") or 0)
        limit = config.get("maxOutputTokens")
        candidate = answer["candidates"][0]
        parts = (candidate.get("content") or {}).get("parts") or []
        answer_tokens = usage.get("candidatesTokenCount") or sum(len(p.get("text", "")) // 4 + 1 for p in parts)
        if limit is not None and thoughts >= limit:
            candidate.pop("content", None)
            candidate["finishReason"] = "MAX_TOKENS"
            thoughts, answer_tokens = limit, 0
        elif limit is not None and thoughts + answer_tokens > limit:
            room = limit - thoughts
            for part in parts:
                if "text" in part:
                    part["text"] = part["text"][: room * 4]
            candidate["finishReason"] = "MAX_TOKENS"
            answer_tokens = room
        usage["thoughtsTokenCount"] = thoughts
        usage["candidatesTokenCount"] = answer_tokens
        usage["totalTokenCount"] = usage.get("promptTokenCount", 0) + thoughts + answer_tokens
        return answer


def proto_field(message: dict, camel: str) -> Any:
    """Proto JSON accepts a field under its lowerCamelCase or its original snake_case name (the SDK sends some
    fields snake_case): https://protobuf.dev/programming-guides/json/"""
    if camel in message:
        return message[camel]
    return message.get("".join(f"_{c.lower()}" if c.isupper() else c for c in camel))


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def _has_function_call(answer: dict) -> bool:
    return any("functionCall" in p for c in answer.get("candidates") or []
               for p in (c.get("content") or {}).get("parts") or [])


def gemini_model(fake: FakeVertex, default_model: str = "gemini-3.5-flash", prices: dict | None = None,
                 timeout_seconds: float = 5):  # noqa: ANN201
    from shared.adapters.gemini import GeminiModel, vertex_client

    client = vertex_client("acme", "global", timeout_seconds, fake.url, credentials=Credentials(token="test"))
    return GeminiModel(client, default_model, prices or {})
