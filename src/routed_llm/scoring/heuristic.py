"""`HeuristicScorer`: the classifier's complexity point total as a score in [0, 1].

Free and sub-millisecond (pure Python, no numpy), so it is the default scorer and
the stand-in whenever a learned scorer cannot load or fails. The point total is
the one `routed_llm.classify.heuristic` documents (size, reasoning cues, lists,
code blocks, questions, dialogue length, tools); it is divided by
`POINTS_AT_ONE` and capped at 1. With the default cap a MEDIUM prompt (2 points)
scores 0.2 and a COMPLEX one (5 points) 0.5, so ``score_over: 0.45`` reads as
"complex by the heuristic".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from routed_llm.classify import Classification, classify_messages
from routed_llm.scoring.base import Score

__all__ = ["POINTS_AT_ONE", "HeuristicScorer"]

POINTS_AT_ONE: Final = 10
"""Complexity points that score 1.0; totals above it are capped."""


class HeuristicScorer:
    """Scores a call by the heuristic classifier's complexity point total."""

    name = "heuristic"

    def score(self, messages: Sequence[Mapping[str, Any]]) -> Score:
        """Classify ``messages`` and scale the complexity points to [0, 1]."""
        return self.score_classification(classify_messages(list(messages)))

    def score_classification(self, classification: Classification, *, note: str | None = None) -> Score:
        """Score from a classification the caller already has (the router classifies once per call)."""
        value = min(classification.complexity_points, POINTS_AT_ONE) / POINTS_AT_ONE
        return Score(value=value, scorer=self.name, note=note)

    def __repr__(self) -> str:
        return "HeuristicScorer()"
