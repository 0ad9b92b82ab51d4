"""The price table and the token split that turn a hit into the dollars it saved."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from llmcache.savings import SHIPPED_PRICES, Price, PriceError, PriceTable, TokenCounts, parse_prices
from llmcache.settings import Settings, SettingsError
from llmcache.stores.base import CacheEntry


def test_given_the_shipped_table_when_read_then_it_names_its_date_source_and_prices_the_common_models():
    document = json.loads(Path(SHIPPED_PRICES).read_text())
    assert document["date"] and "openai.com" in document["source"] and "claude.com" in document["source"]
    table = PriceTable.shipped()
    assert table.price("gpt-4o-mini") == Price(input=0.15, cached_input=0.075, output=0.6)
    for model in ("gpt-4o", "gpt-4.1-mini", "gpt-5", "o4-mini", "text-embedding-3-small", "claude-sonnet-4-5"):
        assert table.price(model) is not None, model


def test_given_a_dated_snapshot_when_priced_then_it_costs_what_its_model_costs():
    table = PriceTable.shipped()
    assert table.price("gpt-4o-mini-2024-07-18") == table.price("gpt-4o-mini")
    assert table.price("claude-3-5-haiku-20241022") == table.price("claude-3-5-haiku")
    assert table.price("gpt-4o-audio-preview") is None  # a different model is not priced as gpt-4o


@pytest.mark.parametrize(
    ("model_id", "priced_as"),
    [
        ("anthropic.claude-3-5-haiku-20241022-v1:0", "claude-3-5-haiku"),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"),
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/global.anthropic.claude-haiku-4-5-20251001-v1:0",
            "claude-haiku-4-5",
        ),
        ("amazon.nova-lite-v1:0", "amazon.nova-lite"),
        ("eu.amazon.nova-pro-v1:0", "amazon.nova-pro"),
        ("meta.llama3-3-70b-instruct-v1:0", "meta.llama3-3-70b-instruct"),
    ],
)
def test_given_a_bedrock_model_id_when_priced_then_it_costs_what_its_base_model_costs(model_id, priced_as):
    table = PriceTable.shipped()
    assert table.price(model_id) == table.price(priced_as) is not None
    assert table.price("anthropic.claude-not-a-model-v1:0") is None


def test_given_usage_with_cached_input_when_costed_then_each_kind_of_token_has_its_price():
    price = Price(input=2.0, cached_input=0.5, output=8.0)
    # 1,000 input tokens of which 400 cached, 500 output: 600*2 + 400*0.5 + 500*8 per million.
    assert price.cost(1000, 400, 500) == pytest.approx((600 * 2.0 + 400 * 0.5 + 500 * 8.0) / 1e6)


def test_given_a_model_missing_from_the_table_when_priced_twice_then_it_is_logged_once(caplog):
    table = PriceTable.shipped()
    with caplog.at_level(logging.WARNING):
        assert table.price("my-private-finetune") is None
        assert table.price("my-private-finetune") is None
    warnings = [r for r in caplog.records if "missing from the price table" in r.getMessage()]
    assert len(warnings) == 1


def test_given_overrides_in_a_file_and_inline_when_settings_load_then_inline_wins_over_file_over_shipped(tmp_path):
    price_file = tmp_path / "prices.json"
    price_file.write_text(
        json.dumps({"models": {"gpt-4o-mini": {"input": 1, "output": 2}, "my-model": {"input": 3, "output": 4}}})
    )
    settings = Settings.from_env(
        {"PRICES_FILE": str(price_file), "PRICES": '{"my-model": {"input": 5, "cached_input": 1, "output": 6}}'}
    )
    table = PriceTable.shipped(settings.price_overrides)
    assert table.price("gpt-4o-mini") == Price(input=1.0, cached_input=1.0, output=2.0)  # cached defaults to input
    assert table.price("my-model") == Price(input=5.0, cached_input=1.0, output=6.0)
    assert table.price("gpt-4o") == PriceTable.shipped().price("gpt-4o")


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"PRICES": "{not json"}, "PRICES is not JSON"),
        ({"PRICES": '{"m": {"input": -1, "output": 1}}'}, "PRICES: 'm' needs `input`"),
        ({"PRICES": '{"m": {"input": 1}}'}, "PRICES: 'm' needs `output`"),
        ({"PRICES": "[1, 2]"}, "PRICES must be a JSON object"),
        ({"PRICES_FILE": "/nonexistent/prices.json"}, "PRICES_FILE cannot be read"),
    ],
)
def test_given_a_bad_price_override_when_settings_load_then_the_start_fails_naming_it(env, named):
    with pytest.raises(SettingsError, match="^" + named.replace("(", r"\(")):
        Settings.from_env(env)


def test_given_a_price_table_that_is_not_an_object_when_parsed_then_the_error_names_its_origin():
    with pytest.raises(PriceError, match="somewhere"):
        parse_prices('"text"', "somewhere")


def test_given_an_entry_with_its_usage_split_when_packed_and_unpacked_then_the_split_survives():
    usage = TokenCounts(total=42, input=30, cached_input=0, output=12)
    entry = CacheEntry.from_answer(b"{}", created_at=1.0, ttl=60, route="chat/completions", model="m", usage=usage)
    back = CacheEntry.unpack(entry.pack(), "memory")
    assert (back.tokens, back.input_tokens, back.cached_input_tokens, back.output_tokens) == (42, 30, 0, 12)


def test_given_an_entry_stored_before_the_split_when_unpacked_then_it_reads_with_zero_billed_tokens():
    old = CacheEntry.from_answer(b"{}", created_at=1.0, ttl=60, route="chat/completions", model="m", tokens=9)
    packed = old.pack()
    assert b"input_tokens" not in packed  # what an older gateway wrote: no split at all
    back = CacheEntry.unpack(packed, "redis")
    assert (back.tokens, back.input_tokens, back.output_tokens) == (9, 0, 0)
