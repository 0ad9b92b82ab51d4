"""Answer-changing edits of real questions: `python -m llmcache.semantic.offline.hard_negatives [--out DIR]`.

Each row is `{"a": a Quora question, "b": the same question with ONE answer-changing edit, "label": 0,
"kind": ...}`; kinds: number (1500 -> 15000), date (a year, a month, a version), entity (a name replaced,
or changed into a near name: Raman -> Ramaswamy), direction (from X to Y -> from Y to X, X than Y),
comparison (a word replaced by its opposite: cheapest -> most expensive, ascending -> descending) and
negation (a "not" added or taken away). A cache that serves `a`'s answer for `b` answers a different
question.

The questions come from `qqp_train.jsonl.gz` (never from the rows reported on): TRAIN from the first
half of its rows, DEV from the second half, so the two parts share no source question. Deterministic:
the same data and seed give the same files. The edit lists below are written for this generator, apart
from the vetoes' own tables (`semantic/vetoes.py`), though the two naturally overlap: the DEV figures say
how often the whole path serves such an edit, the hand-written pairs (`data/hand_written.jsonl`) are the
fixture the tests hold it to.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
SHARED = Path("../shared/data/semantic")
TRAIN_FILE = "hard_negatives_train.jsonl"
DEV_FILE = "hard_negatives_dev.jsonl"
HAND_WRITTEN_FILE = "hand_written.jsonl"
KINDS = ("number", "date", "entity", "direction", "comparison", "negation")
PER_KIND = {"train": 300, "dev": 120}
SEED = 23

_OPPOSITE_PAIRS = (
    "more less|most least|higher lower|highest lowest|increase decrease|increasing decreasing|increased decreased|"
    "best worst|better worse|cheapest most_expensive|cheaper more_expensive|cheap expensive|ascending descending|"
    "maximum minimum|max min|above below|before after|largest smallest|biggest smallest|bigger smaller|"
    "fastest slowest|faster slower|easiest hardest|easier harder|advantages disadvantages|pros cons|buy sell|"
    "buying selling|with without|gain lose|rich poor|oldest youngest|older younger|first last|start stop|men women|"
    "male female|husband wife|hot cold|strong weak|long short|early late|good bad|love hate|legal illegal|"
    "possible impossible|happy sad|win lose|open close|north south|east west|positive negative|import export|"
    "upload download|enable disable|safe dangerous|healthy unhealthy|boys girls|rise fall|up down|inside outside"
)
OPPOSITES: dict[str, str] = {}
for _pair in _OPPOSITE_PAIRS.split("|"):
    _x, _y = (w.replace("_", " ") for w in _pair.split())
    OPPOSITES.setdefault(_x, _y)
    OPPOSITES.setdefault(_y, _x)
_OPPOSITE_WORD = re.compile(r"\b(" + "|".join(sorted(map(re.escape, OPPOSITES), key=len, reverse=True)) + r")\b", re.I)
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_AUX = "is are was were can could should would will do does did has have"
_AUX_FIRST = re.compile(rf"^({_AUX.replace(' ', '|')})\s+(\S+)\s", re.IGNORECASE)
_AUX_INSIDE = re.compile(rf"\s({_AUX.replace(' ', '|')})\s", re.IGNORECASE)
_NEGATED = re.compile(r"\b(not|never)\s|n't\b", re.IGNORECASE)
_UNDO_NOT = {"don't": "do", "doesn't": "does", "didn't": "did", "can't": "can", "isn't": "is", "aren't": "are",
             "won't": "will", "wasn't": "was", "weren't": "were", "shouldn't": "should", "couldn't": "could",
             "wouldn't": "would", "haven't": "have", "hasn't": "has"}  # fmt: skip
_NUMBER = re.compile(r"(?<![\w.,])(\d{1,3}(?:,\d{3})+|\d+)(?![\w.,]\d)")
_YEAR = re.compile(r"\b(19[5-9]\d|20[0-3]\d)\b")
_VERSION = re.compile(r"\b(\d+)\.(\d+)\b")
_CAPITALISED = re.compile(r"(?<=\s)([A-Z][a-z]{2,})\b")
_WORDS = r"((?!(?:the|a|an|my|your|his|her|their|our|it|this|that|just)\b)[A-Za-z]\w+(?: [A-Z]\w+)?)"
_DIRECTION_PATTERNS = (
    re.compile(rf"\bfrom {_WORDS} to {_WORDS}\b"),  # from Denver to Boston
    re.compile(r"\b([A-Z]\w+) (?:is |are )?\w+er than ([A-Z]\w+)\b"),  # Python faster than Java
    re.compile(r"\b([A-Z]\w+) (?:vs\.?|versus) ([A-Z]\w+)\b"),  # Python vs Java
    re.compile(r"\bconvert ([A-Za-z]\w+) (?:to|into) ([A-Za-z]\w+)\b"),  # convert Celsius to Fahrenheit
    re.compile(r"\b([A-Z]\w+) to ([A-Z]\w+)\b"),  # USD to INR
)
_COMMON_CAPITALISED = frozenset(
    [
        "What",
        "Why",
        "How",
        "When",
        "Where",
        "Who",
        "Which",
        "Is",
        "Are",
        "Can",
        "Do",
        "Does",
        "Should",
        "Will",
        "Would",
        "Could",
        "The",
        "This",
        "That",
        "There",
        "I",
        "My",
        "If",
        "In",
        "On",
        "For",
        "And",
        "Or",
        "But",
        "Not",
        "Quora",
        "Google",
        "Best",
    ]
)


def questions(path: Path) -> list[str]:
    """Every distinct question of the training file, in file order."""
    seen: dict[str, None] = {}
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            for text in (row["a"], row["b"]):
                text = " ".join(str(text).split())
                if 12 <= len(text) <= 200:
                    seen.setdefault(text, None)
    return list(seen)


def _number(text: str, rng: random.Random) -> str | None:
    matches = [m for m in _NUMBER.finditer(text) if not _YEAR.fullmatch(m.group(1))]
    if not matches:
        return None
    m = rng.choice(matches)
    value = int(m.group(1).replace(",", ""))
    new = rng.choice((value * 10, value + max(1, value // 4) if value > 3 else value + 1, value * 2))
    return text[: m.start()] + str(new) + text[m.end() :]


def _date(text: str, rng: random.Random) -> str | None:
    if m := _YEAR.search(text):
        return text[: m.start()] + str(int(m.group(1)) + rng.choice((-2, -1, 1, 2))) + text[m.end() :]
    if m := _VERSION.search(text):
        return text[: m.start()] + f"{m.group(1)}.{int(m.group(2)) + 1}" + text[m.end() :]
    for month in _MONTHS:
        if re.search(rf"\b{month}\b", text):
            other = rng.choice([x for x in _MONTHS if x != month])
            return re.sub(rf"\b{month}\b", other, text, count=1)
    return None


def _near_name(name: str, rng: random.Random) -> str:
    """A name one glance away: Raman -> Ramaswamy, Anderson -> Andersen, Maria -> Marian."""
    choice = rng.randrange(3)
    if choice == 0:
        return name + rng.choice(("son", "swamy", "i", "a", "er", "ski"))
    if choice == 1 and len(name) > 4:
        return name[:-1]
    vowels = "aeiou"
    spots = [i for i, ch in enumerate(name) if ch in vowels and i > 0]
    if not spots:
        return name + "e"
    i = rng.choice(spots)
    return name[:i] + rng.choice([v for v in vowels if v != name[i]]) + name[i + 1 :]


def _entity(text: str, rng: random.Random, pool: list[str]) -> str | None:
    names = [m for m in _CAPITALISED.finditer(text) if m.group(1) not in _COMMON_CAPITALISED]
    if not names:
        return None
    m = rng.choice(names)
    new = _near_name(m.group(1), rng) if rng.random() < 0.5 else rng.choice(pool)
    if new.lower() == m.group(1).lower():
        return None
    return text[: m.start()] + new + text[m.end() :]


_FUNCTION_WORDS = frozenset(
    [
        "how",
        "what",
        "why",
        "where",
        "when",
        "who",
        "which",
        "get",
        "do",
        "does",
        "to",
        "the",
        "a",
        "an",
        "my",
        "your",
        "it",
        "this",
        "that",
    ]
)


def _whole_names(text: str, m: re.Match[str]) -> bool:
    """Both ends are whole names or words: no capitalised word or number glued before the first or after the
    second ("BMW M4 vs Porsche 911" would swap "M4" and "Porsche" only), no function word ("How to Get")."""
    before = text[: m.start(1)].split()[-2:-1] if text[: m.start(1)].rstrip().endswith(("from", "convert")) else []
    before = before or text[: m.start(1)].split()[-1:]
    after = text[m.end(2) :].split()[:1]
    glued = [w for w in before + after if w[:1].isupper() or w[:1].isdigit()]
    ends = {m.group(1).lower(), m.group(2).lower()}
    return not glued and not ends & _FUNCTION_WORDS and not {m.group(1), m.group(2)} & _COMMON_CAPITALISED


def _direction(text: str, rng: random.Random) -> str | None:
    for pattern in _DIRECTION_PATTERNS:
        m = pattern.search(text)
        if m and m.group(1).lower() != m.group(2).lower() and _whole_names(text, m):
            (s1, e1), (s2, e2) = m.span(1), m.span(2)
            return text[:s1] + m.group(2) + text[e1:s2] + m.group(1) + text[e2:]
    return None


def _comparison(text: str, rng: random.Random) -> str | None:
    matches = list(_OPPOSITE_WORD.finditer(text))
    if not matches:
        return None
    m = rng.choice(matches)
    word = m.group(1)
    new = OPPOSITES[word.lower()]
    if word[0].isupper():
        new = new[0].upper() + new[1:]
    return text[: m.start()] + new + text[m.end() :]


def _negation(text: str, rng: random.Random) -> str | None:
    if _NEGATED.search(text):
        for negated, plain in _UNDO_NOT.items():
            if re.search(rf"\b{negated}\b", text, re.IGNORECASE):
                return re.sub(rf"\b{negated}\b", plain, text, count=1, flags=re.IGNORECASE)
        return re.sub(r"\b(not|never)\s", "", text, count=1, flags=re.IGNORECASE)
    if m := _AUX_FIRST.match(text):  # "Is it safe ..." -> "Is it not safe ..."
        return text[: m.end()] + "not " + text[m.end() :]
    if m := _AUX_INSIDE.search(text):  # "... I should learn" -> "... I should not learn"
        return text[: m.end()] + "not " + text[m.end() :]
    return None


def _edits(pool: list[str]) -> dict[str, Callable[[str, random.Random], str | None]]:
    return {
        "number": _number,
        "date": _date,
        "entity": lambda text, rng: _entity(text, rng, pool),
        "direction": _direction,
        "comparison": _comparison,
        "negation": _negation,
    }


def generate(source: list[str], per_kind: int, seed: int = SEED) -> Iterator[dict[str, object]]:
    """Up to `per_kind` rows of each kind, each source question used at most once."""
    rng = random.Random(seed)
    pool = sorted({m.group(1) for q in source for m in _CAPITALISED.finditer(q)} - _COMMON_CAPITALISED)
    order = list(source)
    rng.shuffle(order)
    used: set[str] = set()
    for kind, edit in _edits(pool).items():
        count = 0
        for question in order:
            if count >= per_kind:
                break
            if question in used:
                continue
            edited = edit(question, rng)
            if edited is None or " ".join(edited.split()).lower() == question.lower():
                continue
            used.add(question)
            count += 1
            yield {"a": question, "b": edited, "label": 0, "kind": kind}


def split(source: list[str]) -> tuple[list[str], list[str]]:
    """TRAIN from the first half of the questions, DEV from the second: no source question in both."""
    half = len(source) // 2
    return source[:half], source[half:]


def write(rows: Iterable[dict[str, object]], path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r, ensure_ascii=False) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llmcache.semantic.offline.hard_negatives")
    parser.add_argument("--data", type=Path, default=SHARED / "qqp_train.jsonl.gz")
    parser.add_argument("--out", type=Path, default=DATA_DIR)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    train, dev = split(questions(args.data))
    for part, source, name in (("train", train, TRAIN_FILE), ("dev", dev, DEV_FILE)):
        n = write(generate(source, PER_KIND[part], args.seed), args.out / name)
        print(f"{part}: {n} rows -> {args.out / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
