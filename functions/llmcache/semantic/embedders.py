"""Embedders: the provider's /v1/embeddings, Amazon Bedrock Titan, and a local MiniLM (ONNX Runtime).

Each is wrapped by `CachingEmbedder` (a bounded LRU keyed by scope and text), so a repeated query is
not re-embedded. Every failure is raised as `SemanticUnavailable`. Heavy imports (boto3, onnxruntime,
tokenizers, numpy) happen on first use, never at import.
"""

from __future__ import annotations

import json
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from llmcache.semantic.errors import SemanticUnavailable

TITAN_V2 = "amazon.titan-embed-text-v2:0"
# all-MiniLM-L6-v2 fine-tuned on Quora's labelled pairs (`make train-semantic`). The name keys the index's
# collections: a new model gets new ones, never vectors of another model to compare with.
LOCAL_MODEL = "minilm-l6-qqp-v1"


def _checked(vectors: Any, count: int, source: str) -> list[list[float]]:
    """Vectors as lists of finite floats, one per input, all of one dimension."""
    try:
        out = [[float(x) for x in v] for v in vectors]
    except (TypeError, ValueError) as exc:
        raise SemanticUnavailable(f"{source} returned something that is not a list of vectors") from exc
    if len(out) != count:
        raise SemanticUnavailable(f"{source} returned {len(out)} vectors for {count} inputs")
    dims = {len(v) for v in out}
    if len(dims) > 1 or 0 in dims:
        raise SemanticUnavailable(f"{source} returned vectors of dimensions {sorted(dims)}")
    if any(not math.isfinite(x) for v in out for x in v):
        raise SemanticUnavailable(f"{source} returned a vector with NaN or infinity")
    return out


class UpstreamEmbedder:
    """The provider's /v1/embeddings, through the gateway's upstream client (a callable the engine passes)."""

    def __init__(self, embed: Callable[[list[str], str], Sequence[Sequence[float]]], model: str) -> None:
        self._embed = embed
        self.model = model
        self.name = f"upstream-{model}"

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        try:
            vectors = self._embed(list(texts), self.model)
        except SemanticUnavailable:
            raise
        except Exception as exc:  # any transport or provider error
            raise SemanticUnavailable(f"upstream embeddings ({self.model}) failed: {exc}") from exc
        return _checked(vectors, len(texts), f"upstream embeddings ({self.model})")


class BedrockEmbedder:
    """Amazon Bedrock Titan Text Embeddings (v2 by default) through boto3's bedrock-runtime."""

    def __init__(
        self, model_id: str = TITAN_V2, region: str | None = None, client: Any = None, timeout: float = 2.0
    ) -> None:
        self.model_id = model_id
        self.region = region
        self.timeout = timeout
        self.name = f"bedrock-{model_id}"
        self._client = client
        self._lock = threading.Lock()

    def _runtime(self) -> Any:
        with self._lock:
            if self._client is None:
                try:
                    import boto3
                    from botocore.config import Config

                    # One attempt within the timeout: a slow embedding makes a plain miss, not a slow request.
                    config = Config(
                        connect_timeout=self.timeout, read_timeout=self.timeout, retries={"max_attempts": 1}
                    )
                    self._client = boto3.client("bedrock-runtime", region_name=self.region, config=config)
                except Exception as exc:
                    raise SemanticUnavailable(f"cannot create the bedrock-runtime client: {exc}") from exc
            return self._client

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        client = self._runtime()
        vectors = []
        for text in texts:  # Titan embeds one text per call
            body: dict[str, Any] = {"inputText": text}
            if "titan-embed-text-v2" in self.model_id:
                body["normalize"] = True
            try:
                response = client.invoke_model(
                    modelId=self.model_id,
                    body=json.dumps(body),
                    contentType="application/json",
                    accept="application/json",
                )
                vectors.append(json.loads(response["body"].read())["embedding"])
            except Exception as exc:
                raise SemanticUnavailable(f"bedrock {self.model_id} failed: {exc}") from exc
        return _checked(vectors, len(texts), f"bedrock {self.model_id}")


# The read-only model, loaded once per process: a reconfigured engine (tests, `make run` reloads) reuses it
# instead of loading it again. One engine per Lambda container anyway.
_loaded_model: list[Any] = []


class LocalEmbedder:
    """The shipped embedder in-process with ONNX Runtime (the files under `semantic/model/`, no torch).

    The same files run under `make run`, in the tests, in the evaluation and on Lambda; they load on
    the first embedding, never at import.
    """

    def __init__(self) -> None:
        from llmcache.semantic.onnx_models import OnnxMiniLMEmbedder

        if not _loaded_model:
            _loaded_model.append(OnnxMiniLMEmbedder())
        self._model = _loaded_model[0]
        self.name = f"local-{LOCAL_MODEL}"  # names the index's collection: same model, same vectors

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        try:
            vectors = self._model.embed(texts)
        except SemanticUnavailable:
            raise
        except Exception as exc:
            raise SemanticUnavailable(f"the local embedding model failed: {exc}") from exc
        return _checked(vectors, len(texts), "the local embedding model")


class CachingEmbedder:
    """A bounded LRU in front of another embedder: a repeated text is embedded once per scope.

    The matcher passes the semantic partition as the scope, and the partition holds the tenant: one
    tenant's texts never make another tenant's embedding faster, so latency tells no tenant what another
    one sent (a shared entry would anyway, so under shared scope the partitions, and this cache, are shared).
    """

    def __init__(self, inner: Any, max_entries: int = 2048) -> None:
        self.inner = inner
        self.name: str = inner.name
        self.max_entries = max_entries
        self._cache: OrderedDict[tuple[str, str], list[float]] = OrderedDict()
        self._lock = threading.Lock()
        self.calls = 0  # texts sent to the inner embedder (for tests and the evaluation)

    def embed(self, texts: Sequence[str], scope: str = "") -> list[list[float]]:
        found: dict[str, list[float]] = {}
        with self._lock:
            for text in texts:
                vector = self._cache.get((scope, text))
                if vector is not None:
                    self._cache.move_to_end((scope, text))
                    found[text] = vector
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            vectors = self.inner.embed(missing)
            self.calls += len(missing)
            with self._lock:
                for text, vector in zip(missing, vectors, strict=True):
                    found[text] = vector
                    self._cache[(scope, text)] = vector
                    self._cache.move_to_end((scope, text))
                while len(self._cache) > self.max_entries:
                    self._cache.popitem(last=False)
        return [found[t] for t in texts]
