"""Time one semantic lookup on one core: `python -m bench.semantic_lookup [--entries 2000] [--runs 200]`.

A 20-word question, embedded each time (no cache), searched in a partition of `--entries` cached
questions (embedded Qdrant), then the pair model and the rules on the nearest one, as the gateway does.
Prints p50 / p90 of the embedding, the pair model and the whole lookup, in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

QUESTION = "what is the best way to learn how to cook healthy food at home quickly and cheaply for a family"
CACHED = "How can I learn to cook healthy meals at home cheaply and quickly for my family?"


def _timed(fn: Callable[[], object], runs: int) -> dict[str, float]:
    fn()  # warm
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append(1000 * (time.perf_counter() - started))
    samples.sort()
    return {"p50": round(statistics.median(samples), 2), "p90": round(samples[int(0.9 * (len(samples) - 1))], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    from llmcache.semantic.embedders import CachingEmbedder, LocalEmbedder
    from llmcache.semantic.index import QdrantIndex
    from llmcache.semantic.matcher import DefaultSemanticMatcher
    from llmcache.semantic.onnx_models import OnnxPairModel
    from llmcache.semantic.pair_verifier import PairVerifier

    assert len(QUESTION.split()) == 20
    embedder = LocalEmbedder()
    pair = OnnxPairModel()
    now = time.time()
    filler = CachingEmbedder(embedder, max_entries=args.entries + 1)
    matcher = DefaultSemanticMatcher(filler, QdrantIndex(prefix="bench"), PairVerifier(model=pair))
    texts = [CACHED] + [f"How do I cook dish number {i} at home?" for i in range(args.entries - 1)]
    for i, text in enumerate(texts):
        matcher.remember("p" * 64, text, f"{i:064d}", now + 3600)
    uncached = DefaultSemanticMatcher(embedder, matcher.index, PairVerifier(model=pair))
    results = {
        "embed": _timed(lambda: embedder.embed([QUESTION]), args.runs),
        "pair model": _timed(lambda: pair.score(QUESTION, CACHED), args.runs),
        "lookup": _timed(lambda: uncached.lookup("p" * 64, QUESTION, 0.5, now), args.runs),
    }
    print(f"one thread, {args.entries} entries in the partition, {args.runs} runs, 20-word question")
    for name, r in results.items():
        print(f"{name:12} p50 {r['p50']:7.2f} ms   p90 {r['p90']:7.2f} ms")


if __name__ == "__main__":
    main()
