"""What `make run` decides to start, from the environment alone (no server started here)."""

from __future__ import annotations

import pytest

from llmcache.local.run import banner, curl_example, plan_local_run
from llmcache.settings import Settings, SettingsError


def test_given_an_empty_environment_when_planned_then_moto_offline_provider_and_a_generated_admin_key() -> None:
    plan = plan_local_run({})

    assert plan.start_moto and plan.create_resources
    assert plan.start_offline_provider and plan.upstream_mode == "offline"
    assert plan.generated_admin_key and plan.generated_admin_key.startswith("sk-admin-local-")
    assert plan.env_updates["ADMIN_API_KEY"] == plan.generated_admin_key
    assert "UPSTREAM_BASE_URL" not in plan.env_updates  # set once the provider has a port


def test_given_max_request_bytes_when_planned_then_the_server_limit_can_follow_it() -> None:
    assert plan_local_run({"MAX_REQUEST_BYTES": "20000000"}).max_request_bytes == 20_000_000
    assert plan_local_run({}).max_request_bytes == 6_291_456


def test_given_two_runs_when_admin_keys_are_generated_then_they_differ() -> None:
    assert plan_local_run({}).generated_admin_key != plan_local_run({}).generated_admin_key


def test_given_an_openai_key_when_planned_then_managed_mode_against_openai() -> None:
    plan = plan_local_run({"OPENAI_API_KEY": "sk-real-1234"})

    assert plan.upstream_mode == "managed"
    assert plan.env_updates["UPSTREAM_BASE_URL"] == "https://api.openai.com/v1"
    assert plan.env_updates["UPSTREAM_API_KEY"] == "sk-real-1234"
    # No Anthropic key: /v1/messages still works offline, from the offline provider alone.
    assert plan.anthropic_offline and plan.start_offline_provider


BEDROCK = "https://bedrock-runtime.us-east-1.amazonaws.com"


@pytest.mark.parametrize(
    "anthropic",
    [
        {"ANTHROPIC_API_KEY": "sk-ant-1"},
        {"ANTHROPIC_BASE_URL": "http://127.0.0.1:9"},
        {"ANTHROPIC_API_KEY_SECRET_ARN": "arn:x"},
    ],
)
def test_given_an_anthropic_key_or_url_and_an_openai_key_when_planned_then_no_offline_provider(
    anthropic: dict[str, str],
) -> None:
    plan = plan_local_run({"OPENAI_API_KEY": "sk-real-1234", "BEDROCK_BASE_URL": BEDROCK, **anthropic})

    assert not plan.anthropic_offline and not plan.start_offline_provider
    assert "ANTHROPIC_BASE_URL" not in plan.env_updates


def test_given_no_bedrock_url_when_planned_then_the_offline_provider_answers_bedrock_and_a_url_turns_it_off() -> None:
    offline = plan_local_run({"OPENAI_API_KEY": "sk-real-1234", "ANTHROPIC_API_KEY": "sk-ant-1"})
    real = plan_local_run(
        {"OPENAI_API_KEY": "sk-real-1234", "ANTHROPIC_API_KEY": "sk-ant-1", "BEDROCK_BASE_URL": BEDROCK}
    )

    assert offline.bedrock_offline and offline.start_offline_provider
    assert not real.bedrock_offline and not real.start_offline_provider


def test_given_an_upstream_url_and_an_openai_key_when_planned_then_the_url_wins_in_passthrough() -> None:
    plan = plan_local_run({"UPSTREAM_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_API_KEY": "sk-real"})

    assert plan.upstream_mode == "passthrough"
    assert "UPSTREAM_BASE_URL" not in plan.env_updates and "UPSTREAM_API_KEY" not in plan.env_updates


def test_given_an_upstream_url_and_key_when_planned_then_managed_mode() -> None:
    plan = plan_local_run({"UPSTREAM_BASE_URL": "http://127.0.0.1:9/v1", "UPSTREAM_API_KEY": "sk-gw"})

    assert plan.upstream_mode == "managed"


def test_given_memory_only_tiers_when_planned_then_no_aws_at_all() -> None:
    plan = plan_local_run({"CACHE_TIERS": "memory"})

    assert not plan.start_moto and not plan.create_resources
    assert not any(name.startswith("AWS_") for name in plan.env_updates)


def test_given_an_external_loopback_endpoint_when_planned_then_resources_are_ensured_without_a_new_moto() -> None:
    plan = plan_local_run({"AWS_ENDPOINT_URL": "http://localhost:4566"})

    assert not plan.start_moto and plan.create_resources
    assert plan.env_updates["AWS_ACCESS_KEY_ID"] == "testing"


def test_given_a_remote_endpoint_when_planned_then_nothing_is_created_there() -> None:
    plan = plan_local_run({"AWS_ENDPOINT_URL": "https://dynamodb.eu-west-1.amazonaws.com"})

    assert not plan.start_moto and not plan.create_resources


def test_given_an_admin_key_when_planned_then_none_is_generated() -> None:
    plan = plan_local_run({"ADMIN_API_KEY": "mine"})

    assert plan.generated_admin_key is None and "ADMIN_API_KEY" not in plan.env_updates


def test_given_a_bad_setting_when_planned_then_a_settings_error_before_anything_starts() -> None:
    with pytest.raises(SettingsError, match="CACHE_TIERS"):
        plan_local_run({"CACHE_TIERS": "memory,floppy"})


def test_given_an_offline_plan_when_the_banner_is_printed_then_it_says_canned_and_shows_a_working_curl() -> None:
    plan = plan_local_run({})
    settings = Settings(upstream_base_url="http://127.0.0.1:5000/v1")

    text = banner("http://127.0.0.1:8080", settings, plan, moto_endpoint="http://127.0.0.1:5001", import_seconds=0.12)

    assert "offline provider: answers are canned, not from a model" in text
    assert "http://127.0.0.1:8080/v1/chat/completions" in text
    assert "memory, dynamodb" in text and "moto in-process" in text
    assert text.count(plan.generated_admin_key or "missing") == 1


def test_given_a_url_when_the_curl_example_is_built_then_it_posts_json_with_a_bearer_key() -> None:
    command = curl_example("http://127.0.0.1:8080", "sk-demo")

    assert "Authorization: Bearer sk-demo" in command
    assert "Content-Type: application/json" in command
    assert '"messages"' in command


def test_given_a_port_already_taken_when_run_then_it_exits_and_says_how_to_pick_another(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    from llmcache.local.run import main

    monkeypatch.setenv("CACHE_TIERS", "memory")  # nothing else to start
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["--port", str(port)]) != 0
    assert "make run PORT=" in capsys.readouterr().err


def test_given_semantic_mode_on_and_nothing_else_when_the_banner_is_printed_then_it_names_the_local_model() -> None:
    settings = Settings.from_env({"SEMANTIC_MODE": "on"})
    text = banner("http://127.0.0.1:8080", settings, plan_local_run({}), moto_endpoint=None, import_seconds=0.1)

    assert settings.semantic_embedder == "local"  # no embedding provider configured: the shipped model
    line = next(line for line in text.splitlines() if line.strip().startswith("semantic:"))
    assert "on, the shipped local model" in line and f"threshold {settings.semantic_threshold}" in line
    off = banner("http://127.0.0.1:8080", Settings(), plan_local_run({}), moto_endpoint=None, import_seconds=0.1)
    assert "semantic:   off" in off
