"""Embedding spaces, prefixes and Matryoshka maths: pure logic, no sockets."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routed_llm.embeddings import (
    KNOWN_SCHEMES,
    EmbeddingSpace,
    PrefixScheme,
    TextKind,
    check_space,
    model_identity,
    reduce_dimensions,
    scheme_for_model,
)
from routed_llm.errors import EmbeddingSpaceMismatch, EmbeddingSpaceMissing, RoutedLLMError


@pytest.mark.parametrize(
    "model",
    [
        "ollama/nomic-embed-text",
        "ollama/nomic-embed-text:latest",
        "ollama/nomic-embed-text:v1.5",
        "nomic-ai/nomic-embed-text-v1.5",
        "openai/nomic-ai/nomic-embed-text-v1.5",
        "lm_studio/text-embedding-nomic-embed-text-v1.5",
        "hosted_vllm/nomic-ai/nomic-embed-text-v1.5",
    ],
)
def test_every_nomic_alias_is_one_identity(model: str) -> None:
    assert model_identity(model) == "nomic-embed-text-v1.5"


def test_ollama_all_minilm_and_the_packaged_minilm_are_one_identity() -> None:
    assert model_identity("ollama/all-minilm") == model_identity("local/all-minilm-l6-v2") == "all-minilm-l6-v2"
    # the 33m tag is the L12 model: a different space
    assert model_identity("ollama/all-minilm:33m") == "all-minilm-l12-v2"


def test_unknown_models_keep_their_name_without_the_provider() -> None:
    assert model_identity("ollama/my-embedder:q8") == "my-embedder:q8"
    assert model_identity("org/custom-model") == "org/custom-model"


@pytest.mark.parametrize(
    ("identity", "scheme"),
    [
        ("nomic-embed-text-v1.5", "nomic"),
        ("intfloat/e5-large-v2", "e5"),
        ("multilingual-e5-small", "e5"),
        ("bge-large-en-v1.5", "bge"),
        ("bge-m3", "none"),
        ("mxbai-embed-large-v1", "mxbai"),
        ("snowflake-arctic-embed", "arctic"),
        ("all-minilm-l6-v2", "none"),
        ("text-embedding-3-small", "none"),
    ],
)
def test_prefix_scheme_follows_the_model_card(identity: str, scheme: str) -> None:
    assert scheme_for_model(identity).name == scheme


def test_nomic_prefixes_differ_for_queries_and_documents() -> None:
    nomic = KNOWN_SCHEMES["nomic"]
    assert nomic.apply("what is RAG?", TextKind.QUERY) == "search_query: what is RAG?"
    assert nomic.apply("RAG is ...", TextKind.DOCUMENT) == "search_document: RAG is ..."
    # a text that already carries its prefix is not prefixed twice
    assert nomic.apply("search_query: hi", TextKind.QUERY) == "search_query: hi"


def test_bge_instruction_is_for_queries_only() -> None:
    bge = KNOWN_SCHEMES["bge"]
    assert bge.apply("q", TextKind.QUERY).startswith("Represent this sentence for searching relevant passages: ")
    assert bge.apply("d", TextKind.DOCUMENT) == "d"


def test_custom_schemes_with_different_prefixes_are_different_spaces() -> None:
    a = PrefixScheme.custom(query="Q: ", document="D: ")
    b = PrefixScheme.custom(query="Query: ", document="D: ")
    assert a.name != b.name and a.name.startswith("custom-")
    assert PrefixScheme.custom(query="Q: ", document="D: ") == a
    sa = EmbeddingSpace(model="m", dimensions=8, prefixes=a)
    sb = EmbeddingSpace(model="m", dimensions=8, prefixes=b)
    assert sa.id != sb.id


def test_space_id_names_model_dimensions_and_scheme() -> None:
    space = EmbeddingSpace(model="nomic-embed-text-v1.5", dimensions=256, prefixes=KNOWN_SCHEMES["nomic"])
    assert space.id == "nomic-embed-text-v1.5@256/nomic"
    meta = space.as_metadata()
    assert meta["embedding_space"] == space.id
    assert meta["embedding_prefixes"] == {"query": "search_query: ", "document": "search_document: "}


def test_check_space_names_both_spaces() -> None:
    nomic = EmbeddingSpace(model="nomic-embed-text-v1.5", dimensions=768, prefixes=KNOWN_SCHEMES["nomic"])
    minilm = EmbeddingSpace(model="all-minilm-l6-v2", dimensions=384, prefixes=KNOWN_SCHEMES["none"])
    check_space(nomic.as_metadata(), nomic, what="store")  # same space: passes
    with pytest.raises(EmbeddingSpaceMismatch) as info:
        check_space(minilm.as_metadata(), nomic, what="vector store 'docs'")
    msg = str(info.value)
    assert "all-minilm-l6-v2@384/none" in msg and "nomic-embed-text-v1.5@768/nomic" in msg
    assert "vector store 'docs'" in msg
    assert isinstance(info.value, RoutedLLMError)
    with pytest.raises(EmbeddingSpaceMissing, match="stamp_space"):
        check_space({}, nomic, what="store")


# --------------------------------------------------------------------------- Matryoshka


def _nomic_reference(raw: np.ndarray, dims: int) -> np.ndarray:
    """nomic's published recipe: layer_norm(raw) -> [:dims] -> L2 normalise."""
    ln = (raw - raw.mean()) / np.sqrt(raw.var() + 1e-5)
    cut = ln[:dims]
    return cut / np.linalg.norm(cut)


def test_nomic_truncation_matches_the_published_recipe_even_from_normalised_vectors() -> None:
    rng = np.random.default_rng(0)
    raw = rng.normal(0.3, 2.0, 768)  # the model's raw pooled output (non-zero mean)
    server = raw / np.linalg.norm(raw)  # what Ollama returns: already unit length
    for dims in (512, 256, 128, 64):
        ours = np.array(reduce_dimensions(server.tolist(), dims, layer_norm=True))
        assert ours.shape == (dims,)
        np.testing.assert_allclose(ours, _nomic_reference(raw, dims), atol=1e-6)
    # plain truncation would give a different (wrong for nomic) vector
    plain = np.array(reduce_dimensions(server.tolist(), 256))
    assert not np.allclose(plain, _nomic_reference(raw, 256), atol=1e-3)


def test_plain_truncation_renormalises() -> None:
    vec = [3.0, 4.0, 12.0]
    assert reduce_dimensions(vec, 2) == pytest.approx([0.6, 0.8])


def test_vectors_are_float32_exact() -> None:
    out = reduce_dimensions([0.1, 0.2, 0.3], 3)
    assert np.array(out, dtype=np.float32).astype(np.float64).tolist() == out


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-10, 10, allow_nan=False, allow_infinity=False), min_size=2, max_size=64).filter(
        lambda v: math.hypot(*v) > 1e-3 and np.std(v) > 1e-3
    ),
    st.integers(1, 64),
    st.booleans(),
)
def test_truncated_vectors_always_have_unit_length(vec: list[float], dims: int, layer_norm: bool) -> None:
    dims = min(dims, len(vec))
    out = reduce_dimensions(vec, dims, layer_norm=layer_norm)
    assert len(out) == dims
    norm = math.hypot(*out)
    assert norm == pytest.approx(1.0, abs=1e-5) or norm == 0.0
