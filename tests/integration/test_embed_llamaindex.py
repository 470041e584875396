"""`RoutedLLMEmbedding` in real LlamaIndex indexes (in-memory SimpleVectorStore) against the Ollama emulator.

Queries are retriever-only: these tests are about embeddings and retrieval, so no LLM
is involved.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from llama_index.core import Document, StorageContext, VectorStoreIndex, load_index_from_storage
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import MetadataMode, TextNode
from llama_index.embeddings.routed_llm import RoutedLLMEmbedding, SpaceCheck, check_space, stamp_space

from routed_llm.errors import ConfigError, EmbeddingSpaceMismatch, EmbeddingSpaceMissing
from tests.servers.ollama_emulator import OllamaEmulator

pytestmark = pytest.mark.servers

TEXTS = {
    "paris": "Paris is the capital of France.",
    "bio": "The mitochondria is the powerhouse of the cell.",
    "py": "Python is a programming language with dynamic typing.",
}


def nomic(base: str, **kw: Any) -> RoutedLLMEmbedding:
    dep = {"model": "ollama/nomic-embed-text", "api_base": base, "native_dimensions": 384, **kw}
    return RoutedLLMEmbedding(config={"deployments": [dep], "cache": {"backend": "none"}})


def minilm(base: str) -> RoutedLLMEmbedding:
    return RoutedLLMEmbedding(
        config={"deployments": [{"model": "ollama/all-minilm", "api_base": base}], "cache": {"backend": "none"}}
    )


def nodes() -> list[TextNode]:
    return [TextNode(text=text, id_=key) for key, text in TEXTS.items()]


def test_vector_store_index_build_and_retrieve(ollama_emulator: OllamaEmulator) -> None:
    embed = nomic(ollama_emulator.base_url)
    assert embed.model_name == "ollama/nomic-embed-text" and embed.class_name() == "RoutedLLMEmbedding"
    index = VectorStoreIndex(stamp_space(nodes(), embed), embed_model=embed)
    hits = index.as_retriever(similarity_top_k=1).retrieve("Which city is the capital of France?")
    assert hits[0].node.node_id == "paris"
    sent = ollama_emulator.embedded_texts()
    # documents went out with the document prefix, in one batch; the query with the query prefix
    assert sent[-1] == "search_query: Which city is the capital of France?"
    assert sorted(sent[:-1]) == sorted(f"search_document: {t}" for t in TEXTS.values())
    assert len(ollama_emulator.requests_to("/api/embed")) == 2
    # the stamp changes neither the embedded text nor what the LLM would see
    assert "embedding_space" not in hits[0].node.get_content(metadata_mode=MetadataMode.EMBED)
    assert "embedding_space" not in hits[0].node.get_content(metadata_mode=MetadataMode.LLM)
    check_space(index, embed)


async def test_async_build_and_retrieve(ollama_emulator: OllamaEmulator) -> None:
    embed = nomic(ollama_emulator.base_url)
    index = VectorStoreIndex(stamp_space(nodes(), embed), embed_model=embed, use_async=True)
    hits = await index.as_retriever(similarity_top_k=1).aretrieve("cell energy")
    assert hits[0].node.node_id == "bio"
    vectors = await embed.aget_text_embedding_batch(list(TEXTS.values()))
    assert len(vectors) == 3 and len(vectors[0]) == 384


def test_ingestion_pipeline_stamps_nodes(ollama_emulator: OllamaEmulator) -> None:
    embed = nomic(ollama_emulator.base_url, dimensions=128)
    pipeline = IngestionPipeline(transformations=[SentenceSplitter(chunk_size=64, chunk_overlap=0), embed])
    out = pipeline.run(documents=[Document(text=t, doc_id=k) for k, t in TEXTS.items()])
    assert out and all(n.metadata["embedding_space"] == "nomic-embed-text-v1.5@128/nomic" for n in out)
    assert all(n.embedding is not None and len(n.embedding) == 128 for n in out)
    assert not any("embedding_space" in t for t in ollama_emulator.embedded_texts())
    index = VectorStoreIndex(out, embed_model=embed)
    check_space(index, embed)


def test_persisted_index_refuses_another_space(ollama_emulator: OllamaEmulator, tmp_path: Path) -> None:
    built_with = nomic(ollama_emulator.base_url)
    index = VectorStoreIndex(stamp_space(nodes(), built_with), embed_model=built_with)
    index.storage_context.persist(persist_dir=str(tmp_path))
    # reloaded with a model of equal dimension (384) in another space
    other = minilm(ollama_emulator.base_url)
    loaded = load_index_from_storage(StorageContext.from_defaults(persist_dir=str(tmp_path)), embed_model=other)
    with pytest.raises(EmbeddingSpaceMismatch) as info:
        check_space(loaded, other)
    assert "nomic-embed-text-v1.5@384/nomic" in str(info.value)
    same = load_index_from_storage(StorageContext.from_defaults(persist_dir=str(tmp_path)), embed_model=built_with)
    check_space(same, built_with)
    # another dimension cannot even be compared: also a mismatch, not a numpy error
    truncated = nomic(ollama_emulator.base_url, dimensions=64)
    with pytest.raises(EmbeddingSpaceMismatch, match="64-dimension"):
        storage = StorageContext.from_defaults(persist_dir=str(tmp_path))
        check_space(load_index_from_storage(storage, embed_model=truncated), truncated)


def test_space_check_postprocessor(ollama_emulator: OllamaEmulator) -> None:
    built_with = nomic(ollama_emulator.base_url)
    index = VectorStoreIndex(stamp_space(nodes(), built_with), embed_model=built_with)
    hits = index.as_retriever(similarity_top_k=2).retrieve("programming")
    assert SpaceCheck(space=built_with.space).postprocess_nodes(hits) == hits
    other = minilm(ollama_emulator.base_url)
    with pytest.raises(EmbeddingSpaceMismatch):
        SpaceCheck(space=other.space).postprocess_nodes(hits)
    unstamped = VectorStoreIndex(nodes(), embed_model=built_with).as_retriever().retrieve("programming")
    with pytest.raises(EmbeddingSpaceMissing):
        SpaceCheck(space=built_with.space).postprocess_nodes(unstamped)
    assert SpaceCheck(space=built_with.space, require_stamp=False).postprocess_nodes(unstamped) == unstamped


def test_payload_names_the_space_and_no_secret(ollama_emulator: OllamaEmulator) -> None:
    embed = RoutedLLMEmbedding(
        config={
            "deployments": [
                {
                    "model": "openai/nomic-embed-text",
                    "api_base": f"{ollama_emulator.base_url}/v1",
                    "api_key": "sk-hidden",
                    "native_dimensions": 384,
                }  # fmt: skip
            ],
            "cache": {"backend": "none"},
        }
    )
    payload = embed.to_payload()
    assert payload["embedding_space"] == "nomic-embed-text-v1.5@384/nomic"
    assert "sk-hidden" not in repr(payload) and "sk-hidden" not in repr(embed)
    assert embed.get_query_embedding("hi") != embed.get_text_embedding("hi")


def test_bad_config_surfaces_as_config_error() -> None:
    with pytest.raises(ConfigError, match="dimensions"):
        RoutedLLMEmbedding(model_name="ollama/nomic-embed-text", dimensions=100)
