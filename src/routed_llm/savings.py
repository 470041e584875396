"""Proof of savings: what every routed call would have cost on the baseline tier.

``routing.savings_baseline`` names the tier calls are compared with (default: the
dearest tier, by its first deployment's per-token prices). Each call's prompt and
completion tokens are priced at that tier's first deployment, with the same resolved
prices the engine charges (LiteLLM's price map, overridden by the config): that is
``baseline_cost_usd``, and ``saved_usd = baseline_cost_usd - cost_usd``. The cost is
what actually served the call (after a fallback, the tier that answered). A cache hit
costs nothing, so it saves the whole baseline (``saved_by: "cache"``). Shadow calls
(`routed_llm.shadow`) are extra spend of the evaluation, never of the call: they are
recorded apart (tag ``shadow``) and never reduce a call's ``saved_usd``.
"""

from __future__ import annotations

from collections.abc import Mapping

from routed_llm.catalog import DeploymentProfile, TierProfile
from routed_llm.config import RoutingConfig
from routed_llm.engine import RoutingInfo

__all__ = ["Savings", "baseline_tier"]


def _unit_price(profile: TierProfile) -> float:
    dep = profile.deployments[0]
    return dep.input_cost_per_token + dep.output_cost_per_token


def baseline_tier(config: RoutingConfig, profiles: Mapping[str, TierProfile]) -> str:
    """Return the ``routing.savings_baseline`` tier, else the dearest tier (the last listed among equals)."""
    if config.routing.savings_baseline is not None:
        return config.routing.savings_baseline
    names = list(profiles)
    return max(names, key=lambda n: (_unit_price(profiles[n]), names.index(n)))


class Savings:
    """Prices calls at the baseline tier and fills `RoutingInfo`'s savings fields."""

    def __init__(self, config: RoutingConfig, profiles: Mapping[str, TierProfile]) -> None:
        self.tier = baseline_tier(config, profiles)
        self.deployment: DeploymentProfile = profiles[self.tier].deployments[0]

    def price(self, prompt_tokens: int, completion_tokens: int) -> float:
        """USD the baseline tier's first deployment charges for these tokens."""
        return self.deployment.cost(prompt_tokens, completion_tokens)

    def apply(self, info: RoutingInfo, prompt_tokens: int | None = None, completion_tokens: int | None = None) -> None:
        """Fill ``baseline_*`` and ``saved_usd`` on ``info`` (tokens default to the call's own).

        A cache hit carries no usage of its own: pass the cached answer's tokens, which it saves whole.
        """
        prompt = info.prompt_tokens if prompt_tokens is None else prompt_tokens
        completion = info.completion_tokens if completion_tokens is None else completion_tokens
        baseline = self.price(prompt, completion)
        info.baseline_tier = self.tier
        info.baseline_cost_usd = baseline
        info.saved_usd = baseline - info.cost_usd
