"""Hard vetoes: differences that change the answer, whatever the models say.

A paraphrase model is trained on what people usually mean; it is not told that "1500 dollars" and
"15000 dollars", "Priya Raman" and "Priya Ramaswamy", "from Denver to Boston" and "from Boston to Denver"
have different answers, and on such pairs it is often confident and wrong. These rules look only at
surface tokens (regular expressions and small word lists, tens of microseconds a pair) and refuse a
candidate when the two texts differ in:

- number differs: the numbers and quantities (digits, number words, 15k, $/%/units) are not the same;
  a unit on both sides must match (5 mg vs 5 g);
- date differs: a year, month, weekday or today/tomorrow/yesterday;
- version differs: a dotted or v-prefixed version (Python 3.11 vs 3.12);
- name differs: a capitalised name or acronym on one side is missing from the other, spelt exactly
  (no typo tolerance: Raman/Ramaswamy, Anderson/Andersen are different people);
- direction differs: two words shared by both texts swap their order across a directional word
  (from/to, than, vs, before/after, into, over);
- comparison differs: one side says a word, the other its opposite (more/less, ascending/descending,
  increase/decrease, cheapest/most expensive, max/min, above/below, before/after, buy/sell, ...);
- negation differs: the two sides do not negate as often (not, n't, never, no, without).

A veto is judged by the false hits it prevents, not by a paraphrase average: it costs recall on pairs
where people wrote the same question with another number or name (`make eval-semantic` prints both).
Reasons are kinds only: they reach DEBUG logs and the debug header, never with the prompt's words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

NUMBER = "number differs"
DATE = "date differs"
VERSION = "version differs"
NAME = "name differs"
DIRECTION = "direction differs"
COMPARISON = "comparison differs"
NEGATION = "negation differs"
KINDS = (NUMBER, DATE, VERSION, NAME, DIRECTION, COMPARISON, NEGATION)

_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "in",
        "on",
        "for",
        "at",
        "by",
        "with",
        "as",
        "about",
        "and",
        "or",
        "but",
        "if",
        "so",
        "that",
        "this",
        "these",
        "those",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "am",
        "do",
        "does",
        "did",
        "have",
        "has",
        "had",
        "i",
        "me",
        "my",
        "we",
        "us",
        "our",
        "you",
        "your",
        "he",
        "him",
        "his",
        "she",
        "her",
        "it",
        "its",
        "they",
        "them",
        "their",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "why",
        "how",
        "when",
        "where",
        "there",
        "here",
        "can",
        "could",
        "should",
        "would",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "get",
        "any",
        "some",
        "much",
        "many",
        "very",
        "just",
        "also",
        "too",
        "only",
        "own",
        "same",
        "such",
        "other",
        "else",
        "ever",
        "thing",
        "things",
        "way",
        "ways",
        "really",
        "good",
        "someone",
        "something",
        "anyone",
        "anything",
        "people",
        "person",
        "please",
        "tell",
        "know",
        "best",
        "top",
    ]
)
_SMALL_WORDS = frozenset({"a", "an", "the", "of", "to", "in", "on", "for", "at", "by", "with", "and", "or", "is"})
_NEGATIONS = frozenset(("not", "no", "never", "none", "nobody", "nothing", "neither", "nor", "cannot", "without"))
_NEG_CONTRACTION = re.compile(r"[a-z]n['\u2019]t\b", re.IGNORECASE)
# words that carry order: a shared pair of words that swaps across one of these is another question
_DIRECTIONAL = frozenset(("to", "from", "than", "vs", "versus", "into", "before", "after", "over", "towards", "->"))
_DIRECTION_SPAN = 4  # at most this many words apart ("Batman is better than Joker"), a directional word between
_WORD = re.compile(r"->|[^\W\d_]+(?:['\u2019][^\W\d_]+)*|\d+(?:[.,]\d+)*", re.UNICODE)
_SENTENCE_END = re.compile(r"[.?!:;]\s*$")

_SMALL = {
    "zero": 0, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "dozen": 12, "half": 0.5, "twice": 2, "double": 2,
    "triple": 3,
}  # fmt: skip
_SCALES = {"hundred": 100, "thousand": 1000, "k": 1000, "million": 10**6, "mn": 10**6, "billion": 10**9, "bn": 10**9}
_ORDINALS = {
    "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
    "ninth": 9, "tenth": 10,
}  # fmt: skip
_ORDINAL_SUFFIX = re.compile(r"^(\d+)(st|nd|rd|th)$")
_ROMAN = {"II": 2, "III": 3, "IV": 4, "VI": 6, "VII": 7, "VIII": 8, "IX": 9, "XI": 11, "XII": 12}
# a unit written after a number (or a currency sign before it), folded to one name per unit
_UNITS = {
    "$": "usd", "usd": "usd", "dollar": "usd", "dollars": "usd", "bucks": "usd", "€": "eur", "eur": "eur",
    "euro": "eur", "euros": "eur", "£": "gbp", "gbp": "gbp", "pound": "lb|gbp", "pounds": "lb|gbp", "¥": "jpy|cny",
    "yen": "jpy", "yuan": "cny", "₹": "inr", "inr": "inr", "rs": "inr", "rupee": "inr", "rupees": "inr",
    "%": "%", "percent": "%", "mg": "mg", "milligram": "mg", "milligrams": "mg", "mcg": "mcg", "µg": "mcg",
    "g": "g", "gram": "g", "grams": "g", "kg": "kg", "kilo": "kg", "kilos": "kg", "kilogram": "kg", "kilograms": "kg",
    "lb": "lb", "lbs": "lb", "oz": "oz", "ounce": "oz", "ounces": "oz", "ml": "ml", "l": "l", "liter": "l",
    "liters": "l", "litre": "l", "litres": "l", "gallon": "gal", "gallons": "gal", "mm": "mm", "cm": "cm",
    "m": "m", "meter": "m", "meters": "m", "metre": "m", "metres": "m", "km": "km", "kilometer": "km",
    "kilometers": "km", "mile": "mi", "miles": "mi", "ft": "ft", "foot": "ft", "feet": "ft", "inch": "in",
    "inches": "in", "mph": "mph", "kmh": "kmh", "kb": "kb", "mb": "mb", "gb": "gb", "tb": "tb", "ghz": "ghz",
    "mhz": "mhz", "w": "w", "watt": "w", "watts": "w", "kw": "kw", "v": "v", "volt": "v", "volts": "v",
    "second": "s", "seconds": "s", "sec": "s", "minute": "min", "minutes": "min", "min": "min", "mins": "min",
    "hour": "h", "hours": "h", "hr": "h", "hrs": "h", "day": "day", "days": "day", "week": "week", "weeks": "week",
    "month": "month", "months": "month", "year": "year", "years": "year", "calorie": "kcal", "calories": "kcal",
    "kcal": "kcal", "degree": "deg", "degrees": "deg", "celsius": "c", "fahrenheit": "f", "mah": "mah",
}  # fmt: skip
_CURRENCY_SIGNS = "$€£¥₹"
# a number, maybe with a currency sign before it, a "v" (version), or letters glued after it: 15k, 20days,
# 220v, 4G, iPhone 4S ("4s" is then compared as written)
_NUMERIC = re.compile(r"(?<![\w.])([$€£¥₹])?\s?(v)?(\d+(?:[.,]\d+)*)([a-z]+|%)?(?![\w])", re.IGNORECASE)
_MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
]
_MONTH_OF = {m: str(i) for i, m in enumerate(_MONTHS[:12])}  # january and jan alike: "0"
_MONTH_OF |= {m: _MONTH_OF[next(x for x in _MONTHS[:12] if x.startswith(m[:3]))] for m in _MONTHS[12:]}
_DAYS = frozenset(["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"])
_RELATIVE_DAYS = frozenset(["yesterday", "today", "tonight", "tomorrow"])
_VERSION_WORDS = frozenset(
    [
        "python",
        "java",
        "node",
        "nodejs",
        "ruby",
        "php",
        "perl",
        "go",
        "rust",
        "swift",
        "kotlin",
        "scala",
        "ios",
        "android",
        "windows",
        "macos",
        "ubuntu",
        "debian",
        "fedora",
        "centos",
        "linux",
        "kernel",
        "version",
        "release",
        "v",
        "django",
        "rails",
        "react",
        "angular",
        "vue",
        "spring",
        "tensorflow",
        "pytorch",
        "numpy",
        "pandas",
        "excel",
        "office",
        "photoshop",
        "iphone",
        "ipad",
        "galaxy",
        "pixel",
        "playstation",
        "ps",
        "xbox",
        "gpt",
        "llama",
        "claude",
        "gemini",
        "bootstrap",
        "laravel",
        "postgres",
        "postgresql",
        "mysql",
        "redis",
        "mongodb",
        "elasticsearch",
        "kubernetes",
        "docker",
    ]
)

# Opposites: each group has two sides; a text saying side 0 where the other says side 1 (and not both)
# asks another question. Words are matched on their start ("increas" covers increase/increasing/increased).
_OPPOSITES: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("more", "greater"), ("less", "fewer", "lesser")),
    (("most",), ("least",)),
    (("higher", "highest", "high"), ("lower", "lowest", "low")),
    (("larger", "largest", "bigger", "biggest", "big", "large"), ("smaller", "smallest", "small", "little")),
    (("max", "maximum", "maximi", "maximal"), ("min", "minimum", "minimi", "minimal")),
    (("above",), ("below", "beneath")),
    (("over",), ("under",)),
    (
        ("increas", "rais", "grow", "gain", "boost", "add"),
        ("decreas", "reduc", "lower", "shrink", "lose", "losing", "cut", "remov"),
    ),
    (("rise", "rising", "rose"), ("fall", "falling", "fell", "drop")),
    (("ascend", "asc", "up"), ("descend", "desc", "down")),
    (("cheap", "inexpensive", "affordabl"), ("expensive", "pricey", "priciest", "costl")),
    (("best", "better", "good"), ("worst", "worse", "bad")),
    (("fast", "faster", "fastest", "quick", "quicker", "quickest"), ("slow", "slower", "slowest")),
    (("early", "earlier", "earliest"), ("late", "later", "latest")),
    (("before", "prior", "pre"), ("after", "post")),
    (("first", "begin", "start"), ("last", "end", "final", "finish", "stop")),
    (("old", "oldest", "older"), ("new", "newest", "newer", "young", "youngest", "younger")),
    (("long", "longer", "longest"), ("short", "shorter", "shortest")),
    (("hot", "warm", "heat"), ("cold", "cool", "freez")),
    (("heavy", "heavier", "heaviest"), ("light", "lighter", "lightest")),
    (("strong", "stronger", "strongest"), ("weak", "weaker", "weakest")),
    (("top",), ("bottom",)),
    (("enabl", "allow", "permit", "accept", "approv"), ("disabl", "block", "deny", "deni", "reject", "forbid")),
    (("open",), ("clos", "shut")),
    (("buy", "bought", "purchas"), ("sell", "sold")),
    (("import",), ("export",)),
    (("upload",), ("download",)),
    (("push",), ("pull",)),
    (("input",), ("output",)),
    (("win", "won", "winn"), ("lose", "lost", "losing", "loser")),
    (("pro", "advantag", "benefit"), ("con", "disadvantag", "drawback", "risk")),
    (("positive",), ("negative",)),
    (("true",), ("false",)),
    (("left",), ("right",)),
    (("north", "northern"), ("south", "southern")),
    (("east", "eastern"), ("west", "western")),
    (
        ("male", "man", "men", "boy", "husband", "father", "son"),
        ("female", "woman", "women", "girl", "wife", "mother", "daughter"),
    ),
    (("legal",), ("illegal",)),
    (("safe",), ("unsafe", "dangerous", "harmful")),
    (("healthy",), ("unhealthy",)),
    (("rich", "wealthy"), ("poor",)),
    (("love", "like"), ("hate", "dislike")),
    (("agree",), ("disagree",)),
    (("includ",), ("exclud",)),
    (("encrypt", "encod", "compress", "zip"), ("decrypt", "decod", "decompress", "unzip")),
    (("install",), ("uninstall",)),
    (("lock",), ("unlock",)),
    (("connect",), ("disconnect",)),
    (("send", "sent", "lend", "give"), ("receiv", "borrow", "take")),
    (("inhal",), ("exhal",)),
    (("wet",), ("dry",)),
    (("happy", "happier", "happiest"), ("sad", "sadder", "unhappy")),
    (("inside", "interior"), ("outside", "exterior")),
    (("easy", "easier", "easiest"), ("hard", "harder", "hardest", "difficult")),
    (("possible",), ("impossible",)),
    (("success",), ("fail",)),
    (("alive", "live"), ("dead", "die")),
    (("internal",), ("external",)),
    (("minor",), ("major",)),
    (("plus",), ("minus",)),
    (("multipl",), ("divid",)),
    (("sum", "add"), ("subtract", "differen")),
    (("mean",), ("median", "mode")),
    (("day",), ("night",)),
    (("morning",), ("evening", "afternoon")),
    (("summer",), ("winter",)),
    (("spring",), ("autumn", "fall")),
    (("public",), ("private",)),
    (("static",), ("dynamic",)),
    (("synchronous", "sync"), ("asynchronous", "async")),
    (("client",), ("server",)),
    (("frontend", "front"), ("backend", "back")),
    (("inner",), ("outer",)),
    (("union",), ("intersection",)),
    (("debit",), ("credit",)),
    (("profit",), ("loss",)),
    (("asset",), ("liabilit",)),
)
# Words of fewer than _WHOLE_WORD_BELOW letters match whole words only ("up" is not "upload", "con" is not
# "consider"); longer ones match any word they start ("increas" covers increase/increasing/increased).
_WHOLE_WORD_BELOW = 5
_WHOLE: dict[str, tuple[int, int]] = {}
_PREFIX: dict[str, tuple[int, int]] = {}
for _group, _sides in enumerate(_OPPOSITES):
    for _side, _words in enumerate(_sides):
        for _w in _words:
            (_PREFIX if len(_w) >= _WHOLE_WORD_BELOW else _WHOLE).setdefault(_w, (_group, _side))
_PREFIX_LENGTHS = sorted({len(p) for p in _PREFIX}, reverse=True)


@dataclass(frozen=True)
class Quantity:
    value: str
    unit: str  # "" when none was written
    kind: str  # NUMBER, DATE or VERSION


@dataclass(frozen=True)
class Reading:
    """What the vetoes compare about one text."""

    quantities: tuple[Quantity, ...]
    dates: frozenset[str]  # month, weekday and today/tomorrow words, folded
    names: frozenset[str]  # capitalised names and acronyms, folded
    words: tuple[str, ...]  # every word, folded, in order (numbers left out)
    opposites: frozenset[tuple[int, int]]  # (group, side) of every word in an opposite pair
    negations: int  # how many negating words ("not", "n't", "never", "without", ...)


def fold(word: str) -> str:
    """Lower case, no possessive, plural endings off: what two spellings of one word share."""
    word = word.lower().replace("\u2019", "'")
    if word.endswith("'s"):
        word = word[:-2]
    return stem(word.replace("'", ""))


def stem(word: str) -> str:
    """A deliberately light stemmer: plural endings only."""
    if len(word) <= 3 or word.isdigit():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "ches", "shes", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _decimal(digits: str) -> str:
    """'15,000' -> '15000', '3.50' -> '3.5', '1,5' -> '1.5' (a comma before 1-2 digits is a decimal comma)."""
    if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", digits):
        digits = digits.replace(",", "")
    digits = digits.replace(",", ".")
    try:
        value = Decimal(digits)
    except InvalidOperation:
        return digits
    text = format(value.normalize(), "f")
    return text


def _scaled(value: str, factor: int | float) -> str:
    try:
        return format((Decimal(value) * Decimal(str(factor))).normalize(), "f")
    except InvalidOperation:
        return value


def _word_numbers(words: list[str]) -> list[tuple[int, int, str]]:
    """Runs of number words ('fifteen thousand', 'a million') as (start, end, value) over `words`."""
    out = []
    i = 0
    while i < len(words):
        w = words[i]
        if w in _SMALL or (w in _SCALES and w not in ("k", "mn", "bn")) or w in _ORDINALS:
            if w in _ORDINALS:
                out.append((i, i + 1, f"#{_ORDINALS[w]}"))
                i += 1
                continue
            start, total, current = i, 0.0, 0.0
            if w in _SCALES and i > 0 and words[i - 1] == "a":
                current = 1.0
            while i < len(words) and (words[i] in _SMALL or words[i] in _SCALES or words[i] == "and"):
                word = words[i]
                if word == "and":
                    if i + 1 < len(words) and words[i + 1] in _SMALL:
                        i += 1
                        continue
                    break
                if word in _SMALL:
                    current += _SMALL[word]
                else:
                    scale = _SCALES[word]
                    current = (current or 1.0) * scale
                    if scale >= 1000:
                        total, current = total + current, 0.0
                i += 1
            value = total + current
            out.append((start, i, _decimal(repr(value)) if value != int(value) else str(int(value))))
            continue
        i += 1
    return out


def _quantities(text: str, lowered_words: list[str]) -> list[Quantity]:
    found: list[Quantity] = []
    for match in _NUMERIC.finditer(text):
        sign, vee, digits, suffix = match.group(1), match.group(2), match.group(3), (match.group(4) or "").lower()
        before = text[: match.start()].split()
        previous = before[-1].lower().strip(",;:()") if before else ""
        after = text[match.end() :].split()
        following = after[0].lower().strip(",.;:?!()") if after else ""
        kind = NUMBER
        if vee or digits.count(".") >= 2 or ("." in digits and previous in _VERSION_WORDS):
            found.append(Quantity(digits.lower(), "", VERSION))
            continue
        value = _decimal(digits)
        if suffix in ("st", "nd", "rd", "th"):
            found.append(Quantity(f"#{value}", "", NUMBER))
            continue
        if suffix in ("k", "mn", "bn"):
            value = _scaled(value, _SCALES[suffix])
        elif suffix and suffix != "%":
            if suffix not in _UNITS:  # a model or a size written as one word: 4S, 4G, 1080p
                found.append(Quantity(value + suffix, "", NUMBER))
                continue
            following = suffix
        elif following in _SCALES and following not in ("k",):
            value = _scaled(value, _SCALES[following])
            following = after[1].lower().strip(",.;:?!()") if len(after) > 1 else ""
        unit = ""
        if sign:
            unit = _UNITS[sign]
        elif suffix == "%":
            unit = "%"
        elif following in _UNITS:
            unit = _UNITS[following]
        if previous in _VERSION_WORDS and not sign and not unit:
            kind = VERSION
        elif re.fullmatch(r"(1[5-9]|20)\d\d", digits) and not unit:
            kind = DATE
        found.append(Quantity(value, unit, kind))
    for _, end, value in _word_numbers(lowered_words):
        following = lowered_words[end] if end < len(lowered_words) else ""
        found.append(Quantity(value, _UNITS.get(following, ""), NUMBER))
    for token in re.findall(r"\b[IVX]{2,4}\b", text):
        if token in _ROMAN:
            found.append(Quantity(str(_ROMAN[token]), "", NUMBER))
    return found


def _is_title_case(text: str, spans: list[tuple[str, int]]) -> bool:
    """Headline style ("What Is The Best Way To Learn"): small words capitalised inside the sentence."""
    inside = [w for w, start in spans if w.lower() in _SMALL_WORDS and text[:start].strip()]
    capitalised = sum(w[0].isupper() for w in inside)
    return capitalised >= 2 and capitalised >= 0.5 * len(inside)


def _opposites(words: tuple[str, ...]) -> frozenset[tuple[int, int]]:
    found = set()
    for word in words:
        hit = _WHOLE.get(word) or next((_PREFIX[word[:n]] for n in _PREFIX_LENGTHS if word[:n] in _PREFIX), None)
        if hit is not None:
            found.add(hit)
    return frozenset(found)


@lru_cache(maxsize=8192)
def read(text: str) -> Reading:
    spans = [(m.group(0), m.start()) for m in _WORD.finditer(text)]
    raw = [s for s, _ in spans]
    lowered = [w.lower().replace("\u2019", "'") for w in raw]
    title_case = _is_title_case(text, spans)
    shouting = sum(w.isupper() for w in raw if w[:1].isalpha()) > 0.6 * max(1, sum(w[:1].isalpha() for w in raw))
    names = set()
    for (word, start), low in zip(spans, lowered, strict=True):
        if not word[:1].isalpha() or fold(low) in _STOP or low in _NEGATIONS:
            continue
        sentence_start = not text[:start].strip() or bool(_SENTENCE_END.search(text[:start]))
        acronym = len(word) > 1 and word.isupper() and not shouting
        capitalised = word[0].isupper() and not sentence_start and not title_case and not shouting
        if (acronym or capitalised) and low not in _MONTHS and low not in _DAYS:
            names.add(fold(low))
    words = tuple(fold(w) for w in lowered if not w[:1].isdigit())
    dates = frozenset(
        _MONTH_OF.get(w, w)
        for w, r in zip(lowered, raw, strict=True)
        if (w in _MONTH_OF and (r[0].isupper() or w not in ("may", "march"))) or w in _DAYS or w in _RELATIVE_DAYS
    )
    negations = len(_NEG_CONTRACTION.findall(text)) + sum(w in _NEGATIONS for w in lowered)
    return Reading(
        quantities=tuple(_quantities(text, lowered)),
        dates=dates,
        names=frozenset(names),
        words=words,
        opposites=_opposites(words),
        negations=negations,
    )


def _quantity_veto(q: Reading, c: Reading) -> str | None:
    """The kind of the first quantity that differs: a value on one side only, or one value in two units."""
    q_values = sorted((x.value, x.kind) for x in q.quantities)
    c_values = sorted((x.value, x.kind) for x in c.quantities)
    if [v for v, _ in q_values] != [v for v, _ in c_values]:
        differing = set(q_values) ^ set(c_values) or set(q_values) | set(c_values)
        kinds = {k for _, k in differing}
        return VERSION if VERSION in kinds else DATE if DATE in kinds else NUMBER
    q_units = {x.value: x.unit for x in q.quantities if x.unit}
    for x in c.quantities:
        other = q_units.get(x.value)
        if x.unit and other and not (set(x.unit.split("|")) & set(other.split("|"))):
            return NUMBER
    return None


def _name_veto(q: Reading, c: Reading) -> bool:
    """A name on one side that the other side does not carry (as any word, in any case)."""
    return bool((q.names - set(c.words)) or (c.names - set(q.words)))


def _direction_veto(q: Reading, c: Reading) -> bool:
    """Two content words both texts carry once swap their order across a directional word in either text."""

    def positions(words: tuple[str, ...]) -> dict[str, int]:
        """Each content word at its first place ("from India to abroad ... in India": India is first at 3)."""
        seen: dict[str, int] = {}
        for i, w in enumerate(words):
            if w not in _STOP and w not in _DIRECTIONAL and len(w) >= 2:
                seen.setdefault(w, i)
        return seen

    pq, pc = positions(q.words), positions(c.words)
    shared = sorted(set(pq) & set(pc), key=pq.__getitem__)
    if len(shared) < 2:
        return False

    def directional_between(words: tuple[str, ...], i: int, j: int) -> bool:
        lo, hi = min(i, j), max(i, j)  # near each other: "Denver to Boston", "Python faster than Java"
        return hi - lo <= _DIRECTION_SPAN and any(w in _DIRECTIONAL for w in words[lo + 1 : hi])

    for n, u in enumerate(shared):
        for v in shared[n + 1 :]:
            if pc[u] > pc[v] and (
                directional_between(q.words, pq[u], pq[v]) and directional_between(c.words, pc[u], pc[v])
            ):
                return True
    return False


def _comparison_veto(q: Reading, c: Reading) -> bool:
    """One side says a word, the other its opposite (or both: "pros and cons" is not "pros")."""
    for group in {g for g, _ in q.opposites | c.opposites}:
        q_sides = {s for g, s in q.opposites if g == group}
        c_sides = {s for g, s in c.opposites if g == group}
        if q_sides and c_sides and q_sides != c_sides:
            return True
    return False


def vetoes(query: str, cached: str) -> tuple[str, ...]:
    """The kinds of answer-changing difference between the two texts (empty: none found)."""
    if query == cached:
        return ()
    q, c = read(query), read(cached)
    found = []
    if kind := _quantity_veto(q, c):
        found.append(kind)
    if q.dates != c.dates and q.dates and c.dates and DATE not in found:
        found.append(DATE)
    if _name_veto(q, c):
        found.append(NAME)
    if _direction_veto(q, c):
        found.append(DIRECTION)
    if _comparison_veto(q, c):
        found.append(COMPARISON)
    if q.negations != c.negations:
        found.append(NEGATION)
    return tuple(found)
