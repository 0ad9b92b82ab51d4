"""The decision after the cosine gate: hard vetoes, the ambiguity guard, then the trained pair model.

The cosine threshold (the matcher's gate) only says the two texts are near. Then, in this order:
1. the hard vetoes of `vetoes.py` (a number, date, version, name, direction, comparison or negation
   differs): a candidate they refuse is a miss, whatever the models say, and the pair model is not run;
2. the rules of `verifier.Verifier` listed in KEPT_RULES (the ambiguity guard: each kept rule lowers the
   dev sample's false hits, as `make eval-semantic` prints);
3. the pair model, a cross-encoder that reads the query and the cached text together
   (`onnx_models.OnnxPairModel`), must give at least `cut`.
Every rejection names its kind ("number differs", "ambiguous", "pair model"), so a miss explains itself
without quoting the prompt.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from llmcache.semantic.budget import DEFAULT_PAIR_CUT
from llmcache.semantic.verifier import Verdict, Verifier
from llmcache.semantic.vetoes import KINDS as VETO_KINDS
from llmcache.semantic.vetoes import vetoes

# The default operating point (threshold in settings, the cut here) comes from the measured curves shipped
# beside the models (`model/operating-points.json`, written by `make eval-semantic`); SEMANTIC_MAX_FALSE_HIT_RATE
# picks another point of the same curves (`semantic/budget.py`).
PAIR_CUT: float | None = DEFAULT_PAIR_CUT
PAIR_MODEL_CUT = DEFAULT_PAIR_CUT  # the cut when a caller asks the model without the shipped settings
KEPT_RULES: frozenset[str] = frozenset({"ambiguous"})
VETOES: frozenset[str] = frozenset(VETO_KINDS)
PAIR_REASON = "pair model"


def reason_kind(reason: str) -> str:
    """The kind of a rejection reason ("ambiguous: another entry is 0.9 close" -> "ambiguous"): what logs may show."""
    return reason.split(":", 1)[0]


@dataclass(frozen=True)
class Assessment:
    """Everything the decision looks at for one candidate (the evaluation re-decides from it offline)."""

    pair_score: float | None  # None when the pair model was not asked
    rule_kinds: frozenset[str]  # kinds of every rule of `Verifier` that objects, kept or not
    rule_reasons: tuple[str, ...]
    veto_kinds: tuple[str, ...] = ()  # every hard veto that objects, in `vetoes.KINDS` order


class PairVerifier:
    """Vetoes + kept rules + pair model, with the `Verifier.verify` interface the matcher calls."""

    def __init__(
        self,
        model: Any = None,
        cut: float | None = PAIR_CUT,
        rules: frozenset[str] = KEPT_RULES,
        rule_verifier: Verifier | None = None,
        vetoes: frozenset[str] = VETOES,
    ) -> None:
        if model is None and cut is not None:
            from llmcache.semantic.onnx_models import OnnxPairModel

            model = OnnxPairModel()
        self.model = model
        self.cut = cut
        self.rules = rules
        self.vetoes = vetoes
        self.rule_verifier = rule_verifier or Verifier()

    def assess(
        self,
        query: str,
        cached: str,
        similarity: float,
        runner_up: float | None = None,
        twin: float | None = None,
        score_pair: bool = True,
    ) -> Assessment:
        verdict = self.rule_verifier.verify(query, cached, similarity, runner_up=runner_up, twin=twin)
        asked = score_pair and self.cut is not None
        return Assessment(
            pair_score=self.model.score(query, cached) if asked else None,
            rule_kinds=frozenset(reason_kind(r) for r in verdict.reasons),
            rule_reasons=verdict.reasons,
            veto_kinds=vetoes(query, cached),
        )

    def decide(self, assessment: Assessment) -> Verdict:
        reasons = [k for k in assessment.veto_kinds if k in self.vetoes]
        reasons.extend(r for r in assessment.rule_reasons if reason_kind(r) in self.rules)
        score = assessment.pair_score
        if self.cut is not None and not reasons:
            if score is None:
                raise ValueError("the pair model was not asked")
            if score < self.cut:
                reasons.append(f"{PAIR_REASON}: {score:.3f} below {self.cut}")
        return Verdict(not reasons, tuple(reasons), score)

    def verify(
        self, query: str, cached: str, similarity: float, runner_up: float | None = None, twin: float | None = None
    ) -> Verdict:
        """A veto or a kept rule decides before the pair model runs (a miss then costs no model call)."""
        quick = self.assess(query, cached, similarity, runner_up=runner_up, twin=twin, score_pair=False)
        if self.cut is None or self._ruled_out(quick):
            return self.decide(quick)
        return self.decide(replace(quick, pair_score=self.model.score(query, cached)))

    def _ruled_out(self, assessment: Assessment) -> bool:
        return any(k in self.vetoes for k in assessment.veto_kinds) or any(
            reason_kind(r) in self.rules for r in assessment.rule_reasons
        )
