"""Score-driven routing: score rules, complexity bands, the threshold strategy, and where the score shows.

Policy tests pass a `Score` straight into the pure `decide`; router tests put a
test double in `Router.scorer` (standing in for a learned scorer) and run real
LiteLLM calls with ``mock_response`` (no network).
"""

from pathlib import Path
from typing import Any

import pytest

from routed_llm import ConfigError, NoEligibleTier, RequestNeeds, RouteHints, Router, TierNotAllowed, load_config
from routed_llm.catalog import build_profiles
from routed_llm.policy import decide
from routed_llm.scoring import HeuristicScorer, Score, clear_scorer_cache
from routed_llm.types import Complexity
from tests.unit.test_scoring import Broken, Fixed

TIERS: dict[str, Any] = {
    "local": {"models": [{"model": "ollama_chat/llama3.2:3b", "context_window": 8192}], "private": True},
    "fast": {
        "models": [
            {
                "model": "groq/llama-3.3-70b-versatile",
                "context_window": 32000,
                "api_key": "k",
                "input_cost_per_token": 1e-6,
                "output_cost_per_token": 2e-6,
                "capabilities": {"tools": True},
            }
        ],
    },
    "premium": {
        "models": [
            {
                "model": "anthropic/claude-x",
                "context_window": 200000,
                "api_key": "k",
                "input_cost_per_token": 3e-6,
                "output_cost_per_token": 1.5e-5,
                "capabilities": {"tools": True},
            }
        ],
    },
}
FALLBACKS = {"premium": ["fast", "local"], "fast": ["local"]}
MSG = [{"role": "user", "content": "What is the capital of France?"}]
PUBLIC = RouteHints(sensitivity="public", task="chat")


def config(**routing: Any) -> Any:
    return load_config({"tiers": TIERS, "routing": {"default": "fast", "fallbacks": FALLBACKS, **routing}}, env={})


def route(cfg: Any, score: Score | None, hints: RouteHints = PUBLIC, needs: RequestNeeds = RequestNeeds()) -> Any:
    return decide(cfg, build_profiles(cfg), MSG, needs=needs, hints=hints, score=score)


SCORE_RULES = config(
    rules=[
        {"name": "hard", "when": {"score_over": 0.62}, "tier": "premium"},
        {"name": "easy", "when": {"score_at_most": 0.2}, "tier": "local"},
    ]
)


@pytest.mark.parametrize(
    ("value", "tier", "rule"),
    [
        (0.9, "premium", "hard"),
        (0.63, "premium", "hard"),
        (0.62, "fast", "default"),
        (0.3, "fast", "default"),
        (0.2, "local", "easy"),
        (0.0, "local", "easy"),
    ],
)
def test_rules_on_the_score_route_as_configured(value: float, tier: str, rule: str) -> None:
    d = route(SCORE_RULES, Score(value, "learned:test@1"))
    assert (d.tier, d.rule) == (tier, rule)
    assert d.score == value and d.scorer == "learned:test@1"
    assert f"score {value:.2f} (learned:test@1)" in d.reason
    if rule == "hard":
        assert "rule 'hard' (score_over=0.62) -> premium" in d.reason


def test_without_a_score_the_policy_uses_the_heuristic_score() -> None:
    d = route(SCORE_RULES, None)
    assert d.scorer == "heuristic" and d.score == 0.0 and d.tier == "local"


def test_a_tier_hint_still_wins_over_a_score_rule() -> None:
    d = route(SCORE_RULES, Score(0.99, "x"), hints=RouteHints(tier="local", sensitivity="public"))
    assert d.tier == "local" and d.rule == "hint:tier"


def test_hard_constraints_come_before_the_score() -> None:
    confidential = RouteHints(sensitivity="confidential", task="chat")
    d = route(SCORE_RULES, Score(0.99, "x"), hints=confidential)
    assert d.rule == "hard" and d.tier == "local" and d.fallbacks == ()
    assert d.excluded["premium"].startswith("not private")
    # tools: local cannot call tools, so a low score may not pick it
    d = route(SCORE_RULES, Score(0.05, "x"), needs=RequestNeeds(tools=True))
    assert d.tier != "local" and "no tool calling" in d.excluded["local"]


BANDS = config(
    complexity_from_score=[0.4, 0.7],
    rules=[
        {"name": "complex-premium", "when": {"complexity": "complex"}, "tier": "premium"},
        {"name": "medium-fast", "when": {"complexity": "medium"}, "tier": "fast"},
    ],
    default="local",
)


@pytest.mark.parametrize(
    ("value", "level", "tier"),
    [
        (0.1, Complexity.SIMPLE, "local"),
        (0.4, Complexity.MEDIUM, "fast"),
        (0.69, Complexity.MEDIUM, "fast"),
        (0.7, Complexity.COMPLEX, "premium"),
    ],
)
def test_complexity_bands_come_from_the_score(value: float, level: Complexity, tier: str) -> None:
    d = route(BANDS, Score(value, "learned:test@1"))
    assert d.complexity is level and d.tier == tier and "complexity" in d.inferred
    assert f"complexity={level.value}:" in d.reason and f"score {value:.2f}" in d.reason


def test_a_complexity_hint_beats_the_bands() -> None:
    d = route(BANDS, Score(0.95, "x"), hints=RouteHints(complexity="simple", sensitivity="public"))
    assert d.complexity is Complexity.SIMPLE and d.tier == "local"


THRESHOLD = config(threshold={"chain": ["local", "fast", "premium"], "thresholds": [0.35, 0.7]})


@pytest.mark.parametrize(
    ("value", "tier", "why"),
    [
        (0.0, "local", "score 0.00 < 0.35 -> local"),
        (0.35, "fast", "0.35 <= score 0.35 < 0.7 -> fast"),
        (0.5, "fast", "0.35 <= score 0.50 < 0.7 -> fast"),
        (0.7, "premium", "score 0.70 >= 0.7 -> premium"),
    ],
)
def test_threshold_strategy_on_a_single_score(value: float, tier: str, why: str) -> None:
    d = route(THRESHOLD, Score(value, "x"))
    assert d.tier == tier and d.rule == "threshold" and f"threshold: {why}" in d.reason
    assert d.fallbacks == tuple(FALLBACKS.get(tier, []))


def test_rules_still_come_before_the_threshold_strategy() -> None:
    cfg = config(
        rules=[{"name": "classify-local", "when": {"task": "classification"}, "tier": "local"}],
        threshold={"chain": ["local", "premium"], "thresholds": [0.5]},
    )
    assert route(cfg, Score(0.9, "x"), hints=RouteHints(task="classification", sensitivity="public")).tier == "local"
    assert route(cfg, Score(0.9, "x")).tier == "premium"


MIN_QUALITY = {"chain": ["local", "fast", "premium"], "thresholds": [0.35, 0.7], "min_quality": 0.8}


@pytest.mark.parametrize(
    ("tier_scores", "tier"),
    [
        ({"local": 0.85, "fast": 0.9, "premium": 0.95}, "local"),
        ({"local": 0.5, "fast": 0.81, "premium": 0.95}, "fast"),
        ({"local": 0.5, "fast": 0.6, "premium": 0.8}, "premium"),
    ],
)
def test_min_quality_picks_the_cheapest_tier_predicted_to_succeed(tier_scores: dict[str, float], tier: str) -> None:
    d = route(config(threshold=MIN_QUALITY), Score(0.99, "learned:3tier", tier_scores))
    assert d.tier == tier and d.tier_scores == tier_scores
    assert f"threshold: {tier} is the cheapest tier" in d.reason and ">= min_quality 0.8" in d.reason


def test_min_quality_with_no_tier_good_enough_goes_to_the_dearest() -> None:
    d = route(config(threshold=MIN_QUALITY), Score(0.1, "x", {"local": 0.1, "fast": 0.2, "premium": 0.6}))
    assert d.tier == "premium" and "no tier of" in d.reason and "best premium p=0.60" in d.reason


def test_min_quality_maps_scorer_tiers_by_position_or_explicitly() -> None:
    scorer_tiers = {"mistral-7b": 0.5, "mixtral": 0.85, "gpt-4": 0.95}
    assert route(config(threshold=MIN_QUALITY), Score(0.5, "x", scorer_tiers)).tier == "fast"  # by position
    explicit = {**MIN_QUALITY, "quality_tiers": {"local": "mixtral", "fast": "mistral-7b", "premium": "gpt-4"}}
    assert route(config(threshold=explicit), Score(0.5, "x", scorer_tiers)).tier == "local"


def test_min_quality_without_tier_scores_uses_the_thresholds_and_says_so() -> None:
    d = route(config(threshold=MIN_QUALITY), Score(0.5, "heuristic"))
    assert d.tier == "fast" and "min_quality not applied: the scorer predicts no per-tier success" in d.reason
    d = route(config(threshold=MIN_QUALITY), Score(0.8, "x", {"a": 0.9, "b": 0.9}))
    assert d.tier == "premium" and "do not map onto" in d.reason


def test_threshold_strategy_keeps_confidential_calls_private() -> None:
    cfg = config(threshold={"chain": ["local", "fast", "premium"], "thresholds": [0.35, 0.7]}, last_resort="raise")
    conf = RouteHints(sensitivity="confidential")
    assert route(cfg, Score(0.1, "x"), hints=conf).tiers == ("local",)
    with pytest.raises(NoEligibleTier):  # premium's chain has local last... drop it to prove the point
        route(
            config(threshold={"chain": ["fast", "premium"], "thresholds": [0.5]}, last_resort="raise", fallbacks={}),
            Score(0.9, "x"),
            hints=conf,
        )
    with pytest.raises(TierNotAllowed):
        route(cfg, Score(0.1, "x"), hints=RouteHints(sensitivity="confidential", tier="premium"))


@pytest.mark.parametrize(
    ("routing", "message"),
    [
        (
            {"threshold": {"chain": ["local", "fast"], "thresholds": [0.7, 0.3]}},
            r"routing\.threshold: .*thresholds: needs 1 value",
        ),
        (
            {"threshold": {"chain": ["local", "fast", "premium"], "thresholds": [0.7, 0.3]}},
            r"routing\.threshold: .*thresholds: must be strictly ascending",
        ),
        ({"threshold": {"chain": ["local", "fast"], "thresholds": [1.5]}}, r"thresholds\[0\]: must be in \[0, 1\]"),
        (
            {"threshold": {"chain": ["local", "gpu"], "thresholds": [0.5]}},
            r"routing\.threshold\.chain\[1\]: unknown tier 'gpu'",
        ),
        (
            {"threshold": {"chain": ["local", "fast"], "thresholds": [0.5], "min_quality": 0}},
            r"routing\.threshold\.min_quality: Input should be greater than 0",
        ),
        (
            {"threshold": {"chain": ["local", "fast"], "thresholds": [0.5], "quality_tiers": {"x": "y"}}},
            r"quality_tiers\.x: not a tier of the chain",
        ),
        ({"complexity_from_score": [0.7, 0.4]}, r"routing\.complexity_from_score: .*must be ascending"),
        (
            {"rules": [{"when": {"score_over": 1.2}, "tier": "premium"}]},
            r"routing\.rules\[0\]\.when\.score_over: Input should be less than or equal to 1",
        ),
        ({"scorer": "no/such/scorer.npz"}, r"routing\.scorer: .*no scorer file at 'no/such/scorer.npz'"),
    ],
)
def test_bad_score_config_names_the_field(routing: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config(**routing)


def test_scorer_file_is_relative_to_the_config_file(tmp_path: Path) -> None:
    import yaml

    (tmp_path / "my-scorer.npz").write_bytes(b"x")
    path = tmp_path / "routing.yaml"
    path.write_text(yaml.safe_dump({"tiers": TIERS, "routing": {"default": "fast", "scorer": "my-scorer.npz"}}))
    assert load_config(path).routing.scorer == str(tmp_path / "my-scorer.npz")


# ---------------------------------------------------------------- through the Router


def router(**routing: Any) -> Router:
    return Router({"tiers": TIERS, "routing": {"default": "fast", "fallbacks": FALLBACKS, **routing}})


def test_router_scores_only_when_something_reads_the_score() -> None:
    plain = router()
    plain.scorer = double = Fixed(0.9)
    assert plain.route(MSG, PUBLIC).score is None and double.calls == 0
    scored = router(rules=[{"name": "hard", "when": {"score_over": 0.62}, "tier": "premium"}])
    scored.scorer = double
    d = scored.route(MSG, PUBLIC)
    assert (d.tier, d.score, d.scorer, double.calls) == ("premium", 0.9, "double", 1)


def test_router_with_a_failing_scorer_routes_with_the_heuristic_and_says_so(tmp_path: Path) -> None:
    clear_scorer_cache()
    corrupt = tmp_path / "broken-scorer.npz"
    corrupt.write_bytes(b"definitely not npz")
    r = router(scorer=str(corrupt), threshold={"chain": ["local", "premium"], "thresholds": [0.45]})
    d = r.route(
        "Design a distributed rate limiter; discuss trade-offs, failure modes, prove it correct"
        " under concurrency and cover the edge cases.",
        PUBLIC,
    )
    assert d.scorer == "heuristic" and d.tier == "premium"
    assert "broken-scorer.npz" in d.reason and "heuristic used instead" in d.reason
    from routed_llm.scoring import FallbackScorer

    r.scorer = FallbackScorer("learned", Broken)
    d = r.route(MSG, PUBLIC)
    assert d.tier == "local" and "scorer broken@1 failed (RuntimeError" in d.reason
    clear_scorer_cache()


def test_score_reaches_langchain_and_llamaindex_metadata() -> None:
    from llama_index.core.base.llms.types import ChatMessage
    from llama_index.llms.routed_llm import RoutedLLM

    from langchain_routed_llm import ChatRoutedLLM

    r = router(rules=[{"name": "hard", "when": {"score_over": 0.5}, "tier": "premium"}])
    r.scorer = Fixed(0.75, "learned:test@1")
    hints = {"sensitivity": "public", "task": "chat"}
    msg = ChatRoutedLLM(router=r, model_kwargs={"mock_response": "ok"}, **hints).invoke("hi")
    routing = msg.response_metadata["routing"]
    assert routing["score"] == 0.75 and routing["scorer"] == "learned:test@1" and routing["tier"] == "premium"
    assert "score 0.75 (learned:test@1)" in routing["reason"]
    resp = RoutedLLM(router=r, additional_kwargs={"mock_response": "ok"}, **hints).chat(
        [ChatMessage(role="user", content="hi")]
    )
    assert resp.additional_kwargs["routing"]["score"] == 0.75
    assert resp.additional_kwargs["routing"]["scorer"] == "learned:test@1"


def test_heuristic_score_of_the_router_matches_the_scorer() -> None:
    r = router(rules=[{"when": {"score_over": 0.45}, "tier": "premium"}])
    prompt = [{"role": "user", "content": "Prove the trade-offs and edge cases of this concurrency design"}]
    d = r.route(prompt, PUBLIC)
    assert d.score == HeuristicScorer().score(prompt).value and d.scorer == "heuristic"
