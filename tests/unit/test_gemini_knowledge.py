"""The real embedding and scan-reading adapters against a local server answering Vertex AI's documented
response shapes (recorded in tests/data/vertex/)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from google.oauth2.credentials import Credentials

from dev.json_http import JsonHandler, serve_in_background
from shared.adapters.gemini import ModelRejected, vertex_client
from shared.adapters.gemini_knowledge import GeminiEmbedder, GeminiScanReader
from shared.adapters.offline_knowledge import OfflineHashedNgramEmbedder, OfflineScanReader
from shared.domain.errors import ModelUnavailable, ScanUnreadable
from shared.domain.usage import ModelPrice
from tests.documents import scanned_pdf

DATA = Path(__file__).parent.parent / "data" / "vertex"


def recorded(name: str) -> dict:
    return json.loads((DATA / name).read_text())


class FakeVertex:
    """Answers :embedContent, :batchEmbedContents, :predict and :generateContent like Vertex AI does."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict]] = []
        self.failures: list[tuple[int, dict]] = []
        fake = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.read_body())
                fake.requests.append((self.path, body))
                self.reply_json(*(fake.failures.pop(0) if fake.failures else (200, fake.answer(self.path, body))))

        self.server, _ = serve_in_background(Handler)

    @staticmethod
    def answer(path: str, body: dict) -> dict:
        if path.endswith(":embedContent"):
            return recorded("embed_content_response.json")["response"]
        if path.endswith(":batchEmbedContents"):
            batch = recorded("batch_embed_contents_response.json")
            return {"embeddings": [batch["embedding"]] * len(body["requests"]), "usageMetadata": batch["usageMetadata"]}
        if path.endswith(":predict"):
            predict = recorded("predict_embeddings_response.json")
            return {"predictions": [predict["prediction"]] * len(body["instances"]), "metadata": predict["metadata"]}
        return recorded("scan_generate_content_response.json")["response"]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"


@pytest.fixture
def vertex():
    fake = FakeVertex()
    yield fake
    fake.server.shutdown()


def client(vertex: FakeVertex):  # noqa: ANN201
    return vertex_client("acme-prod", "us-central1", 5, vertex.url, credentials=Credentials(token="t"), attempts=1)


PRICE = ModelPrice(input_per_mtok=0.15, output_per_mtok=0.0)


def test_a_question_is_embedded_with_embed_content_at_the_configured_dimensionality(vertex):
    embedder = GeminiEmbedder(client(vertex), "gemini-embedding-001", 8, PRICE)

    embeddings = embedder.embed_query("Vocês financiam em 60x?")

    assert embeddings.vectors == [recorded("embed_content_response.json")["response"]["embedding"]["values"]]
    path, body = vertex.requests[0]
    assert path.endswith("/projects/acme-prod/locations/us-central1/publishers/google/models/"
                         "gemini-embedding-001:embedContent")
    assert body["content"]["parts"][0]["text"] == "Vocês financiam em 60x?"
    config = body.get("embedContentConfig", body)
    assert config["outputDimensionality"] == 8 and config["taskType"] == "RETRIEVAL_QUERY"
    call = embeddings.call
    assert (call.model, call.backend, call.purpose, call.usage.prompt_tokens) == (
        "gemini-embedding-001", "vertex", "knowledge_embed_query", 11)
    assert call.cost_usd == pytest.approx(11 * 0.15 / 1e6)


def test_document_chunks_are_embedded_in_batches_in_order_and_their_tokens_add_up(vertex):
    embedder = GeminiEmbedder(client(vertex), "gemini-embedding-001", 8, PRICE, batch_size=2)

    embeddings = embedder.embed_documents(["a", "b", "c"], title="garantia.pdf")

    assert len(embeddings.vectors) == 3
    # google-genai sends a batch of one through :embedContent
    assert [p.rsplit(":", 1)[-1] for p, _ in vertex.requests] == ["batchEmbedContents", "embedContent"]
    first = vertex.requests[0][1]["requests"]
    assert [r["content"]["parts"][0]["text"] for r in first] == ["a", "b"]
    config = first[0].get("embedContentConfig", first[0])
    assert config["taskType"] == "RETRIEVAL_DOCUMENT" and config["title"] == "garantia.pdf"
    assert embeddings.call.usage.prompt_tokens == 57 + 11


def test_text_multilingual_embedding_002_goes_through_predict(vertex):
    embedder = GeminiEmbedder(client(vertex), "text-multilingual-embedding-002", 8, None)

    embeddings = embedder.embed_documents(["Painéis com 12 anos de garantia", "Inversor com 10 anos"])

    path, body = vertex.requests[0]
    assert path.endswith("text-multilingual-embedding-002:predict")
    assert [i["content"] for i in body["instances"]] == ["Painéis com 12 anos de garantia", "Inversor com 10 anos"]
    assert body["instances"][0]["task_type"] == "RETRIEVAL_DOCUMENT"
    assert body["parameters"]["outputDimensionality"] == 8
    assert len(embeddings.vectors) == 2 and embeddings.call.usage.prompt_tokens == 14
    assert embeddings.call.cost_usd is None, "no price configured: the cost is unknown, never 0"


def test_quota_errors_are_transient_and_bad_requests_are_not(vertex):
    embedder = GeminiEmbedder(client(vertex), "gemini-embedding-001", 8, None)
    vertex.failures.append((429, {"error": {"code": 429, "message": "Quota", "status": "RESOURCE_EXHAUSTED"}}))
    with pytest.raises(ModelUnavailable):
        embedder.embed_query("oi")
    vertex.failures.append((400, {"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}}))
    with pytest.raises(ModelRejected):
        embedder.embed_query("oi")


def test_vectors_of_another_dimensionality_than_configured_are_refused(vertex):
    embedder = GeminiEmbedder(client(vertex), "gemini-embedding-001", 768, None)
    with pytest.raises(ModelRejected, match="768"):
        embedder.embed_query("oi")


def test_gemini_reads_a_scanned_pdf_inline_and_its_transcript_keeps_pages_and_headings(vertex):
    reader = GeminiScanReader(client(vertex), "gemini-3.5-flash", ModelPrice(input_per_mtok=0.3, output_per_mtok=2.5))
    pdf = scanned_pdf()

    blocks, call = reader.read_scan(pdf, "contrato.pdf")

    assert [(b.page, b.headings) for b in blocks] == [
        (1, ("Contrato de instalação",)), (2, ("Contrato de instalação", "Garantia do inversor"))]
    path, body = vertex.requests[0]
    assert path.endswith("gemini-3.5-flash:generateContent")
    inline = body["contents"][0]["parts"][0]["inlineData"]
    # google-genai writes this field in snake_case; Vertex's JSON parser accepts both spellings.
    mime = inline.get("mimeType", inline.get("mime_type"))
    assert mime == "application/pdf"
    assert base64.urlsafe_b64decode(inline["data"]) == pdf  # the SDK sends URL-safe base64
    assert call.purpose == "knowledge_scan" and call.usage.prompt_tokens == 1290 and call.cost_usd > 0


def test_the_offline_adapters_say_they_are_offline_and_the_scan_reader_refuses_scans():
    embedder = OfflineHashedNgramEmbedder(64)
    one, again = embedder.embed_query("Garantia do inversor"), embedder.embed_query("Garantia do inversor")

    assert one.vectors == again.vectors and len(one.vectors[0]) == 64
    assert sum(v * v for v in one.vectors[0]) == pytest.approx(1.0)
    assert (one.call.backend, one.call.model, one.call.cost_usd) == ("offline", "offline-hashed-char-ngrams", 0.0)
    with pytest.raises(ScanUnreadable, match="offline"):
        OfflineScanReader().read_scan(scanned_pdf(), "x.pdf")
