"""The shipped ONNX models: they agree with the torch model, run without torch and load nothing early."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llmcache.semantic.onnx_models import MODEL_DIR, OnnxMiniLMEmbedder, OnnxPairModel

SAMPLE = [
    "How can I learn to play the guitar?",
    "How do I learn to play guitar quickly as an adult beginner with no musical background at all?",
    "What are good watches for men under $200?",
    "Why is the sky blue?",
    "Is it safe to eat raw cookie dough?",
    "What is the difference between a virus and a bacterium?",
    "Who won the 2014 FIFA World Cup?",
    "How do I reset my router password at home",
    "",
    "naïve café déjà vu — 東京",
]

BLOCK_TORCH = (
    "import sys\n"
    "class Block:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] in {'torch', 'transformers', 'sentence_transformers', 'huggingface_hub'}:\n"
    "            raise ImportError(name + ' is blocked')\n"
    "sys.meta_path.insert(0, Block())\n"
)


def _files_mb() -> float:
    return sum(p.stat().st_size for p in MODEL_DIR.iterdir() if p.is_file()) / 1e6


def test_given_the_model_folder_when_sizing_it_then_every_model_together_stays_under_40_mb() -> None:
    assert (MODEL_DIR / "embedder.int8.onnx").is_file() and (MODEL_DIR / "pair.int8.onnx").is_file()
    assert _files_mb() <= 40.0


PAIRS = [
    ("How do I learn to play guitar?", "How can I learn to play the guitar?"),
    ("What is the best way to lose weight fast?", "How can I lose weight quickly?"),
    ("What is the capital of Peru?", "What is the capital of Bolivia?"),
    ("How do I reset my router password?", "Why do cats purr?"),
    ("Is 7 a prime number?", "Is 9 a prime number?"),
    ("Why is the sky blue?", "Why is the sky blue?"),
    ("", "naïve café déjà vu — 東京"),
    ("What are good watches for men under $200?", "Which watches under $200 are best for men?"),
]


def _torch_reference(graph: str) -> tuple[object, object]:
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("onnx")
    from llmcache.semantic.offline.training import torch_from_onnx

    torch.set_num_threads(1)
    return torch, torch_from_onnx(MODEL_DIR / graph)


@pytest.mark.semantic
def test_given_sample_texts_when_embedding_with_onnx_and_with_torch_then_cosines_reach_0_98() -> None:
    # Torch computes in float32 on the shipped weights; ONNX Runtime quantizes every activation to uint8 too
    # (dynamic int8): measured min 0.987 on these texts (0.995 held for the previous int8-weights-only graphs).
    np = pytest.importorskip("numpy")
    torch, module = _torch_reference("embedder.int8.onnx")
    from llmcache.semantic.onnx_models import SharedInputs

    feeds = SharedInputs().texts(SAMPLE)
    with torch.no_grad():  # type: ignore[attr-defined]
        reference = module(  # type: ignore[operator]
            torch.from_numpy(feeds["inputs_embeds"]),  # type: ignore[attr-defined]
            torch.from_numpy(feeds["attention_mask"]),  # type: ignore[attr-defined]
        ).numpy()
    onnx = np.asarray(OnnxMiniLMEmbedder().embed(SAMPLE))
    assert onnx.shape == reference.shape == (len(SAMPLE), 384)
    cosines = (onnx * reference).sum(axis=1)
    assert cosines.min() >= 0.98, cosines.tolist()
    # and the ranking that decides a lookup: each text's nearest other text is the same under both,
    # wherever torch itself tells the nearest from the next by more than 0.01 (not a near-tie)
    ours = ((onnx @ onnx.T) - 2 * np.eye(len(SAMPLE))).argmax(1)
    similarities = (reference @ reference.T) - 2 * np.eye(len(SAMPLE))
    ordered = np.sort(similarities, axis=1)
    clear = (ordered[:, -1] - ordered[:, -2]) > 0.01
    assert clear.sum() >= len(SAMPLE) // 2
    assert (ours[clear] == similarities.argmax(1)[clear]).all(), (ours.tolist(), similarities.argmax(1).tolist())


@pytest.mark.semantic
def test_given_sample_pairs_when_scoring_with_onnx_and_with_torch_then_they_agree_and_decide_alike() -> None:
    import math

    from llmcache.semantic.onnx_models import SharedInputs
    from llmcache.semantic.pair_verifier import PAIR_MODEL_CUT

    torch, module = _torch_reference("pair.int8.onnx")
    feeds = SharedInputs().pairs(PAIRS)
    with torch.no_grad():  # type: ignore[attr-defined]
        logits = module(  # type: ignore[operator]
            **{k: torch.from_numpy(feeds[k]) for k in ("inputs_embeds", "attention_mask", "token_type_ids")}  # type: ignore[attr-defined]
        ).tolist()
    reference = [1 / (1 + math.exp(-x)) for x in logits]
    onnx = OnnxPairModel().scores(PAIRS)
    # int8 activations: measured 0.037 at most on these pairs (0.02 held with float activations); the decisions
    # at the cut must still be the same
    assert max(abs(r - o) for r, o in zip(reference, onnx, strict=True)) <= 0.05, (reference, onnx)
    assert [r >= PAIR_MODEL_CUT for r in reference] == [o >= PAIR_MODEL_CUT for o in onnx]


def test_given_torch_and_the_hub_blocked_when_embedding_and_scoring_then_the_onnx_models_still_work() -> None:
    probe = BLOCK_TORCH + (
        "import json\n"
        "from llmcache.semantic.embedders import LocalEmbedder\n"
        "from llmcache.semantic.onnx_models import OnnxPairModel\n"
        "vectors = LocalEmbedder().embed(['How do I learn guitar?', 'Why is the sky blue?'])\n"
        "score = OnnxPairModel().score('How do I learn guitar?', 'How can I learn to play the guitar?')\n"
        "print(json.dumps({'dims': [len(v) for v in vectors], 'score': score, "
        "'torch': 'torch' in sys.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=300)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["dims"] == [384, 384] and 0.0 <= result["score"] <= 1.0 and result["torch"] is False


def test_given_semantic_off_when_importing_the_handler_then_no_model_runtime_is_loaded() -> None:
    probe = (
        "import sys, llmcache.handler\n"
        "from llmcache.semantic.pair_verifier import PairVerifier\n"
        "from llmcache.semantic.embedders import LocalEmbedder\n"
        "LocalEmbedder(); PairVerifier()  # built, not yet asked\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'onnxruntime', 'tokenizers', 'torch'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=300)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_given_a_batch_when_embedding_then_each_vector_equals_the_text_embedded_alone() -> None:
    # int8 activations take their scale from the whole input: the embedder must not batch texts together
    embedder = OnnxMiniLMEmbedder()
    together = embedder.embed(SAMPLE)
    for text, vector in zip(SAMPLE, together, strict=True):
        alone = embedder.embed([text])[0]
        assert vector == alone
        assert abs(sum(x * x for x in vector) - 1.0) < 1e-4


def test_given_duplicate_and_unrelated_questions_when_scoring_pairs_then_duplicates_score_higher() -> None:
    # The least the shipped pair model must do: tell a reworded question from an unrelated one.
    model = OnnxPairModel()
    duplicates = [
        ("How do I learn to play guitar?", "How can I learn to play the guitar?"),
        ("What is the best way to lose weight fast?", "How can I lose weight quickly?"),
        ("How do I reset my router password?", "How can I reset the password of my router?"),
    ]
    unrelated = [
        ("How do I learn to play guitar?", "What is the capital of Peru?"),
        ("What is the best way to lose weight fast?", "Who wrote the novel War and Peace?"),
        ("How do I reset my router password?", "Why do cats purr?"),
    ]
    high, low = model.scores(duplicates), model.scores(unrelated)
    assert all(0.0 <= s <= 1.0 for s in high + low)
    assert min(high) > max(low), (high, low)


def test_given_a_pair_when_scoring_in_a_batch_or_alone_then_the_score_is_the_same() -> None:
    model = OnnxPairModel()
    pairs = [("Why is the sky blue?", "What makes the sky blue?"), ("A short one?", "A much longer question " * 5)]
    batch = model.scores(pairs)
    assert batch == [model.score(q, c) for q, c in pairs]  # exactly: a score never depends on its batch
    assert model.scores([]) == []


def test_given_a_missing_model_folder_when_embedding_then_semantic_unavailable_is_raised(tmp_path: Path) -> None:
    from llmcache.semantic.errors import SemanticUnavailable

    with pytest.raises(SemanticUnavailable):
        OnnxMiniLMEmbedder(model_dir=tmp_path).embed(["hello"])


def test_given_the_shipped_training_report_when_rendered_then_both_trainings_and_the_dev_figures_appear() -> None:
    # The report is written at the end of an hour of training: a renderer that fails loses it (it once did).
    from llmcache.semantic.offline.training import render_report

    report = json.loads((MODEL_DIR / "training-report.json").read_text())
    text = render_report(report)
    assert "## Embedder" in text and "## Pair model" in text and "## Dev sample" in text
    for model in ("embedder_training", "pair_training"):
        last = report[model]["curve"][-1]
        assert f"| {last['step']} | {last['epoch']} | {last['train_loss']} |" in text
    assert text == (MODEL_DIR / "training-report.md").read_text()
