"""What each tier and deployment can do and costs, resolved once from config + LiteLLM.

The policy must be pure and fast, so it never asks LiteLLM's model map itself:
this module resolves capabilities, context windows and prices once, when a
`Router` is built, into small frozen profiles the policy reads.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from routed_llm.config import LOCAL_PROVIDERS, Deployment, RoutingConfig
from routed_llm.errors import ConfigError
from routed_llm.local_models import local_model_spec

__all__ = ["DeploymentProfile", "TierProfile", "build_profiles"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeploymentProfile:
    """Resolved facts about one deployment."""

    id: str
    """Stable id ``<tier>/<index>`` (LiteLLM's ``model_info.id``)."""
    model: str
    tools: bool
    json_schema: bool
    vision: bool
    context_window: int
    input_cost_per_token: float
    output_cost_per_token: float
    max_output_tokens: int | None
    cache_read_cost_per_token: float | None = None
    """USD per prompt token served from the provider's prompt cache (``None``: the input price)."""

    def cost(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> float:
        """USD cost of a call with these token counts; ``cached_tokens`` of the prompt at the cache-read rate."""
        cached = min(max(cached_tokens, 0), prompt_tokens)
        read = self.input_cost_per_token if self.cache_read_cost_per_token is None else self.cache_read_cost_per_token
        return (
            (prompt_tokens - cached) * self.input_cost_per_token
            + cached * read
            + completion_tokens * self.output_cost_per_token
        )


@dataclass(frozen=True, slots=True)
class TierProfile:
    """Resolved facts about a tier: what *every* deployment in it can do (the conservative view).

    LiteLLM may send a call to any deployment of the tier, so a tier supports a
    capability only if all its deployments do, fits a prompt only if the smallest
    window does, and is priced at its dearest deployment for estimates.
    """

    name: str
    private: bool
    tools: bool
    json_schema: bool
    vision: bool
    context_window: int
    input_cost_per_token: float
    output_cost_per_token: float
    max_output_tokens: int | None
    latency_ms: int | None
    deployments: tuple[DeploymentProfile, ...]

    @property
    def models(self) -> tuple[str, ...]:
        """LiteLLM model strings of the tier's deployments."""
        return tuple(d.model for d in self.deployments)

    def estimate_cost(self, prompt_tokens: int, output_tokens: int) -> float:
        """Worst-case USD cost of a call on this tier."""
        return prompt_tokens * self.input_cost_per_token + output_tokens * self.output_cost_per_token


@functools.cache
def _bundled_model_cost() -> Mapping[str, Any] | None:
    """LiteLLM's bundled price/context map, read as a file; ``None`` if it cannot be found.

    Importing LiteLLM takes seconds, and a routing decision needs only this table,
    so the JSON LiteLLM loads at import (``LITELLM_LOCAL_MODEL_COST_MAP``) is read
    directly, finalised the way LiteLLM finalises it (its ``fallback_generalizations``
    block dropped, ``aliases`` expanded into entries of their own).
    """
    from routed_llm.tokens import litellm_package_dir

    package = litellm_package_dir()
    if package is None:
        return None
    try:
        table = json.loads((package / "model_prices_and_context_window_backup.json").read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(table, dict):
        return None
    table.pop("fallback_generalizations", None)
    aliases: dict[str, Any] = {}
    for entry in table.values():
        if isinstance(entry, dict) and isinstance(entry.get("aliases"), list):
            for alias in entry.pop("aliases"):
                if alias not in table:
                    aliases[alias] = entry
    table.update(aliases)
    return table


def _model_cost() -> Mapping[str, Any]:
    """Return the price/context map LiteLLM uses: its live ``model_cost`` once imported, else the bundled file.

    LiteLLM reads the bundled file unless ``LITELLM_LOCAL_MODEL_COST_MAP`` is turned
    off (then it downloads the map); only then is LiteLLM imported here.
    """
    if "litellm" not in sys.modules and os.getenv("LITELLM_LOCAL_MODEL_COST_MAP", "").lower() == "true":
        bundled = _bundled_model_cost()
        if bundled is not None:
            return bundled
    import litellm

    return litellm.model_cost


def _needs_model_map(dep: Deployment) -> bool:
    """Whether the config leaves any fact about ``dep`` to LiteLLM's map."""
    caps = dep.capabilities
    return (
        dep.context_window is None
        or dep.input_cost_per_token is None
        or dep.output_cost_per_token is None
        or None in (caps.tools, caps.json_schema, caps.vision)
    )


def _model_info(dep: Deployment) -> dict[str, Any]:
    """LiteLLM's static facts about a model (its bundled price/context map); ``{}`` if unknown.

    This reads the map directly instead of ``litellm.get_model_info``, which for
    some providers (Ollama, Hugging Face) asks the server over the network:
    building a router must never block on a host that is down.
    """
    if dep.provider == "routed-local":
        # The embedded models' abilities are known without loading them (routed_llm.local_models).
        spec = local_model_spec(dep.model)
        return {"supports_function_calling": spec.tools, "supports_response_schema": spec.json_schema}
    if dep.provider in LOCAL_PROVIDERS or not _needs_model_map(dep):
        return {}
    table = _model_cost()
    bare = dep.model.split("/", 1)[1] if "/" in dep.model else dep.model
    for key in (dep.model, bare):
        if key in table:
            return dict(table[key])
    return {}


@functools.cache
def _known_providers() -> frozenset[str] | None:
    """LiteLLM's provider prefixes, read from its files without importing it.

    Its ``LlmProviders`` enum plus the OpenAI-compatible providers it configures in
    ``llms/openai_like/providers.json``. ``None`` when the enum cannot be found (a
    LiteLLM that moved it): then no model string is refused, rather than a valid one
    refused wrongly.
    """
    from routed_llm.tokens import litellm_package_dir

    package = litellm_package_dir()
    if package is None:
        return None
    try:
        source = (package / "types" / "utils.py").read_text()
    except OSError:
        return None
    block = re.search(r"^class LlmProviders\(str, Enum\):\n((?:[ \t]+.*\n|\n)+)", source, re.MULTILINE)
    if block is None:
        return None
    values = set(re.findall(r'^[ \t]+[A-Z0-9_]+ = "([^"]+)"', block.group(1), re.MULTILINE))
    try:
        values |= set(json.loads((package / "llms" / "openai_like" / "providers.json").read_text()))
    except (OSError, ValueError, TypeError):
        pass
    return frozenset(values) or None


def _custom_providers() -> set[str]:
    """Return the providers registered at run time (``litellm.custom_provider_map``), if LiteLLM is already imported."""
    litellm = sys.modules.get("litellm")
    entries = getattr(litellm, "custom_provider_map", None) or []
    return {str(e.get("provider")) for e in entries if isinstance(e, dict)}


def _check_provider(tier_name: str, index: int, dep: Deployment) -> None:
    """Refuse a model string LiteLLM cannot resolve to a provider (``model: fast``), naming the field.

    Otherwise the mistake surfaces only at call time, as a LiteLLM error about
    "LLM Provider NOT provided". Nothing here touches the network.
    """
    if dep.params.get("custom_llm_provider") or dep.provider in LOCAL_PROVIDERS:
        return
    providers = _known_providers()
    if providers is None:
        return
    field = f"tiers.{tier_name}.models[{index}].model"

    def known() -> bool:  # the price map names its provider (read only when needed: it may import LiteLLM)
        return bool((_model_cost().get(dep.model) or {}).get("litellm_provider"))

    if "/" in dep.model:
        if dep.provider not in providers and dep.provider not in _custom_providers() and not known():
            raise ConfigError(
                f"  - {field}: {dep.model!r}: {dep.provider!r} is not a LiteLLM provider. Write "
                "<provider>/<model>, e.g. openai/gpt-4o, groq/llama-3.3-70b-versatile or ollama_chat/llama3.2:3b "
                "(or set params.custom_llm_provider)"
            )
        return
    if not known():
        raise ConfigError(
            f"  - {field}: {dep.model!r} names no provider and is not a model LiteLLM knows. Write "
            f"<provider>/<model>, e.g. openai/{dep.model} or ollama_chat/{dep.model} "
            "(or set params.custom_llm_provider)"
        )


def _resolve_deployment(
    tier_name: str, index: int, dep: Deployment, *, private: bool, default_window: int
) -> DeploymentProfile:
    info = _model_info(dep)
    caps = dep.capabilities

    def cap(value: bool | None, key: str) -> bool:
        return bool(info.get(key)) if value is None else value

    window = dep.context_window or info.get("max_input_tokens") or info.get("max_tokens") or default_window
    local = private or dep.provider in LOCAL_PROVIDERS
    # Private/local tiers cost nothing per call unless the user prices them.
    in_cost = dep.input_cost_per_token
    if in_cost is None:
        in_cost = 0.0 if local else float(info.get("input_cost_per_token") or 0.0)
    out_cost = dep.output_cost_per_token
    if out_cost is None:
        out_cost = 0.0 if local else float(info.get("output_cost_per_token") or 0.0)
    if not local and in_cost == 0 and out_cost == 0 and dep.input_cost_per_token is None:
        logger.warning(
            "tier %r model %r has no price in LiteLLM's price map and no price override; "
            "its cost is reported as 0. Set input_cost_per_token/output_cost_per_token.",
            tier_name,
            dep.model,
        )
    return DeploymentProfile(
        id=f"{tier_name}/{index}",
        model=dep.model,
        tools=cap(caps.tools, "supports_function_calling"),
        json_schema=cap(caps.json_schema, "supports_response_schema"),
        vision=cap(caps.vision, "supports_vision"),
        context_window=int(window),
        input_cost_per_token=in_cost,
        output_cost_per_token=out_cost,
        max_output_tokens=dep.max_tokens,
        cache_read_cost_per_token=_cache_read_cost(dep, info, in_cost, local),
    )


def _cache_read_cost(dep: Deployment, info: Mapping[str, Any], in_cost: float, local: bool) -> float | None:
    """Return the cache-read price: the config's, else LiteLLM's if the input price is LiteLLM's too, else ``None``."""
    if dep.cache_read_input_token_cost is not None:
        return dep.cache_read_input_token_cost
    if local or dep.input_cost_per_token is not None:
        return None  # a priced-by-hand deployment is not mixed with the map's cache rate
    value = info.get("cache_read_input_token_cost")
    return float(value) if isinstance(value, int | float) and value <= in_cost else None


def build_profiles(config: RoutingConfig) -> dict[str, TierProfile]:
    """Resolve every tier of ``config`` into a `TierProfile` (config order preserved)."""
    profiles: dict[str, TierProfile] = {}
    default_window = config.routing.default_context_window
    for name, tier in config.tiers.items():
        for i, d in enumerate(tier.models):
            _check_provider(name, i, d)
        deps = tuple(
            _resolve_deployment(name, i, d, private=tier.private, default_window=default_window)
            for i, d in enumerate(tier.models)
        )
        caps = [d.max_output_tokens for d in deps if d.max_output_tokens is not None]
        profiles[name] = TierProfile(
            name=name,
            private=tier.private,
            tools=all(d.tools for d in deps),
            json_schema=all(d.json_schema for d in deps),
            vision=all(d.vision for d in deps),
            context_window=min(d.context_window for d in deps),
            input_cost_per_token=max(d.input_cost_per_token for d in deps),
            output_cost_per_token=max(d.output_cost_per_token for d in deps),
            max_output_tokens=min(caps) if caps else None,
            latency_ms=tier.latency_ms,
            deployments=deps,
        )
    return profiles
