"""Score the whole semantic path on labelled pairs: `python -m llmcache.semantic.evaluate PATH`.

PATH is JSON lines, `{"a": cached prompt, "b": new prompt, "label": 1|0}` (shared/data/semantic/README.md).
Every distinct `a` is remembered as a cached entry of one partition (its exact key: the SHA-256 of its
text, as the cache would give identical prompts one key); every `b` is asked. A hit on the row's own `a`
with label 1 is correct; any other hit is a false hit. The local embedder (all-MiniLM-L6-v2), an
in-memory Qdrant index, the verifier and the deployment's threshold are those the gateway runs.

Prints a table, cosine alone side by side with cosine + verifier, a k-fold held-out estimate (the threshold
chosen on k-1 folds, scored on the fold left out), both again at a range of thresholds, then as its LAST line
one JSON object: precision, recall, false_hit_rate, threshold, rows, seconds (the baseline's numbers under
"cosine", the estimate under "held_out").
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
# Held-out estimate: the threshold is chosen on k-1 folds from this grid (the most precise one whose recall
# on those folds reaches TARGET_RECALL), then scored on the fold left out. The verifier's margins stay fixed.
THRESHOLD_GRID = tuple(round(0.85 + 0.01 * i, 2) for i in range(10))
TARGET_RECALL = 0.35
# The precision/recall table printed beside the default threshold, for choosing one on your own pairs.
SWEEP_GRID = tuple(round(0.80 + 0.02 * i, 2) for i in range(9))


@dataclass
class Score:
    hits: int = 0
    correct: int = 0
    false_on_negatives: int = 0
    false_on_other_entries: int = 0  # hits on another row's `a` (may ask the same question: still false)
    rejections: Counter[str] = field(default_factory=Counter)

    def summary(self, positives: int, negatives: int) -> dict[str, float]:
        return {
            "precision": round(self.correct / self.hits, 4) if self.hits else 1.0,
            "recall": round(self.correct / positives, 4) if positives else 0.0,
            "false_hit_rate": round(self.false_on_negatives / negatives, 4) if negatives else 0.0,
            "hits": self.hits,
            "false_hits": self.hits - self.correct,
            "false_hits_on_other_entries": self.false_on_other_entries,
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


@dataclass(frozen=True)
class Observation:
    """What one asked row saw: enough to re-decide it offline at another threshold."""

    label: int
    own: bool  # the nearest entry is the row's own `a`
    similarity: float | None  # of the nearest entry (None: the partition was empty)
    accepted: bool  # the verifier's verdict on the nearest entry, whatever the threshold


def _precision_recall(
    observations: Sequence[Observation], threshold: float, verified: bool = True
) -> tuple[int, int, int]:
    """(hits, correct hits, label-1 rows) at `threshold`: cosine + verifier, or cosine alone."""
    hits = correct = 0
    for o in observations:
        if o.similarity is not None and o.similarity >= threshold and (o.accepted or not verified):
            hits += 1
            correct += int(o.own and o.label == 1)
    return hits, correct, sum(o.label for o in observations)


def sweep(observations: Sequence[Observation], grid: Sequence[float] = SWEEP_GRID) -> list[dict[str, float]]:
    """Precision and recall of cosine alone and of cosine + verifier at each threshold of `grid`."""
    table = []
    for threshold in grid:
        row: dict[str, float] = {"threshold": threshold}
        for name, verified in (("cosine", False), ("verified", True)):
            hits, correct, positives = _precision_recall(observations, threshold, verified)
            row[f"{name}_precision"] = round(correct / hits, 4) if hits else 1.0
            row[f"{name}_recall"] = round(correct / positives, 4) if positives else 0.0
            row[f"{name}_hits"] = hits
        table.append(row)
    return table


def cross_validate(
    observations: Sequence[Observation], folds: int = 5, seed: int = 0, grid: Sequence[float] = THRESHOLD_GRID
) -> dict[str, Any]:
    """k-fold held-out precision/recall: per fold, the threshold is chosen on the other folds only."""
    import random

    order = list(range(len(observations)))
    random.Random(seed).shuffle(order)
    fold_of = {row: i % folds for i, row in enumerate(order)}
    precisions, recalls, chosen = [], [], []
    for k in range(folds):
        train = [o for i, o in enumerate(observations) if fold_of[i] != k]
        test = [o for i, o in enumerate(observations) if fold_of[i] == k]
        best: tuple[float, float] | None = None
        for threshold in grid:
            hits, correct, positives = _precision_recall(train, threshold)
            precision = correct / hits if hits else 1.0
            if positives and correct / positives >= TARGET_RECALL and (best is None or precision > best[0]):
                best = (precision, threshold)
        threshold = best[1] if best is not None else min(grid)
        hits, correct, positives = _precision_recall(test, threshold)
        precisions.append(correct / hits if hits else 1.0)
        recalls.append(correct / positives if positives else 0.0)
        chosen.append(threshold)

    def mean_sd(values: list[float]) -> tuple[float, float]:
        mean = sum(values) / len(values)
        return round(mean, 4), round((sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5, 4)

    (p, p_sd), (r, r_sd) = mean_sd(precisions), mean_sd(recalls)
    return {"folds": folds, "precision": p, "precision_sd": p_sd, "recall": r, "recall_sd": r_sd, "thresholds": chosen}


def default_threshold() -> float:
    from llmcache.settings import Settings

    return Settings.from_env().semantic_threshold


def _observe(matcher: Any, row: dict[str, Any], decision: Any, own_key: str) -> Observation:
    """The nearest entry and the verifier's verdict on it, whether or not it cleared the threshold."""
    best = decision.best
    if best is None:
        return Observation(row["label"], False, None, False)
    verdict = decision.verdict or matcher.verifier.verify(
        row["b"], best.text, best.score, runner_up=decision.runner_up, twin=decision.twin
    )
    return Observation(row["label"], best.key == own_key, best.score, verdict.accepted)


def evaluate(rows: Sequence[dict[str, Any]], threshold: float, matcher: Any = None, folds: int = 5) -> dict[str, Any]:
    """Score `rows`; `matcher` defaults to the local embedder + in-memory Qdrant + verifier.

    `folds` > 1 adds a k-fold held-out estimate under "held_out" (0 or 1: none)."""
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
        matcher.vectors(PARTITION, texts[start : start + 256])
    now = time.time()
    expires = now + 3600
    for text in dict.fromkeys(r["a"] for r in rows):
        matcher.remember(PARTITION, text, key_of(text), expires)
    cosine, verified = Score(), Score()
    lookup_seconds = 0.0
    observations = []
    for row in rows:
        t0 = time.perf_counter()
        decision = matcher.decide(PARTITION, row["b"], threshold, now)
        lookup_seconds += time.perf_counter() - t0
        own = key_of(row["a"])
        best = decision.best
        observations.append(_observe(matcher, row, decision, own))
        for score, hit_key in (
            (cosine, best.key if best is not None and best.score >= threshold else None),
            (verified, decision.candidate.key if decision.candidate else None),
        ):
            if hit_key is None:
                continue
            score.hits += 1
            if hit_key == own and row["label"] == 1:
                score.correct += 1
                continue
            score.false_on_other_entries += int(hit_key != own)
            score.false_on_negatives += int(row["label"] == 0)
        if decision.verdict is not None and not decision.verdict.accepted:
            for reason in decision.verdict.reasons:
                verified.rejections[reason.split(":")[0]] += 1
    positives = sum(1 for r in rows if r["label"] == 1)
    negatives = len(rows) - positives
    return {
        "held_out": cross_validate(observations, folds) if folds > 1 else None,
        "sweep": sweep(observations),
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
        *(
            [
                f"held-out estimate ({h['folds']}-fold, threshold chosen on the other folds: "
                f"{', '.join(str(t) for t in h['thresholds'])}): precision {h['precision']:.3f} +/- "
                f"{h['precision_sd']:.3f}, recall {h['recall']:.3f} +/- {h['recall_sd']:.3f}",
            ]
            if (h := result.get("held_out"))
            else []
        ),
        f"false hits on another row's entry (a different cached text, sometimes the same question asked "
        f"again): cosine alone {c['false_hits_on_other_entries']} of {c['false_hits']}, with the verifier "
        f"{v['false_hits_on_other_entries']} of {v['false_hits']}",
        "",
        "by threshold (choose yours here; the verifier's margins stay fixed):",
        f"{'threshold':>10}{'cosine P':>10}{'R':>7}{'hits':>6}{'+ verifier P':>15}{'R':>7}{'hits':>6}",
        *(
            f"{r['threshold']:>10.2f}{r['cosine_precision']:>10.3f}{r['cosine_recall']:>7.3f}"
            f"{int(r['cosine_hits']):>6}{r['verified_precision']:>15.3f}{r['verified_recall']:>7.3f}"
            f"{int(r['verified_hits']):>6}"
            for r in result["sweep"]
        ),
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
    parser.add_argument("--folds", type=int, default=5, help="k for the held-out estimate (0: none)")
    args = parser.parse_args(argv)
    rows = load_rows(args.path)[: args.limit]
    threshold = args.threshold if args.threshold is not None else default_threshold()
    try:
        result = evaluate(rows, threshold, folds=args.folds)
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
    if result["held_out"] is not None:
        last["held_out"] = {k: result["held_out"][k] for k in ("folds", "precision", "recall")}
    print(json.dumps(last))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
