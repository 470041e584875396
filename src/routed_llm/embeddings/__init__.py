"""Local-first embeddings that are safe to fall back.

Every vector belongs to an `EmbeddingSpace` (model identity, dimensions, prefix
scheme). The `Embedder` applies the space's task prefixes, truncates Matryoshka
models correctly, batches with bounded concurrency, caches by space and text, and
falls back only to deployments of the same space. The LangChain
(``langchain_routed_llm.RoutedLLMEmbeddings``) and LlamaIndex
(``llama_index.embeddings.routed_llm.RoutedLLMEmbedding``) adapters are thin
wrappers over it. With no ``embeddings:`` section the default is all-MiniLM-L6-v2 in this
process on ONNX Runtime (`shared_encoder`, shipped in the wheel; no torch).
"""

from __future__ import annotations

from routed_llm.embeddings.backends import BackendRejected, BackendUnavailable, packaged_minilm_path
from routed_llm.embeddings.cache import (
    EmbeddingCache,
    MemoryEmbeddingCache,
    RedisEmbeddingCache,
    SQLiteEmbeddingCache,
    cache_key,
    make_cache,
)
from routed_llm.embeddings.embedder import (
    DEFAULT_LOCAL_MODEL,
    Embedder,
    EmbeddingsSource,
    EmbedStats,
    load_embeddings_config,
)
from routed_llm.embeddings.onnx_minilm import OnnxMiniLM, shared_encoder
from routed_llm.embeddings.prefixes import KNOWN_SCHEMES, PrefixScheme, TextKind, scheme_for_model
from routed_llm.embeddings.spaces import (
    KNOWN_MODELS,
    METADATA_KEY,
    EmbeddingSpace,
    check_space,
    check_stamps,
    known_model,
    l2_normalize,
    model_identity,
    reduce_dimensions,
    space_from_metadata,
    space_of,
    stamped_metadata,
)

__all__ = [
    "DEFAULT_LOCAL_MODEL",
    "KNOWN_MODELS",
    "KNOWN_SCHEMES",
    "METADATA_KEY",
    "BackendRejected",
    "BackendUnavailable",
    "EmbedStats",
    "Embedder",
    "EmbeddingCache",
    "EmbeddingSpace",
    "EmbeddingsSource",
    "MemoryEmbeddingCache",
    "OnnxMiniLM",
    "PrefixScheme",
    "RedisEmbeddingCache",
    "SQLiteEmbeddingCache",
    "TextKind",
    "cache_key",
    "check_space",
    "check_stamps",
    "known_model",
    "l2_normalize",
    "load_embeddings_config",
    "make_cache",
    "model_identity",
    "packaged_minilm_path",
    "reduce_dimensions",
    "scheme_for_model",
    "shared_encoder",
    "space_from_metadata",
    "space_of",
    "stamped_metadata",
]
