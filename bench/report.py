"""The one table: figure, llmcache, LiteLLM (or another anchor), ratio, target, met."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench import semantic_lookup, ttft
from bench.rows import Row, get, ratio_of, row

MB = 1_000_000
# Row builders of sections other bench modules add (bench/__main__.py's EXTRA_SECTIONS): each takes the
# whole results dict and returns its rows (build them with `row`). Add one line per module:
#   from bench import ttft; EXTRA_ROWS.append(ttft.rows)
EXTRA_ROWS: list[Callable[[dict[str, Any]], list[Row]]] = [ttft.rows, semantic_lookup.rows]


def _paired(paired: Any, ours: Any, theirs: Any) -> float | None:
    """The median of the per-round ratios when the figure was measured in alternating rounds, else the
    plain ratio of the two figures."""
    median = get(paired, "median")
    return median if isinstance(median, int | float) else ratio_of(ours, theirs)


def _at_most(value: float | None, limit: float) -> bool | None:
    return None if value is None else value <= limit


def _calls(per_request: Any) -> str | None:
    if not isinstance(per_request, dict):
        return None
    reads, writes = per_request.get("reads_per_request"), per_request.get("writes_per_request")
    return f"{reads:g} read / {writes:g} write"


def build_rows(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    cold = r.get("cold_start") or {}
    n = cold.get("rounds")
    s = "cold start"
    ours, theirs = get(cold, "llmcache.import_ms.p50"), get(cold, "litellm.import_ms.p50")
    ratio = _paired(get(cold, "paired_import_ratio"), ours, theirs)
    rows.append(
        row(s, f"import p50 (n={n})", ours, theirs, unit="ms", target="≤ 0.05", met=_at_most(ratio, 0.05), ratio=ratio)
    )
    rows.append(
        row(s, "import p99", get(cold, "llmcache.import_ms.p99"), get(cold, "litellm.import_ms.p99"), unit="ms")
    )
    rss = get(cold, "llmcache.rss_import_mb.p50")
    rows.append(
        row(
            s,
            "peak RSS after import p50",
            rss,
            get(cold, "litellm.rss_import_mb.p50"),
            unit="MB",
            target="≤ 70 MB",
            met=_at_most(rss, 70),
        )
    )
    rows.append(
        row(
            s,
            "process start→exit p50",
            get(cold, "llmcache.process_ms.p50"),
            get(cold, "litellm.process_ms.p50"),
            unit="ms",
        )
    )
    rows.append(
        row(
            s,
            "first request after import p50 (memory tier, a miss)",
            get(cold, "llmcache.first_request_ms.p50"),
            get(cold, "litellm.first_request_ms.p50"),
            unit="ms",
        )
    )
    rows.append(
        row(
            s,
            "import + first request p50",
            get(cold, "llmcache.import_plus_first_ms.p50"),
            get(cold, "litellm.import_plus_first_ms.p50"),
            unit="ms",
        )
    )
    first_rss = get(cold, "llmcache.rss_first_mb.p50")
    rows.append(
        row(
            s,
            "peak RSS after first request p50",
            first_rss,
            get(cold, "litellm.rss_first_mb.p50"),
            unit="MB",
            target="≤ 70 MB",
            met=_at_most(first_rss, 70),
        )
    )
    if get(cold, "llmcache_venv") is not None:
        rows.append(
            row(
                s,
                "import + first request p50, dev venv import set",
                get(cold, "llmcache_venv.import_plus_first_ms.p50"),
                get(cold, "litellm.import_plus_first_ms.p50"),
                unit="ms",
            )
        )
    if get(cold, "llmcache_dynamodb") is not None:
        ddb_rss = get(cold, "llmcache_dynamodb.rss_first_mb.p50")
        rows.append(
            row(
                s,
                "import + first request p50, memory+dynamodb (moto)",
                get(cold, "llmcache_dynamodb.import_plus_first_ms.p50"),
                unit="ms",
            )
        )
        rows.append(
            row(
                s,
                "peak RSS after first request, memory+dynamodb",
                ddb_rss,
                unit="MB",
                target="≤ 70 MB",
                met=_at_most(ddb_rss, 70),
            )
        )

    ours_r, lite = r.get("llmcache") or {}, r.get("litellm") or {}
    paired = r.get("paired_ratios") or {}
    rounds = get(r, "rounds.count")
    s = "hit path (in-process)" + (f", median of {rounds} alternating rounds" if rounds else "")
    for tier, label in (("memory", "memory tier vs Cache(local)"), ("redis", "Redis tier vs Cache(redis)")):
        p50, their50 = get(ours_r, f"{tier}_hit_us.p50"), get(lite, f"{tier}_hit_us.p50")
        ratio = _paired(paired.get(f"{tier}_hit_us.p50"), p50, their50)
        rows.append(
            row(s, f"{label} p50", p50, their50, unit="µs", target="≤ 0.15", met=_at_most(ratio, 0.15), ratio=ratio)
        )
        p99, their99 = get(ours_r, f"{tier}_hit_us.p99"), get(lite, f"{tier}_hit_us.p99")
        rows.append(
            row(
                s,
                f"{label} p99",
                p99,
                their99,
                unit="µs",
                ratio=_paired(paired.get(f"{tier}_hit_us.p99"), p99, their99),
            )
        )
    apis = (("responses", "/v1/responses"), ("messages", "/v1/messages"), ("converse", "Bedrock Converse"))
    for api, label in apis:
        # LiteLLM's cache has no Messages route, a separate Responses path and no Bedrock-native route: no anchor.
        for stat in ("p50", "p99"):
            rows.append(row(s, f"memory tier {label} {stat}", get(ours_r, f"{api}_memory_hit_us.{stat}"), unit="µs"))

    s = "miss path"
    rows.append(
        row(
            s,
            "overhead over a direct call, p50 (paired)",
            get(ours_r, "miss.overhead_us.p50"),
            get(lite, "miss.overhead_us.p50"),
            unit="µs",
            ratio=_paired(
                paired.get("miss.overhead_us.p50"),
                get(ours_r, "miss.overhead_us.p50"),
                get(lite, "miss.overhead_us.p50"),
            ),
        )
    )
    rows.append(
        row(
            s,
            "overhead over a direct call, p99 (paired)",
            get(ours_r, "miss.overhead_us.p99"),
            get(lite, "miss.overhead_us.p99"),
            unit="µs",
            ratio=_paired(
                paired.get("miss.overhead_us.p99"),
                get(ours_r, "miss.overhead_us.p99"),
                get(lite, "miss.overhead_us.p99"),
            ),
        )
    )
    rows.append(
        row(
            s,
            "direct httpx call to the provider p50",
            get(ours_r, "miss.direct_us.p50"),
            get(lite, "miss.direct_us.p50"),
            unit="µs",
        )
    )

    aws = r.get("aws") or {}
    s = "backend work"
    redis_rt = get(ours_r, "redis_per_hit.round_trips_per_hit")
    rows.append(
        row(
            s,
            "Redis round trips per hit",
            redis_rt,
            get(lite, "redis_per_hit.round_trips_per_hit"),
            target="1 read, 0 writes",
            met=None if redis_rt is None else (redis_rt <= 1.01 and get(ours_r, "redis_per_hit.writes") == 0),
            digits=3,
        )
    )
    hit = get(aws, "dynamodb_hit")
    rows.append(
        row(
            s,
            "AWS calls per hit (dynamodb tier)",
            _calls(hit),
            target="1 read, 0 writes",
            met=None if hit is None else (hit["reads_per_request"] <= 1 and hit["writes_per_request"] == 0),
            ratio=None,
        )
    )
    rows.append(
        row(s, "AWS calls per hit, new container (memory+dynamodb)", _calls(get(aws, "tiered_first_hit")), ratio=None)
    )
    rows.append(row(s, "AWS calls per hit, body in S3", _calls(get(aws, "s3_body_hit")), ratio=None))
    rows.append(row(s, "AWS calls per miss (dynamodb tier)", _calls(get(aws, "dynamodb_miss")), ratio=None))
    rows.append(
        row(
            s,
            "bytes stored per answer (Redis value)",
            get(ours_r, "stored.redis_value_bytes"),
            get(lite, "stored.redis_value_bytes"),
            unit="B",
        )
    )
    rows.append(row(s, "bytes per answer in the DynamoDB item", get(aws, "dynamodb_item_bytes"), unit="B"))
    answer, packed = get(ours_r, "stored.answer_bytes"), get(ours_r, "stored.compressed_bytes")
    rows.append(
        row(
            s,
            f"compression ratio (answer {answer} B → {packed} B)",
            get(ours_r, "stored.compression_ratio"),
            ratio=None,
            digits=2,
        )
    )
    same = get(ours_r, "stored.hit_body_is_stored_bytes")
    rows.append(
        row(
            s,
            "hit sends the stored bytes (no JSON re-serialization)",
            None if same is None else ("yes" if same else "no"),
            target="yes",
            met=same,
            ratio=None,
        )
    )

    s = "scaling"
    for label in ("1KB", "10KB", "100KB", "1MB"):
        rows.append(
            row(
                s,
                f"key computation p50, {label} request",
                get(ours_r, f"scaling.{label}.key_us.p50"),
                get(lite, f"scaling.{label}.key_us.p50"),
                unit="µs",
            )
        )
    for label in ("1KB", "10KB", "100KB", "1MB"):
        rows.append(
            row(
                s,
                f"memory hit p50, {label} request",
                get(ours_r, f"scaling.{label}.hit_us.p50"),
                get(lite, f"scaling.{label}.hit_us.p50"),
                unit="µs",
            )
        )
    steps = get(ours_r, "memory_fill.steps") or []
    empty = steps[0]["hit_us"]["p50"] if steps else None
    for step in steps[1:]:
        fraction = step["fraction_of_bound"]
        what = "evicting" if fraction > 1 else f"{fraction:.0%} full"
        rows.append(
            row(
                s,
                f"memory hit p50, tier {what} ({step['entries']:,} entries; anchor: empty)",
                step["hit_us"]["p50"],
                empty,
                unit="µs",
            )
        )
    rows.append(
        row(
            s,
            "full GC pass with the tier at its bound (anchor: empty tier)",
            get(ours_r, "memory_fill.gc_full_collection_ms.at_bound"),
            get(ours_r, "memory_fill.gc_full_collection_ms.empty"),
            unit="ms",
        )
    )
    rows.append(
        row(
            s,
            "Python bytes per cached entry (anchor: the tier's estimate)",
            get(ours_r, "memory_fill.python_bytes_per_entry"),
            get(ours_r, "memory_fill.entry_counted_bytes"),
            unit="B",
        )
    )

    for extra in EXTRA_ROWS:
        rows.extend(extra(r))

    package = r.get("package") or {}
    s = "package"
    total = get(package, "total_unzipped_bytes")
    rows.append(
        row(
            s,
            "function asset, unzipped (without llmcache/local)",
            _mb(get(package, "function.bytes_without_local")),
            unit="MB",
            digits=2,
        )
    )
    rows.append(row(s, "dependency layer, unzipped", _mb(get(package, "layer.bytes")), unit="MB", digits=1))
    rows.append(
        row(
            s,
            "function + layer vs Lambda's 250 MB (anchor: LiteLLM closure)",
            _mb(total),
            _mb(get(package, "litellm_closure.bytes")),
            unit="MB",
            target="≤ 250 MB",
            met=None if total is None else total <= 250 * MB,
        )
    )
    semantic = get(package, "semantic") or {}
    if "total_bytes" in semantic:
        rows.append(
            row(
                s,
                f"{semantic['env']} (semantic on): function with models "
                f"({semantic['model_bytes'] / MB:.1f} MB of models) + layer",
                _mb(semantic["total_bytes"]),
                unit="MB",
                target="≤ 120 MB",
                met=semantic["total_bytes"] <= semantic["goal_bytes"],
            )
        )
    return rows


def _mb(value: Any) -> float | None:
    return None if value is None else value / MB


def render_table(r: dict[str, Any], rows: list[Row]) -> str:
    m = r.get("machine", {})
    header = ("figure", "llmcache", "LiteLLM / anchor", "ratio", "target", "met?")
    lines = []
    body: list[tuple[str, ...]] = []
    for item in rows:
        ratio = item["ratio"]
        met = {True: "yes", False: "NO", None: ""}[item["met"]]
        body.append(
            (
                f"{item['section']}: {item['figure']}",
                item["llmcache_text"],
                item["anchor_text"],
                "" if ratio is None else f"{ratio:.2f}x",
                item["target"],
                met,
            )
        )
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]

    def fmt(cells: tuple[str, ...]) -> str:
        parts = [cells[0].ljust(widths[0])]
        parts += [c.rjust(widths[i]) for i, c in enumerate(cells[1:4], start=1)]
        parts += [cells[4].ljust(widths[4]), cells[5].ljust(widths[5])]
        return "| " + " | ".join(parts) + " |"

    lines.append(
        f"llmcache bench {r.get('date')} · {m.get('cpu')} · {m.get('cores')} cores · Python {m.get('python')} · "
        f"LiteLLM {get(r, 'versions.litellm')} · load avg {r.get('load_average_start')} → {r.get('load_average_end')}"
        + (" · QUICK RUN" if r.get("quick") else "")
    )
    lines.append(fmt(header))
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    lines.extend(fmt(b) for b in body)
    if r.get("errors"):
        lines.append("errors: " + "; ".join(f"{k}: {v.splitlines()[0][:160]}" for k, v in r["errors"].items()))
    lines.append(
        "ratio = llmcache / anchor (lower is better); in-process and import rows: each figure is the median over"
        " alternating rounds and the ratio the median of the per-round ratios; µs and ms are wall time;"
        " see docs/bench.md"
    )
    return "\n".join(lines)
