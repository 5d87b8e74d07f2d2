"""A local HTTP server speaking Vertex AI's generateContent REST shapes, so the real GeminiModel adapter
(google-genai, vertexai=True) is what the tests drive. Shapes from the Vertex AI REST reference:
GenerateContentResponse{candidates[{content{role, parts[{text}|{functionCall{name,args}}]}, finishReason}],
usageMetadata{promptTokenCount, candidatesTokenCount, thoughtsTokenCount, totalTokenCount}}."""

from __future__ import annotations

import json
from typing import Any

from google.oauth2.credentials import Credentials

from dev.json_http import JsonHandler, serve_in_background


def text_response(text: str, prompt_tokens: int = 120, output_tokens: int = 20, thoughts: int = 0) -> dict:
    return {
        "candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": prompt_tokens, "candidatesTokenCount": output_tokens,
                          "thoughtsTokenCount": thoughts,
                          "totalTokenCount": prompt_tokens + output_tokens + thoughts},
        "modelVersion": "gemini-2.5-flash",
    }


def function_call_response(*calls: tuple[str, dict[str, Any]], prompt_tokens: int = 150) -> dict:
    return {
        "candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"name": name, "args": args}} for name, args in calls]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": prompt_tokens, "candidatesTokenCount": 12,
                          "totalTokenCount": prompt_tokens + 12},
        "modelVersion": "gemini-2.5-flash",
    }


def error_response(code: int, status: str, message: str = "error") -> tuple[int, dict]:
    return code, {"error": {"code": code, "message": message, "status": status}}


class FakeVertex:
    """Answers from a script of (status, body) pairs; a dict alone means 200. Records every request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict]] = []
        self.script: list[dict | tuple[int, dict]] = []
        self.default: dict = text_response("Olá! Como posso ajudar?")
        fake = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                fake.requests.append((self.path, json.loads(self.read_body())))
                step = fake.script.pop(0) if fake.script else fake.default
                self.reply_json(*(step if isinstance(step, tuple) else (200, step)))

        self.server, _ = serve_in_background(Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def model_of(self, index: int) -> str:
        """The model id a request asked for (from its URL)."""
        return self.requests[index][0].rsplit("/models/", 1)[1].split(":", 1)[0]

    def close(self) -> None:
        self.server.shutdown()


def gemini_model(fake: FakeVertex, default_model: str = "gemini-standard", prices: dict | None = None):  # noqa: ANN201
    from shared.adapters.gemini import GeminiModel, vertex_client

    client = vertex_client("acme", "us-central1", 5, fake.url, credentials=Credentials(token="test"), attempts=1)
    return GeminiModel(client, default_model, prices or {})
