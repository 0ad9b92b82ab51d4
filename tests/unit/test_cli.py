"""The `llmcache` command's own logic: reading a warm file, windows, tenants, one-line errors, care with keys."""

from __future__ import annotations

import io
import socket

import pytest

from llmcache import cli, keys
from llmcache.cli.charts import dollars
from llmcache.cli.warm import ANTHROPIC_VERSION, WarmTally, route_of, warm_requests


def test_given_a_warm_file_when_read_then_bad_lines_are_named_by_number_and_good_ones_keep_their_route():
    tally = WarmTally()
    lines = [
        '{"model": "m", "messages": []}',
        "",
        "{broken",
        '["not", "an", "object"]',
        '{"route": "/v1/embeddings", "model": "e", "input": "x", "stream": true}',
        '{"route": "images", "model": "m"}',
        '{"model": "m", "question": "no API has this shape"}',
    ]
    requests = list(warm_requests(iter(lines), None, tally))

    assert [(r.line, r.route) for r in requests] == [(1, "chat/completions"), (5, "embeddings")]
    assert requests[1].body == {"model": "e", "input": "x"}  # route and stream are not sent
    assert tally.skipped == 4 and tally.any_failed
    assert [p.split(":")[0] for p in tally.problems] == ["line 3", "line 4", "line 6", "line 7"]
    assert "unknown route 'images'" in tally.problems[2]
    assert 'cannot tell its API from its fields: add "route"' in tally.problems[3]


@pytest.mark.parametrize(
    ("body", "route"),
    [
        ({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}, "chat/completions"),
        ({"model": "claude-sonnet-4-5", "max_tokens": 9, "messages": []}, "messages"),
        ({"model": "my-proxy-alias", "system": "Be brief.", "max_tokens": 9, "messages": []}, "messages"),
        ({"model": "gpt-4.1-mini", "input": "hi"}, "responses"),
        ({"model": "text-embedding-3-small", "input": ["a", "b"]}, "embeddings"),
        ({"model": "custom", "input": "a", "dimensions": 256}, "embeddings"),
        ({"model": "gpt-3.5-turbo-instruct", "prompt": "hi"}, "completions"),
        ({"model": "m"}, None),
    ],
)
def test_given_a_line_without_a_route_when_its_shape_is_read_then_it_names_its_api(body, route):
    assert route_of(body) == route


def test_given_a_route_flag_when_lines_are_read_then_it_wins_over_the_shape_but_not_over_a_lines_own_route():
    lines = ['{"model": "claude-sonnet-4-5", "messages": []}', '{"route": "responses", "model": "m", "input": "x"}']

    requests = list(warm_requests(iter(lines), "chat/completions", WarmTally()))

    assert [r.route for r in requests] == ["chat/completions", "responses"]


def test_given_the_shipped_sample_prompts_when_read_then_every_line_is_a_request_of_every_cached_api():
    with open("examples/prompts.jsonl", encoding="utf-8") as handle:
        tally = WarmTally()
        routes = {r.route for r in warm_requests(iter(handle), None, tally)}

    assert not tally.any_failed
    assert routes == {"chat/completions", "completions", "embeddings", "responses", "messages"}


@pytest.mark.parametrize(
    ("text", "seconds"), [("3600", 3600), ("90s", 90), ("30m", 1800), ("1h", 3600), ("7D", 604800), ("14d", 1209600)]
)
def test_given_a_window_when_parsed_then_it_is_seconds(text: str, seconds: int):
    assert cli.parse_window(text) == seconds


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("an hour", r"--window takes a number with s, m, h or d \(e\.g\. 90s, 30m, 1h, 7d\); got 'an hour'"),
        ("30d", r"--window must be between 1m and 14d \(the gateway keeps 14 days of counts\); got '30d'"),
        ("30s", r"--window must be between 1m and 14d .*got '30s'"),
        ("-5m", r"--window takes a number"),
    ],
)
def test_given_a_window_out_of_form_or_range_when_parsed_then_the_error_says_which_and_why(text: str, says: str):
    with pytest.raises(cli.CliError, match=says):
        cli.parse_window(text)


def test_given_the_official_anthropic_sdk_when_warm_sends_messages_then_its_version_is_the_sdks():
    """The version is in a Messages entry's key: warm's default must be what the clients send."""
    from anthropic._constants import ANTHROPIC_API_VERSION

    assert ANTHROPIC_VERSION == ANTHROPIC_API_VERSION


def test_given_amounts_when_shown_then_fractions_of_a_cent_stay_visible():
    assert dollars(0.000025) == "$0.000025"
    assert dollars(1234.5) == "$1,234.50"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("LLMCACHE_URL", "LLMCACHE_API_KEY", "LLMCACHE_ADMIN_KEY", "LLMCACHE_GATEWAY_KEY", "LLMCACHE_INSECURE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int | str | None, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


@pytest.mark.parametrize(
    ("argv", "code", "says"),
    [
        (["stats", "--window", "soon"], 1, "llmcache: --window takes a number"),
        (["stats", "--window", "30d"], 1, "llmcache: --window must be between 1m and 14d"),
        (["stats", "--watch", "--every", "0s"], 1, "llmcache: --every must be between 1s and 1h"),
        (["stats", "--url", "127.0.0.1:8080"], 1, "must be the gateway's http(s) base URL"),
        (["stats", "--url", "http://127.0.0.1:8080/v1"], 1, "without /v1"),
        (["entry", "0" * 64, "--ttl", "5", "--delete"], 1, "either --ttl or --delete"),
        (["warm", "/nonexistent/prompts.jsonl", "--api-key", "k"], 1, "cannot read /nonexistent/prompts.jsonl"),
        (["warm", "-", "--route", "images", "--api-key", "k"], 1, "--route must be one of"),
        (["stats", "--no-such-flag"], 2, "No such option"),
    ],
)
def test_given_a_mistake_when_run_then_it_exits_with_a_message_and_no_traceback(argv, code, says, capsys, clean_env):
    clean_env.setenv("LLMCACHE_ADMIN_KEY", "k")
    exit_code, _, err = run(argv, capsys)

    assert exit_code == code
    assert says in err and "Traceback" not in err


# ----- issue #22, finding 9 --------------------------------------------------------------------------------


def test_given_an_entry_key_that_is_a_path_when_run_then_it_is_refused_before_anything_is_sent(capsys, clean_env):
    port = _closed_port()  # had it tried to connect, the error would say "cannot connect"
    clean_env.setenv("LLMCACHE_ADMIN_KEY", "sk-admin")

    exit_code, _, err = run(["entry", "../../v1/models", "--url", f"http://127.0.0.1:{port}"], capsys)

    assert exit_code == 1
    assert err.startswith("llmcache: '../../v1/models' is not an entry key: keys are 64 lowercase hex")
    assert "cannot connect" not in err


def test_given_a_password_in_the_url_when_the_gateway_is_down_then_no_message_shows_it(capsys, clean_env):
    clean_env.setenv("LLMCACHE_ADMIN_KEY", "sk-admin")
    url = f"http://ops:hunter2@127.0.0.1:{_closed_port()}"

    for argv in (["stats", "--url", url], ["stats", "--url", url + "/v1"], ["flush", "--namespace", "d", "--url", url]):
        exit_code, out, err = run(argv, capsys)
        assert exit_code == 1 and "hunter2" not in out + err and "***@127.0.0.1" in err


def test_given_a_remote_plain_http_gateway_when_the_admin_key_would_go_then_it_is_refused_without_insecure(
    capsys, clean_env
):
    clean_env.setenv("LLMCACHE_ADMIN_KEY", "sk-admin")

    exit_code, _, err = run(["stats", "--url", "http://192.0.2.10:8080"], capsys)

    assert exit_code == 1
    assert "refusing to send the admin key over plain http to 192.0.2.10" in err and "--insecure" in err


def test_given_insecure_when_the_admin_key_goes_over_plain_http_then_a_warning_precedes_the_attempt(capsys, clean_env):
    clean_env.setenv("LLMCACHE_ADMIN_KEY", "sk-admin")

    exit_code, _, err = run(["stats", "--insecure", "--timeout", "0.5", "--url", "http://192.0.2.10:8080"], capsys)

    assert exit_code == 1  # 192.0.2.10 (TEST-NET-1) never answers
    assert err.splitlines()[0] == "warning: sending the admin key over plain http to 192.0.2.10 (--insecure)"


def test_given_a_remote_plain_http_gateway_when_warming_then_the_client_key_is_not_sent_either(
    capsys, clean_env, tmp_path
):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}\n')
    clean_env.setenv("LLMCACHE_API_KEY", "sk-client")

    exit_code, _, err = run(["warm", str(prompts), "--url", "http://192.0.2.10:8080"], capsys)

    assert exit_code == 1 and "refusing to send the client key over plain http" in err


def test_given_the_admin_key_as_a_flag_when_run_then_a_note_says_where_it_shows(capsys, clean_env):
    exit_code, _, err = run(["stats", "--admin-key", "sk-admin", "--url", f"http://127.0.0.1:{_closed_port()}"], capsys)

    assert exit_code == 1
    assert err.startswith("note: --admin-key shows the key in `ps` and your shell history")


def test_given_an_empty_stdin_when_the_admin_key_is_read_from_it_then_the_error_says_to_pipe_it(
    capsys, clean_env, monkeypatch
):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))

    exit_code, _, err = run(["stats", "--admin-key-stdin"], capsys)

    assert exit_code == 1 and "--admin-key-stdin read no key" in err


# ----- tenant ------------------------------------------------------------------------------------------------


def test_given_a_key_when_its_tenant_is_asked_then_it_is_the_gateways_derivation(capsys, clean_env, monkeypatch):
    exit_code, out, _ = run(["tenant", "sk-local-demo"], capsys)
    assert exit_code == 0 and out.strip() == keys.tenant_id("sk-local-demo")

    monkeypatch.setattr("sys.stdin", io.StringIO("sk-from-stdin\n"))
    _, out, _ = run(["tenant", "-"], capsys)
    assert out.strip() == keys.tenant_id("sk-from-stdin")

    clean_env.setenv("LLMCACHE_API_KEY", "sk-from-env")
    _, out, _ = run(["tenant"], capsys)
    assert out.strip() == keys.tenant_id("sk-from-env")


def test_given_an_api_gateway_key_id_when_its_tenant_is_asked_then_managed_and_passthrough_differ(capsys, clean_env):
    _, managed, _ = run(["tenant", "--api-key-id", "abc123"], capsys)
    _, passthrough, _ = run(["tenant", "sk-provider", "--api-key-id", "abc123"], capsys)

    assert managed.strip() == keys.tenant_id(None, "abc123")
    assert passthrough.strip() == keys.tenant_id("sk-provider", "abc123", passthrough=True)
    assert managed != passthrough


def test_given_no_key_at_all_when_a_tenant_is_asked_then_it_says_where_a_key_can_come_from(capsys, clean_env):
    exit_code, _, err = run(["tenant"], capsys)

    assert exit_code == 1 and "no key: give KEY, `-` to read it from stdin, LLMCACHE_API_KEY" in err
