"""The in-process default: all-MiniLM-L6-v2 on ONNX Runtime, pinned to sentence-transformers' fp32 vectors.

The reference vectors in tests/data/minilm_reference.json were made once with
sentence-transformers (fp32, CPU) by ``scripts/export_minilm_onnx.py reference``; these
tests need neither torch nor sentence-transformers.
"""

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from routed_llm.embeddings import Embedder
from routed_llm.embeddings.backends import OnnxMiniLMBackend, make_backend
from routed_llm.embeddings.onnx_minilm import (
    DIMENSIONS,
    MAX_SEQ_LENGTH,
    MODEL_FILES,
    OnnxMiniLM,
    _mean_pool_normalise,
    packaged_model_dir,
    shared_encoder,
)
from routed_llm.errors import ConfigError, EmbeddingError, EmbeddingInputError, EmbeddingInputTooLong

REFERENCE = json.loads((Path(__file__).resolve().parents[1] / "data" / "minilm_reference.json").read_text("utf-8"))
TEXTS = [item["text"] for item in REFERENCE["items"]]
VECTORS = np.array([item["vector"] for item in REFERENCE["items"]], dtype=np.float32)


@pytest.fixture(scope="module")
def encoder() -> OnnxMiniLM:
    return shared_encoder()


def test_the_reference_set_covers_what_the_targets_name() -> None:
    tokens = {item["text"]: item["tokens"] for item in REFERENCE["items"]}
    assert any("é" in t for t in TEXTS) and any("東京" in t for t in TEXTS) and any("🚀" in t for t in TEXTS)
    assert any("def fib" in t for t in TEXTS)
    assert any(240 <= n <= MAX_SEQ_LENGTH for n in tokens.values())  # the ~250-token passage
    assert any(n > MAX_SEQ_LENGTH for n in tokens.values())  # cut by the window
    assert REFERENCE["max_seq_length"] == MAX_SEQ_LENGTH


def test_vectors_agree_with_sentence_transformers_fp32(encoder: OnnxMiniLM) -> None:
    vectors = encoder.encode(TEXTS)
    assert vectors.shape == (len(TEXTS), DIMENSIONS) and vectors.dtype == np.float32
    cosine = np.sum(vectors * VECTORS, axis=1) / np.linalg.norm(VECTORS, axis=1)
    assert cosine.mean() >= 0.999, cosine
    assert cosine.min() >= 0.995, dict(zip(TEXTS, cosine.round(5), strict=True))


def test_token_counts_match_the_reference_tokenizer(encoder: OnnxMiniLM) -> None:
    # the same WordPiece tokenizer as sentence-transformers, special tokens included, uncut
    assert encoder.count_tokens(TEXTS) == [item["tokens"] for item in REFERENCE["items"]]


def test_vectors_are_unit_length_and_in_input_order(encoder: OnnxMiniLM) -> None:
    texts = ["a much longer sentence about routing policies, budgets and local tiers " * 3, "short", "mid length text"]
    together = encoder.encode(texts)
    alone = np.vstack([encoder.encode([t]) for t in texts])
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    # sorted by length inside, padded per batch: neither the order nor the padding shows in the result
    np.testing.assert_allclose(together, alone, atol=2e-5)
    assert float(together[0] @ together[1]) < 0.9


def test_mean_pooling_ignores_padding_and_normalises() -> None:
    hidden = np.array([[[1.0, 0.0], [3.0, 4.0], [1e6, -1e6]], [[0.0, 2.0], [-5e5, 9.0], [7.0, 7.0]]], dtype=np.float32)
    mask = np.array([[1, 1, 0], [1, 0, 0]], dtype=np.int64)
    pooled = _mean_pool_normalise(hidden, mask)
    np.testing.assert_allclose(pooled[0], np.array([2.0, 2.0]) / np.hypot(2.0, 2.0), rtol=1e-6)
    np.testing.assert_allclose(pooled[1], [0.0, 1.0], atol=1e-7)


def test_the_window_keeps_the_first_256_tokens(encoder: OnnxMiniLM) -> None:
    long_text = TEXTS[-1]
    assert encoder.count_tokens([long_text])[0] > MAX_SEQ_LENGTH
    more = long_text + " Entirely different closing words about volcanoes and jazz."
    np.testing.assert_allclose(encoder.encode([long_text]), encoder.encode([more]), atol=1e-6)
    assert not np.allclose(encoder.encode([TEXTS[-2]]), encoder.encode([TEXTS[-2] + " Volcanoes and jazz."]))


def test_an_empty_list_gives_an_empty_array(encoder: OnnxMiniLM) -> None:
    out = encoder.encode([])
    assert out.shape == (0, DIMENSIONS) and out.dtype == np.float32


def test_shared_encoder_is_one_object_per_thread_count() -> None:
    results: list[OnnxMiniLM] = []
    workers = [threading.Thread(target=lambda: results.append(shared_encoder())) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len({id(r) for r in results}) == 1 and results[0] is shared_encoder(1)
    two = shared_encoder(2)
    assert two is not results[0] and two.threads == 2
    np.testing.assert_allclose(two.encode(TEXTS[:3]), results[0].encode(TEXTS[:3]), atol=1e-5)


def test_threads_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="threads must be at least 1"):
        OnnxMiniLM(threads=0)


def _copy_model(tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(packaged_model_dir(), target)
    return target


def test_a_corrupt_model_file_is_an_error_naming_it(tmp_path: Path) -> None:
    directory = _copy_model(tmp_path)
    data = bytearray((directory / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte deep in the weights
    (directory / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(EmbeddingError, match="corrupt") as info:
        OnnxMiniLM(directory)
    assert str(directory / "model.onnx") in str(info.value) and MODEL_FILES["model.onnx"] in str(info.value)


@pytest.mark.parametrize("name", ["model.onnx", "tokenizer.json"])
def test_a_missing_model_file_is_an_error_naming_it(tmp_path: Path, name: str) -> None:
    directory = _copy_model(tmp_path)
    (directory / name).unlink()
    with pytest.raises(EmbeddingError, match="missing") as info:
        OnnxMiniLM(directory)
    assert str(directory / name) in str(info.value)


def test_an_intact_copy_loads(tmp_path: Path) -> None:
    encoder = OnnxMiniLM(_copy_model(tmp_path))
    np.testing.assert_allclose(encoder.encode(TEXTS[:2]), shared_encoder().encode(TEXTS[:2]), atol=1e-6)


def test_the_package_ships_the_license_and_notice() -> None:
    directory = packaged_model_dir()
    assert "Apache License" in (directory / "LICENSE").read_text()
    notice = (directory / "NOTICE").read_text()
    assert "all-MiniLM-L6-v2" in notice and "Apache License, Version 2.0" in notice
    export = json.loads((directory / "export.json").read_text())
    assert export["sha256"] == MODEL_FILES


# --------------------------------------------------------------------------- the embedding backend


def test_local_minilm_is_the_onnx_backend_with_configured_threads() -> None:
    emb = Embedder({"deployments": [{"model": "local/all-minilm-l6-v2", "threads": 2}], "cache": {"backend": "none"}})
    backend = emb._deployments[0].backend
    assert isinstance(backend, OnnxMiniLMBackend) and backend.threads == 2
    assert backend.encoder is shared_encoder(2)
    vectors = emb.embed_documents(TEXTS[:4])
    cosine = np.sum(np.array(vectors) * VECTORS[:4], axis=1)
    assert cosine.min() >= 0.995


def test_threads_default_to_one() -> None:
    from routed_llm.config import EmbeddingDeployment

    backend = make_backend(EmbeddingDeployment(model="local/all-minilm-l6-v2"))
    assert isinstance(backend, OnnxMiniLMBackend) and backend.threads == 1


def test_threads_zero_is_a_config_error_naming_the_field() -> None:
    with pytest.raises(ConfigError, match=r"embeddings\.deployments\.0\.threads|deployments\[0\]\.threads"):
        Embedder({"deployments": [{"model": "local/all-minilm-l6-v2", "threads": 0}]})


def test_too_long_raises_by_default_and_truncates_when_configured() -> None:
    long_text = TEXTS[-1]
    strict = Embedder({"model": "local/all-minilm-l6-v2", "cache": {"backend": "none"}})
    with pytest.raises(EmbeddingInputTooLong) as info:
        strict.embed_documents(["short", long_text])
    assert (
        info.value.index == 1
        and info.value.limit == MAX_SEQ_LENGTH
        and info.value.tokens == REFERENCE["items"][-1]["tokens"]
    )
    lenient = Embedder({"model": "local/all-minilm-l6-v2", "on_too_long": "truncate", "cache": {"backend": "none"}})
    vector = np.array(lenient.embed_documents([long_text])[0])
    assert float(vector @ VECTORS[-1]) >= 0.995  # sentence-transformers cuts it at 256 tokens the same way


@pytest.mark.parametrize(("bad", "match"), [([""], r"texts\[0\] is empty"), (["fine", "   "], r"texts\[1\] is empty")])
def test_empty_and_blank_inputs_follow_the_embedder_rules(bad: list[str], match: str) -> None:
    emb = Embedder({"model": "local/all-minilm-l6-v2", "cache": {"backend": "none"}})
    with pytest.raises(EmbeddingInputError, match=match):
        emb.embed_documents(bad)
    assert emb.stats.requests == 0
    assert emb.embed_documents([]) == []


def test_the_default_path_never_imports_torch() -> None:
    code = (
        "import sys, time\n"
        "t = time.perf_counter()\n"
        "from routed_llm.embeddings import Embedder\n"
        "vectors = Embedder(cache=None).embed_documents(['no torch here'])\n"
        "assert len(vectors[0]) == 384\n"
        "heavy = sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules)\n"
        "print(','.join(heavy) or 'none')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip().splitlines()[-1] == "none"
