"""Gemini through google-genai: the real LanguageModel and MediaModel, on Vertex AI or the Gemini Developer API.

Model ids, location and prices are configuration. What this adapter guarantees, each from Google's docs:
- thinking is set per model family and purpose (thinking_level on Gemini 3+, thinking_budget on 2.5) and the
  output limit is the visible budget plus the thinking allowance (shared/domain/model_contract.py);
- finish_reason is read on every answer: MAX_TOKENS, blocks and empty answers are failures with a reason;
- a model turn with function calls goes back exactly as received, thought signatures included
  (https://docs.cloud.google.com/vertex-ai/generative-ai/docs/thought-signatures);
- the loop's last step keeps the declarations and forbids calls with function calling mode NONE
  (https://docs.cloud.google.com/vertex-ai/generative-ai/docs/multimodal/function-calling);
- every attempt, failed or not, yields a ModelCall with its outcome (failures carry it on the exception).
"""

from __future__ import annotations

import base64
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
from google.genai import Client, errors, types

try:  # google-genai sends through httpx2 (a fork under its own namespace) when it is installed, else httpx
    import httpx2

    _TIMEOUTS: tuple[type[Exception], ...] = (httpx.TimeoutException, httpx2.TimeoutException)
    _TRANSPORT: tuple[type[Exception], ...] = (httpx.HTTPError, httpx2.HTTPError, OSError)
except ImportError:  # pragma: no cover - depends on the SDK's optional dependency
    _TIMEOUTS = (httpx.TimeoutException,)
    _TRANSPORT = (httpx.HTTPError, OSError)

from shared import log
from shared.domain.errors import (
    MediaUnreadable,
    ModelAttemptFailed,
    ModelBlocked,
    ModelOutOfTokens,
    ModelRejected,
    ModelTransient,
)
from shared.domain.model_contract import (
    BLOCK_REASONS,
    Effort,
    complete_sentences,
    effort_for,
    plan_thinking,
    requires_thought_signatures,
)
from shared.domain.usage import CallOutcome, ModelCall, ModelPrice, TokenUsage, estimate_cost
from shared.ports import ChatTurn, Extraction, Generation, Prompt, ToolCall

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

__all__ = ["GeminiMediaReader", "GeminiModel", "ModelRejected", "gemini_api_client", "usage_from", "vertex_client"]

logger = logging.getLogger(__name__)

# The documented stand-in for a function call whose signature another model produced: "If you are transferring a
# conversation trace from another model … populate the field with … skip_thought_signature_validator"
# (https://ai.google.dev/gemini-api/docs/thought-signatures). Used only when a fallback changes the model mid-loop.
SKIP_SIGNATURE = base64.urlsafe_b64decode("skip_thought_signature_validator")


def _http_options(timeout_seconds: float, base_url: str | None) -> types.HttpOptions:
    # One attempt per call: the brain retries and falls back itself, within the turn's deadline, and meters every
    # attempt. SDK-internal retries would be invisible to both.
    return types.HttpOptions(timeout=int(timeout_seconds * 1000), base_url=base_url,
                             retry_options=types.HttpRetryOptions(attempts=1))


def vertex_client(
    project: str, location: str, timeout_seconds: float, base_url: str | None = None,
    credentials: Credentials | None = None, attempts: int = 1,
) -> Client:
    """Vertex AI (Application Default Credentials). `attempts` > 1 lets the SDK retry 429/5xx (embeddings,
    knowledge scans, whose callers are retried by their own queues)."""
    options = _http_options(timeout_seconds, base_url)
    if attempts > 1:
        options.retry_options = types.HttpRetryOptions(attempts=attempts, initial_delay=1.0, max_delay=8.0)
    return Client(vertexai=True, project=project, location=location, http_options=options, credentials=credentials)


def gemini_api_client(api_key: str, timeout_seconds: float, base_url: str | None = None) -> Client:
    """The Gemini Developer API with an API key: same SDK, same model ids and request shapes."""
    return Client(api_key=api_key, http_options=_http_options(timeout_seconds, base_url))


def usage_from(metadata: types.GenerateContentResponseUsageMetadata | None) -> TokenUsage:
    if metadata is None:
        return TokenUsage()
    audio = sum(d.token_count or 0 for d in metadata.prompt_tokens_details or []
                if d.modality is not None and str(getattr(d.modality, "value", d.modality)) == "AUDIO")
    return TokenUsage(
        prompt_tokens=metadata.prompt_token_count or 0,
        output_tokens=metadata.candidates_token_count or 0,
        thoughts_tokens=metadata.thoughts_token_count or 0,
        cached_tokens=metadata.cached_content_token_count or 0,
        audio_prompt_tokens=audio,
    )


@dataclass(frozen=True)
class _ReceivedContent:
    """A model's content exactly as received, and which model sent it (signatures are valid for that model)."""

    model: str
    content: types.Content


def _content(turn: ChatTurn, model: str) -> types.Content:
    if isinstance(turn.raw, _ReceivedContent):
        if turn.raw.model == model or not requires_thought_signatures(model):
            return turn.raw.content  # exactly as received: thought signatures included
        return _with_foreign_signatures(turn.raw.content)
    parts: list[types.Part] = []
    if turn.text:
        parts.append(types.Part.from_text(text=turn.text))
    parts += [types.Part(function_call=types.FunctionCall(id=c.call_id, name=c.name, args=c.args))
              for c in turn.tool_calls]
    parts += [types.Part(function_response=types.FunctionResponse(id=r.call_id, name=r.name, response=r.response))
              for r in turn.tool_results]
    return types.Content(role=turn.role, parts=parts)


def _with_foreign_signatures(content: types.Content) -> types.Content:
    """Function calls another model made (a fallback mid-loop): its signatures mean nothing to this model."""
    parts: list[types.Part] = []
    first_call = True
    for part in content.parts or []:
        if part.thought:
            continue  # another model's thoughts
        copy = part.model_copy()
        copy.thought_signature = None
        if part.function_call is not None and first_call:
            copy.thought_signature = SKIP_SIGNATURE
            first_call = False
        parts.append(copy)
    return types.Content(role=content.role, parts=parts)


def _config(prompt: Prompt, model: str, temperature: float) -> types.GenerateContentConfig:
    plan = plan_thinking(model, prompt.max_output_tokens, effort_for(prompt.purpose, prompt.tier), prompt.room)
    config = types.GenerateContentConfig(
        system_instruction=prompt.system,
        max_output_tokens=plan.max_output_tokens,
        # Gemini 3: "we strongly recommend keeping the temperature parameter at its default value of 1.0".
        temperature=None if plan.temperature_default_only else temperature,
    )
    config.thinking_config = _thinking(plan.level, plan.budget)
    if prompt.tools:
        config.tools = [types.Tool(function_declarations=[
            types.FunctionDeclaration(name=t.name, description=t.description, parameters_json_schema=t.parameters)
            for t in prompt.tools])]
        # Manual function calling: Piloto runs the tools itself, scoped to the tenant and contact.
        config.automatic_function_calling = types.AutomaticFunctionCallingConfig(disable=True)
        if prompt.force_text:
            # Declarations stay (the history holds calls to them); mode NONE forbids a new call.
            config.tool_config = types.ToolConfig(function_calling_config=types.FunctionCallingConfig(
                mode=types.FunctionCallingConfigMode.NONE))
    if prompt.json_schema is not None:
        config.response_mime_type = "application/json"
        config.response_json_schema = prompt.json_schema
    if prompt.timeout_seconds is not None:
        config.http_options = types.HttpOptions(timeout=max(1000, int(prompt.timeout_seconds * 1000)),
                                                retry_options=types.HttpRetryOptions(attempts=1))
    return config


def _thinking(level: str | None, budget: int | None) -> types.ThinkingConfig | None:
    if level is not None:
        return types.ThinkingConfig(thinking_level=types.ThinkingLevel(level.upper()))
    if budget is not None:
        return types.ThinkingConfig(thinking_budget=budget)
    return None


_warned_unpriced: set[str] = set()


def _cost(usage: TokenUsage, model: str, price: ModelPrice | None) -> float | None:
    if price is None and model not in _warned_unpriced:
        _warned_unpriced.add(model)  # once per instance: the ledger shows cost_usd null on every call
        log.log(logger, logging.WARNING, "model has no configured price; its calls are recorded with cost_usd null",
                model=model)
    return estimate_cost(usage, price)


class _Attempt:
    """One call to generate_content, turned into a response or a ModelAttemptFailed carrying its ModelCall."""

    def __init__(self, backend: str, model: str, purpose: str, tier: str | None, price: ModelPrice | None) -> None:
        self.backend, self.model, self.purpose, self.tier, self.price = backend, model, purpose, tier, price
        self.started = time.perf_counter()

    def call(self, usage: TokenUsage, outcome: CallOutcome = CallOutcome.OK, error_code: int | None = None,
             finish_reason: str | None = None, detail: str | None = None) -> ModelCall:
        return ModelCall(model=self.model, backend=self.backend, purpose=self.purpose, tier=self.tier, usage=usage,
                         latency_ms=int((time.perf_counter() - self.started) * 1000),
                         cost_usd=_cost(usage, self.model, self.price), outcome=outcome, error_code=error_code,
                         finish_reason=finish_reason, detail=detail)

    def run(self, client: Client, contents: list[types.Content],
            config: types.GenerateContentConfig) -> types.GenerateContentResponse:
        try:
            return client.models.generate_content(model=self.model, contents=contents, config=config)
        except errors.APIError as err:
            raise self._api_failure(err) from err
        except _TIMEOUTS as err:
            raise ModelTransient(f"{self.model} did not answer in time", self.call(
                TokenUsage(), CallOutcome.TIMEOUT, detail=type(err).__name__)) from err
        except _TRANSPORT as err:
            raise ModelTransient(f"{self.model} unreachable: {type(err).__name__}", self.call(
                TokenUsage(), CallOutcome.SERVER_ERROR, detail=type(err).__name__)) from err

    def _api_failure(self, err: errors.APIError) -> ModelAttemptFailed:
        code, status = err.code, err.status
        if code == 429:
            return ModelTransient(f"{self.model} answered 429 {status}",
                                  self.call(TokenUsage(), CallOutcome.RATE_LIMITED, code, detail=status))
        if code == 408 or code == 504:
            return ModelTransient(f"{self.model} answered {code} {status}",
                                  self.call(TokenUsage(), CallOutcome.TIMEOUT, code, detail=status))
        if code >= 500:
            return ModelTransient(f"{self.model} answered {code} {status}",
                                  self.call(TokenUsage(), CallOutcome.SERVER_ERROR, code, detail=status))
        if code == 404:
            # "API requests referencing a retired model ID typically return a 404 error" (Model versions page).
            detail = f"model id {self.model!r} is unknown or retired (404 {status})"
            log.log(logger, logging.ERROR, "configured model id is unknown or retired", model=self.model)
            return ModelRejected(detail, self.call(TokenUsage(), CallOutcome.REJECTED, code, detail=detail))
        message = (err.message or "")[:300]
        return ModelRejected(f"{self.model} refused the request: {code} {status} {message}",
                             self.call(TokenUsage(), CallOutcome.REJECTED, code, detail=f"{status}: {message}"))


def _finish(response: types.GenerateContentResponse) -> str | None:
    candidate = response.candidates[0] if response.candidates else None
    reason = candidate.finish_reason if candidate else None
    return None if reason is None else str(getattr(reason, "value", reason))


def _block_reason(response: types.GenerateContentResponse) -> str | None:
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason is not None:
        return str(getattr(feedback.block_reason, "value", feedback.block_reason))
    finish = _finish(response)
    return finish if finish in BLOCK_REASONS else None


def _text_of(response: types.GenerateContentResponse) -> str:
    """The text parts only, thoughts excluded (response.text warns when function calls are present)."""
    if not response.candidates or not response.candidates[0].content:
        return ""
    return "".join(part.text for part in response.candidates[0].content.parts or [] if part.text and not part.thought)


class GeminiModel:
    """A LanguageModel over Gemini; the model id comes with each prompt (routing) or is the default."""

    def __init__(self, client: Client, model: str, prices: dict[str, ModelPrice] | ModelPrice | None,
                 temperature: float = 0.6, backend: str = "vertex") -> None:
        self._client = client
        self._model = model
        self._prices = prices if isinstance(prices, dict) else ({model: prices} if prices else {})
        self._temperature = temperature
        self.backend = backend

    def generate(self, prompt: Prompt) -> Generation:
        model = prompt.model or self._model
        attempt = _Attempt(self.backend, model, prompt.purpose, prompt.tier, self._prices.get(model))
        response = attempt.run(self._client, [_content(turn, model) for turn in prompt.turns],
                               _config(prompt, model, self._temperature))
        usage = usage_from(response.usage_metadata)
        finish = _finish(response)
        if blocked := _block_reason(response):
            raise ModelBlocked(f"{model} blocked the answer ({blocked})",
                               attempt.call(usage, CallOutcome.BLOCKED, finish_reason=blocked))
        calls = tuple(ToolCall(name=c.name or "", args=dict(c.args or {}), call_id=c.id)
                      for c in (response.function_calls or []))
        if prompt.force_text:
            calls = ()  # mode NONE: a call here would be a model bug; the text is what we asked for
        text = _text_of(response)
        detail = None
        if finish == "MAX_TOKENS":
            kept = complete_sentences(text) if (text.strip() and not calls and prompt.json_schema is None) else None
            if kept is None:
                raise ModelOutOfTokens(
                    f"{model} ran out of output tokens ({usage.thoughts_tokens} thinking, {usage.output_tokens} "
                    f"answer) before a complete answer",
                    attempt.call(usage, CallOutcome.MAX_TOKENS, finish_reason=finish,
                                 detail="cut answer" if text.strip() else "no text"))
            text, detail = kept, "cut by the output limit; kept up to the last complete sentence"
        elif finish not in (None, "STOP", "FINISH_REASON_UNSPECIFIED") and not text.strip() and not calls:
            raise ModelRejected(f"{model} ended with {finish} and no answer",
                                attempt.call(usage, CallOutcome.REJECTED, finish_reason=finish))
        if not text.strip() and not calls:
            raise ModelRejected(f"{model} returned no text (finish reason {finish})",
                                attempt.call(usage, CallOutcome.REJECTED, finish_reason=finish, detail="empty"))
        raw = None
        if response.candidates and response.candidates[0].content is not None:
            raw = _ReceivedContent(model=model, content=response.candidates[0].content)
        return Generation(text=text, tool_calls=calls, raw=raw,
                          call=attempt.call(usage, finish_reason=finish, detail=detail))


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

    def __init__(self, client: Client, model: str, price: ModelPrice | None, max_output_tokens: int = 2048,
                 backend: str = "vertex") -> None:
        self._client = client
        self._model = model
        self._price = price
        self._max_output_tokens = max_output_tokens
        self.backend = backend

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
        plan = plan_thinking(self._model, self._max_output_tokens, Effort.LOW)
        config = types.GenerateContentConfig(max_output_tokens=plan.max_output_tokens,
                                             temperature=None if plan.temperature_default_only else 0.0,
                                             thinking_config=_thinking(plan.level, plan.budget))
        attempt = _Attempt(self.backend, self._model, purpose, None, self._price)
        try:
            response = attempt.run(self._client, contents, config)
        except ModelRejected as err:
            unreadable = MediaUnreadable(f"{self._model} refused the {purpose} request: {err}")
            unreadable.model_call = err.call  # metered by the caller like any attempt
            raise unreadable from err
        usage = usage_from(response.usage_metadata)
        text = _text_of(response).strip()
        finish = _finish(response)
        blocked = _block_reason(response)
        if blocked or (not text and not (allow_empty and finish == "STOP")) or finish == "MAX_TOKENS":
            # A cut transcript would be passed off as what the lead said: unreadable, with the reason.
            outcome = CallOutcome.BLOCKED if blocked else (
                CallOutcome.MAX_TOKENS if finish == "MAX_TOKENS" else CallOutcome.REJECTED)
            unreadable = MediaUnreadable(f"{self._model} returned no usable text for the {purpose} "
                                         f"(finish reason {blocked or finish})")
            unreadable.model_call = attempt.call(usage, outcome, finish_reason=blocked or finish)
            raise unreadable
        return Extraction(text=text, call=attempt.call(usage, finish_reason=finish))
