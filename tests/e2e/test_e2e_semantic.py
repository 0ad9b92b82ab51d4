"""Semantic matching through the real local gateway with nothing but SEMANTIC_MODE=on: the shipped models
(the local embedder is the default), the shipped decision (vetoes, ambiguity guard, PairVerifier), and the
X-Cache-Debug answer. Each of the 20 hand-written answer-changing pairs must miss."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.e2e.clients import chat_body, post, warm
from tests.servers import GatewayProcess

from llmcache.semantic.vetoes import KINDS

pytestmark = pytest.mark.semantic

HAND_WRITTEN = (
    Path(__file__).resolve().parents[2] / "functions/llmcache/semantic/offline/data/hand_written.jsonl"
).read_text()
PAIRS = [json.loads(line) for line in HAND_WRITTEN.splitlines() if line.strip()]
REFUSALS = {*KINDS, "ambiguous", "pair model", "below threshold"}


@pytest.fixture(scope="module")
def semantic_gw(gateway: Callable[..., GatewayProcess]) -> GatewayProcess:
    # nothing but SEMANTIC_MODE=on: the shipped local model and the shipped operating point
    return warm(gateway(env={"SEMANTIC_MODE": "on"}, name="gateway-semantic-defaults"))


def test_given_the_hand_written_pairs_when_each_second_question_is_asked_then_each_misses_with_a_reason(
    semantic_gw: GatewayProcess,
) -> None:
    assert len(PAIRS) == 20
    served = []
    for row in PAIRS:
        key = f"sk-pair-{uuid.uuid4().hex[:8]}"  # its own partition: the edited question's only neighbour
        first = post(semantic_gw, "/v1/chat/completions", chat_body(row["a"]), api_key=key)
        assert first.status_code == 200 and first.headers["x-cache"] == "MISS"
        second = post(
            semantic_gw,
            "/v1/chat/completions",
            chat_body(row["b"]),
            api_key=key,
            headers={"X-Cache-Debug": "1", "Cache-Control": "no-store"},
        )
        assert second.status_code == 200
        if second.headers["x-cache"] != "MISS":
            served.append((row["kind"], row["b"]))
            continue
        reason = second.headers["x-cache-semantic-reason"]
        assert reason in REFUSALS, reason  # a kind from a fixed list: never the cached question's words
        assert second.headers["x-cache-semantic-scores"].startswith("similarity=")
    assert served == []


def test_given_a_paraphrase_with_debug_when_asked_then_the_hit_says_its_similarity_and_pair_score(
    semantic_gw: GatewayProcess,
) -> None:
    key = f"sk-para-{uuid.uuid4().hex[:8]}"
    post(semantic_gw, "/v1/chat/completions", chat_body("What is the capital city of France?"), api_key=key)
    hit = post(
        semantic_gw,
        "/v1/chat/completions",
        chat_body("What's the capital city of France?"),
        api_key=key,
        headers={"X-Cache-Debug": "1"},
    )
    assert (hit.headers["x-cache"], hit.headers["x-cache-match"]) == ("HIT", "semantic")
    scores = dict(part.strip().split("=") for part in hit.headers["x-cache-semantic-scores"].split(";"))
    assert float(scores["similarity"]) >= 0.85 and float(scores["pair"]) >= 0.5
    assert "x-cache-semantic-reason" not in hit.headers
    # without the header, no debug answer
    quiet = post(semantic_gw, "/v1/chat/completions", chat_body("What's the capital city of France?"), api_key=key)
    assert "x-cache-semantic-scores" not in quiet.headers


def test_given_a_bad_debug_value_when_asked_then_a_400_in_the_apis_envelope(semantic_gw: GatewayProcess) -> None:
    response = post(semantic_gw, "/v1/chat/completions", chat_body("Hello there"), headers={"X-Cache-Debug": "please"})
    assert response.status_code == 400 and "X-Cache-Debug" in response.json()["error"]["message"]
