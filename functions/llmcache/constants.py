"""Names shared by the function code, the CDK stacks and the tests.

Nothing here may import anything heavy: infra and the Lambda cold start both import this module.
"""

from typing import Final

SERVICE_NAME: Final = "llmcache"
METRIC_NAMESPACE: Final = "LlmCache"
# Dimensions attached to every metric. `service` comes from POWERTOOLS_SERVICE_NAME.
DIMENSION_SERVICE: Final = "service"
DIMENSION_ENVIRONMENT: Final = "environment"


class Metric:
    """CloudWatch metric names (EMF). Alarms and the dashboard use these very names."""

    CACHE_HIT: Final = "CacheHit"
    CACHE_MISS: Final = "CacheMiss"
    CACHE_BYPASS: Final = "CacheBypass"
    CACHE_BACKEND_ERROR: Final = "CacheBackendError"
    UPSTREAM_ERROR: Final = "UpstreamError"
    UPSTREAM_LATENCY: Final = "UpstreamLatency"
    HIT_LATENCY: Final = "HitLatency"
    TOKENS_SAVED: Final = "TokensSaved"
    COST_SAVED: Final = "CostSaved"  # US dollars: what the answers served from the cache would have cost


ALL_METRICS: Final = (
    Metric.CACHE_HIT,
    Metric.CACHE_MISS,
    Metric.CACHE_BYPASS,
    Metric.CACHE_BACKEND_ERROR,
    Metric.UPSTREAM_ERROR,
    Metric.UPSTREAM_LATENCY,
    Metric.HIT_LATENCY,
    Metric.TOKENS_SAVED,
    Metric.COST_SAVED,
)


class Env:
    """Environment variable names read by `settings.py` and set by the CDK function construct."""

    UPSTREAM_BASE_URL: Final = "UPSTREAM_BASE_URL"
    UPSTREAM_API_KEY: Final = "UPSTREAM_API_KEY"
    UPSTREAM_API_KEY_SECRET_ARN: Final = "UPSTREAM_API_KEY_SECRET_ARN"
    UPSTREAM_CONNECT_TIMEOUT: Final = "UPSTREAM_CONNECT_TIMEOUT"
    UPSTREAM_READ_TIMEOUT: Final = "UPSTREAM_READ_TIMEOUT"
    ANTHROPIC_BASE_URL: Final = "ANTHROPIC_BASE_URL"
    ANTHROPIC_API_KEY: Final = "ANTHROPIC_API_KEY"
    ANTHROPIC_API_KEY_SECRET_ARN: Final = "ANTHROPIC_API_KEY_SECRET_ARN"
    BEDROCK_BASE_URL: Final = "BEDROCK_BASE_URL"
    BEDROCK_AUTH: Final = "BEDROCK_AUTH"
    AWS_REGION: Final = "AWS_REGION"
    REQUEST_DEADLINE: Final = "REQUEST_DEADLINE_SECONDS"
    SEMANTIC_MAX_CHARS: Final = "SEMANTIC_MAX_CHARS"
    SEMANTIC_TIMEOUT: Final = "SEMANTIC_TIMEOUT_SECONDS"
    STATS_SOURCE: Final = "STATS_SOURCE"
    CACHE_TABLE: Final = "CACHE_TABLE"
    CACHE_BUCKET: Final = "CACHE_BUCKET"
    REDIS_URL: Final = "REDIS_URL"
    CACHE_TIERS: Final = "CACHE_TIERS"
    CACHE_DEFAULT_TTL: Final = "CACHE_DEFAULT_TTL"
    CACHE_MAX_TTL: Final = "CACHE_MAX_TTL"
    CACHE_SCOPE: Final = "CACHE_SCOPE"
    CACHE_INLINE_MAX_BYTES: Final = "CACHE_INLINE_MAX_BYTES"
    CACHE_MEMORY_MAX_BYTES: Final = "CACHE_MEMORY_MAX_BYTES"
    CACHE_GENERATION_TTL: Final = "CACHE_GENERATION_TTL"
    CACHE_GENERATION_COPIES: Final = "CACHE_GENERATION_COPIES"
    CACHE_GENERATION_STALE_SECONDS: Final = "CACHE_GENERATION_STALE_SECONDS"
    COALESCE_LEASE_SECONDS: Final = "COALESCE_LEASE_SECONDS"
    ADMIN_API_KEY: Final = "ADMIN_API_KEY"
    ADMIN_API_KEY_SECRET_ARN: Final = "ADMIN_API_KEY_SECRET_ARN"
    MAX_REQUEST_BYTES: Final = "MAX_REQUEST_BYTES"
    MAX_ANSWER_BYTES: Final = "MAX_ANSWER_BYTES"
    ENVIRONMENT: Final = "ENVIRONMENT"
    SEMANTIC_MODE: Final = "SEMANTIC_MODE"
    SEMANTIC_THRESHOLD: Final = "SEMANTIC_THRESHOLD"
    SEMANTIC_MAX_FALSE_HIT_RATE: Final = "SEMANTIC_MAX_FALSE_HIT_RATE"
    SEMANTIC_EMBEDDER: Final = "SEMANTIC_EMBEDDER"
    SEMANTIC_EMBEDDING_MODEL: Final = "SEMANTIC_EMBEDDING_MODEL"
    QDRANT_URL: Final = "QDRANT_URL"
    QDRANT_API_KEY: Final = "QDRANT_API_KEY"
    QDRANT_PATH: Final = "QDRANT_PATH"
    PRICES_FILE: Final = "PRICES_FILE"
    PRICES: Final = "PRICES"
    QDRANT_API_KEY_SECRET_ARN: Final = "QDRANT_API_KEY_SECRET_ARN"
    SEMANTIC_INDEX: Final = "SEMANTIC_INDEX"
    SEMANTIC_REDIS_URL: Final = "SEMANTIC_REDIS_URL"
    SEMANTIC_REDIS_AUTH_SECRET_ARN: Final = "SEMANTIC_REDIS_AUTH_SECRET_ARN"
    LOG_HIT_SAMPLE_RATE: Final = "LOG_HIT_SAMPLE_RATE"
    PASSTHROUGH_ALLOW: Final = "PASSTHROUGH_ALLOW"
    MAX_STREAMS_PER_TENANT: Final = "MAX_STREAMS_PER_TENANT"


# DynamoDB layout: one table, string partition key `pk`, TTL attribute `expires_at` (epoch seconds).
TABLE_PARTITION_KEY: Final = "pk"
TABLE_TTL_ATTRIBUTE: Final = "expires_at"
# S3 layout: large bodies under this prefix, named by cache key.
BUCKET_BODY_PREFIX: Final = "bodies/"

# Response headers.
HEADER_CACHE: Final = "X-Cache"
HEADER_CACHE_KEY: Final = "X-Cache-Key"
HEADER_CACHE_MATCH: Final = "X-Cache-Match"
HEADER_CACHE_TIER: Final = "X-Cache-Tier"
HEADER_CACHE_SIMILARITY: Final = "X-Cache-Similarity"
HEADER_CACHE_BYPASS_REASON: Final = "X-Cache-Bypass-Reason"
# With the request header X-Cache-Debug: 1 (never under CACHE_SCOPE=shared): why a semantic candidate was
# refused, by kind ("number differs", "ambiguous", "pair model", "below threshold", ...), and the scores
# ("similarity=0.9312; pair=0.412"); never a cached text.
HEADER_CACHE_DEBUG: Final = "X-Cache-Debug"
HEADER_SEMANTIC_REASON: Final = "X-Cache-Semantic-Reason"
HEADER_SEMANTIC_SCORES: Final = "X-Cache-Semantic-Scores"
