"""The `llmcache` command's own logic: reading a warm file, windows, dollars, one-line errors."""

from __future__ import annotations

import pytest

from llmcache import cli


def test_given_a_warm_file_when_read_then_bad_lines_are_named_by_number_and_good_ones_keep_their_route():
    tally = cli.WarmTally()
    lines = [
        '{"model": "m", "messages": []}',
        "",
        "{broken",
        '["not", "an", "object"]',
        '{"route": "/v1/embeddings", "model": "e", "input": "x", "stream": true}',
        '{"route": "images", "model": "m"}',
    ]
    requests = list(cli._warm_requests(iter(lines), "chat/completions", tally))

    assert [(r.line, r.route) for r in requests] == [(1, "chat/completions"), (5, "embeddings")]
    assert requests[1].body == {"model": "e", "input": "x"}  # route and stream are not sent
    assert tally.skipped == 3
    assert [p.split(":")[0] for p in tally.problems] == ["line 3", "line 4", "line 6"]
    assert "unknown route 'images'" in tally.problems[2]


@pytest.mark.parametrize(
    ("text", "seconds"), [("3600", 3600), ("90s", 90), ("30m", 1800), ("1h", 3600), ("7D", 604800)]
)
def test_given_a_window_when_parsed_then_it_is_seconds(text: str, seconds: int):
    assert cli.parse_window(text) == seconds


def test_given_a_window_without_a_number_when_parsed_then_the_error_shows_the_forms():
    with pytest.raises(cli.CliError, match=r"e\.g\. 1h, 30m, 7d"):
        cli.parse_window("an hour")


def test_given_amounts_when_shown_then_fractions_of_a_cent_stay_visible():
    assert cli.dollars(0.000025) == "$0.000025"
    assert cli.dollars(1234.5) == "$1,234.50"


@pytest.mark.parametrize(
    ("argv", "code", "says"),
    [
        (["stats", "--window", "soon", "--admin-key", "k"], 1, "llmcache: --window takes seconds"),
        (["stats", "--url", "127.0.0.1:8080", "--admin-key", "k"], 1, "must be the gateway's http(s) base URL"),
        (["stats", "--url", "http://127.0.0.1:8080/v1", "--admin-key", "k"], 1, "without /v1"),
        (["entry", "k", "--ttl", "5", "--delete", "--admin-key", "k"], 1, "either --ttl or --delete"),
        (["warm", "/nonexistent/prompts.jsonl", "--api-key", "k"], 1, "cannot read /nonexistent/prompts.jsonl"),
        (["warm", "-", "--route", "images", "--api-key", "k"], 1, "--route must be one of"),
        (["stats", "--no-such-flag"], 2, "No such option"),
    ],
)
def test_given_a_mistake_when_run_then_it_exits_with_a_message_and_no_traceback(argv, code, says, capsys, monkeypatch):
    for name in ("LLMCACHE_URL", "LLMCACHE_API_KEY", "LLMCACHE_ADMIN_KEY", "LLMCACHE_GATEWAY_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == code
    assert says in err and "Traceback" not in err
