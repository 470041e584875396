"""Embedding inputs are classified like chat prompts: PII keeps them private (issue 11, MEDIUM 5).

Two real Ollama emulators on loopback (`tests.servers.ollama_emulator`): one a cloud-like
non-private deployment (first, so it would be used), one private; the same space.
"""

from typing import Any

import pytest

from langchain_routed_llm import RoutedLLMEmbeddings
from routed_llm.embeddings import Embedder
from routed_llm.errors import EmbeddingNotAllowed
from tests.servers.ollama_emulator import OllamaEmulator

pytestmark = pytest.mark.servers

PII = "Refund alice.smith@example.com on card 4111 1111 1111 1111 today"


def nomic(base: str, **kw: Any) -> dict[str, Any]:
    return {"model": "ollama/nomic-embed-text", "api_base": base, "native_dimensions": 384, **kw}


def config(*deployments: dict[str, Any]) -> dict[str, Any]:
    return {"deployments": list(deployments), "cache": {"backend": "none"}, "allow_non_private": True}


def test_pii_in_a_query_or_document_keeps_it_on_the_private_deployment(
    ollama_emulator: OllamaEmulator, ollama_emulator_factory: Any
) -> None:
    private = ollama_emulator_factory()
    emb = Embedder(config(nomic(ollama_emulator.base_url, private=False), nomic(private.base_url)))
    emb.embed_query(PII)
    emb.embed_documents(["the weather is nice", PII])  # one text with PII keeps the whole batch private
    emb.embed_documents(["the weather is nice"])
    assert ollama_emulator.embedded_texts() == ["search_document: the weather is nice"]
    assert private.embedded_texts() == [
        f"search_query: {PII}",
        "search_document: the weather is nice",
        f"search_document: {PII}",
    ]


async def test_the_langchain_wrapper_and_async_paths_infer_too(
    ollama_emulator: OllamaEmulator, ollama_emulator_factory: Any
) -> None:
    private = ollama_emulator_factory()
    lc = RoutedLLMEmbeddings(config=config(nomic(ollama_emulator.base_url, private=False), nomic(private.base_url)))
    lc.embed_query(PII)
    await lc.aembed_query(PII)
    await lc.aembed_documents([PII])
    assert ollama_emulator.embedded_texts() == []
    assert len(private.embedded_texts()) == 3


def test_the_override_hint_sends_it_where_the_caller_says(
    ollama_emulator: OllamaEmulator, ollama_emulator_factory: Any
) -> None:
    private = ollama_emulator_factory()
    emb = Embedder(config(nomic(ollama_emulator.base_url, private=False), nomic(private.base_url)))
    emb.embed_query(PII, sensitivity="public")
    assert ollama_emulator.embedded_texts() == [f"search_query: {PII}"] and private.embedded_texts() == []


def test_with_no_private_deployment_inferred_pii_is_refused_with_the_override_named(
    ollama_emulator: OllamaEmulator,
) -> None:
    emb = Embedder(config(nomic(ollama_emulator.base_url, private=False)))
    with pytest.raises(EmbeddingNotAllowed, match=r"inferred from texts\[0\].*sensitivity='public'"):
        emb.embed_query(PII)
    assert ollama_emulator.embedded_texts() == []
