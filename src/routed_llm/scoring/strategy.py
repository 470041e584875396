"""Pure functions that turn a `Score` into routing facts: complexity bands and the threshold strategy.

The policy calls them after the hard constraints are known and before it picks
a chain; they never see the request, only the score, so they cannot weaken a
constraint. Each returns the text the decision's reason shows.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping

from routed_llm.config import ThresholdStrategy
from routed_llm.scoring.base import Score
from routed_llm.types import Complexity

__all__ = ["complexity_from_score", "quality_map", "threshold_tier"]


def complexity_from_score(score: Score, bands: tuple[float, float]) -> tuple[Complexity, str]:
    """``[t_medium, t_complex]`` -> the level ``score`` falls in (lower bounds inclusive), and a signal."""
    medium, complex_ = bands
    if score.value >= complex_:
        return Complexity.COMPLEX, f"complexity=complex: score {score.value:.2f} >= {complex_}"
    if score.value >= medium:
        return Complexity.MEDIUM, f"complexity=medium: {medium} <= score {score.value:.2f} < {complex_}"
    return Complexity.SIMPLE, f"complexity=simple: score {score.value:.2f} < {medium}"


def quality_map(strategy: ThresholdStrategy, tier_scores: Mapping[str, float]) -> dict[str, str] | None:
    """Map each chain tier to the scorer tier predicting it (`ThresholdStrategy.quality_tiers`).

    Returns ``None`` when the scorer's tiers cannot stand for the chain.
    """
    chain = strategy.chain
    if strategy.quality_tiers is not None:
        mapping = {tier: strategy.quality_tiers.get(tier, tier) for tier in chain}
    elif all(tier in tier_scores for tier in chain):
        mapping = {tier: tier for tier in chain}
    elif len(tier_scores) == len(chain):
        mapping = dict(zip(chain, tier_scores, strict=True))
    else:
        return None
    return mapping if all(name in tier_scores for name in mapping.values()) else None


def threshold_tier(strategy: ThresholdStrategy, score: Score) -> tuple[str, str]:
    """Return the tier of ``strategy.chain`` the score selects, and why (for the decision's reason)."""
    chain = strategy.chain
    note = ""
    if strategy.min_quality is not None:
        mapping = quality_map(strategy, score.tier_scores) if score.tier_scores else None
        if mapping is not None and score.tier_scores is not None:
            bar = strategy.min_quality
            predicted = {tier: score.tier_scores[mapping[tier]] for tier in chain}
            for tier in chain:
                if predicted[tier] >= bar:
                    return tier, (
                        f"threshold: {tier} is the cheapest tier of {chain} predicted to succeed"
                        f" (p={predicted[tier]:.2f} >= min_quality {bar})"
                    )
            best = max(predicted, key=predicted.__getitem__)
            return chain[-1], (
                f"threshold: no tier of {chain} is predicted to reach min_quality {bar}"
                f" (best {best} p={predicted[best]:.2f}); using the dearest, {chain[-1]}"
            )
        note = (
            " (min_quality not applied: the scorer predicts no per-tier success)"
            if not score.tier_scores
            else f" (min_quality not applied: the scorer's tiers {list(score.tier_scores)} do not map onto {chain};"
            " set routing.threshold.quality_tiers)"
        )
    bounds = strategy.thresholds
    i = bisect_right(bounds, score.value)
    value = f"score {score.value:.2f}"
    if i == 0:
        why = f"{value} < {bounds[0]}"
    elif i == len(bounds):
        why = f"{value} >= {bounds[-1]}"
    else:
        why = f"{bounds[i - 1]} <= {value} < {bounds[i]}"
    return chain[i], f"threshold: {why} -> {chain[i]}{note}"
