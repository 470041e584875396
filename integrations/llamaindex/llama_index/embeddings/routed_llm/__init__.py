"""`RoutedLLMEmbedding`: a LlamaIndex embedding over routed-llm's local-first embedder.

A thin adapter, like ``llama-index-embeddings-ollama``'s ``OllamaEmbedding``: query
and text embeddings map onto the core `routed_llm.embeddings.Embedder`, which applies
the model's task prefixes (so no ``query_instruction``/``text_instruction`` to get
right by hand), truncates Matryoshka models, batches, caches and falls back only
within one embedding space.

Index safety: nodes are stamped with their embedding space (`stamp_space`, or
automatically when this embedding runs as an ``IngestionPipeline`` transformation);
`check_space` verifies a loaded index against the embedding about to query it, and
the `SpaceCheck` node postprocessor re-checks every query's results.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.indices.base import BaseIndex
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import BaseNode, NodeWithScore, QueryBundle

from routed_llm.config import EmbeddingsConfig, RoutingConfig
from routed_llm.embeddings import Embedder, EmbeddingSpace, check_stamps, space_of, stamped_metadata
from routed_llm.errors import EmbeddingError, EmbeddingSpaceMismatch
from routed_llm.types import Sensitivity

__all__ = ["CONFIG_ENV", "RoutedLLMEmbedding", "SpaceCheck", "check_space", "stamp_space"]

#: Same variable as the LangChain adapters: one YAML file configures chat tiers and embeddings.
from routed_llm.adapters import CONFIG_ENV, adopt_embedder, config_source_from_env  # noqa: E402  (CONFIG_ENV re-exported)

#: Texts handed to the core per call: large, so the core's own batching and concurrency can work.
DEFAULT_BATCH_SIZE = 256

N = TypeVar("N", bound=BaseNode)


class RoutedLLMEmbedding(BaseEmbedding):
    """Local-first LlamaIndex embedding: task prefixes, one embedding space, safe fallback, cache.

    With no argument (and no ``$ROUTED_LLM_CONFIG``) the default is all-MiniLM-L6-v2
    in-process: 384 dimensions, no task prefixes, no server (extra ``embeddings``).

    Examples:
        .. code-block:: python

            from llama_index.core import Settings, VectorStoreIndex
            from llama_index.embeddings.routed_llm import RoutedLLMEmbedding

            Settings.embed_model = RoutedLLMEmbedding(model_name="ollama/nomic-embed-text")
            # or RoutedLLMEmbedding(config="routing.yaml"); no argument = in-process MiniLM
            index = VectorStoreIndex.from_documents(docs)
            Settings.embed_model.space.id
            # 'nomic-embed-text-v1.5@768/nomic'
    """

    config: EmbeddingsConfig | RoutingConfig | str | Path | dict[str, Any] | None = Field(
        default=None, exclude=True, description="Routing YAML path, mapping or config; None reads $ROUTED_LLM_CONFIG."
    )
    embedder: Embedder | None = Field(
        default=None, exclude=True, description="An existing core Embedder to share (cache, health, stats)."
    )
    base_url: str | None = Field(default=None, description="Server URL for model_name (Ollama: localhost:11434).")
    dimensions: int | None = Field(default=None, gt=0, description="Matryoshka output dimensions for model_name.")
    sensitivity: Sensitivity | None = Field(
        default=None, description="Sensitivity of every text; confidential uses private deployments only."
    )
    embed_batch_size: int = Field(
        default=DEFAULT_BATCH_SIZE, gt=0, le=2048, description="Texts per call to the core embedder."
    )

    _embedder: Embedder = PrivateAttr()

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        # Built here rather than in a validator so a ConfigError reaches the caller as itself.
        self._embedder = self._build_embedder()
        if self.model_name == "unknown":
            self.model_name = self._embedder.config.deployments[0].model

    def _build_embedder(self) -> Embedder:
        model = None if self.model_name == "unknown" else self.model_name  # LlamaIndex's "unset"
        if self.embedder is None and model is None and self.base_url is None and self.dimensions is None:
            self.config = config_source_from_env(self.config)
        return adopt_embedder(
            self.config,
            self.embedder,
            model=model,
            base_url=self.base_url,
            dimensions=self.dimensions,
            sensitivity=self.sensitivity,
            model_arg="model_name",
        )

    @classmethod
    def class_name(cls) -> str:
        """Name used in LlamaIndex serialisation."""
        return "RoutedLLMEmbedding"

    def to_payload(self) -> dict[str, Any]:
        """Non-sensitive description for LlamaIndex instrumentation (never keys or URLs with credentials)."""
        return super().to_payload() | {"embedding_space": self._embedder.deployments[0][1]}

    @property
    def core(self) -> Embedder:
        """The core embedder behind this adapter."""
        return self._embedder

    @property
    def space(self) -> EmbeddingSpace:
        """The embedding space of every vector this object returns."""
        return self._embedder.space

    # ------------------------------------------------------------------ BaseEmbedding

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._embedder.embed_query(query)

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return await self._embedder.aembed_query(query)

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._embedder.embed_documents([text], show_progress=False)[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._embedder.aembed_documents([text], show_progress=False))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._embedder.embed_documents(texts, show_progress=False)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return await self._embedder.aembed_documents(texts, show_progress=False)

    # ------------------------------------------------------------------ TransformComponent

    def __call__(self, nodes: Sequence[BaseNode], **kwargs: Any) -> Sequence[BaseNode]:
        """Embed nodes in an ``IngestionPipeline`` and stamp them with the space."""
        return super().__call__(stamp_space(nodes, self), **kwargs)

    async def acall(self, nodes: Sequence[BaseNode], **kwargs: Any) -> Sequence[BaseNode]:
        """Async `__call__`."""
        return await super().acall(stamp_space(nodes, self), **kwargs)


# --------------------------------------------------------------------------- index safety


def _space(embed_model: RoutedLLMEmbedding | Embedder | EmbeddingSpace) -> EmbeddingSpace:
    return space_of(embed_model)


def stamp_space(nodes: Sequence[N], embed_model: RoutedLLMEmbedding | Embedder | EmbeddingSpace) -> list[N]:
    """Return copies of ``nodes`` (or documents, before parsing) stamped with the embedding space.

    The stamp goes into node metadata, which every LlamaIndex vector store keeps, and is
    excluded from the text that is embedded and shown to the LLM, so it changes no vector
    and no prompt. The caller's nodes are not changed (as LangChain's ``stamp_space``)::

        index = VectorStoreIndex(stamp_space(nodes, embed), embed_model=embed)
    """
    space = _space(embed_model)
    keys = list(space.as_metadata())
    return [
        node.model_copy(
            update={
                "metadata": stamped_metadata(node.metadata, space),
                "excluded_embed_metadata_keys": _with(node.excluded_embed_metadata_keys, keys),
                "excluded_llm_metadata_keys": _with(node.excluded_llm_metadata_keys, keys),
            }
        )
        for node in nodes
    ]


def _with(excluded: list[str], keys: list[str]) -> list[str]:
    return [*excluded, *(k for k in keys if k not in excluded)]


def _check_nodes(nodes: Sequence[NodeWithScore], space: EmbeddingSpace, what: str, require_stamp: bool) -> None:
    check_stamps((item.node.metadata for item in nodes), space, what=what, require_stamp=require_stamp)


def check_space(
    index: BaseIndex[Any],
    embed_model: RoutedLLMEmbedding,
    *,
    require_stamp: bool = True,
    k: int = 4,
) -> None:
    """Check that ``index`` was built in the space of ``embed_model``; call it right after loading.

    Retrieves ``k`` nodes for a probe query embedded by ``embed_model`` and checks
    their stamps. An empty index passes; an index whose vectors cannot even be
    compared with the query (another dimension) fails.

    Raises:
        EmbeddingSpaceMismatch: the index holds vectors of another space.
        EmbeddingSpaceMissing: a node carries no stamp and ``require_stamp`` is true.
    """
    space = embed_model.space
    what = f"index {type(index).__name__} ({index.index_id})"
    try:
        retrieved = index.as_retriever(similarity_top_k=k, embed_model=embed_model).retrieve(
            "routed-llm embedding space check"
        )
    except EmbeddingError:
        raise
    except Exception as e:  # the vector store's own dimension error
        raise EmbeddingSpaceMismatch(
            "unknown",
            space.id,
            context=f"{what} rejected a {space.dimensions}-dimension query vector ({type(e).__name__}: {e})",
        ) from e
    _check_nodes(retrieved, space, what, require_stamp)


class SpaceCheck(BaseNodePostprocessor):
    """Node postprocessor that refuses results from another embedding space, on every query.

    ``index.as_query_engine(node_postprocessors=[SpaceCheck(space=embed.space)])``.
    """

    space: EmbeddingSpace = Field(description="The space every retrieved node must be stamped with.")
    require_stamp: bool = Field(default=True, description="Refuse nodes that carry no stamp at all.")

    @classmethod
    def class_name(cls) -> str:
        """Name used in LlamaIndex serialisation."""
        return "RoutedLLMSpaceCheck"

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        _check_nodes(nodes, self.space, "retrieved node", self.require_stamp)
        return nodes
