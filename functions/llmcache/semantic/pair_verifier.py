"""The decision after the cosine gate: the trained pair model, then the rules that still earn their place.

The cosine threshold (the matcher's gate) only says the two texts are near; the pair model reads the
query and the cached text together and says whether the cached answer answers the query (a
cross-encoder trained on Quora's labelled pairs, `onnx_models.OnnxPairModel`). After it, only the rules
of `verifier.Verifier` listed in KEPT_RULES still apply: each one was kept because it adds precision on
the dev sample over the path without it (`make eval-semantic` prints that ablation). Every rejection
names its kind ("pair model", "numbers differ", ...), so a miss explains itself without quoting the prompt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llmcache.semantic.verifier import Verdict, Verifier

# Chosen on the dev sample with the cosine threshold (docs/semantic.md, "Measured precision and recall"):
# the most precise (threshold, cut, rules) with recall >= 0.40. The pair model earns its place: held out
# by 5 folds of the dev sample, precision 0.92 with it against 0.90 without, at recall 0.40. Of the rules,
# only those whose removal lowers the dev sample's precision on this path are kept; the others (numbers,
# names, question type) the pair model already decides as well (`make eval-semantic` prints the ablation).
PAIR_CUT: float | None = 0.8
PAIR_MODEL_CUT = 0.8  # the cut when a caller asks the model without the shipped settings
KEPT_RULES: frozenset[str] = frozenset({"ambiguous", "negation differs"})
PAIR_REASON = "pair model"


def reason_kind(reason: str) -> str:
    """The kind of a rejection reason ("names differ: x, y" -> "names differ"): what logs may show."""
    return reason.split(":", 1)[0]


@dataclass(frozen=True)
class Assessment:
    """Everything the decision looks at for one candidate (the evaluation re-decides from it offline)."""

    pair_score: float  # 1.0 when the pair model is not asked
    rule_kinds: frozenset[str]  # kinds of every rule of `Verifier` that objects, kept or not
    rule_reasons: tuple[str, ...]


class PairVerifier:
    """Pair model + kept rules, with the `Verifier.verify` interface the matcher calls."""

    def __init__(
        self,
        model: Any = None,
        cut: float | None = PAIR_CUT,
        rules: frozenset[str] = KEPT_RULES,
        rule_verifier: Verifier | None = None,
    ) -> None:
        if model is None and cut is not None:
            from llmcache.semantic.onnx_models import OnnxPairModel

            model = OnnxPairModel()
        self.model = model
        self.cut = cut
        self.rules = rules
        self.rule_verifier = rule_verifier or Verifier()

    def assess(
        self, query: str, cached: str, similarity: float, runner_up: float | None = None, twin: float | None = None
    ) -> Assessment:
        verdict = self.rule_verifier.verify(query, cached, similarity, runner_up=runner_up, twin=twin)
        return Assessment(
            pair_score=1.0 if self.cut is None else self.model.score(query, cached),
            rule_kinds=frozenset(reason_kind(r) for r in verdict.reasons),
            rule_reasons=verdict.reasons,
        )

    def decide(self, assessment: Assessment) -> Verdict:
        reasons = []
        if self.cut is not None and assessment.pair_score < self.cut:
            reasons.append(f"{PAIR_REASON}: {assessment.pair_score:.3f} below {self.cut}")
        reasons.extend(r for r in assessment.rule_reasons if reason_kind(r) in self.rules)
        return Verdict(not reasons, tuple(reasons))

    def verify(
        self, query: str, cached: str, similarity: float, runner_up: float | None = None, twin: float | None = None
    ) -> Verdict:
        return self.decide(self.assess(query, cached, similarity, runner_up=runner_up, twin=twin))
