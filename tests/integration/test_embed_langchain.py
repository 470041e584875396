"""`RoutedLLMEmbeddings` against the Ollama emulator: LangChain's standard suite and real vector stores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.vectorstores import InMemoryVectorStore
from langchain_tests.integration_tests import EmbeddingsIntegrationTests

from langchain_routed_llm.embeddings import RoutedLLMEmbeddings, check_space, space_guard, stamp_space
from routed_llm.errors import EmbeddingSpaceMismatch, EmbeddingSpaceMissing
from tests.servers.ollama_emulator import OllamaEmulator

pytestmark = pytest.mark.servers

DOCS = [
    Document(page_content="Paris is the capital of France.", metadata={"id": "paris"}),
    Document(page_content="The mitochondria is the powerhouse of the cell.", metadata={"id": "bio"}),
    Document(page_content="Python is a programming language with dynamic typing.", metadata={"id": "py"}),
]


def nomic_embeddings(base: str, **kw: Any) -> RoutedLLMEmbeddings:
    dep = {"model": "ollama/nomic-embed-text", "api_base": base, "native_dimensions": 384, **kw}
    return RoutedLLMEmbeddings(config={"deployments": [dep], "cache": {"backend": "none"}})


def minilm_embeddings(base: str) -> RoutedLLMEmbeddings:
    return RoutedLLMEmbeddings(
        config={"deployments": [{"model": "ollama/all-minilm", "api_base": base}], "cache": {"backend": "none"}}
    )


class TestRoutedLLMEmbeddingsOnOllama(EmbeddingsIntegrationTests):
    """The standard suite through the Ollama-native path (nomic prefixes on)."""

    @property
    def embeddings_class(self) -> type[RoutedLLMEmbeddings]:
        return RoutedLLMEmbeddings

    @pytest.fixture
    def model(self, ollama_emulator: OllamaEmulator) -> RoutedLLMEmbeddings:  # type: ignore[override]
        return nomic_embeddings(ollama_emulator.base_url)

    def test_prefixes_reached_the_wire(self, model: RoutedLLMEmbeddings, ollama_emulator: OllamaEmulator) -> None:
        model.embed_query("foo")
        model.embed_documents(["foo"])
        assert ollama_emulator.embedded_texts() == ["search_query: foo", "search_document: foo"]


class TestRoutedLLMEmbeddingsInProcess(EmbeddingsIntegrationTests):
    """The standard suite on the in-process default (no server at all)."""

    @property
    def embeddings_class(self) -> type[RoutedLLMEmbeddings]:
        return RoutedLLMEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"config": {"model": "local/all-minilm-l6-v2", "cache": {"backend": "none"}}}


# --------------------------------------------------------------------------- vector stores


def test_stamped_store_answers_its_own_space(ollama_emulator: OllamaEmulator) -> None:
    embed = nomic_embeddings(ollama_emulator.base_url)
    store = InMemoryVectorStore.from_documents(stamp_space(DOCS, embed), embed)
    check_space(store, embed)
    hit = store.similarity_search("Which city is France's capital?", k=1)[0]
    assert hit.metadata["id"] == "paris"
    assert hit.metadata["embedding_space"] == "nomic-embed-text-v1.5@384/nomic"
    assert "embedding_space" not in DOCS[0].metadata  # stamping copies, never mutates the caller's docs


def test_store_refuses_queries_from_another_space_with_equal_dimensions(
    ollama_emulator: OllamaEmulator, tmp_path: Path
) -> None:
    built_with = nomic_embeddings(ollama_emulator.base_url)
    store = InMemoryVectorStore.from_documents(stamp_space(DOCS, built_with), built_with)
    store.dump(str(tmp_path / "store.json"))
    # Reloaded with a model of the same dimension (384) but another space: only the stamp can tell.
    other = minilm_embeddings(ollama_emulator.base_url)
    loaded = InMemoryVectorStore.load(str(tmp_path / "store.json"), embedding=other)
    with pytest.raises(EmbeddingSpaceMismatch) as info:
        check_space(loaded, other)
    assert "nomic-embed-text-v1.5@384/nomic" in str(info.value) and "all-minilm-l6-v2@384/none" in str(info.value)
    # the same file reloaded with the right space passes
    check_space(InMemoryVectorStore.load(str(tmp_path / "store.json"), embedding=built_with), built_with)


def test_store_refuses_queries_of_another_dimension(ollama_emulator: OllamaEmulator) -> None:
    built_with = nomic_embeddings(ollama_emulator.base_url)
    store = InMemoryVectorStore.from_documents(stamp_space(DOCS, built_with), built_with)
    truncated = nomic_embeddings(ollama_emulator.base_url, dimensions=128)
    with pytest.raises(EmbeddingSpaceMismatch, match="128-dimension query vector"):
        check_space(store, truncated)


def test_unstamped_store_is_reported(ollama_emulator: OllamaEmulator) -> None:
    embed = nomic_embeddings(ollama_emulator.base_url)
    store = InMemoryVectorStore.from_documents(DOCS, embed)
    with pytest.raises(EmbeddingSpaceMissing, match="stamp_space"):
        check_space(store, embed)
    check_space(store, embed, require_stamp=False)
    check_space(InMemoryVectorStore(embedding=embed), embed)  # an empty store has nothing to mismatch


def test_space_guard_checks_every_retrieval(ollama_emulator: OllamaEmulator) -> None:
    built_with = nomic_embeddings(ollama_emulator.base_url)
    store = InMemoryVectorStore.from_documents(stamp_space(DOCS, built_with), built_with)
    chain = store.as_retriever(search_kwargs={"k": 2}) | space_guard(built_with)
    assert [d.metadata["id"] for d in chain.invoke("cells and energy")][0] == "bio"
    other = minilm_embeddings(ollama_emulator.base_url)
    foreign = InMemoryVectorStore(embedding=other)
    foreign.add_documents(stamp_space(DOCS, built_with))  # mixed up: nomic stamps, minilm vectors
    with pytest.raises(EmbeddingSpaceMismatch):
        (foreign.as_retriever() | space_guard(other)).invoke("cells")


async def test_async_vector_store_flow(ollama_emulator: OllamaEmulator) -> None:
    embed = nomic_embeddings(ollama_emulator.base_url)
    store = await InMemoryVectorStore.afrom_documents(stamp_space(DOCS, embed), embed)
    hits = await store.asimilarity_search("programming languages", k=1)
    assert hits[0].metadata["id"] == "py"
    sent = ollama_emulator.embedded_texts()
    assert sent[-1] == "search_query: programming languages"
    assert all(t.startswith("search_document: ") for t in sent[:-1])
