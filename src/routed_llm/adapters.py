"""Helpers every framework adapter shares, so LangChain and LlamaIndex behave alike.

Adapters hold no routing logic; what they do have in common (finding their
config, adopting a shared `Router`) lives here once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from routed_llm.config import RoutingConfig
from routed_llm.embeddings import Embedder
from routed_llm.errors import ConfigError
from routed_llm.router import ConfigSource, Router
from routed_llm.types import Sensitivity

__all__ = ["CONFIG_ENV", "adopt_embedder", "adopt_router", "config_source_from_env"]

#: Environment variable naming a routing YAML, read when an adapter gets no config explicitly.
CONFIG_ENV = "ROUTED_LLM_CONFIG"


def config_source_from_env(source: Any) -> Any:
    """Return ``source``, or the path in ``$ROUTED_LLM_CONFIG`` when ``source`` is ``None``."""
    if source is not None:
        return source
    return os.environ.get(CONFIG_ENV) or None


def adopt_router(config: ConfigSource | None, router: Router | None, *, tier: str | None = None) -> Router:
    """Return the `Router` an adapter should use: the one given, or one built from ``config``.

    ``config`` and ``router`` are exclusive (two sources of truth would diverge),
    and a default ``tier`` hint must name a configured tier.
    """
    if router is not None and config is not None:
        raise ValueError("pass either config= or router=, not both")
    if config is not None and not isinstance(config, RoutingConfig | str | os.PathLike | Mapping):
        raise ConfigError(
            f"  - config=: expected a RoutingConfig, a YAML path or a mapping (got {type(config).__name__})"
        )
    adopted = router if router is not None else Router(config)
    if tier is not None and tier not in adopted.profiles:
        raise ConfigError(f"  - tier={tier!r}: not a configured tier; configured tiers: {', '.join(adopted.profiles)}")
    return adopted


def adopt_embedder(
    config: Any,
    embedder: Embedder | None,
    *,
    model: str | None,
    base_url: str | None,
    dimensions: int | None,
    sensitivity: Sensitivity | str | None,
    model_arg: str = "model",
) -> Embedder:
    """Return the `Embedder` an embeddings adapter should use.

    Three exclusive ways in: an existing ``embedder``; the ``model`` / ``base_url`` /
    ``dimensions`` shorthand for one deployment; or a ``config`` (else
    ``$ROUTED_LLM_CONFIG``, else the in-process default). ``model_arg`` is the
    adapter's own name for the model argument, so errors name what the user typed.
    """
    shorthand = model is not None or base_url is not None or dimensions is not None
    if embedder is not None:
        if config is not None or shorthand:
            raise ValueError("pass embedder= alone: it already carries its config")
        return embedder
    if shorthand:
        if config is not None:
            raise ValueError(f"pass either config= or {model_arg}=/base_url=/dimensions=, not both")
        if model is None:
            raise ValueError(f"base_url= and dimensions= need {model_arg}=, e.g. {model_arg}='ollama/nomic-embed-text'")
        section: dict[str, Any] = {"model": model}
        if base_url is not None:
            section["api_base"] = base_url
        if dimensions is not None:
            section["dimensions"] = dimensions
        return Embedder(section, sensitivity=sensitivity)
    return Embedder(config_source_from_env(config), sensitivity=sensitivity)
