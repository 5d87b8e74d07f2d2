"""Offline stand-ins for the knowledge base's model calls, for local runs without Google credentials.

OfflineHashedNgramEmbedder is not a language model: it hashes words and character n-grams into a fixed
number of dimensions (the "hashing trick"). It finds passages that share words or word pieces with the
question — enough for a local demo and for regression tests of chunking and search — and nothing
semantic ("parcelar" does not find "financiamento"). Its calls are recorded with backend='offline'.
OfflineScanReader cannot read scanned PDFs and says so.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
import unicodedata
from collections import Counter

from shared.domain.errors import ScanUnreadable
from shared.domain.knowledge import TextBlock
from shared.domain.usage import ModelCall, TokenUsage
from shared.ports import Embeddings

OFFLINE_EMBEDDING_MODEL = "offline-hashed-char-ngrams"

# Function words that every Portuguese question and passage share; they would only add noise.
_STOPWORDS = frozenset("""
a o as os um uma uns umas de da do das dos e em no na nos nas ao aos para pra pro por pelo pela pelos pelas
com sem que se ou mas mais menos como qual quais quanto quanta quantos quantas quando onde porque eu voce
voces vc vcs ele ela eles elas meu minha meus minhas seu sua seus suas nosso nossa isso isto esse essa
este esta estes estas aquele aquela tem ter tenho ha ja nao sim me te lhe muito muita sobre entre ate apos
depois antes tambem so vai vou ser sao foi era esta estao estou posso pode podem poderia fazer faz oi ola
bom boa dia tarde noite gostaria queria quero saber preciso alguma algum gente aqui la ai entao
""".split())
_NGRAMS = (3, 4, 5)


def _tokens(text: str) -> list[str]:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return [t for t in re.findall(r"[a-z0-9]+", plain) if t not in _STOPWORDS and (len(t) > 1 or t.isdigit())]


def _features(text: str) -> Counter:
    features: Counter = Counter()
    for token in _tokens(text):
        features["w:" + token] += 1.0
        padded = f"^{token}$"
        for n in _NGRAMS:
            for i in range(len(padded) - n + 1):
                features[f"g{n}:{padded[i:i + n]}"] += 0.5
    return features


class OfflineHashedNgramEmbedder:
    """Deterministic, free and offline: the same text always gives the same unit vector."""

    backend = "offline"
    model = OFFLINE_EMBEDDING_MODEL

    def __init__(self, dimensions: int = 768) -> None:
        self.dimensions = dimensions

    def vector(self, text: str) -> list[float]:
        values = [0.0] * self.dimensions
        for feature, count in _features(text).items():
            digest = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big")
            sign = 1.0 if digest >> 63 else -1.0  # signed hashing: collisions cancel out instead of piling up
            weight = 1.0 + math.log(count) if count >= 1 else count  # sublinear: a repeated word is not 10x the topic
            values[digest % self.dimensions] += sign * weight
        norm = math.sqrt(sum(v * v for v in values))
        if norm == 0.0:
            # Only function words (or nothing): a fixed direction, far from any real passage.
            values[0] = 1.0
            return values
        return [v / norm for v in values]

    def _embed(self, texts: list[str], purpose: str) -> Embeddings:
        started = time.perf_counter()
        vectors = [self.vector(text) for text in texts]
        tokens = sum(max(1, len(text) // 4) for text in texts)
        call = ModelCall(model=self.model, backend=self.backend, purpose=purpose,
                         usage=TokenUsage(prompt_tokens=tokens), cost_usd=0.0,
                         latency_ms=int((time.perf_counter() - started) * 1000))
        return Embeddings(vectors=vectors, call=call)

    def embed_documents(self, texts: list[str], title: str | None = None) -> Embeddings:  # noqa: ARG002
        return self._embed(texts, "knowledge_embed_documents")

    def embed_query(self, text: str) -> Embeddings:
        return self._embed([text], "knowledge_embed_query")


class OfflineScanReader:
    """Reading a scan needs a multimodal model; offline there is none, and the file is marked unsupported."""

    backend = "offline"

    def read_scan(self, pdf: bytes, file_name: str) -> tuple[list[TextBlock], ModelCall | None]:  # noqa: ARG002
        raise ScanUnreadable("scanned PDF (no text layer): the offline scan reader cannot read scans; "
                             "with LLM_BACKEND=vertex Gemini transcribes it")
