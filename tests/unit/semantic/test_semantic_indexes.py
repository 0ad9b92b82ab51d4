"""SEMANTIC_INDEX picks the index; secrets are handed over as readers, read only when a client is made."""

from __future__ import annotations

import pytest

from llmcache.semantic.errors import SemanticUnavailable
from llmcache.semantic.exact_index import ExactIndex
from llmcache.semantic.index import QdrantIndex
from llmcache.semantic.indexes import build_index, index_kind
from llmcache.semantic.valkey_index import ValkeyIndex
from llmcache.settings import Settings


def recording_reader(calls: list[tuple[str | None, str | None, str]], value: str = "from-secret"):
    def reader(given: str | None, arn: str | None, what: str):
        calls.append((given, arn, what))
        return lambda: value

    return reader


def test_given_the_valkey_index_when_built_then_it_reads_its_auth_token_secret_by_arn():
    settings = Settings.from_env(
        {
            "SEMANTIC_INDEX": "valkey",
            "SEMANTIC_REDIS_URL": "rediss://index:6379",
            "SEMANTIC_REDIS_AUTH_SECRET_ARN": "arn:t",
        }
    )
    calls: list[tuple[str | None, str | None, str]] = []
    index = build_index(settings, recording_reader(calls))
    assert isinstance(index, ValkeyIndex) and index.url == "rediss://index:6379"
    assert calls == [(None, "arn:t", "Valkey auth token")]


def test_given_the_qdrant_index_when_built_then_its_api_key_comes_from_the_secret_reader():
    settings = Settings.from_env({"QDRANT_URL": "https://q.example", "QDRANT_API_KEY_SECRET_ARN": "arn:q"})
    calls: list[tuple[str | None, str | None, str]] = []
    index = build_index(settings, recording_reader(calls, "qk"))
    assert isinstance(index, QdrantIndex) and callable(index.api_key) and index.api_key() == "qk"
    assert calls == [(None, "arn:q", "Qdrant API key")]


def test_given_no_index_server_when_built_then_the_in_process_exact_index_and_qdrant_only_on_a_path():
    assert isinstance(build_index(Settings.from_env({})), ExactIndex)
    on_disk = build_index(Settings.from_env({"QDRANT_PATH": "/tmp/index"}))
    assert isinstance(on_disk, QdrantIndex) and on_disk.path == "/tmp/index" and on_disk.embedded
    assert index_kind(Settings.from_env({})) == "in-process (exact)"
    assert index_kind(Settings.from_env({"QDRANT_PATH": "/tmp/index"})) == "qdrant on disk"
    assert index_kind(Settings.from_env({"QDRANT_URL": "https://q.example"})) == "qdrant server"


def test_given_an_unreadable_auth_token_when_the_index_is_first_used_then_unavailable_not_a_crash():
    def unreadable() -> str:
        raise RuntimeError("AccessDenied")

    index = ValkeyIndex("redis://127.0.0.1:9/0", password=unreadable, timeout=0.5)
    with pytest.raises(SemanticUnavailable, match="RuntimeError"):
        index.search("m", "p", [1.0, 0.0], 0.0)
