"""The verifier: second opinion on a nearest neighbour before its answer is served.

Embedding similarity alone confuses questions that share their words but not their meaning
("watches under $250" / "under $200", "Why is X humble?" / "Is X humble?"), and it cannot tell which of
two near-twin cached questions was meant. A candidate that clears the cosine threshold is served only if
every guard below passes; each guard is a plain rule with a reason, so a rejection explains itself (by its
kind and measured figures only, never the prompt's words: reasons reach DEBUG logs):

- ambiguous: another cached entry of the partition is almost as close to the query (runner-up gap), or
  the candidate has a near-twin in the partition that the query is not clearly closer to it than
  (twin margin). In a dense neighbourhood one threshold is not enough to tell questions apart.
- numbers differ: the two texts do not carry the same numbers (250 vs 200, "seven" = 7, "III" = 3).
- negation differs: one text negates ("not", "never", "n't", "without"), the other does not.
- names differ: a capitalised name or acronym on one side is not on the other, spelt the same.
- question type differs: one asks "why", the other does not.

The constants were chosen by measurement on shared/data/semantic (see docs/semantic.md); they are few on
purpose, and each stands for a general rule, not a quirk of those rows. Pure Python: ~20 µs per pair.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from llmcache.semantic.vetoes import stem as _stem

# Guards' constants (measured; see docs/semantic.md, "How the defaults were chosen").
MIN_RUNNER_UP_GAP = 0.05  # best similarity minus second best
MIN_TWIN_MARGIN = 0.10  # best similarity minus the candidate's similarity to its nearest cached twin

_STOP_WORDS = (
    "a an the of to in on for at by with from as into about over under between and or but if then so than "
    "that this these those is are was were be been being am do does did doing have has had having i me my "
    "mine we us our you your he him his she her it its they them their what which who whom whose why how "
    "when where there here can could should would will shall may might must get got any some much many more "
    "most very just also too only own same such other else ever one ones thing things way ways really best "
    "good better someone something anyone anything people person please tell know"
)
_STOP = frozenset(_STOP_WORDS.split())
_NEGATIONS = frozenset(["not", "no", "never", "none", "nobody", "nothing", "neither", "nor", "cannot", "without"])
_NEG_CONTRACTION = re.compile(r"n[\u2019']t\b", re.IGNORECASE)
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+(?:[\u2019'][^\W\d_]+)?")
_WORD_SPAN = re.compile(r"\S+")
_EDGE_PUNCT = re.compile(r"^[^\w]+|[^\w]+$")
_NUMBER_WORDS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "twenty": "20", "thirty": "30",
    "hundred": "100", "thousand": "1000", "million": "1000000", "billion": "1000000000",
    "ii": "2", "iii": "3", "iv": "4", "first": "1st", "second": "2nd", "third": "3rd",
}  # fmt: skip
_QUESTION_WORDS = ("why", "how", "what", "when", "where", "who", "which")


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    reasons: tuple[str, ...] = ()
    pair_score: float | None = None  # the pair model's probability, when it was asked


@dataclass(frozen=True)
class _Text:
    content: frozenset[str]
    names: frozenset[str]
    numbers: frozenset[str]
    negated: bool
    question: str


def _norm(word: str) -> str:
    word = word.lower().replace("\u2019", "'")
    return word.split("'", 1)[0] if "'" in word else word


def _number(token: str) -> str | None:
    plain = token.replace(",", "")
    if plain.replace(".", "", 1).isdigit():
        return plain
    return _NUMBER_WORDS.get(token)


@lru_cache(maxsize=4096)
def analyse(text: str) -> _Text:
    tokens = [_norm(t) for t in _TOKEN.findall(text)]
    numbers = frozenset(n for n in (_number(t) for t in tokens) if n is not None)
    negated = bool(_NEG_CONTRACTION.search(text)) or any(t in _NEGATIONS for t in tokens)
    names = set()
    sentence_start = True
    for span in _WORD_SPAN.findall(text):
        core = _EDGE_PUNCT.sub("", span)
        if core and core[0].isalpha():
            capitalised = core[0].isupper() and not sentence_start
            acronym = len(core) > 1 and core.isupper()
            if capitalised or acronym:
                names.add(_stem(_norm(core)))
        sentence_start = span.endswith(("?", ".", "!", ":"))
    content = frozenset(
        _stem(t) for t in tokens if len(t) > 1 and t not in _STOP and t not in _NEGATIONS and _number(t) is None
    )
    question = next((t for t in tokens[:8] if t in _QUESTION_WORDS), "yes/no")
    return _Text(content, frozenset(names), numbers, negated, question)


def _names_differ(q: _Text, c: _Text) -> bool:
    """A name on one side that the other side does not carry exactly (up to a plural or possessive ending).

    Names get no typo tolerance: Raman/Ramaswamy, Anderson/Andersen and Gonzalez/Gonzales are different
    people, and one letter is all that tells them apart."""
    return bool(((q.content - c.content) & q.names) or ((c.content - q.content) & c.names))


class Verifier:
    """Accepts or rejects a (query, cached) pair that already cleared the cosine threshold."""

    def __init__(self, min_runner_up_gap: float = MIN_RUNNER_UP_GAP, min_twin_margin: float = MIN_TWIN_MARGIN) -> None:
        self.min_runner_up_gap = min_runner_up_gap
        self.min_twin_margin = min_twin_margin

    def verify(
        self,
        query: str,
        cached: str,
        similarity: float,
        runner_up: float | None = None,
        twin: float | None = None,
    ) -> Verdict:
        """`runner_up`: the query's similarity to the second-best entry; `twin`: the candidate's
        similarity to its nearest other entry of the partition (None when there is none)."""
        reasons = []
        if runner_up is not None and similarity - runner_up < self.min_runner_up_gap:
            reasons.append(f"ambiguous: another entry is {runner_up:.3f} close")
        if twin is not None and similarity - twin < self.min_twin_margin:
            reasons.append(f"ambiguous: the entry has a near-twin at {twin:.3f}")
        q, c = analyse(query), analyse(cached)
        if q.numbers != c.numbers:
            reasons.append("numbers differ")
        if q.negated != c.negated:
            reasons.append("negation differs")
        if _names_differ(q, c):
            reasons.append("names differ")
        if (q.question == "why") != (c.question == "why"):
            reasons.append("question type differs: why")
        return Verdict(not reasons, tuple(reasons))
