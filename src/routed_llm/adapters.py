"""Helpers every framework adapter shares, so LangChain and LlamaIndex behave alike.

Adapters hold no routing logic; what they do have in common (finding their
config, adopting a shared `Router`) lives here once.
"""

from __future__ import annotations

import os
from typing import Any

from routed_llm.router import ConfigSource, Router

__all__ = ["CONFIG_ENV", "adopt_router", "config_source_from_env"]

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
    adopted = router if router is not None else Router(config)
    if tier is not None and tier not in adopted.profiles:
        raise ValueError(f"tier {tier!r} is not configured; configured tiers: {', '.join(adopted.profiles)}")
    return adopted
