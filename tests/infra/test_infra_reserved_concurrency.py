"""Reserved concurrency per environment (security review, issue #12): one client cannot take the account's."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from infra.config import ENVIRONMENTS_KEY, ConfigError, load_config
from infra_support import Synthesized


@pytest.mark.parametrize(("env_name", "reserved"), [("dev", 10), ("staging", 50), ("prod", 200)])
def test_given_cdk_json_when_each_environment_is_loaded_then_its_function_has_reserved_concurrency(
    cdk_context: dict[str, Any], env_name: str, reserved: int
) -> None:
    assert load_config(cdk_context, env_name).function.reserved_concurrency == reserved


def test_given_dev_and_prod_when_synthesized_then_the_function_reserves_its_configured_concurrency(
    dev: Synthesized, prod: Synthesized
) -> None:
    for synthesized in (dev, prod):
        function = synthesized.one("AWS::Lambda::Function")["Properties"]
        assert function["ReservedConcurrentExecutions"] == synthesized.config.function.reserved_concurrency


@pytest.mark.parametrize("value", [0, -5, "10", True])
def test_given_a_reserved_concurrency_that_is_not_a_positive_whole_number_when_loaded_then_config_error(
    cdk_context: dict[str, Any], value: Any
) -> None:
    context = copy.deepcopy(cdk_context)
    context[ENVIRONMENTS_KEY]["prod"]["function"]["reservedConcurrency"] = value

    with pytest.raises(ConfigError, match="reservedConcurrency"):
        load_config(context, "prod")
