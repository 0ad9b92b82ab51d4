"""What `make run` decides to start, from the environment alone (no server started here)."""

from __future__ import annotations

import pytest

from llmcache.local.startup import banner, curl_example, export_line, plan_local_run
from llmcache.settings import Settings, SettingsError


def test_given_an_empty_environment_when_planned_then_moto_offline_provider_and_a_generated_admin_key() -> None:
    plan = plan_local_run({})

    assert plan.start_moto and plan.create_resources
    assert plan.start_offline_provider and plan.upstream_mode == "offline"
    assert plan.generated_admin_key and plan.generated_admin_key.startswith("sk-admin-local-")
    assert plan.env_updates["LLMCACHE_ADMIN_API_KEY"] == plan.generated_admin_key
    assert "LLMCACHE_UPSTREAM_BASE_URL" not in plan.env_updates  # set once the provider has a port


def test_given_max_request_bytes_when_planned_then_the_server_limit_can_follow_it() -> None:
    assert plan_local_run({"MAX_REQUEST_BYTES": "20000000"}).max_request_bytes == 20_000_000
    assert plan_local_run({}).max_request_bytes == 6_291_456


def test_given_two_runs_when_admin_keys_are_generated_then_they_differ() -> None:
    assert plan_local_run({}).generated_admin_key != plan_local_run({}).generated_admin_key


def test_given_an_openai_key_when_planned_then_managed_mode_against_openai() -> None:
    plan = plan_local_run({"OPENAI_API_KEY": "sk-real-1234"})

    assert plan.upstream_mode == "managed"
    assert plan.env_updates["LLMCACHE_UPSTREAM_BASE_URL"] == "https://api.openai.com/v1"
    assert plan.env_updates["LLMCACHE_UPSTREAM_API_KEY"] == "sk-real-1234"
    assert plan.sources["upstream key"] == "OPENAI_API_KEY"  # the banner names it
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
    assert not any("ANTHROPIC_BASE_URL" in name for name in plan.env_updates)


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
    assert not any(name.endswith(("UPSTREAM_BASE_URL", "UPSTREAM_API_KEY")) for name in plan.env_updates)


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

    assert plan.generated_admin_key is None and not any("ADMIN_API_KEY" in name for name in plan.env_updates)


def test_given_a_bad_setting_when_planned_then_a_settings_error_before_anything_starts() -> None:
    with pytest.raises(SettingsError, match="CACHE_TIERS"):
        plan_local_run({"CACHE_TIERS": "memory,floppy"})


def test_given_an_offline_plan_when_the_banner_is_printed_then_it_says_canned_and_shows_a_working_curl() -> None:
    plan = plan_local_run({})
    settings = Settings(upstream_base_url="http://127.0.0.1:5000/v1")

    text = banner("http://127.0.0.1:8080", settings, plan, moto_endpoint="http://127.0.0.1:5001")

    assert "offline provider: answers are canned, not from a model (no upstream set" in text
    assert "http://127.0.0.1:8080/v1/chat/completions" in text
    assert "memory, dynamodb" in text and "moto in-process" in text
    assert "semantic   off" in text
    assert text.count(plan.generated_admin_key or "missing") == 1  # in the export line only


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


# ----- gateway settings that a client's own variables cannot change by accident (issue #26) -------------------


def test_given_offline_when_planned_then_both_apis_go_offline_whatever_keys_the_shell_holds() -> None:
    shell = {"OPENAI_API_KEY": "sk-real", "ANTHROPIC_API_KEY": "sk-ant-real", "UPSTREAM_API_KEY": "sk-gw"}

    plan = plan_local_run(shell, offline=True)

    assert plan.upstream_mode == "offline" and plan.anthropic_offline and plan.start_offline_provider
    # the prefixed names win over the shell's: no real key reaches the offline provider
    assert plan.env_updates["LLMCACHE_UPSTREAM_API_KEY"] == "" and plan.env_updates["LLMCACHE_ANTHROPIC_API_KEY"] == ""
    settings = Settings.from_env({**shell, **plan.env_updates})
    assert settings.upstream_api_key is None and settings.anthropic_api_key is None


def test_given_prefixed_and_plain_names_when_planned_then_the_prefixed_one_wins_and_is_named() -> None:
    env = {"ANTHROPIC_BASE_URL": "http://127.0.0.1:8080", "LLMCACHE_ANTHROPIC_BASE_URL": "http://127.0.0.1:9"}

    plan = plan_local_run(env)

    assert plan.sources["anthropic"] == "LLMCACHE_ANTHROPIC_BASE_URL"
    assert Settings.from_env(env).anthropic_base_url == "http://127.0.0.1:9"


def test_given_a_client_side_key_in_the_shell_when_the_banner_is_printed_then_it_says_where_it_came_from() -> None:
    plan = plan_local_run({"OPENAI_API_KEY": "sk-real-1234"})
    settings = Settings.from_env({"OPENAI_API_KEY": "sk-real-1234", **plan.env_updates})

    text = banner("http://127.0.0.1:8080", settings, plan, moto_endpoint=None)

    upstream_line = next(line for line in text.splitlines() if line.strip().startswith("openai"))
    assert "https://api.openai.com/v1" in upstream_line
    assert "from OPENAI_API_KEY in this shell, a client's variable" in upstream_line
    assert "LLMCACHE_OPENAI_API_KEY is the gateway's" in upstream_line and "OFFLINE=1" in upstream_line
    assert "sk-real-1234" not in text  # where a key came from, never the key


def test_given_a_port_when_the_export_line_is_built_then_it_points_the_cli_at_that_port_with_both_keys() -> None:
    plan = plan_local_run({})

    line = export_line("http://127.0.0.1:8123", plan)

    assert line == (
        "export LLMCACHE_URL=http://127.0.0.1:8123 LLMCACHE_API_KEY=sk-local-demo "
        f"LLMCACHE_ADMIN_KEY={plan.generated_admin_key}"
    )


def test_given_an_admin_key_of_the_operators_when_the_export_line_is_built_then_it_names_the_variable_not_the_key() -> (
    None
):
    plan = plan_local_run({"LLMCACHE_ADMIN_API_KEY": "operator-secret"})

    line = export_line("http://127.0.0.1:8080", plan)

    assert "operator-secret" not in line and line.endswith('LLMCACHE_ADMIN_KEY="$LLMCACHE_ADMIN_API_KEY"')


def test_given_semantic_on_when_the_banner_is_printed_then_it_names_the_model_and_threshold() -> None:
    plan = plan_local_run({})
    settings = Settings(semantic_mode="on", semantic_embedder="local", semantic_threshold=0.9)

    text = banner("http://127.0.0.1:8080", settings, plan, moto_endpoint=None)

    assert "semantic   on, the shipped local model, threshold 0.9, pair cut" in text


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"ANTHROPIC_BASE_URL": "http://127.0.0.1:{port}"}, "ANTHROPIC_BASE_URL is a client's setting"),
        ({"ANTHROPIC_BASE_URL": "http://localhost:{port}/"}, "unset it in this shell"),
        ({"UPSTREAM_BASE_URL": "http://127.0.0.1:{port}/v1"}, "set UPSTREAM_BASE_URL to the provider's URL"),
        ({"LLMCACHE_UPSTREAM_BASE_URL": "http://[::1]:{port}/v1"}, "set LLMCACHE_UPSTREAM_BASE_URL to the provider"),
    ],
)
def test_given_an_upstream_that_is_the_gateway_itself_when_run_then_it_refuses_in_one_line(
    env: dict[str, str], says: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    from llmcache.local.run import main

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("CACHE_TIERS", "memory")
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(port=port))

    assert main(["--port", str(port)]) == 2

    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err and "this gateway itself" in err and "loop" in err


def test_given_an_upstream_on_another_port_when_checked_then_it_is_not_the_gateway() -> None:
    from llmcache.local.startup import check_not_self

    settings = Settings(upstream_base_url="http://127.0.0.1:9000/v1", anthropic_base_url="https://api.anthropic.com")

    check_not_self(settings, {}, "127.0.0.1", 8080)  # no SelfUpstream raised
    check_not_self(Settings(anthropic_base_url="https://api.anthropic.com"), {}, "0.0.0.0", 443)


def test_given_an_anthropic_key_in_the_shell_when_the_banner_is_printed_then_the_messages_row_names_it() -> None:
    shell = {"ANTHROPIC_API_KEY": "sk-ant-real"}
    plan = plan_local_run(shell)
    settings = Settings.from_env({**shell, **plan.env_updates})

    text = banner("http://127.0.0.1:8080", settings, plan, moto_endpoint=None)

    row = next(line for line in text.splitlines() if line.strip().startswith("anthropic"))
    assert "https://api.anthropic.com" in row and "managed with the key from ANTHROPIC_API_KEY in this shell" in row
    assert "sk-ant-real" not in text


def test_given_semantic_mode_on_and_nothing_else_when_the_banner_is_printed_then_it_names_the_local_model() -> None:
    settings = Settings.from_env({"SEMANTIC_MODE": "on"})
    text = banner("http://127.0.0.1:8080", settings, plan_local_run({}), moto_endpoint=None)

    assert settings.semantic_embedder == "local"  # no embedding provider configured: the shipped model
    line = next(line for line in text.splitlines() if line.strip().startswith("semantic"))
    assert "on, the shipped local model" in line and f"threshold {settings.semantic_threshold}" in line
    off = banner("http://127.0.0.1:8080", Settings(), plan_local_run({}), moto_endpoint=None)
    assert "semantic   off" in off
