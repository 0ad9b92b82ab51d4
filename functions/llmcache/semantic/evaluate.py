"""Score the whole semantic path on labelled pairs: `python -m llmcache.semantic.evaluate PATH`.

PATH is JSON lines, `{"a": cached prompt, "b": new prompt, "label": 1|0}` (shared/data/semantic/README.md).
Every distinct `a` is remembered as a cached entry of one partition (its exact key: the SHA-256 of its
text, as the cache would give identical prompts one key); every `b` is asked. A hit on the row's own `a`
with label 1 is correct; any other hit is a false hit. The local embedder (all-MiniLM-L6-v2), an
in-memory Qdrant index, the verifier and the deployment's threshold are those the gateway runs.

Prints a table, cosine alone side by side with cosine + verifier, then as its LAST line one JSON object:
precision, recall, false_hit_rate, threshold, rows, seconds (and the baseline's numbers under "cosine").
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmcache.semantic.errors import SemanticUnavailable

PARTITION = hashlib.sha256(b"llmcache-eval").hexdigest()


@dataclass
class Score:
    hits: int = 0
    correct: int = 0
    false_on_negatives: int = 0
    rejections: Counter[str] = field(default_factory=Counter)

    def summary(self, positives: int, negatives: int) -> dict[str, float]:
        return {
            "precision": round(self.correct / self.hits, 4) if self.hits else 1.0,
            "recall": round(self.correct / positives, 4) if positives else 0.0,
            "false_hit_rate": round(self.false_on_negatives / negatives, 4) if negatives else 0.0,
            "hits": self.hits,
            "false_hits": self.hits - self.correct,
        }


def key_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_rows(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                rows.append({"a": str(row["a"]), "b": str(row["b"]), "label": int(row["label"])})
            except (ValueError, KeyError, TypeError) as exc:
                raise SystemExit(f"{path}:{number}: not a {{'a', 'b', 'label'}} row ({exc})") from exc
    if not rows:
        raise SystemExit(f"{path}: no rows")
    return rows


def default_threshold() -> float:
    from llmcache.settings import Settings

    return Settings.from_env().semantic_threshold


def evaluate(rows: Sequence[dict[str, Any]], threshold: float, matcher: Any = None) -> dict[str, Any]:
    """Score `rows`; `matcher` defaults to the local embedder + in-memory Qdrant + verifier."""
    from llmcache.semantic.embedders import CachingEmbedder, LocalEmbedder
    from llmcache.semantic.index import QdrantIndex
    from llmcache.semantic.matcher import DefaultSemanticMatcher

    started = time.perf_counter()
    texts = list(dict.fromkeys([r["a"] for r in rows] + [r["b"] for r in rows]))
    if matcher is None:
        matcher = DefaultSemanticMatcher(
            CachingEmbedder(LocalEmbedder(), max_entries=len(texts) + 16), QdrantIndex(prefix="eval")
        )
    for start in range(0, len(texts), 256):  # batch-embed once; lookups then hit the embedder's cache
        matcher.embedder.embed(texts[start : start + 256])
    now = time.time()
    expires = now + 3600
    for text in dict.fromkeys(r["a"] for r in rows):
        matcher.remember(PARTITION, text, key_of(text), expires)
    cosine, verified = Score(), Score()
    lookup_seconds = 0.0
    for row in rows:
        t0 = time.perf_counter()
        decision = matcher.decide(PARTITION, row["b"], threshold, now)
        lookup_seconds += time.perf_counter() - t0
        own = key_of(row["a"])
        best = decision.best
        for score, hit_key in (
            (cosine, best.key if best is not None and best.score >= threshold else None),
            (verified, decision.candidate.key if decision.candidate else None),
        ):
            if hit_key is None:
                continue
            score.hits += 1
            if hit_key == own and row["label"] == 1:
                score.correct += 1
            elif row["label"] == 0:
                score.false_on_negatives += 1
        if decision.verdict is not None and not decision.verdict.accepted:
            for reason in decision.verdict.reasons:
                verified.rejections[reason.split(":")[0]] += 1
    positives = sum(1 for r in rows if r["label"] == 1)
    negatives = len(rows) - positives
    return {
        "cosine": cosine.summary(positives, negatives),
        "verified": verified.summary(positives, negatives),
        "rejections": dict(verified.rejections.most_common()),
        "threshold": threshold,
        "rows": len(rows),
        "positives": positives,
        "negatives": negatives,
        "seconds": round(time.perf_counter() - started, 2),
        "ms_per_lookup": round(1000 * lookup_seconds / max(len(rows), 1), 2),
    }


def _row(name: str, s: dict[str, float]) -> str:
    return (
        f"{name:22}{s['precision']:>10.3f}{s['recall']:>9.3f}{s['false_hit_rate']:>16.3f}"
        f"{int(s['hits']):>7}{int(s['false_hits']):>12}"
    )


def render(result: dict[str, Any], path: str) -> str:
    c, v = result["cosine"], result["verified"]
    lines = [
        f"semantic evaluation: {path}  rows={result['rows']} "
        f"(label 1: {result['positives']}, label 0: {result['negatives']})",
        f"embedder all-MiniLM-L6-v2 (local), Qdrant in memory, threshold {result['threshold']}",
        "",
        f"{'':22}{'precision':>10}{'recall':>9}{'false-hit rate':>16}{'hits':>7}{'false hits':>12}",
        _row("cosine alone", c),
        _row("cosine + verifier", v),
        "",
        "verifier rejections (a candidate may have several reasons): "
        + (", ".join(f"{k} {n}" for k, n in result["rejections"].items()) or "none"),
        f"{result['seconds']} s in all, {result['ms_per_lookup']} ms per lookup (embedding cached, search, verify)",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llmcache.semantic.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("path", type=Path, help="JSON lines with a, b, label")
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="cosine threshold (default: SEMANTIC_THRESHOLD or the settings default)",
    )
    parser.add_argument("--limit", type=int, default=None, help="score only the first N rows")
    args = parser.parse_args(argv)
    rows = load_rows(args.path)[: args.limit]
    threshold = args.threshold if args.threshold is not None else default_threshold()
    try:
        result = evaluate(rows, threshold)
    except SemanticUnavailable as exc:
        print(f"semantic path unavailable: {exc}", file=sys.stderr)
        return 2
    print(render(result, str(args.path)))
    v = result["verified"]
    last = {
        "precision": v["precision"],
        "recall": v["recall"],
        "false_hit_rate": v["false_hit_rate"],
        "threshold": result["threshold"],
        "rows": result["rows"],
        "seconds": result["seconds"],
        "cosine": {k: result["cosine"][k] for k in ("precision", "recall", "false_hit_rate")},
    }
    print(json.dumps(last))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
