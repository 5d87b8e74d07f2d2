"""Vertex AI Gemini through google-genai: the real LanguageModel. Model id, location and prices are configuration."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from google.genai import Client, errors, types

from shared.domain.errors import MediaUnreadable, ModelUnavailable, PilotoError
from shared.domain.usage import ModelCall, ModelPrice, TokenUsage, estimate_cost
from shared.ports import ChatTurn, Extraction, Generation, Prompt, ToolCall

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

_RETRYABLE = {408, 429, 500, 502, 503, 504}


class ModelRejected(PilotoError):
    """The model refused the request itself (bad request, permission): a retry sends the same thing."""


def vertex_client(
    project: str, location: str, timeout_seconds: float, base_url: str | None = None,
    credentials: Credentials | None = None, attempts: int = 3,
) -> Client:
    """The SDK retries 429/5xx with backoff itself; the timeout bounds one attempt."""
    options = types.HttpOptions(
        timeout=int(timeout_seconds * 1000),
        retry_options=types.HttpRetryOptions(attempts=attempts, initial_delay=1.0, max_delay=8.0),
        base_url=base_url,
    )
    return Client(vertexai=True, project=project, location=location, http_options=options, credentials=credentials)


def usage_from(metadata: types.GenerateContentResponseUsageMetadata | None) -> TokenUsage:
    if metadata is None:
        return TokenUsage()
    return TokenUsage(
        prompt_tokens=metadata.prompt_token_count or 0,
        output_tokens=metadata.candidates_token_count or 0,
        thoughts_tokens=metadata.thoughts_token_count or 0,
        cached_tokens=metadata.cached_content_token_count or 0,
    )


def _content(turn: ChatTurn) -> types.Content:
    parts: list[types.Part] = []
    if turn.text:
        parts.append(types.Part.from_text(text=turn.text))
    parts += [types.Part(function_call=types.FunctionCall(id=c.call_id, name=c.name, args=c.args))
              for c in turn.tool_calls]
    parts += [types.Part(function_response=types.FunctionResponse(id=r.call_id, name=r.name, response=r.response))
              for r in turn.tool_results]
    return types.Content(role=turn.role, parts=parts)


def _config(prompt: Prompt, temperature: float) -> types.GenerateContentConfig:
    config = types.GenerateContentConfig(
        system_instruction=prompt.system,
        max_output_tokens=prompt.max_output_tokens,
        temperature=temperature,
    )
    if prompt.tools:
        config.tools = [types.Tool(function_declarations=[
            types.FunctionDeclaration(name=t.name, description=t.description, parameters_json_schema=t.parameters)
            for t in prompt.tools])]
        # Manual function calling: Piloto runs the tools itself, scoped to the tenant and contact.
        config.automatic_function_calling = types.AutomaticFunctionCallingConfig(disable=True)
    if prompt.json_schema is not None:
        config.response_mime_type = "application/json"
        config.response_json_schema = prompt.json_schema
    return config


class GeminiModel:
    """A LanguageModel over Gemini; the model id comes with each prompt (routing) or is the default."""

    backend = "vertex"

    def __init__(self, client: Client, model: str, prices: dict[str, ModelPrice] | ModelPrice | None,
                 temperature: float = 0.6) -> None:
        self._client = client
        self._model = model
        self._prices = prices if isinstance(prices, dict) else ({model: prices} if prices else {})
        self._temperature = temperature

    def generate(self, prompt: Prompt) -> Generation:
        model = prompt.model or self._model
        contents = [_content(turn) for turn in prompt.turns]
        started = time.perf_counter()
        try:
            response = self._client.models.generate_content(model=model, contents=contents,
                                                            config=_config(prompt, self._temperature))
        except errors.APIError as err:
            if err.code in _RETRYABLE:
                raise ModelUnavailable(f"{model} answered {err.code} {err.status}") from err
            raise ModelRejected(f"{model} refused the request: {err.code} {err.status}") from err
        except Exception as err:  # timeouts and connection errors surface as httpx exceptions
            raise ModelUnavailable(f"{model} unreachable: {type(err).__name__}") from err
        latency_ms = int((time.perf_counter() - started) * 1000)
        usage = usage_from(response.usage_metadata)
        calls = tuple(ToolCall(name=c.name or "", args=dict(c.args or {}), call_id=c.id)
                      for c in (response.function_calls or []))
        text = _text_of(response)
        if not text.strip() and not calls:
            finish = response.candidates[0].finish_reason if response.candidates else None
            raise ModelUnavailable(f"{model} returned no text (finish reason {finish})")
        call = ModelCall(model=model, backend=self.backend, purpose=prompt.purpose, usage=usage,
                         latency_ms=latency_ms, cost_usd=estimate_cost(usage, self._prices.get(model)))
        return Generation(text=text, call=call, tool_calls=calls)


def _text_of(response: types.GenerateContentResponse) -> str:
    """The text parts only (response.text warns when function calls are present)."""
    if not response.candidates or not response.candidates[0].content:
        return ""
    return "".join(part.text for part in response.candidates[0].content.parts or [] if part.text and not part.thought)


_TRANSCRIBE = (
    "Transcribe this WhatsApp voice note word for word, in the language the speaker uses (most likely {language}). "
    "Do not translate, summarize or answer it. Return only the transcript. If there is no intelligible speech, "
    "return an empty answer."
)
_DESCRIBE = (
    "A lead sent this image to a sales assistant on WhatsApp. In {language}, describe it in one or two short "
    "sentences, then copy any visible text (documents, bills, screenshots, labels) exactly. Plain text only."
)
_OCR = (
    "This PDF has no text layer (a scan or a photo). Transcribe its text exactly as written, in reading order, "
    "keeping numbers, amounts and dates. If a page has no text, describe it in one sentence in {language}. "
    "Plain text only."
)


class GeminiMediaReader:
    """A MediaModel: transcription, image description and OCR through Gemini's inline media input."""

    backend = "vertex"

    def __init__(self, client: Client, model: str, price: ModelPrice | None, max_output_tokens: int = 2048) -> None:
        self._client = client
        self._model = model
        self._price = price
        self._max_output_tokens = max_output_tokens

    def transcribe(self, audio: bytes, mime_type: str, language: str) -> Extraction:
        return self._read(audio, mime_type, _TRANSCRIBE.format(language=language), "transcription", allow_empty=True)

    def describe_image(self, image: bytes, mime_type: str, language: str) -> Extraction:
        return self._read(image, mime_type, _DESCRIBE.format(language=language), "image")

    def read_scanned_document(self, pdf: bytes, language: str) -> Extraction:
        return self._read(pdf, "application/pdf", _OCR.format(language=language), "ocr")

    def _read(self, data: bytes, mime_type: str, instruction: str, purpose: str,
              allow_empty: bool = False) -> Extraction:
        contents = [types.Content(role="user", parts=[types.Part.from_bytes(data=data, mime_type=mime_type),
                                                      types.Part.from_text(text=instruction)])]
        config = types.GenerateContentConfig(max_output_tokens=self._max_output_tokens, temperature=0.0)
        started = time.perf_counter()
        try:
            response = self._client.models.generate_content(model=self._model, contents=contents, config=config)
        except errors.APIError as err:
            if err.code in _RETRYABLE:
                raise ModelUnavailable(f"{self._model} answered {err.code} {err.status}") from err
            raise MediaUnreadable(f"{self._model} refused the {purpose} request: {err.code} {err.status}") from err
        except Exception as err:  # timeouts and connection errors surface as httpx exceptions
            raise ModelUnavailable(f"{self._model} unreachable: {type(err).__name__}") from err
        latency_ms = int((time.perf_counter() - started) * 1000)
        usage = usage_from(response.usage_metadata)
        text = (response.text or "").strip()
        finish = response.candidates[0].finish_reason if response.candidates else None
        if not text and not (allow_empty and str(finish).endswith("STOP")):
            raise MediaUnreadable(f"{self._model} returned no text for the {purpose} (finish reason {finish})")
        call = ModelCall(model=self._model, backend=self.backend, purpose=purpose, usage=usage,
                         latency_ms=latency_ms, cost_usd=estimate_cost(usage, self._price))
        return Extraction(text=text, call=call)
