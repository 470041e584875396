"""`RoutingConfig`: the whole routing policy, and the checks that span its sections (tier references)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, PrivateAttr, model_validator

from routed_llm.config._base import _Strict
from routed_llm.config.embeddings import EmbeddingsConfig
from routed_llm.config.routing import RouterSettings, RoutingSection
from routed_llm.config.services import BudgetsConfig, CacheConfig, TelemetryConfig
from routed_llm.config.shadow import EXACT_JUDGE
from routed_llm.config.tiers import Tier


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
        if self.routing.savings_baseline is not None:
            check("routing.savings_baseline", self.routing.savings_baseline)
        shadow = self.routing.shadow
        if shadow is not None:
            if shadow.tier is not None:
                check("routing.shadow.tier", shadow.tier)
            if shadow.judge is not None and shadow.judge != EXACT_JUDGE:
                check("routing.shadow.judge", shadow.judge)
        for tier, chain in self.routing.fallbacks.items():
            check(f"routing.fallbacks.{tier}", tier)
            for j, fb in enumerate(chain):
                check(f"routing.fallbacks.{tier}[{j}]", fb)
                if fb == tier:
                    problems.append(f"routing.fallbacks.{tier}[{j}]: a tier cannot fall back to itself")
        order = self.routing.sessions.order
        if order is not None:
            for j, name in enumerate(order):
                check(f"routing.sessions.order[{j}]", name)
            left_out = [t for t in known if t not in order]
            if left_out or len(set(order)) != len(order):
                problems.append(
                    "routing.sessions.order: must list every tier once, cheapest first "
                    f"(left out: {', '.join(left_out) or 'none'}; got {order})"
                )
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
