"""Embedding spaces: which vectors may be compared with which.

A vector only means something next to vectors of the same *space*: the same
model, the same number of dimensions and the same prefix scheme. Two deployments
of one space (two Ollama hosts serving ``nomic-embed-text``) are interchangeable;
anything else is not, however similar the names. Every vector the embedder returns
belongs to exactly one space, and the space id is what caches, vector-store stamps
and fallback checks compare.
"""

from __future__ import annotations

import math
import re
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from routed_llm.embeddings.prefixes import PrefixScheme
from routed_llm.errors import EmbeddingSpaceMismatch, EmbeddingSpaceMissing

__all__ = [
    "KNOWN_MODELS",
    "METADATA_KEY",
    "EmbeddingSpace",
    "ModelFacts",
    "check_space",
    "check_stamps",
    "known_model",
    "l2_normalize",
    "model_identity",
    "reduce_dimensions",
    "space_from_metadata",
    "space_of",
    "stamped_metadata",
]

#: Metadata key under which the space id is stamped on documents, nodes and stores.
METADATA_KEY = "embedding_space"


@dataclass(frozen=True, slots=True)
class ModelFacts:
    """What routed-llm knows about a well-known embedding model."""

    identity: str
    """Canonical name shared by every deployment of the model (Ollama, Hugging Face, LM Studio names)."""
    native_dimensions: int
    """Length of the vectors the model produces."""
    matryoshka: tuple[int, ...] | Literal["any"] | None
    """Dimensions it was trained to be truncated to; ``"any"`` for any size; ``None`` if truncation breaks it."""
    layer_norm: bool = False
    """Truncate after a layer norm (the nomic recipe) rather than directly."""
    max_input_tokens: int = 512
    """Context the usual deployments accept (Ollama's default for the model)."""


_NOMIC = ModelFacts("nomic-embed-text-v1.5", 768, (768, 512, 256, 128, 64), layer_norm=True, max_input_tokens=2048)
_NOMIC_V1 = ModelFacts("nomic-embed-text-v1", 768, None, max_input_tokens=2048)
_MINILM_L6 = ModelFacts("all-minilm-l6-v2", 384, None, max_input_tokens=256)
_MINILM_L12 = ModelFacts("all-minilm-l12-v2", 384, None, max_input_tokens=256)
_MXBAI = ModelFacts("mxbai-embed-large-v1", 1024, "any", max_input_tokens=512)
_BGE_LARGE = ModelFacts("bge-large-en-v1.5", 1024, None, max_input_tokens=512)
_BGE_M3 = ModelFacts("bge-m3", 1024, None, max_input_tokens=8192)
_OPENAI_3S = ModelFacts("text-embedding-3-small", 1536, "any", max_input_tokens=8191)
_OPENAI_3L = ModelFacts("text-embedding-3-large", 3072, "any", max_input_tokens=8191)
_OPENAI_ADA = ModelFacts("text-embedding-ada-002", 1536, None, max_input_tokens=8191)

#: Alias (lower-case, without provider prefix or ``:latest``) -> facts.
KNOWN_MODELS: dict[str, ModelFacts] = {
    # Ollama's nomic-embed-text:latest is v1.5 (Matryoshka).
    "nomic-embed-text": _NOMIC,
    "nomic-embed-text:v1.5": _NOMIC,
    "nomic-embed-text-v1.5": _NOMIC,
    "nomic-ai/nomic-embed-text-v1.5": _NOMIC,
    "text-embedding-nomic-embed-text-v1.5": _NOMIC,  # LM Studio
    "nomic-embed-text-v1": _NOMIC_V1,
    "nomic-ai/nomic-embed-text-v1": _NOMIC_V1,
    # Ollama's all-minilm:latest / :22m / :l6-v2 is sentence-transformers/all-MiniLM-L6-v2.
    "all-minilm": _MINILM_L6,
    "all-minilm:22m": _MINILM_L6,
    "all-minilm:l6-v2": _MINILM_L6,
    "all-minilm-l6-v2": _MINILM_L6,
    "sentence-transformers/all-minilm-l6-v2": _MINILM_L6,
    "all-minilm:33m": _MINILM_L12,
    "all-minilm:l12-v2": _MINILM_L12,
    "all-minilm-l12-v2": _MINILM_L12,
    "sentence-transformers/all-minilm-l12-v2": _MINILM_L12,
    "mxbai-embed-large": _MXBAI,
    "mxbai-embed-large-v1": _MXBAI,
    "mixedbread-ai/mxbai-embed-large-v1": _MXBAI,
    "bge-large": _BGE_LARGE,
    "bge-large-en-v1.5": _BGE_LARGE,
    "baai/bge-large-en-v1.5": _BGE_LARGE,
    "bge-m3": _BGE_M3,
    "baai/bge-m3": _BGE_M3,
    "text-embedding-3-small": _OPENAI_3S,
    "text-embedding-3-large": _OPENAI_3L,
    "text-embedding-ada-002": _OPENAI_ADA,
}

#: Provider prefixes stripped before looking a model up (LiteLLM's and routed-llm's own).
_PROVIDERS = frozenset(
    {
        "ollama",
        "ollama_chat",
        "openai",
        "azure",
        "hosted_vllm",
        "lm_studio",
        "llamafile",
        "litellm_proxy",
        "huggingface",
        "local",
        "sentence-transformers-local",
        "cohere",
        "voyage",
        "mistral",
        "gemini",
        "vertex_ai",
        "bedrock",
        "nvidia_nim",
        "together_ai",
        "jina_ai",
    }
)


#: A GGUF file name's precision / quantisation suffix: ``.f16``, ``-Q8_0``, ``.Q4_K_M``, ``_bf16``.
_GGUF_SUFFIX = re.compile(r"[._-](?:f32|f16|bf16|q\d[a-z0-9_]*|iq\d[a-z0-9_]*)$")


def _candidates(model: str) -> list[str]:
    name = model.strip().lower().removesuffix(":latest")
    out = [name]
    head, _, rest = name.partition("/")
    if rest and head in _PROVIDERS:
        out.append(rest)
    if "/" in name:
        out.append(name.rsplit("/", 1)[-1])
    if name.endswith(".gguf"):  # local/<dir>/nomic-embed-text-v1.5.Q8_0.gguf -> nomic-embed-text-v1.5
        out.append(_GGUF_SUFFIX.sub("", name.rsplit("/", 1)[-1].removesuffix(".gguf")))
    return out


def known_model(model: str) -> ModelFacts | None:
    """Return the facts for a model string such as ``ollama/nomic-embed-text``, or ``None``."""
    for candidate in _candidates(model):
        if candidate in KNOWN_MODELS:
            return KNOWN_MODELS[candidate]
    return None


def model_identity(model: str) -> str:
    """Canonical model identity: two deployments with the same identity run the same weights.

    Known aliases collapse (``ollama/nomic-embed-text`` and ``nomic-ai/nomic-embed-text-v1.5``
    are both ``nomic-embed-text-v1.5``); unknown models keep their name without the
    provider prefix. Set ``space`` on a deployment to declare the identity yourself.
    """
    facts = known_model(model)
    if facts is not None:
        return facts.identity
    candidates = _candidates(model)
    return candidates[1] if len(candidates) > 1 and model.split("/", 1)[0].lower() in _PROVIDERS else candidates[0]


class EmbeddingSpace(BaseModel):
    """The space a vector lives in: model identity, dimensions and prefix scheme.

    Vectors are always L2-normalised, so cosine similarity and dot product agree.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    """Canonical model identity (see `model_identity`)."""
    dimensions: int
    """Length of the vectors (after any Matryoshka truncation)."""
    prefixes: PrefixScheme
    """Query/document prefixes applied before embedding."""

    @property
    def id(self) -> str:
        """Stable id, e.g. ``nomic-embed-text-v1.5@256/nomic``; equal ids mean comparable vectors."""
        return f"{self.model}@{self.dimensions}/{self.prefixes.name}"

    def __str__(self) -> str:
        return self.id

    def as_metadata(self) -> dict[str, Any]:
        """Plain-data stamp for vector-store metadata (the id plus its parts, for humans)."""
        return {
            METADATA_KEY: self.id,
            "embedding_model": self.model,
            "embedding_dimensions": self.dimensions,
            "embedding_prefixes": {"query": self.prefixes.query, "document": self.prefixes.document},
        }


def space_from_metadata(metadata: Mapping[str, Any]) -> str | None:
    """Return the space id stamped in ``metadata`` (see `EmbeddingSpace.as_metadata`), if any."""
    value = metadata.get(METADATA_KEY)
    return str(value) if value else None


def check_space(
    stored: EmbeddingSpace | str | Mapping[str, Any] | None, expected: EmbeddingSpace, *, what: str
) -> None:
    """Raise `EmbeddingSpaceMismatch` unless ``stored`` is ``expected``.

    ``stored`` is a space, a space id, or stamped metadata; ``what`` names the thing
    checked (``"vector store 'docs'"``) so the error says where the mismatch is.

    Raises:
        EmbeddingSpaceMismatch: the spaces differ.
        EmbeddingSpaceMissing: ``stored`` carries no stamp.
    """
    if isinstance(stored, EmbeddingSpace):
        stored_id: str | None = stored.id
    elif isinstance(stored, Mapping):
        stored_id = space_from_metadata(stored)
    else:
        stored_id = stored
    if not stored_id:
        raise EmbeddingSpaceMissing(
            f"{what} carries no embedding-space stamp, so routed-llm cannot tell which model built it. "
            f"Stamp it with stamp_space(...) after (re-)building it with space {expected.id!r}, "
            "or pass require_stamp=False to skip the check."
        )
    if stored_id != expected.id:
        raise EmbeddingSpaceMismatch(stored_id, expected.id, context=f"{what} was built in another space")


def space_of(source: Any) -> EmbeddingSpace:
    """Return the space of ``source``: a space, or anything with a ``.space`` (an embedder or adapter)."""
    return source if isinstance(source, EmbeddingSpace) else source.space


def stamped_metadata(metadata: Mapping[str, Any], space: EmbeddingSpace) -> dict[str, Any]:
    """Return a new metadata dict: ``metadata`` plus the stamp naming ``space`` (the input is not changed).

    Both frameworks stamp documents / nodes with this, on copies, so a caller's
    objects never change under them.
    """
    return {**metadata, **space.as_metadata()}


def check_stamps(
    metadatas: Iterable[Mapping[str, Any]], space: EmbeddingSpace, *, what: str, require_stamp: bool
) -> None:
    """Check the stamped metadata of retrieved items against ``space``, one rule for every framework.

    An item stamped with another space always fails; an unstamped one fails only when
    ``require_stamp`` is true.

    Raises:
        EmbeddingSpaceMismatch: an item was embedded in another space.
        EmbeddingSpaceMissing: an item carries no stamp and ``require_stamp`` is true.
    """
    for metadata in metadatas:
        if METADATA_KEY not in metadata and not require_stamp:
            continue
        try:
            check_space(metadata, space, what=what)
        except EmbeddingSpaceMissing:
            if require_stamp:
                raise


# --------------------------------------------------------------------------- vector maths


def l2_normalize(vector: Sequence[float]) -> list[float]:
    """Scale ``vector`` to unit length (a zero vector is returned unchanged)."""
    norm = math.hypot(*vector)
    if norm == 0.0 or not math.isfinite(norm):
        return list(vector)
    return [x / norm for x in vector]


def _layer_norm(vector: Sequence[float], eps: float = 1e-5) -> list[float]:
    n = len(vector)
    mean = math.fsum(vector) / n
    centred = [x - mean for x in vector]
    std = math.sqrt(math.fsum(c * c for c in centred) / n + eps)
    return [c / std for c in centred]


def reduce_dimensions(vector: Sequence[float], dimensions: int, *, layer_norm: bool = False) -> list[float]:
    """Matryoshka truncation: keep the first ``dimensions`` values and re-normalise to unit length.

    With ``layer_norm`` (nomic-embed-text v1.5's recipe) the full vector is
    layer-normalised first. Layer norm is scale-invariant, so applying it to the
    already-normalised vectors a server returns equals applying it to the raw ones.
    The result is rounded to float32, the precision servers return and the cache keeps,
    so a cached vector equals a fresh one bit for bit.
    """
    values: Sequence[float] = vector
    if dimensions < len(vector):
        values = (_layer_norm(vector) if layer_norm else list(vector))[:dimensions]
    return array("f", l2_normalize(values)).tolist()
