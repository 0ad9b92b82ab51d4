"""What `make run` decides before it starts anything: the upstreams and where each came from, the admin key, a
refusal when an upstream is the gateway itself, and the banner that says all of it.

Settings and a client's own variables. A client points its SDK at the gateway with `ANTHROPIC_BASE_URL` and
keeps its key in `OPENAI_API_KEY` or `ANTHROPIC_API_KEY`; the gateway's settings may come from the same shell.
So every gateway setting has a name of its own, `LLMCACHE_<NAME>`, which wins when it is set (an empty value
counts: `LLMCACHE_ANTHROPIC_API_KEY=` unsets it), and the plain names keep working as they always have
(deployed stacks and acceptance checks set them). Under `make run` a value that came from a name a client also
uses is never taken silently: the banner says which variable it came from and that it is a client's name, an
upstream that is the gateway itself (a client's `ANTHROPIC_BASE_URL` pointing here) is refused in one line
before anything starts, and `make run OFFLINE=1` (`--offline`) puts both APIs on the offline provider whatever
the shell holds.
"""

from __future__ import annotations

import contextlib
import ipaddress
import secrets
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from llmcache.constants import Env
from llmcache.semantic.indexes import index_kind
from llmcache.settings import OPENAI_BASE_URL, Settings, setting_source

PREFIX = "LLMCACHE_"
OPENAI_API_KEY = "OPENAI_API_KEY"
# Names a client exports for itself: taken under `make run` only with the banner saying so.
CLIENT_SIDE_NAMES = frozenset({OPENAI_API_KEY, Env.ANTHROPIC_BASE_URL, Env.ANTHROPIC_API_KEY})
DEMO_CLIENT_KEY = "sk-local-demo"
OFFLINE = "offline provider"


class SelfUpstream(ValueError):
    """An upstream URL that is this very gateway: every request to it would call itself."""


@dataclass
class LocalPlan:
    """What the local run must start and which environment it sets, decided from the environment."""

    env_updates: dict[str, str] = field(default_factory=dict)
    start_moto: bool = False
    create_resources: bool = False
    start_offline_provider: bool = False
    upstream_mode: str = "passthrough"  # passthrough | managed | offline
    anthropic_offline: bool = False  # /v1/messages answered by the offline provider too
    bedrock_offline: bool = False  # Bedrock Runtime's /model/... answered by the offline provider too
    generated_admin_key: str | None = None
    max_request_bytes: int = 0
    # Where each upstream and key came from, for the banner: "LLMCACHE_UPSTREAM_BASE_URL", "OPENAI_API_KEY", ...
    sources: dict[str, str] = field(default_factory=dict)
    forced_offline: bool = False

    def set(self, name: str, value: str) -> None:
        """Set a gateway setting by its own name, so that it wins over whatever the shell holds."""
        self.env_updates[PREFIX + name] = value


def _source(env: Mapping[str, str], *names: str) -> str | None:
    """The variable that gives the first of `names` that is set (its LLMCACHE_ form first)."""
    for name in names:
        found = setting_source(env, name)
        if found is not None:
            return found
    return None


def plan_local_run(env: Mapping[str, str], *, generate_admin_key: bool = True, offline: bool = False) -> LocalPlan:
    """Decide the local run's setup. Pure: reads `env`, starts nothing. Raises SettingsError."""
    settings = Settings.from_env(env)  # validates tiers, Redis URL, numbers before anything starts
    plan = LocalPlan(max_request_bytes=settings.max_request_bytes, forced_offline=offline)
    _plan_aws(env, settings, plan)
    _plan_openai(env, plan, offline)
    _plan_anthropic(env, plan, offline)
    if offline or _source(env, Env.BEDROCK_BASE_URL) is None:  # boto3 works with no AWS account
        plan.bedrock_offline = plan.start_offline_provider = True
    admin = _source(env, Env.ADMIN_API_KEY, Env.ADMIN_API_KEY_SECRET_ARN)
    if admin is not None:
        plan.sources["admin key"] = admin
    elif generate_admin_key:
        plan.generated_admin_key = "sk-admin-local-" + secrets.token_urlsafe(24)
        plan.set(Env.ADMIN_API_KEY, plan.generated_admin_key)
        plan.sources["admin key"] = "generated for this run"
    if not env.get("POWERTOOLS_SERVICE_NAME"):
        plan.env_updates["POWERTOOLS_SERVICE_NAME"] = "llmcache"
    return plan


def _plan_aws(env: Mapping[str, str], settings: Settings, plan: LocalPlan) -> None:
    if not settings.uses_aws:
        return
    endpoint = env.get("AWS_ENDPOINT_URL", "").strip()
    if not endpoint:
        plan.start_moto = plan.create_resources = True
        return
    from llmcache.local.aws import DUMMY_CREDENTIALS, is_loopback_endpoint

    # An emulator someone else started (tests, localstack): make sure the layout exists.
    plan.create_resources = is_loopback_endpoint(endpoint)
    if plan.create_resources and not env.get("AWS_ACCESS_KEY_ID"):
        plan.env_updates.update(DUMMY_CREDENTIALS)


def _plan_openai(env: Mapping[str, str], plan: LocalPlan, offline: bool) -> None:
    url = _source(env, Env.UPSTREAM_BASE_URL)
    key = _source(env, Env.UPSTREAM_API_KEY, Env.UPSTREAM_API_KEY_SECRET_ARN)
    openai_key = _source(env, OPENAI_API_KEY)
    if offline:
        plan.upstream_mode, plan.start_offline_provider = "offline", True
        plan.set(Env.UPSTREAM_API_KEY, "")  # the offline provider never sees a real key
        plan.set(Env.UPSTREAM_API_KEY_SECRET_ARN, "")
        plan.sources["upstream"] = "OFFLINE=1"
    elif url is not None:
        plan.upstream_mode = "managed" if key else "passthrough"
        plan.sources["upstream"] = url
        if key:
            plan.sources["upstream key"] = key
    elif openai_key is not None:
        plan.upstream_mode = "managed"
        plan.set(Env.UPSTREAM_BASE_URL, OPENAI_BASE_URL)
        plan.sources["upstream"] = openai_key
        if key is None:
            plan.set(Env.UPSTREAM_API_KEY, env[openai_key].strip())
            key = openai_key
        plan.sources["upstream key"] = key
    else:
        plan.upstream_mode, plan.start_offline_provider = "offline", True
        plan.sources["upstream"] = "no upstream set"


def _plan_anthropic(env: Mapping[str, str], plan: LocalPlan, offline: bool) -> None:
    url = _source(env, Env.ANTHROPIC_BASE_URL)
    key = _source(env, Env.ANTHROPIC_API_KEY, Env.ANTHROPIC_API_KEY_SECRET_ARN)
    if offline or (url is None and key is None):
        plan.anthropic_offline = plan.start_offline_provider = True
        if offline:
            plan.set(Env.ANTHROPIC_API_KEY, "")
            plan.set(Env.ANTHROPIC_API_KEY_SECRET_ARN, "")
        plan.sources["anthropic"] = "OFFLINE=1" if offline else "no Anthropic URL or key set"
        return
    if url is not None:
        plan.sources["anthropic"] = url
    if key is not None:
        plan.sources["anthropic key"] = key


# ----- an upstream that is the gateway itself ------------------------------------------------------


def _local_addresses(bind_host: str) -> set[str]:
    """Host names and addresses that reach a server listening on `bind_host` from this machine."""
    names = {"localhost", bind_host.strip("[]").lower()}
    try:
        address = ipaddress.ip_address(bind_host.strip("[]"))
    except ValueError:
        address = None
    if address is None or address.is_loopback or address.is_unspecified:
        names |= {"localhost", "127.0.0.1", "::1", "0.0.0.0", "::"}
    if address is not None and address.is_unspecified:  # every interface: this machine's own names too
        names.add(socket.gethostname().lower())
        with contextlib.suppress(OSError):
            names |= {str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None)}
    return names


def _is_self(url: str, names: set[str], port: int) -> bool:
    parts = urlsplit(url)
    try:
        url_port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    if url_port != port:
        return False
    if host in names:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback and bool(names & {"127.0.0.1", "::1"})
    except ValueError:
        return False


def check_not_self(settings: Settings, env: Mapping[str, str], bind_host: str, port: int) -> None:
    """SelfUpstream (one line saying what to change) when an upstream is this gateway's own address."""
    names = _local_addresses(bind_host)
    upstreams = [
        (Env.UPSTREAM_BASE_URL, settings.upstream_base_url, "every OpenAI-compatible call"),
        (Env.ANTHROPIC_BASE_URL, settings.anthropic_base_url, "/v1/messages"),
    ]
    for name, url, what in upstreams:
        if not _is_self(url, names, port):
            continue
        source = setting_source(env, name) or name
        fix = (
            f"{source} is a client's setting (it points clients at the gateway): unset it in this shell, "
            f"or set {PREFIX}{name} to the provider"
            if source in CLIENT_SIDE_NAMES
            else f"set {source} to the provider's URL"
        )
        raise SelfUpstream(
            f"{source}={_without_userinfo(url)} is this gateway itself ({what} would call itself in a loop): {fix}"
        )


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]).geturl()


# ----- the banner ------------------------------------------------------------------------------------


def _from(source: str | None) -> str:
    """How a value's origin reads in the banner."""
    if source is None:
        return ""
    if source in CLIENT_SIDE_NAMES:
        return f"from {source} in this shell, a client's variable ({PREFIX}{source} is the gateway's)"
    if source == "OFFLINE=1" or " " in source:
        return source
    return f"from {source}"


def upstream_row(settings: Settings, plan: LocalPlan) -> str:
    origin = _from(plan.sources.get("upstream"))
    if plan.upstream_mode == "offline":
        from llmcache.local.fake_provider import OFFLINE_NOTICE

        return f"{OFFLINE_NOTICE} ({origin}; {PREFIX}{Env.UPSTREAM_BASE_URL} to choose one)"
    key = plan.sources.get("upstream key")
    if origin and origin == _from(key):  # OpenAI, chosen by its key alone
        return f"{settings.upstream_base_url}  managed with the key {origin}; OFFLINE=1 for the offline provider"
    how = f"managed with the key {_from(key)}" if plan.upstream_mode == "managed" else "each client's key forwarded"
    return f"{settings.upstream_base_url}  {origin}; {how}"


def anthropic_row(settings: Settings, plan: LocalPlan) -> str:
    origin = _from(plan.sources.get("anthropic"))
    if plan.anthropic_offline:
        return f"{OFFLINE} ({origin})"
    url_origin = origin or "the default"
    if settings.managed_anthropic_key:
        how = f"managed with the key {_from(plan.sources.get('anthropic key'))}"
    else:
        how = "each client's key forwarded"
    return f"{settings.anthropic_base_url}  {url_origin}; {how}"


def tiers_row(settings: Settings, moto_endpoint: str | None, aws_endpoint: str | None) -> str:
    text = ", ".join(settings.tiers)
    if settings.uses_aws:
        where = f"moto in-process at {moto_endpoint}" if moto_endpoint else (aws_endpoint or "AWS")
        text += f"  (table {settings.cache_table}, bucket {settings.cache_bucket}; {where})"
    return text


def semantic_row(settings: Settings, plan: LocalPlan) -> str:
    """Semantic matching: off, or on with which model and operating point."""
    if settings.semantic_mode != "on":
        return f"off ({Env.SEMANTIC_MODE}=on turns it on: paraphrases match too)"
    model = "the shipped local model" if settings.semantic_embedder == "local" else settings.semantic_embedder
    if settings.semantic_embedder == "upstream":
        model = f"upstream embeddings ({settings.semantic_embedding_model})"
    point = f"threshold {settings.semantic_threshold}, pair cut {settings.semantic_pair_cut}"
    if settings.semantic_max_false_hit_rate is not None:
        point += f" (from SEMANTIC_MAX_FALSE_HIT_RATE={settings.semantic_max_false_hit_rate})"
    text = f"on, {model}, {point}, index {index_kind(settings)}"
    if settings.semantic_embedder == "upstream" and plan.upstream_mode == "offline":
        text += f"  (the {OFFLINE}'s embeddings are hashes: paraphrases will not match; SEMANTIC_EMBEDDER=local)"
    return text


BannerRow = Callable[[Settings, LocalPlan], str]
# The labelled lines under the URL, in order; a feature with something to say at start adds a row here.
BANNER_ROWS: list[tuple[str, BannerRow]] = [
    ("openai", upstream_row),
    ("anthropic", anthropic_row),
    ("semantic", semantic_row),
]


def client_key(plan: LocalPlan) -> str:
    """The key the banner's examples use: any key works offline and in managed mode (each is a tenant)."""
    return "$YOUR_PROVIDER_KEY" if plan.upstream_mode == "passthrough" else DEMO_CLIENT_KEY


def export_line(url: str, plan: LocalPlan) -> str:
    """What the `llmcache` command needs, ready to paste in another terminal."""
    admin = plan.generated_admin_key
    if admin is None:
        source = plan.sources.get("admin key", Env.ADMIN_API_KEY)
        admin = f'"${source}"' if not source.endswith("SECRET_ARN") else "<the admin key in Secrets Manager>"
    key = client_key(plan)
    key = f'"{key}"' if key.startswith("$") else key
    return f"export LLMCACHE_URL={url} LLMCACHE_API_KEY={key} LLMCACHE_ADMIN_KEY={admin}"


def curl_example(url: str, api_key: str) -> str:
    return (
        f"curl -s {url}/v1/chat/completions -D - -o /dev/null \\\n"
        f'    -H "Authorization: Bearer {api_key}" -H "Content-Type: application/json" \\\n'
        """    -d '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}' | grep -i x-cache"""
    )


def banner(
    url: str,
    settings: Settings,
    plan: LocalPlan,
    *,
    moto_endpoint: str | None,
    aws_endpoint: str | None = None,
    console: str = "one line per request below (LOG_FORMAT=json for the deployment's JSON lines)",
) -> str:
    rows = [(label, row(settings, plan)) for label, row in BANNER_ROWS]
    rows.insert(2, ("tiers", tiers_row(settings, moto_endpoint, aws_endpoint)))
    rows.append(("console", console))
    width = max(len(label) for label, _ in rows)
    lines = [
        "",
        f"llmcache gateway on {url}   (OpenAI SDKs: base_url {url}/v1; Anthropic SDKs: base_url {url})",
        *(f"  {label:<{width}}  {text}" for label, text in rows),
        "",
        "The llmcache command, in another terminal:",
        f"  {export_line(url, plan)}",
        "",
        "Try it (twice: X-Cache MISS, then HIT):",
        "  " + curl_example(url, client_key(plan)),
        "",
        "Ctrl-C stops.",
        "",
    ]
    return "\n".join(lines)
