"""Vertex AI through google-genai for the knowledge base: text embeddings, and Gemini reading scanned PDFs.

Kept apart from gemini.py (the agent's chat model) so each can change without the other; both use
gemini.vertex_client. google-genai picks the endpoint from the model id: gemini-embedding-001 goes to
:embedContent / :batchEmbedContents, text-multilingual-embedding-002 to :predict.
"""

from __future__ import annotations

import time

from google.genai import Client, errors, types

from shared.adapters.document_text import transcript_blocks
from shared.adapters.gemini import ModelRejected, _thinking, usage_from
from shared.domain.errors import ModelUnavailable, ScanUnreadable
from shared.domain.knowledge import TextBlock
from shared.domain.model_contract import Effort, plan_thinking
from shared.domain.usage import ModelCall, ModelPrice, TokenUsage, estimate_cost
from shared.ports import Embeddings

_RETRYABLE = {408, 429, 500, 502, 503, 504}

SCAN_INSTRUCTION = (
    "Transcreva todo o texto deste PDF digitalizado, página por página, sem resumir, traduzir ou comentar. "
    "Comece cada página com uma linha '=== página N ==='. Marque títulos e subtítulos com '#' e '##' "
    "como em Markdown e escreva tabelas como linhas com colunas separadas por ' | '. "
    "Se uma página não tiver texto legível, escreva só a linha da página."
)


def _model_error(model: str, err: Exception) -> Exception:
    if isinstance(err, errors.APIError):
        if err.code in _RETRYABLE:
            return ModelUnavailable(f"{model} answered {err.code} {err.status}")
        if err.code == 404:
            return ModelRejected(f"model id {model!r} is unknown or retired (404 {err.status})")
        return ModelRejected(f"{model} refused the request: {err.code} {err.status}")
    return ModelUnavailable(f"{model} unreachable: {type(err).__name__}")


class GeminiEmbedder:
    """Embeds with a Vertex AI embedding model at a configured output dimensionality (Firestore: ≤ 2048)."""

    backend = "vertex"

    def __init__(self, client: Client, model: str, dimensions: int, price: ModelPrice | None,
                 batch_size: int = 16) -> None:
        self._client = client
        self.model = model
        self.dimensions = dimensions
        self._price = price
        self._batch_size = batch_size

    def _call(self, texts: list[str], task_type: str, title: str | None) -> tuple[list[list[float]], int]:
        config = types.EmbedContentConfig(task_type=task_type, output_dimensionality=self.dimensions,
                                          title=title if task_type == "RETRIEVAL_DOCUMENT" else None)
        try:
            response = self._client.models.embed_content(model=self.model, contents=texts, config=config)
        except Exception as err:  # noqa: BLE001 - classified into retryable / final
            raise _model_error(self.model, err) from err
        embeddings = response.embeddings or []
        if len(embeddings) != len(texts):
            raise ModelUnavailable(f"{self.model} returned {len(embeddings)} embeddings for {len(texts)} texts")
        vectors = [list(e.values or []) for e in embeddings]
        if any(len(v) != self.dimensions for v in vectors):
            raise ModelRejected(f"{self.model} returned vectors of {sorted({len(v) for v in vectors})} dimensions; "
                                f"configured {self.dimensions}")
        tokens = sum(int(e.statistics.token_count or 0) for e in embeddings if e.statistics)
        if not tokens and response.usage_metadata is not None:
            tokens = response.usage_metadata.prompt_token_count or 0
        return vectors, tokens

    def _embed(self, texts: list[str], task_type: str, title: str | None, purpose: str) -> Embeddings:
        started = time.perf_counter()
        vectors: list[list[float]] = []
        tokens = 0
        for start in range(0, len(texts), self._batch_size):
            batch_vectors, batch_tokens = self._call(texts[start:start + self._batch_size], task_type, title)
            vectors.extend(batch_vectors)
            tokens += batch_tokens
        usage = TokenUsage(prompt_tokens=tokens)
        call = ModelCall(model=self.model, backend=self.backend, purpose=purpose, usage=usage,
                         latency_ms=int((time.perf_counter() - started) * 1000),
                         cost_usd=estimate_cost(usage, self._price))
        return Embeddings(vectors=vectors, call=call)

    def embed_documents(self, texts: list[str], title: str | None = None) -> Embeddings:
        return self._embed(texts, "RETRIEVAL_DOCUMENT", title, "knowledge_embed_documents")

    def embed_query(self, text: str) -> Embeddings:
        return self._embed([text], "RETRIEVAL_QUERY", None, "knowledge_embed_query")


class GeminiScanReader:
    """Gemini reads the PDF inline (PDFs are a documented input) and transcribes it page by page."""

    backend = "vertex"

    def __init__(self, client: Client, model: str, price: ModelPrice | None, max_output_tokens: int = 32768) -> None:
        self._client = client
        self._model = model
        self._price = price
        self._max_output_tokens = max_output_tokens

    def read_scan(self, pdf: bytes, file_name: str) -> tuple[list[TextBlock], ModelCall | None]:
        contents = [types.Content(role="user", parts=[
            types.Part.from_bytes(data=pdf, mime_type="application/pdf"),
            types.Part.from_text(text=f"{SCAN_INSTRUCTION}\nArquivo: {file_name}"),
        ])]
        # Gemini 3: thinking level low and the default temperature (get-started-with-gemini-3); 2.5: a budget.
        plan = plan_thinking(self._model, self._max_output_tokens, Effort.LOW)
        config = types.GenerateContentConfig(temperature=None if plan.temperature_default_only else 0.0,
                                             max_output_tokens=plan.max_output_tokens,
                                             thinking_config=_thinking(plan.level, plan.budget))
        started = time.perf_counter()
        try:
            response = self._client.models.generate_content(model=self._model, contents=contents, config=config)
        except Exception as err:  # noqa: BLE001 - classified into retryable / final
            raise _model_error(self._model, err) from err
        usage = usage_from(response.usage_metadata)
        call = ModelCall(model=self._model, backend=self.backend, purpose="knowledge_scan", usage=usage,
                         latency_ms=int((time.perf_counter() - started) * 1000),
                         cost_usd=estimate_cost(usage, self._price))
        blocks = transcript_blocks(response.text or "")
        if not blocks:
            unreadable = ScanUnreadable(f"{self._model} found no readable text in the scanned PDF")
            unreadable.model_call = call  # paid for all the same: the caller records it
            raise unreadable
        return blocks, call
