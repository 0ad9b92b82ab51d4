"""The ASGI door ends an invocation as the Lambda door does: the same ColdStart line, naming the function."""

from __future__ import annotations

import json

import pytest

from llmcache import asgi, observability
from llmcache.api.proxy_events import LocalLambdaContext


def test_given_the_first_invocation_when_the_asgi_door_ends_it_then_coldstart_names_the_function(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(observability.invocation, "metric_cold_start", True)
    monkeypatch.setattr(observability.metrics, "disabled", False)
    asgi._end(LocalLambdaContext(aws_request_id="r-1", function_name="llmcache-prod-fn"))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "ColdStart" in line]
    assert [line["function_name"] for line in lines] == ["llmcache-prod-fn"]
    assert observability.invocation.metric_cold_start is False
