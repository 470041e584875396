"""The ``embeddings:`` section: embedding deployments, task prefixes and the vector cache."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from routed_llm.config._base import _Strict

EmbeddingBackend = Literal["auto", "ollama", "openai", "litellm", "local"]
PrefixSchemeName = Literal["auto", "none", "nomic", "e5", "bge", "mxbai", "arctic"]

#: Providers whose servers speak the OpenAI embeddings API on the user's own machine.
_OPENAI_COMPATIBLE = frozenset({"hosted_vllm", "lm_studio", "llamafile", "litellm_proxy"})
_OPENAI_COMPATIBLE_DEFAULTS = {"lm_studio": "http://localhost:1234/v1", "llamafile": "http://localhost:8080/v1"}
_PRIVATE_HOST_SUFFIXES = (".local", ".lan", ".internal", ".home.arpa", ".localdomain")


def _host_is_private(url: str) -> bool:
    """Whether ``url`` points at this machine or a private network (loopback, RFC 1918, LAN names)."""
    import ipaddress
    from urllib.parse import urlparse

    host = (urlparse(url if "://" in url else f"http://{url}").hostname or "").lower()
    if not host:
        return False
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        # "localhost", a docker-compose service name ("ollama") or a LAN name ("gpu-box.lan").
        return host == "localhost" or "." not in host or host.endswith(_PRIVATE_HOST_SUFFIXES)
    return ip.is_loopback or ip.is_private or ip.is_link_local


class PrefixesConfig(_Strict):
    """Custom task prefixes for a model routed-llm does not know."""

    query: str = ""
    """Prepended to every query text."""
    document: str = ""
    """Prepended to every document text."""


class EmbeddingDeployment(_Strict):
    """One server (or in-process model) that produces embeddings."""

    model: str = Field(min_length=1)
    """``ollama/nomic-embed-text``, ``openai/<name>`` with ``api_base`` (vLLM, LM Studio, llama.cpp,
    LiteLLM proxy), ``hosted_vllm/...``, ``lm_studio/...``, a cloud model LiteLLM knows
    (``openai/text-embedding-3-small``), or in-process with no server: ``local/all-minilm-l6-v2``
    (packaged, ONNX Runtime), ``local/<path>.gguf`` (llama.cpp) or ``local/<model directory>``
    (sentence-transformers)."""
    api_base: str | None = None
    """Server URL; Ollama defaults to ``http://localhost:11434``."""
    api_key: SecretStr | None = None
    """API key, if the server needs one. Prefer ``${ENV_VAR}``."""
    api_version: str | None = None
    """Provider API version (Azure)."""
    backend: EmbeddingBackend = "auto"
    """Wire protocol: ``ollama`` (native ``/api/embed``), ``openai`` (``/embeddings``), ``litellm``
    (``litellm.embedding``), ``local`` (in-process: ONNX Runtime, llama.cpp or sentence-transformers);
    ``auto`` infers it from the model."""
    space: str | None = None
    """Model identity of this deployment's space; defaults to ``embeddings.space``, then to the
    canonical name of ``model``. Deployments with equal identity, dimensions and prefixes are interchangeable."""
    dimensions: int | None = Field(default=None, gt=0)
    """Output dimensions (Matryoshka truncation, re-normalised); defaults to ``embeddings.dimensions``."""
    native_dimensions: int | None = Field(default=None, gt=0)
    """Length of the vectors the server returns; known models need none, others are probed once."""
    prefixes: PrefixSchemeName | PrefixesConfig | None = None
    """Task-prefix scheme; defaults to ``embeddings.prefixes``, then to the scheme known for the model."""
    max_input_tokens: int | None = Field(default=None, gt=0)
    """Context of the deployment in tokens; defaults to what is known for the model, else 512."""
    private: bool | None = None
    """Data stays on the user's machines; ``None`` infers it (in-process, loopback or LAN ``api_base``)."""
    timeout: float = Field(default=60.0, gt=0)
    """Per-request timeout in seconds."""
    threads: int | None = Field(default=None, gt=0, le=256)
    """CPU threads an in-process model (``local/...``: ONNX Runtime, llama.cpp) uses for one batch; ``None`` is 1."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Extra request fields (Ollama ``options``/``keep_alive``, LiteLLM kwargs) passed through unchanged."""

    @field_validator("api_key", mode="before")
    @classmethod
    def _empty_key_is_none(cls, v: Any) -> Any:
        return None if v == "" else v

    @property
    def provider(self) -> str:
        """The provider prefix of ``model`` (``openai`` for a bare name)."""
        return self.model.split("/", 1)[0].lower() if "/" in self.model else "openai"

    @property
    def resolved_backend(self) -> Literal["ollama", "openai", "litellm", "local"]:
        """The wire protocol this deployment speaks (``backend``, or inferred from ``model``)."""
        if self.backend != "auto":
            return self.backend
        provider = self.provider
        if provider in ("local", "sentence-transformers"):
            return "local"
        if provider in ("ollama", "ollama_chat"):
            return "ollama"
        if provider in _OPENAI_COMPATIBLE:
            return "openai"
        if provider == "openai" and self.api_base:
            return "openai"
        return "litellm"

    @property
    def resolved_api_base(self) -> str | None:
        """``api_base``, or the usual local default of the provider."""
        if self.api_base:
            return self.api_base.rstrip("/")
        if self.resolved_backend == "ollama":
            return "http://localhost:11434"
        return _OPENAI_COMPATIBLE_DEFAULTS.get(self.provider)

    @property
    def is_private(self) -> bool:
        """Whether texts sent here stay on the user's machines (``private``, else inferred)."""
        if self.private is not None:
            return self.private
        backend = self.resolved_backend
        if backend == "local":
            return True
        base = self.resolved_api_base
        if base is None:
            return False  # a cloud provider's default endpoint
        return _host_is_private(base)

    @property
    def label(self) -> str:
        """``model @ api_base`` for errors and logs (never the key)."""
        base = self.resolved_api_base
        return f"{self.model} @ {base}" if base else self.model

    def __repr_args__(self) -> Any:  # keep reprs short and secret-free
        return [(k, v) for k, v in super().__repr_args__() if k in ("model", "api_base")]


class EmbeddingCacheConfig(_Strict):
    """Persistent cache of vectors keyed by embedding space and text."""

    backend: Literal["sqlite", "redis", "memory", "none"] = "sqlite"
    """``sqlite`` (one file, default), ``redis`` (shared by many hosts), ``memory`` (this process), ``none``."""
    path: str = "~/.routed_llm/embeddings.db"
    """SQLite file (``sqlite`` backend)."""
    url: SecretStr | None = None
    """Redis URL, e.g. ``redis://localhost:6379/0`` (``redis`` backend); may carry a password."""
    ttl_s: float | None = Field(default=None, gt=0)
    """Expire entries after this many seconds (Redis only); ``None`` keeps them."""
    namespace: str = "routed_llm:emb"
    """Redis key prefix."""

    @model_validator(mode="after")
    def _redis_needs_url(self) -> EmbeddingCacheConfig:
        if self.backend == "redis" and self.url is None:
            raise ValueError("cache.url: the redis backend needs a url, e.g. redis://localhost:6379/0")
        return self


class EmbeddingsConfig(_Strict):
    """The ``embeddings:`` section: where vectors come from and how they are made safe to fall back.

    ``{model, api_base}`` is shorthand for one deployment. List ``deployments`` to add
    fallbacks; a fallback is used only if it belongs to the primary's embedding space.
    """

    model: str | None = None
    """Shorthand for a single deployment's model; otherwise mirrors the primary deployment's."""
    api_base: str | None = None
    """Shorthand for a single deployment's ``api_base``; otherwise mirrors the primary's."""
    space: str | None = None
    """Default model identity of the deployments' space (e.g. ``nomic-embed-text-v1.5``)."""
    dimensions: int | None = Field(default=None, gt=0)
    """Default output dimensions (Matryoshka truncation) for the deployments."""
    prefixes: PrefixSchemeName | PrefixesConfig | None = None
    """Default task-prefix scheme for the deployments (``auto`` infers it from the model)."""
    deployments: list[EmbeddingDeployment] = Field(default_factory=list)
    """Primary first, then fallbacks; only deployments of the primary's space are ever used."""
    batch_size: int = Field(default=64, gt=0, le=4096)
    """Texts per request."""
    max_concurrency: int = Field(default=4, gt=0, le=64)
    """Requests in flight at once (sync calls use threads, async calls a semaphore)."""
    on_too_long: Literal["raise", "truncate"] = "raise"
    """A text over the deployment's context: ``raise`` `EmbeddingInputTooLong` naming it, or
    ``truncate`` it to the context (logged)."""
    allow_non_private: bool = False
    """Allow deployments that are not private (cloud APIs); confidential calls still never use them."""
    cache: EmbeddingCacheConfig = EmbeddingCacheConfig()
    """Vector cache; ``{backend: none}`` turns it off."""
    show_progress: bool | None = None
    """Progress bar: ``None`` shows one when at least ``progress_threshold`` texts need embedding."""
    progress_threshold: int = Field(default=512, gt=0)
    """Texts to embed above which the automatic progress bar appears."""

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        deployments = data.get("deployments")
        model, api_base = data.get("model"), data.get("api_base")
        if not deployments:
            if model is None:
                raise ValueError("give model (one deployment) or deployments (primary first, then fallbacks)")
            data["deployments"] = [{"model": model, **({"api_base": api_base} if api_base else {})}]
            return data
        first = deployments[0]
        first_model = first.get("model") if isinstance(first, Mapping) else getattr(first, "model", None)
        first_base = first.get("api_base") if isinstance(first, Mapping) else getattr(first, "api_base", None)
        if model is not None and model != first_model:
            raise ValueError(
                f"model ({model!r}) is shorthand for one deployment; with deployments, leave it out "
                f"(it mirrors deployments[0].model, {first_model!r})"
            )
        if api_base is not None and api_base != first_base:
            raise ValueError("api_base is shorthand for one deployment; with deployments, set deployments[0].api_base")
        data["model"], data["api_base"] = first_model, first_base
        return data

    @model_validator(mode="after")
    def _private_only(self) -> EmbeddingsConfig:
        if self.allow_non_private:
            return self
        problems = [
            f"deployments[{i}] ({d.label}) is not private: embedding texts would leave your machines. "
            "Set embeddings.allow_non_private: true to allow it (confidential calls still stay private), "
            "or private: true on the deployment if it runs on your own network"
            for i, d in enumerate(self.deployments)
            if not d.is_private
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self
