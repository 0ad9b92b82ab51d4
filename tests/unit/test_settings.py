"""Settings are validated at import: a bad deploy fails there, with a message that names the variable."""

from __future__ import annotations

import pytest

from llmcache.settings import Settings, SettingsError


@pytest.mark.parametrize(
    "url",
    [
        "redis://:s3cret@localhost:notaport",  # redis-py would fail on every request, not at start
        "redis://:s3cret@localhost:99999",
        "redis://:s3cret@:6379",
        "redis://:s3cret@localhost:6379/zero",
        "http://:s3cret@localhost:6379",
    ],
)
def test_given_a_redis_url_redis_py_cannot_use_when_settings_load_then_an_error_without_the_password(url):
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"REDIS_URL": url, "CACHE_TIERS": "memory,redis"})
    assert "REDIS_URL" in str(error.value) and "s3cret" not in str(error.value)


@pytest.mark.parametrize("url", ["redis://localhost", "rediss://:pw@cache.example:6380/2", "unix:///tmp/redis.sock"])
def test_given_a_usable_redis_url_when_settings_load_then_it_is_kept(url):
    assert Settings.from_env({"REDIS_URL": url, "CACHE_TIERS": "memory,redis"}).redis_url == url


def test_given_an_upstream_url_with_credentials_that_is_not_http_when_loaded_then_the_error_hides_it():
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"UPSTREAM_BASE_URL": "ftp://user:s3cret@example.com/v1"})
    assert "UPSTREAM_BASE_URL" in str(error.value) and "s3cret" not in str(error.value)


def test_given_the_gateway_loaded_when_libraries_would_log_bodies_at_debug_then_they_are_capped_at_warning():
    import logging

    import llmcache.observability  # noqa: F401 - importing it caps them

    root = logging.getLogger()
    previous = root.level
    root.setLevel(logging.DEBUG)  # as Lambda sets it for a function whose log level is DEBUG
    try:
        for name in ("botocore", "urllib3", "httpx"):
            assert logging.getLogger(name).getEffectiveLevel() >= logging.WARNING
    finally:
        root.setLevel(previous)


def test_given_an_unknown_stats_source_when_settings_load_then_it_is_refused_at_start():
    with pytest.raises(SettingsError, match="STATS_SOURCE"):
        Settings.from_env({"STATS_SOURCE": "bogus"})
    assert Settings.from_env({"STATS_SOURCE": "CloudWatch"}).stats_source == "cloudwatch"
    assert Settings.from_env({}).stats_source == "auto"


def test_given_the_valkey_index_without_a_url_when_settings_load_then_refused_naming_both_variables():
    with pytest.raises(SettingsError, match=r"SEMANTIC_REDIS_URL.*REDIS_URL"):
        Settings.from_env({"SEMANTIC_MODE": "on", "SEMANTIC_INDEX": "valkey"})


def test_given_the_valkey_index_when_settings_load_then_its_own_url_else_the_hot_tiers():
    own = Settings.from_env(
        {"SEMANTIC_INDEX": "valkey", "SEMANTIC_REDIS_URL": "rediss://index:6379", "REDIS_URL": "redis://hot"}
    )
    shared = Settings.from_env({"SEMANTIC_INDEX": "valkey", "REDIS_URL": "redis://hot"})
    assert (own.semantic_redis_url, shared.semantic_redis_url) == ("rediss://index:6379", "redis://hot")
    assert Settings.from_env({}).semantic_index == "qdrant"


def test_given_a_bad_semantic_redis_url_when_settings_load_then_an_error_without_the_password():
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"SEMANTIC_INDEX": "valkey", "SEMANTIC_REDIS_URL": "redis://:s3cret@index:port"})
    assert "SEMANTIC_REDIS_URL" in str(error.value) and "s3cret" not in str(error.value)


def test_given_an_unknown_index_when_settings_load_then_refused():
    with pytest.raises(SettingsError, match="SEMANTIC_INDEX"):
        Settings.from_env({"SEMANTIC_INDEX": "pinecone"})


def test_given_a_hit_log_sample_rate_outside_zero_to_one_when_settings_load_then_it_is_refused_at_start():
    with pytest.raises(SettingsError, match="LOG_HIT_SAMPLE_RATE"):
        Settings.from_env({"LOG_HIT_SAMPLE_RATE": "1.5"})
    assert Settings.from_env({"LOG_HIT_SAMPLE_RATE": "0.01"}).log_hit_sample_rate == 0.01
    assert Settings.from_env({}).log_hit_sample_rate == 1.0  # every hit logged unless asked otherwise
