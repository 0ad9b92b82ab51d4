"""OpenAI's /v1/embeddings: never streamed, cached per input (`engine.per_input` answers it).

What only this API knows: how `input` splits into inputs, how a batch's prompt tokens are shared among
them, and how the provider's embedding objects line up with the inputs asked.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from llmcache.dialects.base import Assembler, SseDialect
from llmcache.dialects.openai import ANSWER_HEADERS, canonical_request, usage_counts
from llmcache.errors import BadRequest, UpstreamUnavailable

if TYPE_CHECKING:
    from llmcache.dialects.sse import SseEvent
    from llmcache.errors import GatewayError
    from llmcache.savings import TokenCounts

MAX_INPUTS = 2048  # OpenAI's own limit per /v1/embeddings request


class Embeddings(SseDialect):
    route = "embeddings"
    required = ("model", "input")
    answer_headers = ANSWER_HEADERS
    per_input = True

    def canonical(self, body: dict[str, Any]) -> dict[str, Any]:
        return canonical_request(body)

    def storable(self, status: int, answer: Any) -> bool:
        """Only a 2xx list of embeddings, never an error or an empty list."""
        if not 200 <= status < 300 or not isinstance(answer, dict) or "error" in answer:
            return False
        data = answer.get("data")
        return isinstance(data, list) and len(data) > 0

    def usage(self, answer: dict[str, Any]) -> TokenCounts:
        return usage_counts(answer)

    def events(self, chunks: Iterable[bytes]) -> Iterator[SseEvent]:
        raise NotImplementedError("/embeddings is not streamed")

    def assembler(self) -> Assembler[SseEvent]:
        raise NotImplementedError("/embeddings is not streamed")

    def replay(self, answer: dict[str, Any], body: dict[str, Any]) -> bytes:
        raise NotImplementedError("/embeddings is not streamed")

    def error_event(self, error: GatewayError) -> bytes:
        raise NotImplementedError("/embeddings is not streamed")


def split_inputs(value: Any) -> list[Any]:
    """The request's inputs as a list: a string or one token list is a batch of one."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value:
        if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return [value]
        if all(isinstance(v, str) for v in value) or all(
            isinstance(v, list) and v and all(isinstance(t, int) and not isinstance(t, bool) for t in v) for v in value
        ):
            if len(value) > MAX_INPUTS:
                raise BadRequest(
                    f"`input` holds {len(value)} inputs; at most {MAX_INPUTS} are accepted per request "
                    "(as the provider does): send them in several requests",
                    param="input",
                )
            return list(value)
    raise BadRequest(
        "`input` must be a string, a list of strings, a list of tokens or a list of token lists, not empty",
        param="input",
    )


def split_tokens(total: int, inputs: list[Any]) -> list[int]:
    """Share a batch's prompt tokens among its inputs by size (largest remainder), summing to `total`."""
    sizes = [len(i) if isinstance(i, list) else max(1, len(i)) for i in inputs]
    whole = sum(sizes)
    shares = [total * s // whole for s in sizes]
    remainders = sorted(range(len(inputs)), key=lambda i: (total * sizes[i]) % whole, reverse=True)
    for i in remainders[: total - sum(shares)]:
        shares[i] += 1
    return shares


def in_input_order(data: Any, count: int) -> list[dict[str, Any]]:
    """The provider's embedding objects in input order; a 502 unless they are `count` objects indexed
    0..count-1 (or carry no index at all, when the provider's order is taken)."""
    if isinstance(data, list) and len(data) == count and all(isinstance(d, dict) for d in data):
        indexes = [d.get("index") for d in data]
        if all(i is None for i in indexes):
            return data
        if all(type(i) is int for i in indexes) and sorted(indexes) == list(range(count)):
            return sorted(data, key=lambda d: d["index"])
    raise UpstreamUnavailable("the provider's embeddings do not match the inputs asked (their number or index)")
