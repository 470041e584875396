"""`Embedder`: the one core object both framework adapters wrap.

A call goes through the same steps every time:

1. check the input (a list of non-empty strings; a bare string is refused, it would
   be embedded character by character);
2. apply the space's task prefix (``search_query: `` / ``search_document: `` for nomic);
3. serve what the cache holds (keyed by space and prefixed text; duplicates are
   embedded once);
4. send the rest in batches, ``max_concurrency`` at a time, each to the first healthy
   deployment *of the primary's space* (a deployment of another space is never used:
   `EmbeddingSpaceMismatch`);
5. check every vector's length, apply Matryoshka truncation, re-normalise;
6. write the call's vectors to the cache in one transaction, only if all of it succeeded.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError
from tqdm.auto import tqdm

from routed_llm.config import (
    EmbeddingDeployment,
    EmbeddingsConfig,
    PrefixesConfig,
    RoutingConfig,
    _format_validation_error,
    _interpolate,
    _read_yaml,
    load_config,
)
from routed_llm.embeddings.backends import (
    Backend,
    BackendUnavailable,
    LocalBackend,
    make_backend,
)
from routed_llm.embeddings.cache import EmbeddingCache, cache_key, make_cache
from routed_llm.embeddings.prefixes import KNOWN_SCHEMES, PrefixScheme, TextKind, scheme_for_model
from routed_llm.embeddings.spaces import EmbeddingSpace, known_model, model_identity, reduce_dimensions
from routed_llm.errors import (
    ConfigError,
    EmbeddingDeploymentsFailed,
    EmbeddingDimensionError,
    EmbeddingError,
    EmbeddingInputError,
    EmbeddingInputTooLong,
    EmbeddingNotAllowed,
    EmbeddingSpaceMismatch,
)
from routed_llm.types import Sensitivity, normalize_sensitivity

__all__ = [
    "DEFAULT_LOCAL_MODEL",
    "EmbedStats",
    "Embedder",
    "EmbeddingsSource",
    "load_embeddings_config",
]

logger = logging.getLogger(__name__)

#: The in-process model used when no ``embeddings:`` section is configured: no server needed.
DEFAULT_LOCAL_MODEL: Final = "local/all-minilm-l6-v2"
#: Seconds a deployment that failed is tried last.
DEFAULT_COOLDOWN_S: Final = 30.0
_PROBE_TEXT: Final = "routed-llm dimension probe"

EmbeddingsSource = EmbeddingsConfig | RoutingConfig | str | os.PathLike[str] | Mapping[str, Any] | None


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


_UNSET: Final = _Unset()


class _EmbeddingsOnly(BaseModel):
    """A file or mapping holding only an ``embeddings:`` section (errors keep the ``embeddings.`` path)."""

    model_config = ConfigDict(extra="ignore")

    embeddings: EmbeddingsConfig


def load_embeddings_config(source: EmbeddingsSource = None) -> EmbeddingsConfig:
    """Return the embeddings config from any accepted source.

    ``source`` may be an `EmbeddingsConfig`, a `RoutingConfig`, a YAML path or a
    mapping: a whole routing config (its ``embeddings:`` section is used), a file
    with only an ``embeddings:`` section, or the section itself. ``None`` (or a
    routing config without the section) gives the in-process default
    (``local/all-minilm-l6-v2``), which needs no server.

    Raises:
        ConfigError: naming the YAML path of every bad value.
    """
    if source is None:
        return EmbeddingsConfig(model=DEFAULT_LOCAL_MODEL)
    if isinstance(source, EmbeddingsConfig):
        return source
    if isinstance(source, RoutingConfig):
        return source.embeddings or EmbeddingsConfig(model=DEFAULT_LOCAL_MODEL)
    if isinstance(source, Mapping):
        data: Any = source
        where: str | None = None
    else:
        path = Path(source).expanduser()
        data, where = _read_yaml(path), str(path)
    if not isinstance(data, Mapping):
        raise ConfigError(f"  - <root>: expected a mapping, got {type(data).__name__}", source=where)
    if "tiers" in data or "model_list" in data or "include_litellm_proxy" in data:
        return load_embeddings_config(load_config(source if where is None else Path(where)))
    section = data["embeddings"] if "embeddings" in data else data
    missing: list[str] = []
    section = _interpolate(section, os.environ, "embeddings", missing)
    if missing:
        raise ConfigError("\n".join(f"  - {m}" for m in missing), source=where)
    try:
        return _EmbeddingsOnly.model_validate({"embeddings": section}).embeddings
    except ValidationError as e:
        raise ConfigError(_format_validation_error(e), source=where) from None


@dataclass
class EmbedStats:
    """Counters since the embedder was built (for tests, benchmarks and logs)."""

    requests: int = 0
    """Batches sent to a deployment and answered."""
    texts_embedded: int = 0
    """Texts embedded by a deployment (cache misses, after de-duplication)."""
    cache_hits: int = 0
    """Texts served from the cache."""
    fallbacks: int = 0
    """Batches served by a deployment other than the first one tried."""
    failures: dict[str, int] = field(default_factory=dict)
    """Failed attempts per deployment label."""


@dataclass
class _Deployment:
    """A configured deployment with everything about its space resolved."""

    index: int
    config: EmbeddingDeployment
    backend: Backend
    identity: str
    prefixes: PrefixScheme
    native_dimensions: int | None
    dimensions: int | None
    layer_norm: bool
    max_input_tokens: int
    private: bool
    down_until: float = 0.0

    @property
    def label(self) -> str:
        return self.config.label

    @property
    def output_dimensions(self) -> int | None:
        return self.dimensions or self.native_dimensions

    @property
    def space(self) -> EmbeddingSpace | None:
        dims = self.output_dimensions
        return None if dims is None else EmbeddingSpace(model=self.identity, dimensions=dims, prefixes=self.prefixes)

    @property
    def space_id(self) -> str:
        space = self.space
        return space.id if space is not None else f"{self.identity}@?/{self.prefixes.name}"


@dataclass
class _Plan:
    """What one call needs: its space, usable deployments, cache keys, hits and the texts to send."""

    space: EmbeddingSpace
    candidates: list[_Deployment]
    keys: list[str]
    hits: dict[str, list[float]]
    misses: list[tuple[int, str, str]]
    """``(index of first occurrence, cache key, prefixed text)`` per distinct text not in the cache."""


def _resolve_prefixes(value: str | PrefixesConfig | None, model: str, identity: str) -> PrefixScheme:
    if isinstance(value, PrefixesConfig):
        return PrefixScheme.custom(query=value.query, document=value.document)
    if value is not None and value != "auto":
        return KNOWN_SCHEMES[value]
    scheme = scheme_for_model(model)
    return scheme if scheme.name != "none" else scheme_for_model(identity)


def _resolve(index: int, dep: EmbeddingDeployment, cfg: EmbeddingsConfig) -> _Deployment:
    where = f"embeddings.deployments[{index}]"
    facts = known_model(dep.model)
    identity = dep.space or cfg.space or model_identity(dep.model)
    native = dep.native_dimensions or (facts.native_dimensions if facts else None)
    dims = dep.dimensions or cfg.dimensions
    if dims is not None and native is not None and dims != native:
        if dims > native:
            raise ConfigError(f"  - {where}.dimensions: {dims} is more than the model's {native} dimensions")
        if facts is not None and facts.matryoshka is None:
            raise ConfigError(
                f"  - {where}.dimensions: {facts.identity} is not a Matryoshka model, so truncating it to "
                f"{dims} dimensions would ruin its vectors; leave dimensions unset ({native})"
            )
        if facts is not None and isinstance(facts.matryoshka, tuple) and dims not in facts.matryoshka:
            allowed = ", ".join(map(str, facts.matryoshka))
            raise ConfigError(f"  - {where}.dimensions: {facts.identity} supports {allowed} (got {dims})")
    return _Deployment(
        index=index,
        config=dep,
        backend=make_backend(dep),
        identity=identity,
        prefixes=_resolve_prefixes(dep.prefixes if dep.prefixes is not None else cfg.prefixes, dep.model, identity),
        native_dimensions=native,
        dimensions=dims if dims != native else None,
        layer_norm=facts.layer_norm if facts else False,
        max_input_tokens=dep.max_input_tokens or (facts.max_input_tokens if facts else 512),
        private=dep.is_private,
    )


def _infer_sensitivity(texts: Sequence[str]) -> tuple[Sensitivity | None, str]:
    """Classify each text as a chat prompt is classified; confidential if any one is (and which, why)."""
    from routed_llm.classify import classify

    for i, text in enumerate(texts):
        result = classify(text)
        if result.sensitivity is Sensitivity.CONFIDENTIAL:
            return Sensitivity.CONFIDENTIAL, f" (inferred from texts[{i}]: {result.signals[-1]})"
    return None, ""


def _check_texts(texts: Any, what: str = "texts") -> list[str]:
    """Refuse anything but a non-empty sequence of non-empty strings, naming the bad item."""
    if isinstance(texts, str | bytes):
        raise EmbeddingInputError(
            f"{what} must be a list of strings, got a single {type(texts).__name__}; "
            "wrap it in a list (a bare string would be embedded character by character)"
        )
    if not isinstance(texts, Sequence):
        raise EmbeddingInputError(f"{what} must be a list of strings, got {type(texts).__name__}")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise EmbeddingInputError(
                f"{what}[{i}] is {type(text).__name__}, not str: convert it to text before embedding", index=i
            )
        if not text.strip():
            raise EmbeddingInputError(
                f"{what}[{i}] is empty or whitespace only: its vector would be meaningless; "
                "drop empty chunks before embedding",
                index=i,
            )
    return list(texts)


class Embedder:
    """Local-first embeddings: one embedding space, prefixes, batching, cache, same-space fallback.

    Args:
        config: the embeddings config (see `load_embeddings_config` for accepted
            forms); ``None`` is the in-process all-MiniLM-L6-v2, which needs no server.
        cache: override the configured cache (an `EmbeddingCache`, or ``None`` for none).
        sensitivity: default sensitivity of the texts; ``confidential`` uses private
            deployments only, whatever the config allows.
        cooldown_s: seconds a deployment that failed is tried last.

    Example::

        emb = Embedder({"model": "ollama/nomic-embed-text", "dimensions": 256})
        emb.space.id                      # 'nomic-embed-text-v1.5@256/nomic'
        emb.embed_query("what is RAG?")   # sent as 'search_query: what is RAG?'
    """

    def __init__(
        self,
        config: EmbeddingsSource = None,
        *,
        cache: EmbeddingCache | None | _Unset = _UNSET,
        sensitivity: Sensitivity | str | None = None,
        cooldown_s: float = DEFAULT_COOLDOWN_S,
    ) -> None:
        self.config: EmbeddingsConfig = load_embeddings_config(config)
        self.sensitivity = normalize_sensitivity(sensitivity) if sensitivity is not None else None
        self.cooldown_s = cooldown_s
        self.stats = EmbedStats()
        self._deployments = [_resolve(i, d, self.config) for i, d in enumerate(self.config.deployments)]
        self._inherit_native_dimensions()
        self._cache_override = cache
        self._cache: EmbeddingCache | None = None
        self._cache_ready = False
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()
        primary = self._deployments[0]
        for dep in self._deployments[1:]:
            if (
                dep.identity != primary.identity
                or dep.prefixes != primary.prefixes
                or (dep.output_dimensions and primary.output_dimensions and dep.space_id != primary.space_id)
            ):
                logger.warning(
                    "embedding deployment %s is in space %s, not the primary's %s: it will never be used "
                    "as a fallback (vectors of different spaces must not mix)",
                    dep.label,
                    dep.space_id,
                    primary.space_id,
                )

    def _inherit_native_dimensions(self) -> None:
        """Copy known vector sizes across deployments of one identity (same identity, same weights)."""
        known = {d.identity: d.native_dimensions for d in self._deployments if d.native_dimensions}
        for dep in self._deployments:
            if dep.native_dimensions is None and dep.identity in known:
                dep.native_dimensions = known[dep.identity]

    def __repr__(self) -> str:
        deps = ", ".join(d.label for d in self._deployments)
        return f"Embedder(space={self._deployments[0].space_id!r}, deployments=[{deps}])"

    # ------------------------------------------------------------------ space

    @property
    def space(self) -> EmbeddingSpace:
        """The primary deployment's space: every vector this embedder returns belongs to it.

        A model routed-llm does not know, configured without dimensions, is probed
        once (one short request) to learn its vector size.
        """
        primary = self._deployments[0]
        space = primary.space
        if space is None:
            self._probe(primary)
            space = primary.space
            assert space is not None
        return space

    def _probe(self, dep: _Deployment) -> None:
        try:
            vectors = dep.backend.embed([_PROBE_TEXT], truncate=True, client=self._http())
        except BackendUnavailable as e:
            raise ConfigError(
                f"  - embeddings.deployments[{dep.index}]: {dep.label} is unreachable, so the size of its "
                f"vectors cannot be learned; set native_dimensions (or dimensions) on it ({e})"
            ) from e
        with self._lock:
            dep.native_dimensions = len(vectors[0])
            self._inherit_native_dimensions()

    @property
    def deployments(self) -> list[tuple[str, str, bool]]:
        """``(label, space id, private)`` of every configured deployment, primary first."""
        return [(d.label, d.space_id, d.private) for d in self._deployments]

    # ------------------------------------------------------------------ resources

    def _http(self) -> httpx.Client:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    n = self.config.max_concurrency
                    self._client = httpx.Client(limits=httpx.Limits(max_connections=n * 2, max_keepalive_connections=n))
        return self._client

    @property
    def cache(self) -> EmbeddingCache | None:
        """The vector cache (created on first use, so building an embedder writes no file)."""
        if not self._cache_ready:
            with self._lock:
                if not self._cache_ready:
                    if isinstance(self._cache_override, _Unset):
                        self._cache = make_cache(self.config.cache)
                    else:
                        self._cache = self._cache_override
                    self._cache_ready = True
        return self._cache

    def close(self) -> None:
        """Close HTTP connections and the cache."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cache is not None and isinstance(self._cache_override, _Unset):
            self._cache.close()

    def __enter__(self) -> Embedder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ public API

    def embed_documents(
        self, texts: Sequence[str], *, sensitivity: Sensitivity | str | None = None, show_progress: bool | None = None
    ) -> list[list[float]]:
        """Embed documents (with the space's document prefix)."""
        return self.embed(texts, TextKind.DOCUMENT, sensitivity=sensitivity, show_progress=show_progress)

    def embed_query(self, text: str, *, sensitivity: Sensitivity | str | None = None) -> list[float]:
        """Embed one search query (with the space's query prefix)."""
        if not isinstance(text, str):
            raise EmbeddingInputError(f"query must be a string, got {type(text).__name__}")
        return self._embed(_check_texts([text], "query"), TextKind.QUERY, sensitivity, False)[0]

    async def aembed_documents(
        self, texts: Sequence[str], *, sensitivity: Sensitivity | str | None = None, show_progress: bool | None = None
    ) -> list[list[float]]:
        """Async `embed_documents`."""
        return await self.aembed(texts, TextKind.DOCUMENT, sensitivity=sensitivity, show_progress=show_progress)

    async def aembed_query(self, text: str, *, sensitivity: Sensitivity | str | None = None) -> list[float]:
        """Async `embed_query`."""
        if not isinstance(text, str):
            raise EmbeddingInputError(f"query must be a string, got {type(text).__name__}")
        return (await self._aembed(_check_texts([text], "query"), TextKind.QUERY, sensitivity, False))[0]

    def embed(
        self,
        texts: Sequence[str],
        kind: TextKind | str = TextKind.DOCUMENT,
        *,
        sensitivity: Sensitivity | str | None = None,
        show_progress: bool | None = None,
    ) -> list[list[float]]:
        """Embed ``texts`` as ``kind`` (``query`` or ``document``); one vector per text, in order."""
        return self._embed(_check_texts(texts), TextKind(kind), sensitivity, show_progress)

    async def aembed(
        self,
        texts: Sequence[str],
        kind: TextKind | str = TextKind.DOCUMENT,
        *,
        sensitivity: Sensitivity | str | None = None,
        show_progress: bool | None = None,
    ) -> list[list[float]]:
        """Async `embed`: batches run concurrently on the event loop, at most ``max_concurrency`` at once."""
        return await self._aembed(_check_texts(texts), TextKind(kind), sensitivity, show_progress)

    # ------------------------------------------------------------------ planning

    def _candidates(
        self, space: EmbeddingSpace, sensitivity: Sensitivity | str | None, texts: Sequence[str] = ()
    ) -> list[_Deployment]:
        level = normalize_sensitivity(sensitivity) if sensitivity is not None else self.sensitivity
        same = [d for d in self._deployments if d.space_id == space.id]
        why = ""
        if level is None and any(not d.private for d in same):
            # No override: infer each text's sensitivity as chat does (PII, markers), before any request.
            level, why = _infer_sensitivity(texts)
        if level is Sensitivity.CONFIDENTIAL:
            private = [d for d in same if d.private]
            if not private:
                labels = ", ".join(d.label for d in same)
                raise EmbeddingNotAllowed(
                    f"confidential texts{why} may only go to private deployments, and no deployment of space "
                    f"{space.id!r} is private ({labels}); add a private deployment of that space "
                    "(e.g. Ollama on this machine) or mark one private: true"
                    + ("; if the texts are not confidential, pass sensitivity='public' to override" if why else "")
                )
            return private
        return same

    def _plan(self, texts: list[str], kind: TextKind, sensitivity: Sensitivity | str | None) -> _Plan:
        space = self.space
        candidates = self._candidates(space, sensitivity, texts)
        prefixed = [space.prefixes.apply(t, kind) for t in texts]
        keys = [cache_key(space.id, t) for t in prefixed]
        unique: dict[str, tuple[int, str]] = {}
        for i, (key, text) in enumerate(zip(keys, prefixed, strict=True)):
            unique.setdefault(key, (i, text))
        cache = self.cache
        hits = cache.get_many(list(unique)) if cache is not None else {}
        hits = {k: v for k, v in hits.items() if len(v) == space.dimensions}
        misses = [(i, key, text) for key, (i, text) in unique.items() if key not in hits]
        # Batches of similar length: servers that pad a batch to its longest text (sentence-transformers,
        # TEI) waste less, and the rest lose nothing. Results are reassembled by key, in input order.
        misses.sort(key=lambda m: len(m[2]))
        self._precheck(candidates[0], misses)
        with self._lock:
            self.stats.cache_hits += sum(1 for k in keys if k in hits)
        return _Plan(space, candidates, keys, hits, misses)

    def _precheck(self, dep: _Deployment, misses: list[tuple[int, str, str]]) -> None:
        """With an exact tokenizer at hand, find over-long texts before sending anything."""
        if not misses or not isinstance(dep.backend, LocalBackend):
            return
        counts = dep.backend.count_tokens([t for _, _, t in misses]) or []
        limit = dep.backend.max_seq_length
        for (index, _, _), tokens in zip(misses, counts, strict=True):
            if tokens > limit:
                if self.config.on_too_long == "raise":
                    raise self._too_long(dep, index, limit, tokens)
                logger.info("texts[%d] has %d tokens; %s keeps the first %d", index, tokens, dep.label, limit)

    def _too_long(self, dep: _Deployment, index: int | None, limit: int, tokens: int | None = None) -> Exception:
        which = f"texts[{index}]" if index is not None else "a text"
        count = f" ({tokens} tokens)" if tokens is not None else ""
        return EmbeddingInputTooLong(
            f"{which}{count} is longer than the {limit}-token context of {dep.label}, and "
            "embeddings.on_too_long is 'raise': split it into smaller chunks, or set on_too_long: truncate "
            "to embed only its beginning",
            index=index,
            tokens=tokens,
            limit=limit,
        )

    def _show_progress(self, n: int, override: bool | None) -> bool:
        if override is not None:
            return override and n > 0
        if self.config.show_progress is not None:
            return self.config.show_progress and n > 0
        return n >= self.config.progress_threshold

    def _batches(self, misses: list[tuple[int, str, str]]) -> list[list[tuple[int, str, str]]]:
        size = self.config.batch_size
        return [misses[i : i + size] for i in range(0, len(misses), size)]

    def _finish(self, plan: _Plan, fresh: Mapping[str, list[float]]) -> list[list[float]]:
        cache = self.cache
        if cache is not None and fresh:
            cache.put_many(fresh)
        with self._lock:
            self.stats.texts_embedded += len(fresh)
        return [list(plan.hits[k]) if k in plan.hits else list(fresh[k]) for k in plan.keys]

    # ------------------------------------------------------------------ batch execution

    def _ordered(self, candidates: list[_Deployment]) -> list[_Deployment]:
        now = time.monotonic()
        return sorted(candidates, key=lambda d: (d.down_until > now, d.index))

    def _send_texts(self, dep: _Deployment, batch: list[tuple[int, str, str]]) -> list[str]:
        texts = [t for _, _, t in batch]
        if self.config.on_too_long == "truncate" and not dep.backend.server_truncates:
            texts = [_clip(t, dep.max_input_tokens) for t in texts]
        return texts

    def _failed(self, dep: _Deployment, err: BaseException, errors: dict[str, BaseException]) -> None:
        errors[dep.label] = err
        dep.down_until = time.monotonic() + self.cooldown_s
        with self._lock:
            self.stats.failures[dep.label] = self.stats.failures.get(dep.label, 0) + 1
        logger.warning("embedding deployment %s failed (%s); trying the next one of the same space", dep.label, err)

    def _exhausted(self, plan: _Plan, errors: dict[str, BaseException]) -> Exception:
        failed = EmbeddingDeploymentsFailed(plan.space.id, errors)
        foreign = [d for d in self._deployments if d.space_id != plan.space.id]
        if foreign:
            other = foreign[0]
            mismatch = EmbeddingSpaceMismatch(
                plan.space.id,
                other.space_id,
                context=(
                    f"every deployment of the primary space failed ({', '.join(errors)}), and the next "
                    f"configured deployment, {other.label}, is in another space; routed-llm refuses to "
                    "fall back to it"
                ),
            )
            mismatch.__cause__ = failed
            return mismatch
        return failed

    def _vectors(self, plan: _Plan, dep: _Deployment, raw: list[list[float]]) -> list[list[float]]:
        """Check every vector's length and bring it into the space (truncate, normalise, float32)."""
        out = []
        for vector in raw:
            if dep.native_dimensions is None:
                with self._lock:
                    dep.native_dimensions = len(vector)
            if len(vector) != dep.native_dimensions:
                raise EmbeddingDimensionError(dep.label, dep.native_dimensions, len(vector))
            if not all(math.isfinite(x) for x in vector):
                raise EmbeddingError(f"embedding deployment {dep.label} returned a vector with NaN or infinite values")
            out.append(reduce_dimensions(vector, plan.space.dimensions, layer_norm=dep.layer_norm))
        return out

    def _embed_batch(self, plan: _Plan, batch: list[tuple[int, str, str]]) -> list[list[float]]:
        errors: dict[str, BaseException] = {}
        truncate = self.config.on_too_long == "truncate"
        for dep in self._ordered(plan.candidates):
            try:
                raw = dep.backend.embed(self._send_texts(dep, batch), truncate=truncate, client=self._http())
            except BackendUnavailable as e:
                self._failed(dep, e, errors)
                continue
            except EmbeddingInputTooLong as e:
                raise self._locate_too_long(dep, batch) from e
            return self._accept(plan, dep, raw, errors)
        raise self._exhausted(plan, errors)

    async def _aembed_batch(
        self, plan: _Plan, batch: list[tuple[int, str, str]], client: httpx.AsyncClient
    ) -> list[list[float]]:
        errors: dict[str, BaseException] = {}
        truncate = self.config.on_too_long == "truncate"
        for dep in self._ordered(plan.candidates):
            try:
                raw = await dep.backend.aembed(self._send_texts(dep, batch), truncate=truncate, client=client)
            except BackendUnavailable as e:
                self._failed(dep, e, errors)
                continue
            except EmbeddingInputTooLong as e:
                raise await self._alocate_too_long(dep, batch, client) from e
            return self._accept(plan, dep, raw, errors)
        raise self._exhausted(plan, errors)

    def _accept(
        self, plan: _Plan, dep: _Deployment, raw: list[list[float]], errors: dict[str, BaseException]
    ) -> list[list[float]]:
        vectors = self._vectors(plan, dep, raw)
        with self._lock:
            self.stats.requests += 1
            if errors:
                self.stats.fallbacks += 1
        return vectors

    def _locate_too_long(self, dep: _Deployment, batch: list[tuple[int, str, str]]) -> Exception:
        """Find which text of the batch the server found too long, so the error can name it."""
        if len(batch) > 1:
            for index, _, text in batch:
                try:
                    dep.backend.embed([text], truncate=False, client=self._http())
                except EmbeddingInputTooLong:
                    return self._too_long(dep, index, dep.max_input_tokens)
                except Exception:  # noqa: BLE001 - only locating; the original error is raised anyway
                    break
        return self._too_long(dep, batch[0][0] if len(batch) == 1 else None, dep.max_input_tokens)

    async def _alocate_too_long(
        self, dep: _Deployment, batch: list[tuple[int, str, str]], client: httpx.AsyncClient
    ) -> Exception:
        if len(batch) > 1:
            for index, _, text in batch:
                try:
                    await dep.backend.aembed([text], truncate=False, client=client)
                except EmbeddingInputTooLong:
                    return self._too_long(dep, index, dep.max_input_tokens)
                except Exception:  # noqa: BLE001
                    break
        return self._too_long(dep, batch[0][0] if len(batch) == 1 else None, dep.max_input_tokens)

    # ------------------------------------------------------------------ drivers

    def _embed(
        self, texts: list[str], kind: TextKind, sensitivity: Sensitivity | str | None, show_progress: bool | None
    ) -> list[list[float]]:
        plan = self._plan(texts, kind, sensitivity)
        fresh: dict[str, list[float]] = {}
        batches = self._batches(plan.misses)
        with _progress(self._show_progress(len(plan.misses), show_progress), len(plan.misses)) as bar:
            if len(batches) <= 1 or self.config.max_concurrency == 1:
                for batch in batches:
                    self._store(fresh, batch, self._embed_batch(plan, batch), bar)
            else:
                workers = min(self.config.max_concurrency, len(batches))
                with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="routed-llm-embed") as pool:
                    futures: dict[Future[list[list[float]]], list[tuple[int, str, str]]] = {
                        pool.submit(self._embed_batch, plan, batch): batch for batch in batches
                    }
                    pending = set(futures)
                    while pending:
                        done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                        for fut in done:
                            if fut.exception() is not None:
                                for other in pending:
                                    other.cancel()
                                raise fut.exception()  # type: ignore[misc]
                            self._store(fresh, futures[fut], fut.result(), bar)
        return self._finish(plan, fresh)

    async def _aembed(
        self, texts: list[str], kind: TextKind, sensitivity: Sensitivity | str | None, show_progress: bool | None
    ) -> list[list[float]]:
        if self._deployments[0].space is None:
            await asyncio.to_thread(lambda: self.space)
        plan = await asyncio.to_thread(self._plan, texts, kind, sensitivity)
        fresh: dict[str, list[float]] = {}
        batches = self._batches(plan.misses)
        if batches:
            gate = asyncio.Semaphore(self.config.max_concurrency)
            n = self.config.max_concurrency
            limits = httpx.Limits(max_connections=n * 2, max_keepalive_connections=n)
            with _progress(self._show_progress(len(plan.misses), show_progress), len(plan.misses)) as bar:
                async with httpx.AsyncClient(limits=limits) as client:

                    async def run(batch: list[tuple[int, str, str]]) -> None:
                        async with gate:
                            vectors = await self._aembed_batch(plan, batch, client)
                        self._store(fresh, batch, vectors, bar)

                    tasks = [asyncio.ensure_future(run(b)) for b in batches]
                    try:
                        await asyncio.gather(*tasks)
                    except BaseException:
                        for task in tasks:
                            task.cancel()
                        await asyncio.gather(*tasks, return_exceptions=True)
                        raise
        return await asyncio.to_thread(self._finish, plan, fresh)

    @staticmethod
    def _store(
        fresh: dict[str, list[float]], batch: list[tuple[int, str, str]], vectors: list[list[float]], bar: Any
    ) -> None:
        for (_, key, _), vector in zip(batch, vectors, strict=True):
            fresh[key] = vector
        if bar is not None:
            bar.update(len(batch))


class _NoBar:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _progress(show: bool, total: int) -> Any:
    if not show:
        return _NoBar()
    return tqdm(total=total, desc="Embedding", unit="text")


def _clip(text: str, limit: int) -> str:
    """Cut ``text`` to about ``limit`` tokens (tiktoken's cl100k: exact for OpenAI, an estimate elsewhere)."""
    import litellm

    tokens = litellm.encode(model="gpt-3.5-turbo", text=text)
    if len(tokens) <= limit:
        return text
    return str(litellm.decode(model="gpt-3.5-turbo", tokens=list(tokens[:limit])))
