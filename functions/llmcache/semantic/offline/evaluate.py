"""Score the whole semantic path on labelled pairs: `python -m llmcache.semantic.offline.evaluate PATH`.

PATH is JSON lines, `{"a": cached prompt, "b": new prompt, "label": 1|0}` (shared/data/semantic/README.md).
Every distinct `a` is remembered as a cached entry of one partition (its exact key: the SHA-256 of its
text, as the cache would give identical prompts one key); every `b` is asked. A hit is correct when it is
the row's own `a` and the label is 1, or when the served text is the same question as `b` (or, label 1,
as the row's own `a`) after folding case, runs of spaces and trailing `?.!`; any other hit is false.

Three decisions on the same rows and the same nearest neighbours, side by side: cosine alone, cosine +
the rule verifier (the previous default) and the shipped path (cosine gate, the pair model, the rules
kept). Then each at a range of thresholds, the pair model's cut-off, the rules' ablation, the time per
lookup with the embedding not cached, and as the LAST line one JSON object: precision, recall,
false_hit_rate, threshold, rows, seconds of the shipped path (the others under "cosine" and "rules").
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmcache.semantic.errors import SemanticUnavailable
from llmcache.semantic.pair_verifier import KEPT_RULES, PAIR_CUT, PAIR_MODEL_CUT, PAIR_REASON, VETOES

PARTITION = hashlib.sha256(b"llmcache-eval").hexdigest()
RULE_KINDS = ("ambiguous", "numbers differ", "negation differs", "names differ", "question type differs")
# Held-out estimate: the threshold and the pair cut-off are chosen on k-1 folds (the most precise pair
# whose recall there reaches TARGET_RECALL), then scored on the fold left out.
THRESHOLD_GRID = tuple(round(0.70 + 0.02 * i, 2) for i in range(14))
CUT_GRID = (0.3, 0.4, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
TARGET_RECALL = 0.40
SWEEP_GRID = THRESHOLD_GRID
MIN_THRESHOLD = min(THRESHOLD_GRID)
PAIR_BATCH = 64
TIMED_LOOKUPS = 200  # lookups timed end to end with the embedding not cached
_FOLD_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """The same question: equal after folding case, runs of spaces and trailing `?`, `.`, `!`."""
    return _FOLD_SPACES.sub(" ", text.lower()).strip().rstrip("?.! ").strip()


def key_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_rows(path: Path) -> list[dict[str, Any]]:
    """`{"a", "b", "label"}` rows (a `kind` kept when present); STS-B's `score` rows become labels."""
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if "label" not in row and "score" in row:  # STS-B: >= 4 the same question, < 3 another one
                    score = float(row["score"])
                    if 3 <= score < 4:
                        continue
                    row["label"] = int(score >= 4)
                kept = {"a": str(row["a"]), "b": str(row["b"]), "label": int(row["label"])}
                rows.append(kept | ({"kind": str(row["kind"])} if "kind" in row else {}))
            except (ValueError, KeyError, TypeError) as exc:
                raise SystemExit(f"{path}:{number}: not a {{'a', 'b', 'label'}} row ({exc})") from exc
    if not rows:
        raise SystemExit(f"{path}: no rows")
    return rows


@dataclass(frozen=True)
class Observation:
    """What one asked row saw: enough to re-decide it offline at any threshold, cut-off or rule set."""

    label: int
    correct: bool  # serving the nearest entry would be correct (scoring rule above)
    similarity: float | None  # of the nearest entry (None: the partition was empty)
    rule_kinds: frozenset[str] = frozenset()  # the rule verifier's objections to the nearest entry
    pair_score: float = 1.0  # the pair model's probability for (query, nearest entry)
    other_entry: bool = False  # the nearest entry is another row's `a`
    veto_kinds: frozenset[str] = frozenset()  # the hard vetoes' objections (`semantic/vetoes.py`)
    kind: str = ""  # the row's own kind (hard negatives: number, entity, ...), for false hits by kind
    query: str = ""  # the asked `b` and the nearest entry's text: the vetoes can be re-read from them
    nearest: str = ""


@dataclass(frozen=True)
class Method:
    """One decision: cosine gate, the hard vetoes, a set of rules (None: all of them), the pair model."""

    name: str
    pair_cut: float | None = None
    rules: frozenset[str] | None = frozenset()
    vetoes: frozenset[str] = frozenset()

    def accepts(self, o: Observation, threshold: float) -> bool:
        if o.similarity is None or o.similarity < threshold:
            return False
        if o.veto_kinds & self.vetoes:
            return False
        if self.pair_cut is not None and o.pair_score < self.pair_cut:
            return False
        return not (o.rule_kinds if self.rules is None else o.rule_kinds & self.rules)


COSINE = Method("cosine alone")
RULES = Method("cosine + rules (old)", rules=None)


def shipped(
    cut: float | None = PAIR_CUT, rules: frozenset[str] = KEPT_RULES, vetoes: frozenset[str] = VETOES
) -> Method:
    """The path the gateway runs: vetoes, kept rules, the pair model (only when PAIR_CUT is set)."""
    return Method("this release", pair_cut=cut, rules=rules, vetoes=vetoes)


PAIR = Method(f"cosine + pair model ({PAIR_MODEL_CUT})", pair_cut=PAIR_MODEL_CUT, rules=KEPT_RULES)
# The release before the hard vetoes (threshold 0.88, pair cut 0.8, rules: ambiguous and the old negation rule)
PREVIOUS = Method("previous release", pair_cut=0.8, rules=frozenset({"ambiguous", "negation differs"}))
PREVIOUS_THRESHOLD = 0.88


def score(observations: Sequence[Observation], method: Method, threshold: float) -> dict[str, Any]:
    """Precision, recall and false-hit rate of `method` at `threshold`."""
    hits = correct = correct_positive = false_negative = other = 0
    by_kind: Counter[str] = Counter()
    for o in observations:
        if not method.accepts(o, threshold):
            continue
        hits += 1
        correct += int(o.correct)
        if not o.correct and o.kind:
            by_kind[o.kind] += 1
        correct_positive += int(o.correct and o.label == 1)
        false_negative += int(not o.correct and o.label == 0)
        other += int(not o.correct and o.other_entry)
    positives = sum(o.label for o in observations)
    negatives = len(observations) - positives
    return {
        "precision": round(correct / hits, 4) if hits else 1.0,
        "recall": round(correct_positive / positives, 4) if positives else 0.0,
        "false_hit_rate": round(false_negative / negatives, 4) if negatives else 0.0,
        "hits": hits,
        "false_hits": hits - correct,
        "false_hits_on_other_entries": other,
        "false_hits_by_kind": dict(sorted(by_kind.items())),
    }


def sweep(
    observations: Sequence[Observation], methods: Sequence[Method], grid: Sequence[float] = SWEEP_GRID
) -> list[dict[str, Any]]:
    """Each method's precision and recall at each threshold of `grid`."""
    return [{"threshold": t, **{m.name: score(observations, m, t) for m in methods}} for t in grid]


def cross_validate(
    observations: Sequence[Observation],
    folds: int = 5,
    seed: int = 0,
    grid: Sequence[float] = THRESHOLD_GRID,
    cuts: Sequence[float | None] = (None, *CUT_GRID),
    rules: frozenset[str] = KEPT_RULES,
) -> dict[str, Any]:
    """k-fold held-out precision/recall of the shipped path: threshold and cut chosen on the other folds."""
    import random

    order = list(range(len(observations)))
    random.Random(seed).shuffle(order)
    fold_of = {row: i % folds for i, row in enumerate(order)}
    precisions, recalls, chosen = [], [], []
    for k in range(folds):
        train = [o for i, o in enumerate(observations) if fold_of[i] != k]
        test = [o for i, o in enumerate(observations) if fold_of[i] == k]
        best: tuple[float, float, float | None] | None = None
        for threshold in grid:
            for cut in cuts:
                s = score(train, shipped(cut, rules), threshold)
                if s["recall"] >= TARGET_RECALL and (best is None or s["precision"] > best[0]):
                    best = (s["precision"], threshold, cut)
        threshold, cut = (best[1], best[2]) if best is not None else (min(grid), None)
        s = score(test, shipped(cut, rules), threshold)
        precisions.append(s["precision"])
        recalls.append(s["recall"])
        chosen.append((threshold, cut))

    def mean_sd(values: list[float]) -> tuple[float, float]:
        return round(statistics.fmean(values), 4), round(statistics.pstdev(values), 4)

    (p, p_sd), (r, r_sd) = mean_sd(precisions), mean_sd(recalls)
    return {"folds": folds, "precision": p, "precision_sd": p_sd, "recall": r, "recall_sd": r_sd, "chosen": chosen}


def ablation(
    observations: Sequence[Observation], threshold: float, cut: float | None = PAIR_CUT
) -> list[dict[str, Any]]:
    """The shipped path with each rule toggled (a kept rule removed, a dropped rule added), each veto removed."""
    table = [{"rule": "(as shipped)", "kept": None, **score(observations, shipped(cut), threshold)}]
    for kind in RULE_KINDS:
        kept = kind in KEPT_RULES
        rules = KEPT_RULES - {kind} if kept else KEPT_RULES | {kind}
        table.append({"rule": kind, "kept": kept, **score(observations, shipped(cut, rules), threshold)})
    for kind in sorted(VETOES):
        without = shipped(cut, KEPT_RULES, VETOES - {kind})
        table.append({"rule": f"veto: {kind}", "kept": True, **score(observations, without, threshold)})
    return table


def default_threshold() -> float:
    from llmcache.settings import Settings

    return Settings.from_env().semantic_threshold


def observe(rows: Sequence[dict[str, Any]], matcher: Any, pair_model: Any, now: float) -> list[Observation]:
    """Ask every `b`, keep what every decision needs about its nearest entry.

    The pair model reads only the pairs whose cosine reaches the lowest threshold any table uses
    (below it no decision serves them), in batches."""
    from llmcache.semantic.pair_verifier import reason_kind
    from llmcache.semantic.verifier import Verifier
    from llmcache.semantic.vetoes import vetoes

    rules = Verifier()
    seen: list[tuple[dict[str, Any], Any, frozenset[str]]] = []
    for row in rows:
        decision = matcher.decide(PARTITION, row["b"], 2.0, now, verify=False)  # nearest, whatever its cosine
        best = decision.best
        if best is None:
            seen.append((row, None, frozenset()))
            continue
        verdict = rules.verify(row["b"], best.text, best.score, runner_up=decision.runner_up, twin=decision.twin)
        seen.append((row, best, frozenset(reason_kind(r) for r in verdict.reasons)))
    asked = [(row["b"], best.text) for row, best, _ in seen if best is not None and best.score >= MIN_THRESHOLD]
    found: list[float] = []
    for start in range(0, len(asked), PAIR_BATCH):
        found.extend(pair_model.scores(asked[start : start + PAIR_BATCH]))
    scores = iter(found)
    observations = []
    for row, best, kinds in seen:
        if best is None:
            observations.append(Observation(row["label"], False, None, kind=row.get("kind", "")))
            continue
        own = best.key == key_of(row["a"])
        same = fold(best.text) == fold(row["b"]) or (row["label"] == 1 and fold(best.text) == fold(row["a"]))
        correct = (own and row["label"] == 1) or same
        pair = next(scores) if best.score >= MIN_THRESHOLD else 0.0
        observations.append(
            Observation(
                row["label"],
                correct,
                best.score,
                kinds,
                pair,
                not own,
                frozenset(vetoes(row["b"], best.text)),
                row.get("kind", ""),
                row["b"],
                best.text,
            )
        )
    return observations


def time_lookups(matcher: Any, queries: Sequence[str], threshold: float, now: float) -> dict[str, float]:
    """Milliseconds per lookup, end to end (embed, search, pair model, rules), the embedding not cached."""
    timings = []
    for query in queries:
        started = time.perf_counter()
        matcher.decide(PARTITION, query, threshold, now)
        timings.append(1000 * (time.perf_counter() - started))
    if not timings:
        return {"lookups": 0, "p50_ms": 0.0, "mean_ms": 0.0}
    return {
        "lookups": len(timings),
        "p50_ms": round(statistics.median(timings), 2),
        "mean_ms": round(statistics.fmean(timings), 2),
    }


def observe_rows(
    rows: Sequence[dict[str, Any]], matcher: Any = None, pair_model: Any = None
) -> tuple[list[Observation], Any, Any, float]:
    """Index every `a` (one partition), ask every `b`: the observations, the matcher, the pair model, `now`.

    Defaults: the local embedder, the in-process exact index and the shipped pair model."""
    from llmcache.semantic.embedders import CachingEmbedder, LocalEmbedder
    from llmcache.semantic.exact_index import ExactIndex
    from llmcache.semantic.matcher import DefaultSemanticMatcher

    texts = list(dict.fromkeys([r["a"] for r in rows] + [r["b"] for r in rows]))
    if matcher is None:
        matcher = DefaultSemanticMatcher(CachingEmbedder(LocalEmbedder(), max_entries=len(texts) + 16), ExactIndex())
    if pair_model is None:
        from llmcache.semantic.onnx_models import OnnxPairModel

        pair_model = OnnxPairModel()
    for start in range(0, len(texts), 256):  # batch-embed once; the scored lookups hit the embedder's cache
        matcher.vectors(PARTITION, texts[start : start + 256])
    now = time.time()
    for text in dict.fromkeys(r["a"] for r in rows):
        matcher.remember(PARTITION, text, key_of(text), now + 3600)
    return observe(rows, matcher, pair_model, now), matcher, pair_model, now


def evaluate(
    rows: Sequence[dict[str, Any]],
    threshold: float,
    matcher: Any = None,
    pair_model: Any = None,
    folds: int = 5,
    timed: int = TIMED_LOOKUPS,
) -> dict[str, Any]:
    """Score `rows` (see `observe_rows` for the defaults).

    `folds` > 1 adds a k-fold held-out estimate under "held_out" (0 or 1: none); `timed` lookups are timed
    with an embedder that caches nothing (0: none)."""
    from llmcache.semantic.matcher import DefaultSemanticMatcher
    from llmcache.semantic.pair_verifier import PairVerifier

    started = time.perf_counter()
    observations, matcher, pair_model, now = observe_rows(rows, matcher, pair_model)
    timing = {"lookups": 0, "p50_ms": 0.0, "mean_ms": 0.0}
    if timed:
        inner = getattr(matcher.embedder, "inner", matcher.embedder)  # the embedder without its cache
        uncached = DefaultSemanticMatcher(inner, matcher.index, PairVerifier(model=pair_model))
        timing = time_lookups(uncached, [r["b"] for r in rows[:timed]], threshold, now)
    new = shipped()
    rejections: Counter[str] = Counter()
    for o in observations:
        if o.similarity is not None and o.similarity >= threshold:
            rejections.update(o.veto_kinds & VETOES)
            rejections.update(o.rule_kinds & KEPT_RULES)
            if PAIR_CUT is not None and o.pair_score < PAIR_CUT:
                rejections[PAIR_REASON] += 1
    positives = sum(1 for r in rows if r["label"] == 1)
    methods = {m.name: score(observations, m, threshold) for m in (COSINE, RULES, PAIR, new)}
    return {
        "methods": {PREVIOUS.name: score(observations, PREVIOUS, PREVIOUS_THRESHOLD)} | methods,
        "shipped": new.name,
        "held_out": cross_validate(observations, folds) if folds > 1 else None,
        "sweep": sweep(observations, (COSINE, RULES, PREVIOUS, new)),
        "cuts": [{"cut": c, **score(observations, shipped(c), threshold)} for c in CUT_GRID],
        "ablation": ablation(observations, threshold),
        "rejections": dict(rejections.most_common()),
        "threshold": threshold,
        "embedder": getattr(matcher.embedder, "name", type(matcher.embedder).__name__),
        "pair_cut": PAIR_CUT,
        "kept_rules": sorted(KEPT_RULES),
        "rows": len(rows),
        "positives": positives,
        "negatives": len(rows) - positives,
        "timing": timing,
        "seconds": round(time.perf_counter() - started, 2),
    }


def operating_points(observations: Sequence[Observation]) -> list[dict[str, Any]]:
    """The shipped decision (vetoes, kept rules, pair model) at every threshold and pair cut of the grids."""
    return [
        {"threshold": t, "pair_cut": c, **{k: v for k, v in score(observations, shipped(c), t).items() if k in _CURVE}}
        for t in THRESHOLD_GRID
        for c in CUT_GRID
    ]


_CURVE = ("precision", "recall", "false_hit_rate", "hits", "false_hits")


def _line(name: str, s: dict[str, Any]) -> str:
    return (
        f"{name:30}{s['precision']:>10.3f}{s['recall']:>9.3f}{s['false_hit_rate']:>16.3f}"
        f"{int(s['hits']):>7}{int(s['false_hits']):>12}"
    )


def render(result: dict[str, Any], path: str) -> str:
    methods = result["methods"]
    names = list(methods)
    t = result["timing"]
    pair = "not asked" if result["pair_cut"] is None else f"cut {result['pair_cut']}"
    lines = [
        f"semantic evaluation: {path}  rows={result['rows']} "
        f"(label 1: {result['positives']}, label 0: {result['negatives']})",
        f"embedder {result['embedder']} (ONNX, local), exact in-process index, threshold {result['threshold']}, "
        f"pair model {pair}, rules kept: {', '.join(result['kept_rules']) or 'none'}",
        "a hit is correct on its own row's `a` with label 1, or on the same question after folding",
        "",
        f"{'':30}{'precision':>10}{'recall':>9}{'false-hit rate':>16}{'hits':>7}{'false hits':>12}",
        *(_line(name, s) for name, s in methods.items()),
        "",
    ]
    if h := result.get("held_out"):
        chosen = ", ".join(f"{t}/{c if c is not None else '-'}" for t, c in h["chosen"])
        lines.append(
            f"held-out estimate of the shipped path ({h['folds']}-fold, threshold/cut chosen on the other folds: "
            f"{chosen}): precision {h['precision']:.3f} +/- {h['precision_sd']:.3f}, recall {h['recall']:.3f} "
            f"+/- {h['recall_sd']:.3f}"
        )
        lines.append("")
    names = [n for n in result["sweep"][0] if n != "threshold"]
    lines += [
        "by threshold (the pair cut and the rules stay as shipped):",
        f"{'threshold':>10}" + "".join(f"{n:>28}" for n in names),
        f"{'':>10}" + "".join(f"{'P      R   hits':>28}" for _ in names),
    ]
    for row in result["sweep"]:
        cells = "".join(f"{row[n]['precision']:>14.3f}{row[n]['recall']:>7.3f}{int(row[n]['hits']):>5}" for n in names)
        lines.append(f"{row['threshold']:>10.2f}{cells}")
    lines += [
        "",
        f"pair model cut, with the kept rules, at threshold {result['threshold']}:",
        f"{'cut':>10}{'P':>10}{'R':>8}{'hits':>6}",
    ]
    lines += [f"{c['cut']:>10.2f}{c['precision']:>10.3f}{c['recall']:>8.3f}{int(c['hits']):>6}" for c in result["cuts"]]
    lines += ["", "rules, each toggled on the shipped path (kept: removed; dropped: added):"]
    for a in result["ablation"]:
        state = "" if a["kept"] is None else ("kept, without it" if a["kept"] else "dropped, with it")
        lines.append(f"{a['rule']:24}{state:18}P {a['precision']:.3f}  R {a['recall']:.3f}  hits {a['hits']}")
    lines += [
        "",
        "rejections on the shipped path above the threshold (a candidate may have several): "
        + (", ".join(f"{k} {n}" for k, n in result["rejections"].items()) or "none"),
        f"lookup, embedding not cached (embed + search + the shipped decision, one thread): p50 {t['p50_ms']} ms, "
        f"mean {t['mean_ms']} ms over {t['lookups']} lookups; {result['seconds']} s in all",
    ]
    return "\n".join(lines)


# the shared labelled files: beside the checkout (as `make eval-semantic` expects), or where SEMANTIC_DATA_DIR says
SHARED_DATA = Path(os.environ.get("SEMANTIC_DATA_DIR", "../shared/data/semantic"))
OFFLINE_DATA = Path(__file__).resolve().parent / "data"
# every labelled file, and the answer-changing edits: (name, path, rows: None = all, else a seeded sample of that
# many, the "held-back part" the data's README speaks of); the first one gives the shipped curves
SUITE: tuple[tuple[str, Path, int | None], ...] = (
    ("qqp_dev_sample", SHARED_DATA / "qqp_dev_sample.jsonl", None),
    ("mrpc_train (1,000 held back)", SHARED_DATA / "mrpc_train.jsonl", 1000),
    ("stsb_train (1,000; >=4 / <3)", SHARED_DATA / "stsb_train.jsonl", 1000),
    ("gptcache_mock_pairs", SHARED_DATA / "gptcache_mock_pairs.jsonl", None),
    ("hard negatives, dev", OFFLINE_DATA / "hard_negatives_dev.jsonl", None),
    ("hand-written pairs", OFFLINE_DATA / "hand_written.jsonl", None),
)
SAMPLE_SEED = 23
CURVES_FILE = Path(__file__).resolve().parent.parent / "model" / "operating-points.json"


def _cached_observations(rows: list[dict[str, Any]], pair_model: Any, cache: Path | None) -> list[Observation]:
    """The observations of `rows`, kept in `cache` (a directory) under a hash of the rows and the model files:
    a new operating point or veto is re-scored in seconds; new models or rows are observed again."""
    if cache is None:
        return observe_rows(rows, pair_model=pair_model)[0]
    from llmcache.semantic.onnx_models import MODEL_DIR

    digest = hashlib.sha256(json.dumps(rows, sort_keys=True).encode())
    for model_file in sorted(MODEL_DIR.glob("*.onnx")):
        digest.update(model_file.read_bytes())
    path = cache / f"{digest.hexdigest()[:24]}.json"
    if path.is_file():
        saved = json.loads(path.read_text())
    else:
        observed = observe_rows(rows, pair_model=pair_model)[0]
        saved = [dataclasses.asdict(o) | {"rule_kinds": sorted(o.rule_kinds)} for o in observed]
        for o in saved:
            o["veto_kinds"] = sorted(o["veto_kinds"])
        cache.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(saved))
    # the vetoes are read again from the two texts (microseconds): a changed veto needs no new observation
    from llmcache.semantic.vetoes import vetoes

    def veto_kinds(o: dict[str, Any]) -> frozenset[str]:
        return frozenset(vetoes(o["query"], o["nearest"])) if o["nearest"] else frozenset()

    return [Observation(**(o | {"rule_kinds": frozenset(o["rule_kinds"]), "veto_kinds": veto_kinds(o)})) for o in saved]


def suite(
    threshold: float,
    files: Sequence[tuple[str, Path, int | None]] = SUITE,
    limit: int | None = None,
    cache: Path | None = None,
) -> dict[str, Any]:
    """Every file of `files` scored by the previous release and this one, side by side; the curves of the first."""
    from llmcache.semantic.onnx_models import OnnxPairModel

    pair_model = OnnxPairModel()
    results: dict[str, Any] = {}
    curves: list[dict[str, Any]] = []
    import random

    for n, (name, path, sample) in enumerate(files):
        rows = load_rows(path)
        if sample is not None and sample < len(rows):
            rows = random.Random(SAMPLE_SEED).sample(rows, sample)
        rows = rows[:limit]
        started = time.perf_counter()
        observations = _cached_observations(rows, pair_model, cache)
        print(f"{name}: {len(rows)} rows observed in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        results[name] = {
            "rows": len(rows),
            "previous": score(observations, PREVIOUS, PREVIOUS_THRESHOLD),
            "this": score(observations, shipped(), threshold),
        }
        if n == 0:
            curves = operating_points(observations)
    return {
        "files": results,
        "threshold": threshold,
        "pair_cut": PAIR_CUT,
        "curves": curves,
        "curves_from": files[0][0],
    }


def render_suite(result: dict[str, Any]) -> str:
    head = f"{'P':>7}{'R':>7}{'FHR':>7}{'hits':>6}{'false':>6}"
    lines = [
        f"semantic evaluation, every file: previous release (threshold {PREVIOUS_THRESHOLD}, pair cut "
        f"{PREVIOUS.pair_cut}, rules ambiguous + negation) vs this release (threshold {result['threshold']}, "
        f"pair cut {result['pair_cut']}, vetoes {len(VETOES)} kinds + ambiguous)",
        "P precision, R recall, FHR false hits on label-0 rows / label-0 rows; a hit is correct on its own row's "
        "`a` with label 1, or on the same question after folding",
        "",
        f"{'file':30}{'rows':>6} | {'previous release':^33} | {'this release':^33}",
        f"{'':36} | {head} | {head}",
    ]

    def cells(s: dict[str, Any]) -> str:
        return (
            f"{s['precision']:>7.3f}{s['recall']:>7.3f}{s['false_hit_rate']:>7.3f}"
            f"{int(s['hits']):>6}{int(s['false_hits']):>6}"
        )

    for name, r in result["files"].items():
        lines.append(f"{name:30}{r['rows']:>6} | {cells(r['previous'])} | {cells(r['this'])}")
    lines += ["", "false hits by kind (rows that carry a kind):"]
    for name, r in result["files"].items():
        prev, this = r["previous"]["false_hits_by_kind"], r["this"]["false_hits_by_kind"]
        if prev or this or name.startswith(("hard", "hand")):
            fmt = lambda d: ", ".join(f"{k} {v}" for k, v in d.items()) or "none"  # noqa: E731
            lines.append(f"  {name}: previous {fmt(prev)}; this {fmt(this)}")
    return "\n".join(lines)


def write_curves(result: dict[str, Any], path: Path = CURVES_FILE) -> None:
    """The measured curves the gateway picks its operating point from (SEMANTIC_MAX_FALSE_HIT_RATE)."""
    from llmcache.semantic.embedders import LOCAL_MODEL

    document = {
        "model": LOCAL_MODEL,
        "measured_on": result["curves_from"],
        "decision": f"cosine gate, hard vetoes ({len(VETOES)} kinds), ambiguous, pair model",
        "default": {"threshold": result["threshold"], "pair_cut": result["pair_cut"]},
        "points": result["curves"],
    }
    path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m llmcache.semantic.offline.evaluate", description=__doc__.split("\n")[0]
    )
    parser.add_argument("path", type=Path, nargs="?", help="JSON lines with a, b, label (default: every file)")
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="cosine threshold (default: SEMANTIC_THRESHOLD or the settings default)",
    )
    parser.add_argument("--limit", type=int, default=None, help="score only the first N rows")
    parser.add_argument("--folds", type=int, default=5, help="k for the held-out estimate (0: none)")
    parser.add_argument("--timed", type=int, default=TIMED_LOOKUPS, help="lookups timed uncached (0: none)")
    parser.add_argument(
        "--write-curves", action="store_true", help="every file: also rewrite model/operating-points.json"
    )
    parser.add_argument("--cache", type=Path, default=None, help="every file: keep observations in this directory")
    args = parser.parse_args(argv)
    threshold = args.threshold if args.threshold is not None else default_threshold()
    if args.path is None:
        try:
            result = suite(threshold, limit=args.limit, cache=args.cache)
        except SemanticUnavailable as exc:
            print(f"semantic path unavailable: {exc}", file=sys.stderr)
            return 2
        print(render_suite(result))
        if args.write_curves:
            write_curves(result)
        print(json.dumps({name: r["this"] for name, r in result["files"].items()}))
        return 0
    rows = load_rows(args.path)[: args.limit]
    try:
        result = evaluate(rows, threshold, folds=args.folds, timed=args.timed)
    except SemanticUnavailable as exc:
        print(f"semantic path unavailable: {exc}", file=sys.stderr)
        return 2
    print(render(result, str(args.path)))
    metrics = ("precision", "recall", "false_hit_rate")
    methods = result["methods"]
    last: dict[str, Any] = {k: methods[result["shipped"]][k] for k in metrics}
    last |= {"threshold": threshold, "pair_cut": result["pair_cut"], "rows": result["rows"]}
    last |= {"seconds": result["seconds"], "lookup_p50_ms": result["timing"]["p50_ms"]}
    last["cosine"] = {k: methods[COSINE.name][k] for k in metrics}
    last["rules"] = {k: methods[RULES.name][k] for k in metrics}
    if result["held_out"] is not None:
        last["held_out"] = {k: result["held_out"][k] for k in ("folds", "precision", "recall")}
    print(json.dumps(last))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
