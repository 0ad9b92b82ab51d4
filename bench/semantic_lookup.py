"""Time one semantic lookup on one core: `python -m bench.semantic_lookup [--entries 2000] [--runs 200]`.

A 20-word question, embedded each time (no cache), searched in a partition of `--entries` cached
questions (the in-process exact index), then the pair model and the rules on the nearest one, as the gateway does.
Prints p50 / p90 of the embedding, the pair model and the whole lookup, in milliseconds. `make bench`
runs it as a section (one ONNX Runtime thread, in its own process) with the issue's goal: 15 ms p50.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

QUESTION = "what is the best way to learn how to cook healthy food at home quickly and cheaply for a family"
CACHED = "How can I learn to cook healthy meals at home cheaply and quickly for my family?"
VETOED = "what is the best way to learn how to cook healthy food at home quickly and cheaply for a family of 5"
GOAL_MS = 15.0
ENTRIES = 2000
RUNS = 200


def _timed(fn: Callable[[], object], runs: int) -> dict[str, float]:
    """Wall-clock p50/p90, and the p50 of this process's CPU time: on a shared machine the wall clock also
    counts the time other processes held the core; one ONNX Runtime thread makes CPU time the work itself."""
    fn()  # warm
    samples, cpu = [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        fn()
        samples.append(1000 * (time.perf_counter() - started))
        cpu.append(1000 * (time.process_time() - started_cpu))
    samples.sort()
    return {
        "p50": round(statistics.median(samples), 2),
        "p90": round(samples[int(0.9 * (len(samples) - 1))], 2),
        "cpu_p50": round(statistics.median(cpu), 2),
    }


def run(entries: int = ENTRIES, runs: int = RUNS) -> dict[str, Any]:
    from llmcache.semantic.embedders import CachingEmbedder, LocalEmbedder
    from llmcache.semantic.exact_index import ExactIndex
    from llmcache.semantic.matcher import DefaultSemanticMatcher
    from llmcache.semantic.onnx_models import OnnxPairModel
    from llmcache.semantic.pair_verifier import PairVerifier

    assert len(QUESTION.split()) == 20
    embedder = LocalEmbedder()
    pair = OnnxPairModel()
    now = time.time()
    filler = CachingEmbedder(embedder, max_entries=entries + 1)
    matcher = DefaultSemanticMatcher(filler, ExactIndex(), PairVerifier(model=pair))
    texts = [CACHED] + [f"How do I cook dish number {i} at home?" for i in range(entries - 1)]
    for i, text in enumerate(texts):
        matcher.remember("p" * 64, text, f"{i:064d}", now + 3600)
    uncached = DefaultSemanticMatcher(embedder, matcher.index, PairVerifier(model=pair))
    return {
        "entries": entries,
        "runs": runs,
        "cpu_flags": cpu_flags(),
        "embed_ms": _timed(lambda: embedder.embed([QUESTION]), runs),
        "pair_model_ms": _timed(lambda: pair.score(QUESTION, CACHED), runs),
        "lookup_ms": _timed(lambda: uncached.lookup("p" * 64, QUESTION, 0.5, now), runs),
        # the same question with another number: a veto refuses it before the pair model runs
        "vetoed_lookup_ms": _timed(lambda: uncached.lookup("p" * 64, VETOED, 0.5, now), runs),
    }


def cpu_flags() -> str:
    """The vector instruction sets ONNX Runtime can use here (int8 speed depends on them)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    found = set(re.findall(r"\b(avx2|avx512[a-z_]*|avx_vnni|amx[a-z_]*|asimddp|i8mm)\b", text))
    return " ".join(sorted(found)) or "none of avx2/avx512/avx_vnni"


def measure(env: Any) -> dict[str, Any]:
    """`make bench` section: in a worker process, so that the models' threads and memory stay out of the rest."""
    from bench.common import run_worker

    return dict(run_worker("bench.semantic_lookup", {"entries": ENTRIES, "runs": 50 if env.quick else RUNS}, 600))


def rows(results: dict[str, Any]) -> list[Any]:
    from bench.rows import row

    r = results.get("semantic_lookup") or {}
    if not r:
        return []
    s = f"semantic lookup, one thread, 20-word question, {r['entries']:,} entries"
    lookup = r["lookup_ms"]["p50"]
    return [
        row(s, "embedding p50", r["embed_ms"]["p50"], unit="ms"),
        row(s, "pair model p50", r["pair_model_ms"]["p50"], unit="ms"),
        row(s, "whole lookup, embedding included, p50", lookup, unit="ms", target=f"≤ {GOAL_MS:g} ms",
            met=lookup <= GOAL_MS),
        row(s, "whole lookup, CPU time p50", r["lookup_ms"].get("cpu_p50", 0), unit="ms"),
        row(s, "vetoed miss (a number changed), p50", r["vetoed_lookup_ms"]["p50"], unit="ms"),
    ]  # fmt: skip


def render(r: dict[str, Any]) -> str:
    lines = [
        f"one thread, {r['entries']} entries in the partition, {r['runs']} runs, 20-word question; "
        f"CPU flags: {r.get('cpu_flags', '?')}"
    ]
    for name, key in (
        ("embed", "embed_ms"),
        ("pair model", "pair_model_ms"),
        ("lookup, hit", "lookup_ms"),
        ("lookup, veto", "vetoed_lookup_ms"),
    ):
        if key in r:
            t = r[key]
            lines.append(
                f"{name:13} p50 {t['p50']:7.2f} ms   p90 {t['p90']:7.2f} ms   CPU p50 {t.get('cpu_p50', 0):7.2f} ms"
            )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0].endswith(".json"):  # worker mode: config.json out.json
        config = json.loads(Path(argv[0]).read_text())
        Path(argv[1]).write_text(json.dumps(run(config.get("entries", ENTRIES), config.get("runs", RUNS))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=ENTRIES)
    parser.add_argument("--runs", type=int, default=RUNS)
    args = parser.parse_args(argv)
    print(render(run(args.entries, args.runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
