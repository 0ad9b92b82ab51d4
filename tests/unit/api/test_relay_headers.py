"""Header allowlists both ways on passed-on paths (issue #22, finding 22.7)."""

from __future__ import annotations

from llmcache.api import relay_headers


def test_given_a_clients_headers_when_passed_on_then_only_the_allowed_ones_go_up() -> None:
    """finding 22.7: cookies, addresses, the gateway's controls and unknown headers stay here."""
    sent = {
        "content-type": "application/json",
        "accept": "application/json",
        "openai-beta": "assistants=v2",
        "anthropic-version": "2023-06-01",
        "idempotency-key": "k-1",
        "cookie": "session=1",
        "forwarded": "for=10.0.0.1",
        "x-real-ip": "10.0.0.1",
        "x-forwarded-for": "10.0.0.1",
        "x-cache-ttl": "60",
        "x-custom-trace": "t-1",
        "authorization": "Bearer sk-x",
    }

    up = relay_headers.up(sent, managed=False)

    assert set(up) == {"content-type", "accept", "openai-beta", "anthropic-version", "idempotency-key"}


def test_given_managed_mode_when_organization_and_project_are_sent_then_they_stay_here() -> None:
    """finding 22.7: beside the gateway's key they would pick the operator's organization or project."""
    sent = {"openai-organization": "org-x", "openai-project": "proj-x", "openai-beta": "b"}

    assert relay_headers.up(sent, managed=True) == {"openai-beta": "b"}
    assert relay_headers.up(sent, managed=False) == sent


def test_given_a_connection_header_when_relayed_either_way_then_the_headers_it_names_are_dropped() -> None:
    """finding 22.7: Connection-nominated headers are hop-by-hop, in and out."""
    assert relay_headers.up({"connection": "close, Accept", "accept": "*/*"}, managed=False) == {}
    assert relay_headers.down({"Connection": "x-request-id", "x-request-id": "r", "content-type": "a/b"}) == {
        "content-type": "a/b"
    }


def test_given_a_providers_headers_when_relayed_then_only_content_ids_and_retry_advice_come_down() -> None:
    """finding 22.7: no cookies, CORS, Location, organization, rate limits or a provider X-Cache."""
    answered = {
        "Content-Type": "application/json",
        "x-request-id": "req_1",
        "retry-after": "1",
        "Set-Cookie": "__cf_bm=x",
        "Access-Control-Allow-Origin": "*",
        "Location": "https://internal.example/",
        "openai-organization": "operator-org",
        "x-ratelimit-remaining-requests": "9",
        "anthropic-ratelimit-tokens-remaining": "9",
        "X-Cache": "HIT",
    }

    assert relay_headers.down(answered) == {
        "content-type": "application/json",
        "x-request-id": "req_1",
        "retry-after": "1",
    }
