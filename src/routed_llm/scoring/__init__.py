"""Routing scores: how much a call needs a stronger tier, behind one small interface.

``routing.scorer`` in the config names the strategy:

- ``"heuristic"`` (default): `HeuristicScorer`, the classifier's complexity points scaled to [0, 1];
  pure Python, sub-millisecond, never imports numpy.
- ``"learned"``: the learned scorer packaged with routed-llm (`routed_llm.scoring.learned`).
- a path: a scorer file written by ``routed-llm train`` (or ``LearnedScorer.save``).

`load_scorer` returns one scorer per spec per process (cached), and a learned one
loads lazily on its first score. If it cannot load or fails at score time, the
call is scored by the heuristic and the score's note says so (`FallbackScorer`).
`open_scorer` is the strict variant for tools (the CLI): it loads now and raises
`ConfigError` naming the file.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from routed_llm.classify import Classification, classify_messages
from routed_llm.errors import ConfigError
from routed_llm.scoring.base import Score, Scorer
from routed_llm.scoring.fallback import FallbackScorer
from routed_llm.scoring.heuristic import HeuristicScorer

__all__ = [
    "BUILTIN_SCORERS",
    "FallbackScorer",
    "HeuristicScorer",
    "Score",
    "Scorer",
    "clear_scorer_cache",
    "load_scorer",
    "normalize_spec",
    "open_scorer",
    "route_score",
    "score_call",
]

BUILTIN_SCORERS = ("heuristic", "learned")
"""Scorer names ``routing.scorer`` accepts besides a path to a scorer file."""

_cache: dict[str, Scorer] = {}
_cache_lock = threading.Lock()


def normalize_spec(spec: str | os.PathLike[str]) -> str:
    """``"heuristic"``, ``"learned"``, or the absolute path of a scorer file (the cache key)."""
    text = os.fspath(spec).strip()
    if text.lower() in BUILTIN_SCORERS:
        return text.lower()
    if not text:
        raise ConfigError("  - routing.scorer: is empty; use heuristic, learned, or the path of a scorer file")
    return str(Path(text).expanduser().resolve())


def _learned_module() -> Any:
    """``routed_llm.scoring.learned``, imported on first use: it imports numpy."""
    return importlib.import_module("routed_llm.scoring.learned")


def _load_learned(spec: str) -> Scorer:
    """Load the learned scorer ``spec`` names; every failure is a `ConfigError` naming the file."""
    try:
        learned = _learned_module()
    except ImportError as e:
        raise ConfigError(
            f"  - routing.scorer {spec!r}: the learned scorer cannot be imported ({e}); "
            "it needs numpy (pip install numpy), or use scorer: heuristic",
        ) from e
    scorer: Scorer = learned.LearnedScorer.load(None if spec == "learned" else spec)
    return scorer


def load_scorer(spec: str | os.PathLike[str] = "heuristic") -> Scorer:
    """Return the scorer for ``spec``, built once per process; a learned one loads on first use and falls back.

    Never raises for a learned scorer that cannot load: its calls are scored by the
    heuristic with a note (see `FallbackScorer`). Raises `ConfigError` only for an empty spec.
    """
    key = normalize_spec(spec)
    scorer = _cache.get(key)
    if scorer is not None:
        return scorer
    with _cache_lock:
        if key not in _cache:
            _cache[key] = HeuristicScorer() if key == "heuristic" else FallbackScorer(key, lambda: _load_learned(key))
        return _cache[key]


def open_scorer(spec: str | os.PathLike[str] = "heuristic") -> Scorer:
    """Load ``spec`` now, with no fallback: for tools that must report a broken scorer file.

    Raises:
        ConfigError: the file is missing, corrupt, of another version, or numpy is missing.
    """
    key = normalize_spec(spec)
    if key == "heuristic":
        return load_scorer(key)
    cached = _cache.get(key)
    if isinstance(cached, FallbackScorer) and cached.load_error is None:
        loaded = cached.loaded()
        if loaded is not None:
            return loaded
    return _load_learned(key)


def clear_scorer_cache() -> None:
    """Forget every loaded scorer (after replacing a scorer file in a long-running process, and in tests)."""
    with _cache_lock:
        _cache.clear()


def score_call(
    scorer: Scorer, messages: Sequence[Mapping[str, Any]], *, classification: Classification | None = None
) -> Score:
    """Score one call, reusing ``classification`` where the heuristic needs one (it is the costly part)."""
    if classification is not None:
        if isinstance(scorer, HeuristicScorer):
            return scorer.score_classification(classification)
        if isinstance(scorer, FallbackScorer):
            return scorer.score(messages, classification=classification)
    return scorer.score(messages)


def route_score(
    scorer: Scorer,
    messages: Sequence[Mapping[str, Any]],
    *,
    hints: Any,
    needed: bool,
    classification: Classification | None = None,
) -> tuple[Score | None, Classification | None]:
    """Return the score the router hands to the policy (``None`` if not needed) and the classification.

    ``needed``: something reads the score (a score rule, bands, the threshold strategy,
    telemetry or ``explain``); otherwise nothing is computed. A ``classification`` the
    router already made (e.g. with tool definitions in view) is reused and returned;
    otherwise one is computed here only when the policy needs it anyway (an omitted
    hint) or the heuristic scores the call, so no call is classified twice.
    """
    if not needed:
        return None, classification
    if classification is None and (
        hints.task is None
        or hints.complexity is None
        or hints.sensitivity is None
        or isinstance(scorer, HeuristicScorer)
    ):
        classification = classify_messages(list(messages))
    return score_call(scorer, messages, classification=classification), classification


def __getattr__(name: str) -> Any:
    # ``from routed_llm.scoring import LearnedScorer`` imports numpy only when asked for.
    if name in ("LearnedScorer", "train_scorer"):
        return getattr(_learned_module(), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
