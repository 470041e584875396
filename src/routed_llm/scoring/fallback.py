"""`FallbackScorer`: a learned scorer that loads on first use and never breaks a call.

Routing must not fail because a routing *signal* failed: if the learned scorer
cannot load (missing or corrupt file, numpy not installed) or raises while
scoring, the call is scored by the heuristic instead, the `Score.note` (and so
the decision's reason) says why, and a warning is logged once per scorer. The
load is attempted once; a broken file is not re-read on every call.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from routed_llm.classify import Classification, classify_messages
from routed_llm.scoring.base import Score, Scorer
from routed_llm.scoring.heuristic import HeuristicScorer

__all__ = ["FallbackScorer"]

logger = logging.getLogger("routed_llm.scoring")

_NOTE_LIMIT = 240
_UNSET: Any = object()


def _short(error: BaseException) -> str:
    """One line naming the error, short enough for a decision reason."""
    text = " ".join(str(error).split())
    if len(text) > _NOTE_LIMIT:
        text = text[: _NOTE_LIMIT - 3] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class FallbackScorer:
    """Loads ``loader()`` lazily, once; scores with it, or with the heuristic when it cannot.

    Args:
        label: what the config named (``"learned"`` or a path), shown until the scorer has loaded.
        loader: builds the real scorer; may raise anything (it is reported, not propagated).
    """

    def __init__(self, label: str, loader: Callable[[], Scorer]) -> None:
        self.label = label
        self._loader = loader
        self._scorer: Scorer | None = _UNSET
        self._load_error: str | None = None
        self._lock = threading.Lock()
        self._warned_score_failure = False
        self._heuristic = HeuristicScorer()

    @property
    def name(self) -> str:
        """The loaded scorer's name; before it loads (or if it cannot), ``learned`` or ``learned(<file name>)``."""
        scorer = self._scorer
        if scorer is not _UNSET and scorer is not None:
            return scorer.name
        return "learned" if self.label == "learned" else f"learned({os.path.basename(self.label)})"

    @property
    def load_error(self) -> str | None:
        """Why the scorer could not load (``None`` if it loaded or was not tried yet)."""
        return self._load_error

    def loaded(self) -> Scorer | None:
        """Return the real scorer, loading it on the first call; ``None`` if it cannot load."""
        scorer = self._scorer
        if scorer is not _UNSET:
            return scorer
        with self._lock:
            if self._scorer is _UNSET:
                try:
                    self._scorer = self._loader()
                except Exception as e:  # any load failure means: route with the heuristic, and say why
                    self._load_error = _short(e)
                    self._scorer = None
                    logger.warning(
                        "routing scorer %s could not load (%s); routing uses the heuristic scorer instead",
                        self.label,
                        self._load_error,
                    )
            return self._scorer

    def score(self, messages: Sequence[Mapping[str, Any]], *, classification: Classification | None = None) -> Score:
        """Score with the real scorer, or with the heuristic (``classification`` reused if given) and a note."""
        scorer = self.loaded()
        if scorer is None:
            return self._stand_in(messages, classification, f"scorer {self.label} unavailable ({self._load_error})")
        try:
            return scorer.score(messages)
        except Exception as e:  # a scorer bug must not fail the call; the note and a warning report it
            error = _short(e)
            if not self._warned_score_failure:
                self._warned_score_failure = True
                logger.warning(
                    "routing scorer %s failed (%s); those calls are scored by the heuristic", scorer.name, error
                )
            return self._stand_in(messages, classification, f"scorer {scorer.name} failed ({error})")

    def _stand_in(
        self, messages: Sequence[Mapping[str, Any]], classification: Classification | None, why: str
    ) -> Score:
        note = f"{why}; heuristic used instead"
        if classification is None:
            classification = classify_messages(list(messages))
        return self._heuristic.score_classification(classification, note=note)

    def __repr__(self) -> str:
        return f"FallbackScorer({self.label!r})"
