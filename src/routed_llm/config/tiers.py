"""Tiers and their deployments: which LiteLLM models a tier load-balances, and what they can do."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, field_validator

from routed_llm.config._base import _Strict

#: LiteLLM providers that run on the user's own machine or network by construction.
#: Only these are marked private when a LiteLLM proxy config is imported; anything
#: else must be marked ``private: true`` by the user (a wrong "private" is a leak).
LOCAL_PROVIDERS = frozenset({"ollama", "ollama_chat", "llamafile", "lm_studio", "routed-local"})


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
    cache_read_input_token_cost: float | None = Field(default=None, ge=0)
    """USD per prompt token read from the provider's prompt cache; default: LiteLLM's map, else the input price."""
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
