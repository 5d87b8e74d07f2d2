"""Benchmark: retrieval quality and latency of the knowledge base on the labelled Solar Prime set.

Starts the Firestore and Storage emulators, ingests tests/data/knowledge/* through the ingestion service,
then asks every labelled question through the search service (embedding + find_nearest, in-process) and
prints, per question, the rank of the first passage that answers it, the closest distance, whether the
search was confident, and its latency; then recall@k for k = 1, 3, 5 and the latency percentiles.
Not a test: it prints tables.

    .venv/bin/python -m bench.knowledge_recall                 # offline hashed-n-gram embedder
    EMBEDDING_MODEL=gemini-embedding-001 .venv/bin/python -m bench.knowledge_recall --embedder vertex
        (needs Google credentials; calibrates KNOWLEDGE_MAX_DISTANCE for Gemini)
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from dev.stack import OFFLINE_KNOWLEDGE_MAX_DISTANCE, LocalStack
from shared.domain.knowledge import StorageEventKind
from tests.knowledge_helpers import DOCUMENTS, KNOWLEDGE_DATA, knowledge_rig


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedder", choices=["offline", "vertex"], default="offline")
    parser.add_argument("--max-distance", type=float, default=None, help="threshold (default: the stack's)")
    parser.add_argument("--rounds", type=int, default=3, help="times each question is asked (latency)")
    args = parser.parse_args()

    with LocalStack(functions={}) as stack:
        from google.cloud import firestore

        db = firestore.Client(project=stack.client_env()["GOOGLE_CLOUD_PROJECT"])
        kb = knowledge_rig(db)
        if args.embedder == "vertex":
            from shared.bootstrap import embedder

            kb.deps.embedder = kb.search.embedder = embedder()
        kb.search.max_distance = args.max_distance or float(OFFLINE_KNOWLEDGE_MAX_DISTANCE)
        started = time.perf_counter()
        chunks = 0
        for path in DOCUMENTS:
            chunks += kb.deliver(StorageEventKind.FINALIZED, kb.upload(f"shared/{path.name}", path.read_bytes())).chunks
        print(f"ingested {len(DOCUMENTS)} files → {chunks} chunks in {time.perf_counter() - started:.2f} s "
              f"(embedder {kb.search.embedder.model}, {kb.search.embedder.dimensions} dims)\n")

        labelled = json.loads((KNOWLEDGE_DATA / "questions.json").read_text())
        ranks: list[int | None] = []
        latencies: list[float] = []
        confident = 0
        print(f"{'question':<62}{'rank':>5}{'best':>7}{'conf':>6}{'ms':>8}")
        for item in labelled["questions"]:
            for _ in range(args.rounds):
                t0 = time.perf_counter()
                result = kb.search.search(kb.tenant_id, "default", item["question"], k=3)
                latencies.append((time.perf_counter() - t0) * 1000)
            vector = kb.search.embedder.embed_query(item["question"]).vectors[0]
            nearest = kb.search.index.nearest(kb.tenant_id, ["default", "shared"], vector, 10)
            rank = next((i + 1 for i, p in enumerate(nearest) if p.source == item["source"]
                         and item["section"].lower() in p.section.lower()), None)
            ranks.append(rank)
            confident += result.confident
            print(f"{item['question'][:60]:<62}{rank or '-':>5}{result.best_distance or 0:>7.3f}"
                  f"{'yes' if result.confident else 'no':>6}{statistics.median(latencies[-args.rounds:]):>8.1f}")
        print("\nunanswerable questions (should not be confident):")
        for question in labelled["unanswerable"]:
            result = kb.search.search(kb.tenant_id, "default", question, k=3)
            print(f"  {question[:60]:<62}{result.best_distance or 0:>7.3f}{'yes' if result.confident else 'no':>6}")

        n = len(ranks)
        print(f"\n{'k':>3}{'recall@k (nearest)':>22}")
        for k in (1, 3, 5):
            print(f"{k:>3}{sum(1 for r in ranks if r is not None and r <= k) / n:>22.2f}")
        q = statistics.quantiles(latencies, n=100, method="inclusive")
        print(f"\nconfident answers: {confident}/{n} at max distance {kb.search.max_distance}")
        print(f"search latency (embed question + find_nearest on the emulator, {len(latencies)} calls): "
              f"p50 {q[49]:.1f} ms, p95 {q[94]:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
