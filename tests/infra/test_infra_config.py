"""cdk.json context -> typed per-environment config: parsed in one place, loud on mistakes."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from infra.config import ENVIRONMENTS_KEY, ConfigError, load_config

from infra import app as infra_app

ENVIRONMENTS = ("dev", "staging", "prod")


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_given_cdk_json_when_environment_loaded_then_config_is_typed_and_consistent(
    cdk_context: dict[str, Any], env_name: str
) -> None:
    config = load_config(cdk_context, env_name)

    assert config.name == env_name
    assert config.stack_name == f"LlmCache-{env_name}"
    assert config.function.timeout_seconds > config.api.integration_timeout_seconds > 29
    assert config.cache.default_ttl_seconds <= config.cache.max_ttl_seconds
    assert config.cache.body_expiry_days * 86_400 > config.cache.max_ttl_seconds
    assert config.hot_tier.enabled is False, "the hot tier costs NAT hours: off unless asked for"


def test_given_cdk_json_when_loaded_then_only_prod_retains_data(cdk_context: dict[str, Any]) -> None:
    retained = {name: load_config(cdk_context, name).retain_data for name in ENVIRONMENTS}

    assert retained == {"dev": False, "staging": False, "prod": True}


def test_given_a_misspelt_setting_when_loaded_then_the_error_names_it(cdk_context: dict[str, Any]) -> None:
    context = copy.deepcopy(cdk_context)
    context[ENVIRONMENTS_KEY]["dev"]["alarms"]["hitRateMinPercnt"] = 3

    with pytest.raises(ConfigError, match="hitRateMinPercnt"):
        load_config(context, "dev")


def test_given_function_timeout_under_integration_timeout_when_loaded_then_config_error(
    cdk_context: dict[str, Any],
) -> None:
    context = copy.deepcopy(cdk_context)
    context[ENVIRONMENTS_KEY]["prod"]["function"]["timeoutSeconds"] = 60

    with pytest.raises(ConfigError, match="timeoutSeconds"):
        load_config(context, "prod")


def test_given_an_unknown_environment_when_loaded_then_the_error_lists_the_known_ones(
    cdk_context: dict[str, Any],
) -> None:
    with pytest.raises(ConfigError, match="dev, staging, prod"):
        load_config(cdk_context, "qa")


def test_given_cli_style_arguments_when_parsed_then_context_pairs_come_back() -> None:
    assert infra_app.parse_context_args(["-c", "env=prod", "--context", "a=b=c", "--context=x=1"]) == {
        "env": "prod",
        "a": "b=c",
        "x": "1",
    }
    with pytest.raises(SystemExit):
        infra_app.parse_context_args(["--env", "prod"])


def test_given_a_body_limit_lambda_cannot_take_when_loaded_then_config_error(cdk_context: dict[str, Any]) -> None:
    # 6 MiB is Lambda's limit for the whole event; a body that large never reaches the function's 413
    context = copy.deepcopy(cdk_context)
    context[ENVIRONMENTS_KEY]["prod"].setdefault("cache", {})["maxRequestBytes"] = 6291456

    with pytest.raises(ConfigError, match="maxRequestBytes"):
        load_config(context, "prod")
    assert load_config(cdk_context, "prod").cache.max_request_bytes == 5242880


def test_given_an_environment_that_widens_the_passthrough_allowlist_when_loaded_then_it_is_checked_and_kept(
    cdk_context: dict[str, Any],
) -> None:
    """issue #22, finding 22.1: the operator widens the managed-mode allowlist per environment in cdk.json; an
    entry the function would refuse fails the synth."""
    context = copy.deepcopy(cdk_context)
    context[ENVIRONMENTS_KEY]["dev"].setdefault("cache", {})["passthroughAllow"] = ["POST /v1/images/generations"]

    assert load_config(context, "dev").cache.passthrough_allow == ["POST /v1/images/generations"]
    context[ENVIRONMENTS_KEY]["dev"]["cache"]["passthroughAllow"] = ["GET /files"]
    with pytest.raises(ConfigError, match="passthroughAllow"):
        load_config(context, "dev")
