"""The scorer seam: `Score`, the heuristic scorer, loading, caching and the heuristic stand-in.

The learned scorer is replaced here by small test doubles (classes implementing the
`Scorer` protocol) where the test is about the seam, not about the trained file.
"""

import logging
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from routed_llm.classify import classify_messages
from routed_llm.errors import ConfigError
from routed_llm.scoring import (
    FallbackScorer,
    HeuristicScorer,
    Score,
    Scorer,
    clear_scorer_cache,
    load_scorer,
    open_scorer,
    route_score,
)
from routed_llm.scoring.heuristic import POINTS_AT_ONE
from routed_llm.types import RouteHints

EASY = [{"role": "user", "content": "What is the capital of France?"}]
HARD = [
    {
        "role": "user",
        "content": "Design a distributed rate limiter. Discuss the trade-offs and failure modes, "
        "prove it is correct under concurrency and cover the edge cases.",
    }
]


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    clear_scorer_cache()
    yield
    clear_scorer_cache()


class Fixed:
    """A test double: always the same score (stands in for a learned scorer)."""

    def __init__(self, value: float, name: str = "double", tier_scores: dict[str, float] | None = None) -> None:
        self.value, self.name, self.tier_scores = value, name, tier_scores
        self.calls = 0

    def score(self, messages: Sequence[Mapping[str, Any]]) -> Score:
        self.calls += 1
        return Score(self.value, self.name, self.tier_scores)


class Broken:
    name = "broken@1"

    def score(self, messages: Sequence[Mapping[str, Any]]) -> Score:
        raise RuntimeError("head weights have the wrong shape")


def test_score_rejects_values_outside_0_1() -> None:
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"Score.value must be a finite number in \[0, 1\]"):
            Score(bad, "x")
    assert Score(1.0, "x").describe() == "score 1.00 (x)"
    assert Score(0.25, "x", note="why").as_dict() == {"score": 0.25, "scorer": "x", "note": "why"}


def test_heuristic_scores_the_point_total_scaled_and_capped() -> None:
    scorer = HeuristicScorer()
    assert isinstance(scorer, Scorer)
    easy, hard = scorer.score(EASY), scorer.score(HARD)
    assert easy.value == 0.0 and easy.scorer == "heuristic" and easy.tier_scores is None
    points = classify_messages(HARD).complexity_points
    assert points >= 5 and hard.value == min(points, POINTS_AT_ONE) / POINTS_AT_ONE
    cues = "Prove it. Discuss trade-offs, failure modes, edge cases and concurrency. "
    huge = [{"role": "user", "content": cues * 3000}]
    assert scorer.score(huge).value == 1.0


def test_scores_are_deterministic() -> None:
    scorer = load_scorer("heuristic")
    assert [scorer.score(HARD) for _ in range(5)] == [scorer.score(HARD)] * 5


def test_load_scorer_builds_each_spec_once() -> None:
    assert load_scorer("heuristic") is load_scorer(" Heuristic ")
    assert load_scorer("learned") is load_scorer("learned")
    assert isinstance(load_scorer("learned"), FallbackScorer)


def test_heuristic_path_never_imports_numpy_torch_or_sklearn() -> None:
    code = (
        "import sys\n"
        "from routed_llm.scoring import load_scorer\n"
        "s = load_scorer('heuristic').score([{'role': 'user', 'content': 'prove it'}])\n"
        "bad = [m for m in ('numpy', 'torch', 'sklearn') if m in sys.modules]\n"
        "assert not bad, bad\n"
        "print(s.value)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) > 0


def test_a_scorer_that_cannot_load_is_replaced_by_the_heuristic_with_a_note(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    corrupt = tmp_path / "corrupt-scorer.npz"
    corrupt.write_bytes(b"not a scorer file")
    scorer = load_scorer(corrupt)
    with caplog.at_level(logging.WARNING, logger="routed_llm.scoring"):
        first, second = scorer.score(HARD), scorer.score(EASY)
    assert first.scorer == "heuristic" and first.value == HeuristicScorer().score(HARD).value
    assert first.note is not None and "corrupt-scorer.npz" in first.note and "heuristic used instead" in first.note
    assert second.note == first.note
    warnings = [r for r in caplog.records if "could not load" in r.getMessage()]
    assert len(warnings) == 1, "the load failure is logged once, not once per call"


def test_a_scorer_that_raises_at_score_time_falls_back_per_call(caplog: pytest.LogCaptureFixture) -> None:
    scorer = FallbackScorer("learned", Broken)
    with caplog.at_level(logging.WARNING, logger="routed_llm.scoring"):
        results = [scorer.score(HARD) for _ in range(3)]
    assert all(r.scorer == "heuristic" for r in results)
    assert (
        results[0].note == "scorer broken@1 failed (RuntimeError: head weights have the wrong shape); "
        "heuristic used instead"
    )
    assert len([r for r in caplog.records if "failed" in r.getMessage()]) == 1
    assert scorer.name == "broken@1"


def test_a_working_learned_scorer_is_loaded_once_and_used() -> None:
    built: list[Fixed] = []

    def loader() -> Scorer:
        built.append(Fixed(0.8, "learned:test@1", {"cheap": 0.3, "strong": 0.9}))
        return built[-1]

    scorer = FallbackScorer("learned", loader)
    assert scorer.name == "learned"  # nothing loaded before the first score
    assert FallbackScorer("/models/mine.npz", loader).name == "learned(mine.npz)"
    assert not built
    results = [scorer.score(EASY) for _ in range(3)]
    assert len(built) == 1 and built[0].calls == 3
    assert results[0] == Score(0.8, "learned:test@1", {"cheap": 0.3, "strong": 0.9})
    assert scorer.name == "learned:test@1"


def test_open_scorer_is_strict_and_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.npz"
    with pytest.raises(ConfigError, match="nowhere.npz"):
        open_scorer(missing)
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"\x00\x01garbage")
    with pytest.raises(ConfigError, match="corrupt.npz"):
        open_scorer(corrupt)
    assert isinstance(open_scorer("heuristic"), HeuristicScorer)


def test_route_score_computes_nothing_unless_needed() -> None:
    double = Fixed(0.4)
    assert route_score(double, EASY, hints=RouteHints(), needed=False) == (None, None)
    assert double.calls == 0
    score, classification = route_score(double, EASY, hints=RouteHints(), needed=True)
    assert score == Score(0.4, "double") and classification is not None  # the policy needs it: hints omitted
    full = RouteHints(task="chat", complexity="simple", sensitivity="public")
    assert route_score(double, EASY, hints=full, needed=True)[1] is None  # a learned scorer needs none
    score, classification = route_score(HeuristicScorer(), HARD, hints=full, needed=True)
    assert classification is not None and score is not None and score.value >= 0.5


def test_routing_on_the_heuristic_score_imports_no_numpy_or_torch() -> None:
    code = (
        "import sys\n"
        "from routed_llm import Router\n"
        "r = Router({'tiers': {'a': {'models': [{'model': 'openai/a', 'api_key': 'k'}]},\n"
        "                      'b': {'models': [{'model': 'openai/b', 'api_key': 'k'}]}},\n"
        "            'routing': {'default': 'a', 'threshold': {'chain': ['a', 'b'], 'thresholds': [0.45]}}})\n"
        "d = r.route('Prove it; discuss trade-offs, edge cases, failure modes and concurrency.',\n"
        "            {'sensitivity': 'public'})\n"
        "bad = [m for m in ('numpy', 'torch', 'sklearn') if m in sys.modules]\n"
        "assert not bad, bad\n"
        "print(d.tier, d.scorer)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["b", "heuristic"]
