"""What a hit saved: the tokens of the answer it replaced, and their price in US dollars.

The price table ships with the package (`prices.json`: USD per million tokens for input, cached input
and output, with its date and source); a deployment overrides or extends it with `PRICES_FILE` (a file
in the same format) and `PRICES` (the same JSON inline), both read and checked once at start.

At store time the answer's usage is split (by its dialect, which knows its API's usage shape) into input,
cached input and output tokens and kept in the entry; on a hit the cost is one dict lookup and three
multiplications. A model missing from the table counts its tokens and no dollars, and says so once per
container, not on every request.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Mapping
from typing import Any, NamedTuple

from llmcache.constants import Metric

# os.path, not pathlib: this module is on the cold-start import path, pathlib is not.
SHIPPED_PRICES = os.path.join(os.path.dirname(__file__), "prices.json")
# A dated snapshot ("gpt-4o-mini-2024-07-18", "claude-3-5-haiku-20241022") is priced as its model.
MAX_REMEMBERED_MODELS = 4096
_SNAPSHOT_SUFFIX = r"-(\d{4}-\d{2}-\d{2}|\d{8}|latest)$"  # compiled by `re` on first use, off the cold start
# A Bedrock model id: an optional cross-region geography, the provider, the model, its version
# (`us.anthropic.claude-sonnet-4-5-20250929-v1:0`, `amazon.nova-lite-v1:0`, `...-v1:0:200k`); an ARN ends in one.
_BEDROCK_ID = (
    r"^(?:arn:.*/)?(?:(?:us|eu|apac|global|jp|au|ca|us-gov)\.)?"
    r"(?P<provider>[a-z0-9-]+)\.(?P<model>.+?)(?:-v\d+(?::\d+)*(?::\d+k)?)?$"
)


class Price(NamedTuple):  # NamedTuples, not dataclasses: a fifth of the import time on the cold start
    """US dollars per million tokens."""

    input: float
    cached_input: float
    output: float

    def cost(self, input_tokens: int, cached_input_tokens: int, output_tokens: int) -> float:
        fresh = max(0, input_tokens - cached_input_tokens)
        return (fresh * self.input + cached_input_tokens * self.cached_input + output_tokens * self.output) / 1e6


class TokenCounts(NamedTuple):
    """An answer's usage, split the way providers bill it; `total` is what TokensSaved counts."""

    total: int = 0
    input: int = 0  # every input token, the cached ones included
    cached_input: int = 0
    output: int = 0


class PriceError(ValueError):
    """A price table that cannot be used; the message names where it came from."""


def parse_prices(text: str, origin: str) -> dict[str, Price]:
    """`{"models": {name: {"input", "cached_input", "output"}}}` (or the bare `models` object) -> prices."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise PriceError(f"{origin} is not JSON ({exc.args[0]})") from None
    models = document.get("models", document) if isinstance(document, dict) else None
    if not isinstance(models, dict):
        raise PriceError(f'{origin} must be a JSON object {{"models": {{"<model>": {{"input": ..., ...}}}}}}')
    prices = {}
    for name, row in models.items():
        if not isinstance(row, dict):
            raise PriceError(f"{origin}: the price of {name!r} must be an object with input and output")
        values = {}
        for field in ("input", "cached_input", "output"):
            value = row.get(field, row.get("input") if field == "cached_input" else None)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise PriceError(f"{origin}: {name!r} needs `{field}` as a number of dollars >= 0")
            values[field] = float(value)
        prices[str(name)] = Price(**values)
    return prices


def price_overrides(prices_file: str | None, prices_json: str | None) -> dict[str, Price]:
    """A deployment's own prices, the file first and the inline JSON over it (read once, at start)."""
    overrides: dict[str, Price] = {}
    if prices_file:
        try:
            with open(prices_file, encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise PriceError(f"PRICES_FILE cannot be read ({exc.strerror or type(exc).__name__})") from None
        overrides.update(parse_prices(text, "PRICES_FILE"))
    if prices_json:
        overrides.update(parse_prices(prices_json, "PRICES"))
    return overrides


class PriceTable:
    """The shipped prices with a deployment's overrides; lookups of a model name are memoized."""

    def __init__(self, prices: Mapping[str, Price]) -> None:
        self._prices = dict(prices)
        self._resolved: dict[str, Price | None] = {}
        self._lock = threading.Lock()

    @classmethod
    def shipped(cls, overrides: Mapping[str, Price] | None = None) -> PriceTable:
        with open(SHIPPED_PRICES, encoding="utf-8") as handle:
            prices = parse_prices(handle.read(), os.path.basename(SHIPPED_PRICES))
        return cls({**prices, **(overrides or {})})

    def price(self, model: str) -> Price | None:
        try:
            return self._resolved[model]  # the hit path: one dict lookup after the first time
        except KeyError:
            pass
        found = self.known(model)
        with self._lock:
            # Model names come from answers: the memo (and so the log, once per name) stops at a bound.
            first_time = model not in self._resolved and len(self._resolved) < MAX_REMEMBERED_MODELS
            if first_time:
                self._resolved[model] = found
        if found is None and first_time:
            from llmcache.observability import logger

            logger.warning(
                "model missing from the price table: its hits count tokens saved but no dollars",
                extra={"model": model[:200], "fix": "add it with PRICES_FILE or PRICES"},
            )
        return found

    def known(self, model: str) -> Price | None:
        """The model's price, a dated snapshot priced as its model; None when the table lacks it (no log)."""
        found = self._prices.get(model)
        if found is None:
            base = re.sub(_SNAPSHOT_SUFFIX, "", model)
            found = self._prices.get(base) or self._prices.get(base.removeprefix("openai/"))
        bedrock = re.match(_BEDROCK_ID, model) if found is None else None
        if bedrock is not None:  # priced as its base model, with its provider's prefix (amazon.nova-lite) or not
            base = re.sub(_SNAPSHOT_SUFFIX, "", bedrock["model"])
            found = self._prices.get(f"{bedrock['provider']}.{base}") or self._prices.get(base)
        return found

    def cost(self, model: str, tokens: TokenCounts) -> float:
        """What these tokens cost at list price; 0.0 for a model the table lacks (`known` tells which)."""
        price = self.known(model)
        return price.cost(tokens.input, tokens.cached_input, tokens.output) if price is not None else 0.0


_tables: tuple[Any, PriceTable] | None = None
_tables_lock = threading.Lock()


def table_for(settings: Any) -> PriceTable:
    """The price table of these settings, built once (an identity check on every later call)."""
    global _tables
    current = _tables
    if current is not None and current[0] is settings:
        return current[1]
    with _tables_lock:
        if _tables is None or _tables[0] is not settings:
            _tables = (settings, PriceTable.shipped(getattr(settings, "price_overrides", None)))
        return _tables[1]


def record_hit_savings(settings: Any, *entries: Any) -> None:
    """Count what these served entries saved: TokensSaved, and CostSaved in US dollars when priced."""
    from llmcache.observability import record  # a sys.modules lookup: observability is loaded by then

    if len(entries) == 1:  # the hit path: no loop, no sums
        entry = entries[0]
        tokens, dollars = entry.tokens, _dollars(table_for(settings), entry)
    else:
        table = table_for(settings)
        tokens = sum(entry.tokens for entry in entries)
        dollars = sum(_dollars(table, entry) for entry in entries)
    if tokens:
        record(Metric.TOKENS_SAVED, tokens)
    if dollars:
        record(Metric.COST_SAVED, dollars)


def _dollars(table: PriceTable, entry: Any) -> float:
    if not (entry.input_tokens or entry.output_tokens):
        return 0.0  # stored without its usage split (older entries): tokens count, dollars cannot
    price = table.price(entry.model)
    return price.cost(entry.input_tokens, entry.cached_input_tokens, entry.output_tokens) if price else 0.0
