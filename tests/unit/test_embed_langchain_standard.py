"""LangChain's own unit-test suite for embeddings (`langchain_tests.unit_tests.EmbeddingsUnitTests`).

Construction must not touch the network (sockets are disabled here) nor load a model.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from langchain_tests.unit_tests import EmbeddingsUnitTests

from langchain_routed_llm.embeddings import RoutedLLMEmbeddings
from routed_llm.errors import ConfigError

_CONFIG = Path(tempfile.mkdtemp(prefix="routed-llm-embed-")) / "routing.yaml"
_CONFIG.write_text("embeddings:\n  model: ollama/nomic-embed-text\n  dimensions: 512\n  cache: {backend: none}\n")


class TestRoutedLLMEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[RoutedLLMEmbeddings]:
        return RoutedLLMEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": "ollama/nomic-embed-text", "base_url": "http://localhost:11434"}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        # The same variable ChatRoutedLLM reads: one YAML file for chat tiers and embeddings.
        return {"ROUTED_LLM_CONFIG": str(_CONFIG)}, {}, {"config": str(_CONFIG)}


def test_env_config_reaches_the_core(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTED_LLM_CONFIG", str(_CONFIG))
    assert RoutedLLMEmbeddings().space.id == "nomic-embed-text-v1.5@512/nomic"


def test_shorthand_builds_the_space() -> None:
    embed = RoutedLLMEmbeddings(model="ollama/nomic-embed-text", dimensions=256)
    assert embed.space.id == "nomic-embed-text-v1.5@256/nomic"


def test_config_errors_surface_as_config_errors() -> None:
    with pytest.raises(ConfigError, match="dimensions"):
        RoutedLLMEmbeddings(model="ollama/nomic-embed-text", dimensions=100)


def test_conflicting_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="either config= or model="):
        RoutedLLMEmbeddings(model="ollama/nomic-embed-text", config={"model": "ollama/all-minilm"})
    with pytest.raises(ValueError, match="need model="):
        RoutedLLMEmbeddings(dimensions=256)
