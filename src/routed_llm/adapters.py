"""Helpers every framework adapter shares, so LangChain and LlamaIndex behave alike.

Adapters hold no routing logic; what they do have in common lives here once:
finding their config, adopting a shared `Router`, telling routing hints from model
params, mapping a framework's ``tool_choice``, and asking the policy what a call
with the adapter's default hints would start from.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from routed_llm.config import RoutingConfig
from routed_llm.embeddings import Embedder
from routed_llm.errors import ConfigError, NoEligibleTier, TierNotAllowed
from routed_llm.policy import decide
from routed_llm.router import ConfigSource, Router, request_needs
from routed_llm.types import RouteDecision, RouteHints, Sensitivity

__all__ = [
    "CONFIG_ENV",
    "HINT_KEYS",
    "adopt_embedder",
    "adopt_router",
    "config_source_from_env",
    "resolve_tool_choice",
    "split_call_kwargs",
    "starting_decision",
    "tools_reachable",
]

#: Environment variable naming a routing YAML, read when an adapter gets no config explicitly.
CONFIG_ENV = "ROUTED_LLM_CONFIG"

#: Keyword arguments taken as routing hints rather than model params: exactly the
#: core's `RouteHints` fields, so a hint the core learns is accepted by every adapter at once.
HINT_KEYS: tuple[str, ...] = tuple(RouteHints.model_fields)


def split_call_kwargs(
    default_hints: Mapping[str, Any], default_params: Mapping[str, Any], kwargs: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Merge an adapter's defaults with one call's kwargs into ``(hints, params)`` for the `Router`.

    A kwarg named like a `RouteHints` field is a hint, ``model`` (the frameworks' per-call
    model override) is the ``tier`` hint, anything else an OpenAI-style param; per-call
    values win over defaults, and unset (``None``) values are dropped so they never
    override a tier's own settings.
    """
    hints = dict(default_hints)
    params = dict(default_params)
    for key, value in kwargs.items():
        if key in HINT_KEYS:
            hints[key] = value
        elif key == "model":
            hints["tier"] = value
        else:
            params[key] = value
    return (
        {k: v for k, v in hints.items() if v is not None},
        {k: v for k, v in params.items() if v is not None},
    )


def resolve_tool_choice(
    tool_choice: str | Mapping[str, Any] | bool | None, tool_names: Sequence[str], *, tool_required: bool = False
) -> str | dict[str, Any]:
    """Map a framework's ``tool_choice`` onto an OpenAI ``tool_choice``, checking a named tool exists.

    - a mapping passes through; ``"auto"``, ``"none"`` and ``"required"`` pass through;
    - a tool name becomes ``{"type": "function", "function": {"name": ...}}`` (it must
      name one of the tools: a typo otherwise surfaces as a provider 400 much later);
    - ``None`` / ``False`` mean ``"required"`` when ``tool_required`` is set, else ``"auto"``;
      ``True`` and ``"any"`` mean ``"required"``;
    - "must call a tool" with exactly one tool names that tool. It means the same, and
      OpenAI-compatible servers that ignore ``"required"`` (llama.cpp, some vLLM
      versions) honour a named function, so structured output via function calling
      works on them too.

    Raises:
        ValueError: ``tool_choice`` names a tool that is not among ``tool_names``.
    """
    if isinstance(tool_choice, Mapping):
        return dict(tool_choice)
    if tool_choice is None or tool_choice is False:
        choice = "required" if tool_required else "auto"
    elif tool_choice is True or tool_choice == "any":
        choice = "required"
    else:
        choice = tool_choice
    if choice == "required" and len(tool_names) == 1:
        choice = tool_names[0]
    if choice in ("auto", "none", "required"):
        return choice
    if choice not in tool_names:
        raise ValueError(f"tool_choice names {choice!r}, which is not one of the tools: {', '.join(tool_names)}")
    return {"type": "function", "function": {"name": choice}}


_PROBE = [{"role": "user", "content": "?"}]


def starting_decision(router: Router, hints: Mapping[str, Any], **params: Any) -> RouteDecision | None:
    """Return the policy's decision for a call whose content is unknown (``None``: no tier can take it).

    What an adapter reports as its model (context window, output cap, function calling)
    is the tier a call starts from. Asking `policy.decide` itself, rather than walking
    default and fallbacks by hand, keeps the tier hint, private-only sensitivity,
    capabilities and ``last_resort`` exactly as a real call sees them. Rules are left
    out: they judge a call's content (task, complexity, size), which is not known yet,
    and a placeholder prompt would match them by accident. Tier health and budgets are
    left out too: they change from call to call, and reading them would touch the ledger.
    """
    routing = router.config.routing.model_copy(update={"rules": []})
    config = router.config.model_copy(update={"routing": routing})
    msgs = list(_PROBE)
    try:
        return decide(
            config,
            router.profiles,
            msgs,
            needs=request_needs(msgs, params),
            hints=RouteHints.model_validate({k: v for k, v in hints.items() if v is not None}),
        )
    except (NoEligibleTier, TierNotAllowed):
        return None


def tools_reachable(router: Router, hints: Mapping[str, Any]) -> bool:
    """Whether a tool call with these hints has a tool-capable tier to go to (the policy's answer)."""
    probe_tool = {"type": "function", "function": {"name": "probe", "parameters": {"type": "object"}}}
    return starting_decision(router, hints, tools=[probe_tool]) is not None


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
