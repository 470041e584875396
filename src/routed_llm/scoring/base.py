"""The scorer seam: one small interface between a routing signal and the policy.

A scorer turns a call's messages into a `Score`: the probability that the
cheapest choice is not good enough (and, for scorers trained on several tiers,
each tier's predicted success). Rules, complexity bands and the threshold
strategy read it; hard constraints never do. One class per strategy, as
RouteLLM keeps one class per router, so a new signal is a new class and no
policy change.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = ["Score", "Scorer"]


@dataclass(frozen=True)
class Score:
    """A scorer's verdict on one call. Plain data, safe to log (it never quotes the prompt)."""

    value: float
    """Probability in [0, 1] that the cheap choice is not good enough; higher means "needs a stronger tier"."""
    scorer: str
    """Name of the scorer that produced it, e.g. ``"heuristic"`` or ``"learned:default@2"``."""
    tier_scores: dict[str, float] | None = None
    """Predicted success probability per tier (the scorer's tier names, cheapest first), when the scorer has them."""
    note: str | None = None
    """Why the score is not what was configured, e.g. the learned scorer failed and the heuristic stood in."""

    def __post_init__(self) -> None:
        # A NaN or out-of-range score would silently fail every comparison in the rules.
        if not (isinstance(self.value, int | float) and math.isfinite(self.value) and 0.0 <= self.value <= 1.0):
            raise ValueError(f"Score.value must be a finite number in [0, 1], got {self.value!r} from {self.scorer}")

    def describe(self) -> str:
        """Render for decision reasons, e.g. ``score 0.71 (learned:default@2)``."""
        text = f"score {self.value:.2f} ({self.scorer})"
        return f"{text}; {self.note}" if self.note else text

    def as_dict(self) -> dict[str, Any]:
        """Plain-data view for the ``score`` CLI and metadata."""
        out: dict[str, Any] = {"score": self.value, "scorer": self.scorer}
        if self.tier_scores is not None:
            out["tier_scores"] = dict(self.tier_scores)
        if self.note:
            out["note"] = self.note
        return out


@runtime_checkable
class Scorer(Protocol):
    """Messages -> `Score`. Implementations must be thread-safe and side-effect free per call."""

    @property
    def name(self) -> str:
        """Shown in every `Score` and decision reason."""
        ...

    def score(self, messages: Sequence[Mapping[str, Any]]) -> Score:
        """Score one call's OpenAI-format messages."""
        ...
