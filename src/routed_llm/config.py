"""The routing config: pydantic models, YAML loading, ``${ENV}`` interpolation.

One YAML file defines the tiers (each a LiteLLM model group), the ordered routing
rules, the tier fallback chains and LiteLLM router settings. Users who already
run a LiteLLM proxy can load its config as it stands, or include it from a small
routing file that adds privacy flags and rules on top.

Validation is strict (``extra="forbid"``): a typo is an error that names the YAML
path of the bad value and what is allowed, never a silent default.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from routed_llm.errors import ConfigError
from routed_llm.types import (
    Complexity,
    Sensitivity,
    Task,
    normalize_complexity,
    normalize_sensitivity,
    normalize_task,
)

__all__ = [
    "AlertConfig",
    "BudgetLimits",
    "BudgetsConfig",
    "CacheConfig",
    "Capabilities",
    "Deployment",
    "EmbeddingCacheConfig",
    "EmbeddingDeployment",
    "EmbeddingsConfig",
    "LangfuseConfig",
    "MetadataLimits",
    "PrefixesConfig",
    "PrometheusConfig",
    "Rule",
    "RuleCondition",
    "RouterSettings",
    "RoutingConfig",
    "RoutingSection",
    "TelemetryConfig",
    "ThresholdStrategy",
    "Tier",
    "config_references",
    "env_references",
    "load_config",
    "resolve_env",
]

#: LiteLLM providers that run on the user's own machine or network by construction.
#: Only these are marked private when a LiteLLM proxy config is imported; anything
#: else must be marked ``private: true`` by the user (a wrong "private" is a leak).
LOCAL_PROVIDERS = frozenset({"ollama", "ollama_chat", "llamafile", "lm_studio", "routed-local"})


class _Strict(BaseModel):
    # use_attribute_docstrings: the docstring under each field becomes its description, which the
    # generated config reference in README (routed_llm.config_reference) prints; one text, no drift.
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class Capabilities(_Strict):
    """What a deployment can do. ``None`` means: ask LiteLLM's model map."""

    tools: bool | None = None
    """Supports tool / function calling."""
    json_schema: bool | None = None
    """Supports ``response_format`` with a JSON schema."""
    vision: bool | None = None
    """Accepts image parts in messages."""


class Deployment(_Strict):
    """One LiteLLM deployment inside a tier (a ``model_list`` entry)."""

    model: str = Field(min_length=1)
    """LiteLLM model string, e.g. ``ollama_chat/llama3.2:3b`` or ``openai/gpt-4o``."""
    api_base: str | None = None
    """Endpoint URL; ``None`` uses the provider's default."""
    api_key: SecretStr | None = None
    """API key. Prefer ``${ENV_VAR}`` or ``os.environ/ENV_VAR`` over a literal."""
    api_version: str | None = None
    """Provider API version (Azure)."""
    timeout: float | None = Field(default=None, gt=0)
    """Per-attempt timeout in seconds (LiteLLM enforces it)."""
    max_tokens: int | None = Field(default=None, gt=0)
    """Output-token cap applied when the caller sets none."""
    context_window: int | None = Field(default=None, gt=0)
    """Max input tokens; defaults to LiteLLM's model map, then ``routing.default_context_window``."""
    input_cost_per_token: float | None = Field(default=None, ge=0)
    """Price override in USD per prompt token."""
    output_cost_per_token: float | None = Field(default=None, ge=0)
    """Price override in USD per completion token."""
    capabilities: Capabilities = Capabilities()
    """Capability overrides; unset ones come from LiteLLM's model map."""
    rpm: int | None = Field(default=None, gt=0)
    """Requests per minute, for LiteLLM's load balancing."""
    tpm: int | None = Field(default=None, gt=0)
    """Tokens per minute, for LiteLLM's load balancing."""
    weight: int | None = Field(default=None, gt=0)
    """Relative weight for LiteLLM's simple-shuffle load balancing."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Extra ``litellm_params`` passed through unchanged (e.g. ``extra_headers``)."""

    @field_validator("api_key", mode="before")
    @classmethod
    def _empty_key_is_none(cls, v: Any) -> Any:
        return None if v == "" else v

    @property
    def provider(self) -> str:
        """The LiteLLM provider prefix (``openai`` for a bare model name)."""
        return self.model.split("/", 1)[0] if "/" in self.model else "openai"

    def __repr_args__(self) -> Any:  # keep reprs short and secret-free
        return [(k, v) for k, v in super().__repr_args__() if k in ("model", "api_base")]


class Tier(_Strict):
    """A named group of interchangeable deployments (one LiteLLM model group)."""

    models: list[Deployment] = Field(min_length=1)
    """Deployments LiteLLM load-balances and retries across."""
    private: bool = False
    """Data never leaves the user's control: the only tiers allowed for confidential calls."""
    latency_ms: int | None = Field(default=None, gt=0)
    """Typical latency; a call with ``max_latency_ms`` below it skips this tier."""
    description: str | None = None
    """Free text shown by ``routed-llm explain``."""


def _as_list(normalize: Any) -> Any:
    def validate(v: Any) -> Any:
        if v is None:
            return None
        items = v if isinstance(v, list | tuple) else [v]
        return [normalize(i) for i in items]

    return validate


class RuleCondition(_Strict):
    """All given conditions must hold (AND). A list value means any of its items (OR)."""

    task: list[Task] | None = None
    """The call's task (hint or inferred)."""
    complexity: list[Complexity] | None = None
    """The call's complexity (hint or inferred)."""
    sensitivity: list[Sensitivity] | None = None
    """The call's sensitivity (hint or inferred)."""
    context_tokens_over: int | None = Field(default=None, ge=0)
    """Prompt tokens strictly above this."""
    context_tokens_at_most: int | None = Field(default=None, ge=0)
    """Prompt tokens at or below this."""
    max_latency_ms_at_most: int | None = Field(default=None, gt=0)
    """The caller's ``max_latency_ms`` hint is set and at or below this."""
    tools: bool | None = None
    """The call carries tools (``true``) or carries none (``false``)."""
    images: bool | None = None
    """The call has image parts (``true``) or has none (``false``)."""
    json_output: bool | None = None
    """The call asks for JSON (schema or JSON mode)."""
    metadata: dict[str, Any] | None = None
    """Each key must equal (or, for a list, be one of) the call metadata's value."""
    score_over: float | None = Field(default=None, ge=0, le=1)
    """The call's routing score (``routing.scorer``) is strictly above this."""
    score_at_most: float | None = Field(default=None, ge=0, le=1)
    """The call's routing score is at or below this."""

    _task = field_validator("task", mode="before")(_as_list(normalize_task))
    _complexity = field_validator("complexity", mode="before")(_as_list(normalize_complexity))
    _sensitivity = field_validator("sensitivity", mode="before")(_as_list(normalize_sensitivity))

    def describe(self) -> str:
        """Render the condition compactly for reasons, e.g. ``task=code, complexity=complex``."""
        parts = []
        for key, value in self.model_dump(exclude_none=True).items():
            if isinstance(value, list):
                value = "|".join(v.value if hasattr(v, "value") else str(v) for v in value)
            parts.append(f"{key}={value}")
        return ", ".join(parts) or "always"


class Rule(_Strict):
    """One routing rule: first match wins."""

    name: str | None = None
    """Shown in decisions; defaults to ``rules[i]``."""
    when: RuleCondition = RuleCondition()
    """Conditions, all of which must hold; empty matches every call."""
    tier: str
    """Tier for the calls this rule matches."""
    fallbacks: list[str] | None = None
    """Overrides the tier's fallback chain for calls matched by this rule."""


class ThresholdStrategy(_Strict):
    """``routing.threshold``: pick the tier from the routing score when no rule matched.

    With one score: below ``thresholds[0]`` -> ``chain[0]``, from ``thresholds[i-1]`` up to
    below ``thresholds[i]`` -> ``chain[i]``, at or above the last -> the last tier. With
    ``min_quality`` and a scorer that predicts each tier's success, the call goes to the
    cheapest tier of ``chain`` whose predicted success is at least ``min_quality`` (the
    last tier if none is); a scorer without per-tier predictions uses ``thresholds``.
    The chosen tier's configured fallbacks apply as for a rule.
    """

    chain: list[str] = Field(min_length=2)
    """Tiers from cheapest to dearest, e.g. ``[local, fast, premium]``."""
    thresholds: list[float] = Field(min_length=1)
    """Ascending scores in [0, 1] that separate the tiers of ``chain``: one fewer than the tiers."""
    min_quality: float | None = Field(default=None, gt=0, le=1)
    """Predicted success a tier must reach to be chosen (needs a scorer with per-tier predictions)."""
    quality_tiers: dict[str, str] | None = None
    """Chain tier -> the scorer's tier name whose prediction stands for it. Default: the same name if
    the scorer predicts every chain tier by name, else by position (cheapest first) when the counts match."""

    @model_validator(mode="after")
    def _check(self) -> ThresholdStrategy:
        problems = []
        if len(set(self.chain)) != len(self.chain):
            problems.append("chain: lists a tier twice")
        if len(self.thresholds) != len(self.chain) - 1:
            problems.append(
                f"thresholds: needs {len(self.chain) - 1} value(s) for a chain of {len(self.chain)} tiers,"
                f" got {len(self.thresholds)}"
            )
        for i, t in enumerate(self.thresholds):
            if not 0 <= t <= 1:
                problems.append(f"thresholds[{i}]: must be in [0, 1], got {t}")
        if any(b <= a for a, b in zip(self.thresholds, self.thresholds[1:], strict=False)):
            problems.append(f"thresholds: must be strictly ascending, got {self.thresholds}")
        for tier in self.quality_tiers or {}:
            if tier not in self.chain:
                problems.append(f"quality_tiers.{tier}: not a tier of the chain {self.chain}")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class RoutingSection(_Strict):
    """Which tier a call goes to, and where it goes when that tier fails."""

    default: str
    """Tier for calls no rule matches."""
    rules: list[Rule] = Field(default_factory=list)
    """Ordered rules; the first matching rule whose chain has an eligible tier wins."""
    fallbacks: dict[str, list[str]] = Field(default_factory=dict)
    """Tier -> ordered fallback tiers. Fallbacks still obey every hard constraint."""
    default_context_window: int = Field(default=8192, gt=0)
    """Context window assumed for models LiteLLM does not know and the config does not set."""
    last_resort: Literal["any_eligible", "raise"] = "any_eligible"
    """When no tier of the chosen chain is eligible: use the first eligible tier in
    config order (saying so in the reason), or raise `NoEligibleTier`."""
    scorer: str = "heuristic"
    """Routing score source: ``heuristic``, ``learned`` (the packaged scorer), or the path of a scorer
    file from ``routed-llm train`` (relative to the config file). Computed only when something reads it."""
    complexity_from_score: tuple[float, float] | None = None
    """``[t_medium, t_complex]``: an inferred complexity comes from the score (medium at or above
    ``t_medium``, complex at or above ``t_complex``) instead of the heuristic's levels."""
    threshold: ThresholdStrategy | None = None
    """Score-driven tier choice for calls no rule matches (replaces ``default`` for them)."""

    @field_validator("scorer")
    @classmethod
    def _scorer_spec(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("is empty; use heuristic, learned, or the path of a scorer file")
        if v.lower() in ("heuristic", "learned"):
            return v.lower()
        if not Path(v).expanduser().is_file():
            raise ValueError(
                f"no scorer file at {v!r}; use heuristic, learned, or a file written by `routed-llm train`"
            )
        return v

    @field_validator("complexity_from_score")
    @classmethod
    def _bands(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None:
            if not all(0 <= t <= 1 for t in v):
                raise ValueError(f"both bands must be in [0, 1], got {list(v)}")
            if not v[0] < v[1]:
                raise ValueError(f"[t_medium, t_complex] must be ascending, got {list(v)}")
        return v

    @property
    def uses_score(self) -> bool:
        """Whether any routing decision reads the score (a score rule, complexity bands or the threshold strategy)."""
        return (
            self.threshold is not None
            or self.complexity_from_score is not None
            or any(r.when.score_over is not None or r.when.score_at_most is not None for r in self.rules)
        )


#: ``litellm.Router(routing_strategy=...)`` values LiteLLM accepts.
ROUTING_STRATEGIES = (
    "simple-shuffle",
    "least-busy",
    "usage-based-routing",
    "latency-based-routing",
    "cost-based-routing",
    "usage-based-routing-v2",
)


class RouterSettings(_Strict):
    """Settings passed to each tier's ``litellm.Router`` (per-deployment behaviour)."""

    num_retries: int = Field(default=0, ge=0)
    """LiteLLM retries within a tier before routed-llm moves to the next tier."""
    timeout: float | None = Field(default=None, gt=0)
    """Default per-attempt timeout in seconds for deployments that set none."""
    retry_after: float = Field(default=0, ge=0, allow_inf_nan=False)
    """Minimum seconds between LiteLLM retries."""
    allowed_fails: int | None = Field(default=None, ge=0)
    """Failures per minute before LiteLLM cools a deployment down."""
    cooldown_time: float | None = Field(default=None, ge=0)
    """Seconds a failing deployment stays cooled down."""
    routing_strategy: str = "simple-shuffle"
    """LiteLLM load-balancing strategy within a tier (one of `ROUTING_STRATEGIES`)."""

    @field_validator("routing_strategy")
    @classmethod
    def _known_strategy(cls, v: str) -> str:
        if v not in ROUTING_STRATEGIES:
            raise ValueError(f"unknown LiteLLM routing strategy; use one of: {', '.join(ROUTING_STRATEGIES)}")
        return v

    drop_params: bool = True
    """Drop OpenAI params a provider does not support instead of failing."""


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
    (``openai/text-embedding-3-small``), or ``local/all-minilm-l6-v2`` (in-process, no server)."""
    api_base: str | None = None
    """Server URL; Ollama defaults to ``http://localhost:11434``."""
    api_key: SecretStr | None = None
    """API key, if the server needs one. Prefer ``${ENV_VAR}``."""
    api_version: str | None = None
    """Provider API version (Azure)."""
    backend: EmbeddingBackend = "auto"
    """Wire protocol: ``ollama`` (native ``/api/embed``), ``openai`` (``/embeddings``), ``litellm``
    (``litellm.embedding``), ``local`` (sentence-transformers in-process); ``auto`` infers it from the model."""
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


# --------------------------------------------------------------------------- budgets and cache


def _store_scheme(url: str, field: str) -> str:
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in ("sqlite", "redis", "rediss", "memory"):
        raise ValueError(
            f"{field}: expected sqlite:///path (e.g. sqlite:///~/.routed_llm/ledger.db), "
            "redis://host:port/db or memory:// (this process only)"
        )
    return scheme


def _reject_bool(v: Any) -> Any:
    if isinstance(v, bool):  # YAML reads yes/no/true as booleans, which pydantic would take as $1/$0
        raise ValueError("expected an amount in USD, not a boolean")
    return v


#: An amount in USD: a finite number; booleans are refused.
Usd = Annotated[float, BeforeValidator(_reject_bool)]


class BudgetLimits(_Strict):
    """Spend limits in USD for one scope (everything, a provider, a tier, or a metadata value)."""

    daily_usd: Usd | None = Field(default=None, ge=0, allow_inf_nan=False)
    """Spend allowed per calendar day (in ``budgets.timezone``)."""
    weekly_usd: Usd | None = Field(default=None, ge=0, allow_inf_nan=False)
    """Spend allowed per ISO week (Monday to Sunday)."""
    monthly_usd: Usd | None = Field(default=None, ge=0, allow_inf_nan=False)
    """Spend allowed per calendar month."""
    per_request_usd: Usd | None = Field(default=None, ge=0, allow_inf_nan=False)
    """Largest estimated cost of one call, checked before the call (worst case: the tier's
    dearest deployment and the call's output cap, else the tier's, else 1024 tokens)."""

    def windowed(self) -> dict[str, float]:
        """Return the windowed limits that are set: ``{"day": 10.0, ...}``."""
        out = {"day": self.daily_usd, "week": self.weekly_usd, "month": self.monthly_usd}
        return {k: v for k, v in out.items() if v is not None}


class MetadataLimits(BudgetLimits):
    """Limits applied to each value of one call-metadata key, with per-value ``overrides``."""

    overrides: dict[str, BudgetLimits] = Field(default_factory=dict)
    """Value -> limits for that value only (e.g. ``{alice: {daily_usd: 20}}``). A window the
    override leaves out inherits the default above; write it as ``null`` to lift it for that value.
    Spend is counted per value either way, so an override takes effect on the current window."""

    @field_validator("overrides", mode="before")
    @classmethod
    def _string_keys(cls, v: Any) -> Any:
        # Metadata values are compared as text (``user_id: 42`` is "42") and YAML reads the key ``42:``
        # as an int, so numbers become text. ``yes:`` or ``null:`` are refused: rarely meant as a value.
        if not isinstance(v, Mapping):
            return v
        out: dict[Any, Any] = {}
        for k, x in v.items():
            if isinstance(k, bool) or k is None:
                raise ValueError(f"override key {k!r} is not text; quote it in the YAML if it is a metadata value")
            out[str(k) if isinstance(k, int | float) else k] = x
        return out

    def for_value(self, value: str) -> tuple[BudgetLimits, frozenset[str]]:
        """Return the limits that apply to ``value`` and the field names its override set.

        Why inherit: an override usually raises or lowers one window for one user; repeating every
        other default there would be easy to forget and silently lift those limits.
        """
        override = self.overrides.get(value)
        defaults = BudgetLimits(**{name: getattr(self, name) for name in BudgetLimits.model_fields})
        if override is None:
            return defaults, frozenset()
        taken = frozenset(override.model_fields_set)
        return defaults.model_copy(update={name: getattr(override, name) for name in taken}), taken


class AlertConfig(_Strict):
    """One alert threshold: a fraction of every windowed limit."""

    at: float = Field(gt=0, le=1)
    """Fraction of the limit (e.g. ``0.8``) at which the alert fires, once per limit and window."""
    notify: list[str] = Field(default_factory=list)
    """Names passed to alert callbacks (who to tell); routed-llm itself only logs."""
    action: Literal["notify", "downgrade"] = "notify"
    """``downgrade`` also closes the paid tiers the limit covers from this fraction on
    (the seeds' "throttle to local" before the limit is reached)."""


class BudgetsConfig(_Strict):
    """The ``budgets:`` section: a spend ledger shared by every adapter, limits, alerts.

    Top-level limits cover all spend; ``providers``, ``tiers`` and ``per_metadata`` add
    narrower ones. A paid tier whose limit is spent is closed (``downgrade``) or the call
    raises `BudgetExceeded` (``raise``). Private tiers and tiers priced at zero are never
    closed by spend.
    """

    store: SecretStr = SecretStr("sqlite:///~/.routed_llm/ledger.db")
    """Ledger URL: ``sqlite:///path`` (one host, many processes), ``redis://host:port/db`` (many hosts)
    or ``memory://`` (this process only). Secret because a Redis URL may carry a password."""
    daily_usd: Usd | None = Field(default=None, ge=0, allow_inf_nan=False)
    """Total spend allowed per day."""
    weekly_usd: Usd | None = Field(default=None, ge=0, allow_inf_nan=False)
    """Total spend allowed per ISO week."""
    monthly_usd: Usd | None = Field(default=None, ge=0, allow_inf_nan=False)
    """Total spend allowed per calendar month."""
    per_request_usd: Usd | None = Field(default=None, ge=0, allow_inf_nan=False)
    """Largest estimated cost of any one call, checked before the call."""
    providers: dict[str, BudgetLimits] = Field(default_factory=dict)
    """LiteLLM provider (``anthropic``, ``openai``, ...) -> limits on spend with that provider."""
    tiers: dict[str, BudgetLimits] = Field(default_factory=dict)
    """Tier name -> limits on spend in that tier."""
    per_metadata: dict[str, MetadataLimits] = Field(default_factory=dict)
    """Call-metadata key (e.g. ``user_id``) -> limits applied to each of its values separately
    (a list value such as ``tags`` counts against each item), with optional per-value ``overrides``."""
    alert_at: list[float | AlertConfig] = Field(default_factory=list)
    """Alert thresholds as fractions (``[0.8, 0.95]``) or ``{at, notify, action}`` mappings."""
    on_exceeded: Literal["downgrade", "raise"] = "downgrade"
    """``downgrade``: close the tiers whose budget is spent, so calls move to cheaper or free tiers
    (the reason says which limit); ``raise``: raise `BudgetExceeded` when the chosen tier is closed."""
    on_ledger_error: Literal["fail_closed", "fail_open"] = "fail_closed"
    """When spend cannot be read or recorded: ``fail_closed`` closes every paid tier until the ledger
    works again; ``fail_open`` logs and carries on. Unrecorded spend is kept and retried either way."""
    timezone: str = "UTC"
    """IANA time zone in which days, weeks and months start."""
    lock_timeout_s: float = Field(default=10.0, gt=0)
    """Seconds to wait for another process's SQLite write lock before reporting a ledger error."""
    record_metadata: list[str] = Field(default_factory=lambda: ["user_id", "tags"])
    """Call-metadata keys stored with each ledger entry, for ``routed-llm report --by tag``."""
    keep_entries_days: float = Field(default=400, gt=0, allow_inf_nan=False)
    """How long the ledger keeps individual entries (what ``routed-llm report`` reads); older ones are
    trimmed as new ones are written. The limit counters are kept apart and not trimmed by this, so the
    daily/weekly/monthly limits stay exact, whatever the value; the default covers a year of reports."""
    journal_dir: str | None = None
    """Where spend the ledger could not take is written at once, so a crash or exit loses none; the
    next router on the host replays it (entries carry ids, so nothing is counted twice). Default:
    ``<ledger file>.unrecorded/`` for SQLite, ``~/.routed_llm/unrecorded/`` for Redis, none for memory."""

    @field_validator("alert_at", mode="after")
    @classmethod
    def _sorted_alerts(cls, v: list[float | AlertConfig]) -> list[float | AlertConfig]:
        for item in v:
            if isinstance(item, float) and not 0 < item <= 1:
                raise ValueError(f"alert thresholds are fractions of a limit in (0, 1], got {item}")
        return v

    @field_validator("keep_entries_days", mode="before")
    @classmethod
    def _days_not_bool(cls, v: Any) -> Any:
        if isinstance(v, bool):  # YAML reads yes/no as booleans, which pydantic would take as 1/0 days
            raise ValueError("expected a number of days, not a boolean")
        return v

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}; use an IANA name such as UTC or Europe/Berlin") from None
        return v

    @field_validator("store")
    @classmethod
    def _known_store(cls, v: SecretStr) -> SecretStr:
        _store_scheme(v.get_secret_value(), "budgets.store")
        return v

    @property
    def alerts(self) -> list[AlertConfig]:
        """Alert thresholds as `AlertConfig`, lowest first."""
        items = [a if isinstance(a, AlertConfig) else AlertConfig(at=a) for a in self.alert_at]
        return sorted(items, key=lambda a: a.at)

    @property
    def total(self) -> BudgetLimits:
        """The top-level limits as a `BudgetLimits`."""
        return BudgetLimits(
            daily_usd=self.daily_usd,
            weekly_usd=self.weekly_usd,
            monthly_usd=self.monthly_usd,
            per_request_usd=self.per_request_usd,
        )


class CacheConfig(_Strict):
    """The ``cache:`` section: a response cache in front of every tier, shared by both frameworks."""

    enabled: bool = True
    """Turn the cache on; an absent ``cache:`` section means no cache."""
    store: SecretStr = SecretStr("sqlite:///~/.routed_llm/responses.db")
    """``sqlite:///path``, ``redis://host:port/db`` or ``memory://``. Secret: a Redis URL may carry a password."""
    ttl_s: float | None = Field(default=86400.0, gt=0)
    """Seconds an entry stays valid; ``null`` keeps entries forever."""
    private: bool = False
    """The store stays on your own machines. Only then are confidential calls cached."""
    namespace: str = "routed_llm:resp"
    """Redis key prefix."""

    @field_validator("store")
    @classmethod
    def _known_store(cls, v: SecretStr) -> SecretStr:
        _store_scheme(v.get_secret_value(), "cache.store")
        return v


class LangfuseConfig(_Strict):
    """``telemetry.langfuse``: one Langfuse generation per routed call, named after the model that served it."""

    enabled: bool = True
    """Send generations; ``false`` keeps the section in the file but sends nothing."""
    public_key: str | None = None
    """Langfuse public key; ``None`` lets the SDK read ``LANGFUSE_PUBLIC_KEY``."""
    secret_key: SecretStr | None = None
    """Langfuse secret key; ``None`` lets the SDK read ``LANGFUSE_SECRET_KEY``. Never logged or traced."""
    host: str | None = None
    """Langfuse base URL (e.g. ``https://cloud.langfuse.com`` or a self-hosted server); ``None``: SDK default."""
    capture_content: bool = True
    """Record input messages and output text; ``false`` records routing, usage and cost only (sensitive data)."""


class PrometheusConfig(_Strict):
    """``telemetry.prometheus``: request duration, token, error and cost metrics via ``prometheus_client``."""

    enabled: bool = True
    """Collect metrics; ``false`` keeps the section in the file but collects nothing."""
    registry: Literal["private", "default"] = "private"
    """``private``: a registry of the router's own (``router.telemetry.registry``, expose it yourself);
    ``default``: prometheus_client's global registry (what ``start_http_server`` serves). Use ``default``
    for one router per process only: the metric names can be registered once per registry."""


class TelemetryConfig(_Strict):
    """The ``telemetry:`` section: where routed calls are reported. Absent sections report nothing."""

    langfuse: LangfuseConfig | None = None
    """Langfuse tracing (needs the ``langfuse`` package, extra ``observability``)."""
    prometheus: PrometheusConfig | None = None
    """Prometheus metrics (needs ``prometheus-client``, extra ``observability``)."""


class RoutingConfig(_Strict):
    """The whole routing policy. Build it with `load_config`."""

    tiers: dict[str, Tier] = Field(min_length=1)
    """Tier name -> tier, conventionally listed from cheapest to dearest."""
    routing: RoutingSection
    """Default tier, ordered rules and fallback chains."""
    router_settings: RouterSettings = RouterSettings()
    """LiteLLM router settings applied within each tier."""
    embeddings: EmbeddingsConfig | None = None
    """Embedding deployments; ``None`` is the in-process all-MiniLM-L6-v2 (384 dims, no prefixes)."""
    budgets: BudgetsConfig | None = None
    """Spend ledger, limits and alerts; ``None`` records and limits nothing."""
    cache: CacheConfig | None = None
    """Response cache; ``None`` caches nothing."""
    telemetry: TelemetryConfig | None = None
    """Langfuse tracing and Prometheus metrics; ``None`` reports nothing."""

    _source: Any = PrivateAttr(default=None)
    # (raw data, base directory, file) as `load_config` got them: lets `routed_llm.serialization`
    # write secrets back as the ``${VAR}`` references they were loaded from, never as values.

    @model_validator(mode="after")
    def _check_tier_references(self) -> RoutingConfig:
        known = list(self.tiers)
        problems: list[str] = []

        def check(path: str, name: str) -> None:
            if name not in self.tiers:
                problems.append(f"{path}: unknown tier {name!r}; configured tiers: {', '.join(known)}")

        check("routing.default", self.routing.default)
        for i, rule in enumerate(self.routing.rules):
            check(f"routing.rules[{i}].tier", rule.tier)
            for j, fb in enumerate(rule.fallbacks or []):
                check(f"routing.rules[{i}].fallbacks[{j}]", fb)
        if self.routing.threshold is not None:
            for j, name in enumerate(self.routing.threshold.chain):
                check(f"routing.threshold.chain[{j}]", name)
        for tier, chain in self.routing.fallbacks.items():
            check(f"routing.fallbacks.{tier}", tier)
            for j, fb in enumerate(chain):
                check(f"routing.fallbacks.{tier}[{j}]", fb)
                if fb == tier:
                    problems.append(f"routing.fallbacks.{tier}[{j}]: a tier cannot fall back to itself")
        if self.budgets is not None:
            for name in self.budgets.tiers:
                check(f"budgets.tiers.{name}", name)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def rule_name(self, index: int) -> str:
        """Name of rule ``index`` as shown in decisions."""
        return self.routing.rules[index].name or f"rules[{index}]"

    def fallbacks_for(self, tier: str) -> list[str]:
        """Return the configured fallback chain of ``tier`` (possibly empty)."""
        return list(self.routing.fallbacks.get(tier, []))


# --------------------------------------------------------------------------- loading

_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")

#: Config paths of deployment values whose ``${VAR}`` may stay unresolved until the tier is
#: called (credentials and endpoints: ``api_key``, ``api_base``, extra ``litellm_params``).
#: Typed values (timeouts, prices, limits) must resolve at load, where they are validated.
_DEFERRABLE = re.compile(
    r"^(?:tiers\..+?\.models\[\d+\]|model_list\[\d+\]\.litellm_params)\."
    r"(?!(?:model|timeout|max_tokens|context_window|input_cost_per_token|output_cost_per_token|rpm|tpm|weight"
    r"|capabilities)(?:\.|\[|$))"
)


def _expand(text: str, env: Mapping[str, str], on_missing: Any) -> str:
    """Expand ``${VAR}`` / ``${VAR:-default}`` in ``text``; ``on_missing(match)`` supplies unset ones."""

    def repl(m: re.Match[str]) -> str:
        var, default = m.group(1), m.group(2)
        if isinstance(env, _References):
            return m.group(0)
        if var in env and (env[var] != "" or default is None):
            return env[var]
        if default is not None:
            return default
        return str(on_missing(m))

    return _ENV_PATTERN.sub(repl, text)


def _interpolate(value: Any, env: Mapping[str, str], path: str, missing: list[str]) -> Any:
    """Expand ``${VAR}`` and ``${VAR:-default}`` in every string of ``value``.

    An unset variable in a deployment's credentials or endpoint (`_DEFERRABLE`) is
    left as written, to be resolved when its tier is called (`resolve_env`): a
    missing key then fails that tier only, and commands that call no model
    (``explain``, ``report``) work without it. Anywhere else it is an error.
    """
    if isinstance(value, str):
        # LiteLLM's own ``os.environ/VAR`` references are left for LiteLLM to resolve at
        # call time, so a config loads even where a cloud key is absent.
        def unset(m: re.Match[str]) -> str:
            if _DEFERRABLE.match(path):
                return m.group(0)
            var = m.group(1)
            missing.append(
                f"{path}: environment variable {var} is not set "
                f"(set it, or write ${{{var}:-default}} to give a default)"
            )
            return ""

        return _expand(value, env, unset)
    if isinstance(value, Mapping):
        return {k: _interpolate(v, env, f"{path}.{k}" if path else str(k), missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env, f"{path}[{i}]", missing) for i, v in enumerate(value)]
    return value


#: Field names whose values are secrets (or may carry one, like a store URL with a password).
_SECRET_FIELDS = frozenset({"api_key", "secret_key", "public_key", "store", "url", "password", "token"})
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]*@")


def _is_secret_field(loc: Sequence[Any]) -> bool:
    names = [str(p).lower() for p in loc if isinstance(p, str)]
    return any(n in _SECRET_FIELDS or n.endswith(("_key", "_secret", "_token", "password")) for n in names[-1:])


def redact_credentials(text: str) -> str:
    """Hide the ``user:password@`` part of every URL in ``text`` (``redis://***@host``)."""
    return _URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}***@", text)


def resolve_env(value: Any, env: Mapping[str, str], path: str, missing: dict[str, str]) -> Any:
    """Resolve the ``${VAR}`` references a config kept for call time (see `_interpolate`).

    Walks strings, mappings and lists; each variable still unset is recorded in
    ``missing`` as ``{path: variable}`` and its reference is left in place.
    """
    if isinstance(value, str):

        def unset(m: re.Match[str]) -> str:
            missing[path] = m.group(1)
            return m.group(0)

        return _expand(value, env, unset) if "${" in value else value
    if isinstance(value, Mapping):
        return {k: resolve_env(v, env, f"{path}.{k}", missing) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_env(v, env, f"{path}[{i}]", missing) for i, v in enumerate(value)]
    return value


def env_references(value: Any) -> set[str]:
    """Names of the variables referenced by ``${VAR}`` anywhere in ``value`` (strings, mappings, lists)."""
    if isinstance(value, str):
        return {m.group(1) for m in _ENV_PATTERN.finditer(value)}
    if isinstance(value, Mapping):
        return set().union(*(env_references(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(env_references(v) for v in value)) if value else set()
    return set()


def _format_validation_error(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ""
        for part in e["loc"]:
            loc += f"[{part}]" if isinstance(part, int) else (f".{part}" if loc else str(part))
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling; see the config reference in README)"
        elif e["type"] == "missing":
            msg = "required field is missing"
        got = e.get("input")
        shown = "" if e["type"] in ("missing", "extra_forbidden") or isinstance(got, dict) else f" (got {got!r})"
        if shown and _is_secret_field(e["loc"]):
            shown = f" (got a {type(got).__name__}, value hidden)"  # a secret is never printed, not even mistyped
        elif shown and isinstance(got, str):
            shown = f" (got {redact_credentials(got)!r})"
        lines.append(f"  - {loc or '<root>'}: {msg}{shown}")
    return "\n".join(lines)


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"  - file not found: {path}", source=str(path)) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"  - not valid YAML: {e}", source=str(path)) from e


def _is_litellm_proxy_config(data: Mapping[str, Any]) -> bool:
    return "model_list" in data and "tiers" not in data


def import_litellm_proxy_config(data: Mapping[str, Any]) -> dict[str, Any]:
    """Translate a LiteLLM proxy config (``model_list``, ``router_settings``, ``litellm_settings``).

    Every ``model_name`` becomes a tier whose deployments are the entries sharing
    that name (LiteLLM's own load-balancing semantics). ``router_settings.fallbacks``
    becomes the tier fallback chains. The default tier is the first model name.
    Embedding models (``model_info.mode: embedding`` or ``embed`` in the name) become
    the ``embeddings`` section. ``os.environ/VAR`` keys stay for LiteLLM to resolve.
    Tiers are marked private only for providers that run locally by construction
    (`LOCAL_PROVIDERS`); mark others ``private: true`` yourself in an including file.
    Returns a plain dict in routed-llm's schema (validated by the caller).
    """
    tiers: dict[str, dict[str, Any]] = {}
    embeddings: dict[str, Any] = {}
    model_list = data.get("model_list") or []
    if not isinstance(model_list, list):
        raise ConfigError("  - model_list: must be a list of {model_name, litellm_params}")
    for i, entry in enumerate(model_list):
        if not isinstance(entry, Mapping) or "model_name" not in entry:
            raise ConfigError(f"  - model_list[{i}]: needs model_name and litellm_params")
        params = dict(entry.get("litellm_params") or {})
        if "model" not in params:
            raise ConfigError(f"  - model_list[{i}].litellm_params.model: required field is missing")
        dep: dict[str, Any] = {}
        for key in (
            "model",
            "api_base",
            "api_key",
            "api_version",
            "timeout",
            "max_tokens",
            "input_cost_per_token",
            "output_cost_per_token",
            "rpm",
            "tpm",
            "weight",
        ):
            if key in params:
                dep[key] = params.pop(key)
        if params:
            dep["params"] = params
        info = entry.get("model_info") or {}
        if isinstance(info, Mapping):
            if "max_input_tokens" in info:
                dep["context_window"] = info["max_input_tokens"]
            caps = {
                "tools": info.get("supports_function_calling"),
                "json_schema": info.get("supports_response_schema"),
                "vision": info.get("supports_vision"),
            }
            caps = {k: v for k, v in caps.items() if v is not None}
            if caps:
                dep["capabilities"] = caps
        name = str(entry["model_name"])
        if _is_embedding_model(dep["model"], info):
            embeddings.setdefault("model", dep["model"])
            if "api_base" in dep:
                embeddings.setdefault("api_base", dep["api_base"])
            continue
        tier = tiers.setdefault(name, {"models": []})
        tier["models"].append(dep)
    if not tiers:
        raise ConfigError("  - model_list: is empty; at least one model is needed")
    for tier in tiers.values():
        providers = {str(d["model"]).split("/", 1)[0] for d in tier["models"]}
        tier["private"] = providers <= LOCAL_PROVIDERS

    settings = dict(data.get("router_settings") or {})
    fallbacks: dict[str, list[str]] = {}
    for item in settings.pop("fallbacks", None) or []:
        if isinstance(item, Mapping):
            for src, dst in item.items():
                fallbacks[str(src)] = [str(d) for d in (dst if isinstance(dst, list) else [dst])]
    router_settings: dict[str, Any] = {}
    for key in ("num_retries", "timeout", "retry_after", "allowed_fails", "cooldown_time", "routing_strategy"):
        if key in settings:
            router_settings[key] = settings[key]
    litellm_settings = data.get("litellm_settings") or {}
    if isinstance(litellm_settings, Mapping):
        if "drop_params" in litellm_settings:
            router_settings["drop_params"] = litellm_settings["drop_params"]
        if "num_retries" in litellm_settings and "num_retries" not in router_settings:
            router_settings["num_retries"] = litellm_settings["num_retries"]
        if "request_timeout" in litellm_settings and "timeout" not in router_settings:
            router_settings["timeout"] = litellm_settings["request_timeout"]
    out: dict[str, Any] = {
        "tiers": tiers,
        "routing": {"default": next(iter(tiers)), "fallbacks": fallbacks},
        "router_settings": router_settings,
    }
    if embeddings:
        out["embeddings"] = embeddings
    return out


def _is_embedding_model(model: str, model_info: Any) -> bool:
    """Embedding deployments become the ``embeddings`` section, not a chat tier."""
    if isinstance(model_info, Mapping) and model_info.get("mode") == "embedding":
        return True
    return "embed" in model.lower()


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge mappings; lists and scalars in ``override`` replace those in ``base``."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def _resolve(data: Any, *, env: Mapping[str, str], base_dir: Path | None, source: str | None) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise ConfigError(f"  - <root>: expected a mapping, got {type(data).__name__}", source=source)
    missing: list[str] = []
    data = _interpolate(dict(data), env, "", missing)
    if missing:
        raise ConfigError("\n".join(f"  - {m}" for m in missing), source=source)
    if _is_litellm_proxy_config(data):
        return import_litellm_proxy_config(data)
    include = data.pop("include_litellm_proxy", None)
    if include is not None:
        inc_path = Path(str(include)).expanduser()
        if not inc_path.is_absolute() and base_dir is not None:
            inc_path = base_dir / inc_path
        imported = _resolve(_read_yaml(inc_path), env=env, base_dir=inc_path.parent, source=str(inc_path))
        data = _merge(imported, data)
    return _scorer_relative_to(dict(data), base_dir)


def _scorer_relative_to(data: dict[str, Any], base_dir: Path | None) -> dict[str, Any]:
    """Make a relative ``routing.scorer`` file relative to the config file, as an include is."""
    routing = data.get("routing")
    scorer = routing.get("scorer") if isinstance(routing, Mapping) else None
    if base_dir is None or not isinstance(scorer, str) or scorer.strip().lower() in ("", "heuristic", "learned"):
        return data
    path = Path(scorer.strip()).expanduser()
    if not path.is_absolute():
        data["routing"] = {**routing, "scorer": str(base_dir / path)}  # type: ignore[dict-item]
    return data


def load_config(
    source: str | os.PathLike[str] | Mapping[str, Any], *, env: Mapping[str, str] | None = None
) -> RoutingConfig:
    """Load and validate a routing config from a YAML file path or a mapping.

    Accepts routed-llm's own schema, a LiteLLM proxy config as it stands, or a
    routed-llm file with ``include_litellm_proxy: path`` whose ``tiers`` and
    ``routing`` sections patch the imported ones. Strings may use ``${VAR}`` and
    ``${VAR:-default}`` (``env`` defaults to ``os.environ``); LiteLLM's
    ``os.environ/VAR`` is resolved by LiteLLM at call time.

    Raises:
        ConfigError: naming the YAML path of every bad value and what is allowed.
    """
    env = os.environ if env is None else env
    if isinstance(source, Mapping):
        data, base_dir, where = source, None, None
    else:
        path = Path(source).expanduser()
        data, base_dir, where = _read_yaml(path), path.parent, str(path)
    try:
        resolved = _resolve(data, env=env, base_dir=base_dir, source=where)
        config = RoutingConfig.model_validate(resolved)
    except ValidationError as e:
        raise ConfigError(_format_validation_error(e), source=where) from None
    except RecursionError:
        raise ConfigError(
            "  - <root>: the config is nested too deeply to be a routing config (hundreds of levels); "
            "check for a generated or self-referencing YAML",
            source=where,
        ) from None
    config._source = (data, base_dir, where)
    return config


class _References(Mapping[str, str]):
    """An environment in which every variable is set to its own ``${VAR}`` reference.

    Resolving a config against it yields the config's final shape (LiteLLM proxy
    configs imported, includes merged) with every reference still in place.
    """

    def __getitem__(self, key: str) -> str:
        return "${" + key + "}"

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str)

    def __iter__(self) -> Any:
        return iter(())

    def __len__(self) -> int:
        return 0


def config_references(config: RoutingConfig) -> dict[str, str]:
    """``{config path: the string as written}`` for every string of ``config`` that used ``${VAR}``.

    Paths are in the final schema (``tiers.fast.models[0].api_key``) even when the
    file was a LiteLLM proxy config. Empty for configs not built by `load_config`.
    """
    source = config._source
    if source is None:
        return {}
    data, base_dir, where = source
    try:
        traced = _resolve(data, env=_References(), base_dir=base_dir, source=where)
    except ConfigError:
        return {}
    out: dict[str, str] = {}

    def walk(value: Any, path: str) -> None:
        if isinstance(value, str) and "${" in value:
            out[path] = value
        elif isinstance(value, Mapping):
            for k, v in value.items():
                walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{path}[{i}]")

    walk(traced, "")
    return out
