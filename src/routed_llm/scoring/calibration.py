"""Calibration: the score threshold that sends a chosen share of traffic to the premium tier.

RouteLLM's idea: a threshold means nothing until it is tied to the user's own
traffic, so take a sample of real prompts, score them, and pick the quantile
that routes the wanted share up. Pure Python (no numpy): sorting a few thousand
floats is instant.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Calibration", "calibrate_threshold", "share_over"]

#: Decimals the threshold is rounded to in the printed config (and measured with).
DECIMALS = 4


@dataclass(frozen=True)
class Calibration:
    """A threshold for ``score_over`` and the share of the sample it sends up."""

    threshold: float
    """Route to premium when the score is strictly above this."""
    share: float
    """Share of the sample whose score is above ``threshold`` (ties can keep it off the target)."""
    target: float
    """The share asked for."""
    n: int
    """Prompts in the sample."""


def share_over(scores: Sequence[float], threshold: float) -> float:
    """Share of ``scores`` strictly above ``threshold`` (what a ``score_over`` rule sends up)."""
    return sum(1 for s in scores if s > threshold) / len(scores)


def calibrate_threshold(scores: Sequence[float], share: float) -> Calibration:
    """Return the ``score_over`` threshold that sends ``share`` of ``scores`` up.

    Among the cut points between distinct scores, the one whose share is nearest
    ``share`` wins; the threshold is the midpoint of the gap (so new prompts that
    fall between two sample scores split evenly), rounded to `DECIMALS`.

    Raises:
        ValueError: ``share`` is not strictly between 0 and 1, or ``scores`` is empty.
    """
    if not 0 < share < 1:
        raise ValueError(f"the premium share must be strictly between 0 and 1, got {share}")
    if not scores:
        raise ValueError("no scores to calibrate on: the sample is empty")
    ordered = sorted(scores)
    n = len(ordered)
    # Candidate cuts: below every score, and in each gap between distinct scores.
    candidates = [ordered[0] / 2] if ordered[0] > 0 else []
    candidates += [(low + high) / 2 for low, high in zip(ordered, ordered[1:], strict=False) if high > low]
    candidates.append((ordered[-1] + 1.0) / 2 if ordered[-1] < 1.0 else 1.0)
    best_cut, best_error = 1.0, float("inf")
    for cut in candidates:
        cut = round(cut, DECIMALS)
        error = abs((n - bisect_right(ordered, cut)) / n - share)
        if error < best_error:
            best_cut, best_error = cut, error
    return Calibration(threshold=best_cut, share=(n - bisect_right(ordered, best_cut)) / n, target=share, n=n)
