"""The policy is pure: these tests build profiles from configs and never touch the network."""

from typing import Any

import pytest

from routed_llm import (
    InvalidRequest,
    NoEligibleTier,
    RequestNeeds,
    RouteHints,
    RouterState,
    TierNotAllowed,
    UnknownTier,
    load_config,
)
from routed_llm.catalog import build_profiles
from routed_llm.policy import decide

CONFIG = load_config(
    {
        "tiers": {
            "local": {
                "models": [{"model": "ollama_chat/llama3.2:3b", "context_window": 8192}],
                "private": True,
                "latency_ms": 400,
            },
            "fast": {
                "models": [
                    {
                        "model": "groq/llama-3.3-70b-versatile",
                        "context_window": 32000,
                        "input_cost_per_token": 1e-6,
                        "output_cost_per_token": 2e-6,
                        "capabilities": {"tools": True},
                    }
                ],
                "latency_ms": 300,
            },
            "premium": {
                "models": [{"model": "anthropic/claude-sonnet-4-5"}, {"model": "openai/gpt-4o"}],
                "latency_ms": 2000,
            },
        },
        "routing": {
            "default": "fast",
            "rules": [
                {"name": "classify-local", "when": {"task": "classification"}, "tier": "local"},
                {"name": "long", "when": {"context_tokens_over": 32000}, "tier": "premium"},
                {"name": "hard", "when": {"task": "reasoning", "complexity": "complex"}, "tier": "premium"},
                {"name": "free-users", "when": {"metadata": {"user_tier": ["free", "trial"]}}, "tier": "local"},
            ],
            "fallbacks": {"premium": ["fast", "local"], "fast": ["local"]},
        },
    },
    env={},
)
PROFILES = build_profiles(CONFIG)
MSG = [{"role": "user", "content": "hello"}]


def route(
    hints: dict[str, Any] | None = None,
    needs: RequestNeeds | None = None,
    state: RouterState | None = None,
    messages: list | None = None,
):
    return decide(
        CONFIG,
        PROFILES,
        messages or MSG,
        needs=needs or RequestNeeds(prompt_tokens=10),
        hints=RouteHints(**(hints or {})),
        state=state,
    )


def test_profiles_resolve_from_litellm_and_config() -> None:
    assert PROFILES["premium"].tools is True  # both deployments support tools per LiteLLM's map
    assert PROFILES["premium"].context_window == 128000  # the smaller of 200k and 128k
    assert PROFILES["local"].tools is False  # unknown to LiteLLM, not declared
    assert PROFILES["local"].input_cost_per_token == 0.0  # private tiers are free unless priced
    assert PROFILES["premium"].input_cost_per_token > 0


def test_rule_order_first_match_wins_and_reason_names_rule() -> None:
    d = route({"task": "classification", "complexity": "complex", "sensitivity": "public"})
    assert d.tier == "local" and d.rule == "classify-local"
    assert "classify-local" in d.reason
    d = route({"task": "reasoning", "complexity": "complex", "sensitivity": "public"})
    assert d.tier == "premium" and d.fallbacks == ("fast", "local")
    assert "rule 'hard' (task=reasoning, complexity=complex) -> premium" in d.reason


def test_default_tier_when_no_rule_matches() -> None:
    d = route({"task": "chat", "complexity": "simple", "sensitivity": "public"})
    assert d.tier == "fast" and d.fallbacks == ("local",) and d.rule == "default"
    assert "default tier fast" in d.reason


def test_confidential_goes_only_to_private_even_on_fallbacks() -> None:
    d = route({"task": "reasoning", "complexity": "complex", "sensitivity": "confidential"})
    assert d.tier == "local" and d.fallbacks == ()
    assert d.excluded["premium"] == "not private (sensitivity=confidential)"
    assert "skipped premium: not private" in d.reason


def test_tier_hint_that_breaks_a_hard_constraint_is_refused() -> None:
    with pytest.raises(TierNotAllowed, match="tier 'premium' was requested but cannot serve this call"):
        route({"tier": "premium", "sensitivity": "confidential", "task": "chat", "complexity": "simple"})
    with pytest.raises(UnknownTier, match="unknown tier 'gpu'; configured tiers: local, fast, premium"):
        route({"tier": "gpu"})


def test_tools_route_only_to_tool_capable_tiers() -> None:
    d = route(
        {"task": "classification", "complexity": "simple", "sensitivity": "public"},
        needs=RequestNeeds(tools=True, prompt_tokens=10),
    )
    # the rule wants local, local cannot call tools: the rule's chain has no other tier,
    # so the first eligible tier in config order takes it, and the reason says so
    assert d.tier == "fast"
    assert d.excluded["local"] == "no tool calling (the call has tools)"
    assert "first eligible tier in config order" in d.reason


def test_no_tier_fits_names_each_constraint() -> None:
    with pytest.raises(NoEligibleTier) as e:
        route(
            {"sensitivity": "confidential", "task": "chat", "complexity": "simple"},
            needs=RequestNeeds(tools=True, prompt_tokens=10),
        )
    text = str(e.value)
    assert "local: no tool calling" in text
    assert "fast: not private" in text and "premium: not private" in text


def test_context_window_excludes_small_tiers() -> None:
    d = route(
        {"task": "chat", "complexity": "simple", "sensitivity": "public"}, needs=RequestNeeds(prompt_tokens=40000)
    )
    assert d.tier == "premium" and d.rule == "long" and d.fallbacks == ()
    assert "context window 32000 < 40000 prompt" in d.excluded["fast"]
    with pytest.raises(NoEligibleTier, match="context window"):
        route({"task": "chat"}, needs=RequestNeeds(prompt_tokens=500000))


def test_output_tokens_count_against_the_window() -> None:
    d = route(
        {"task": "chat", "complexity": "simple", "sensitivity": "public"},
        needs=RequestNeeds(prompt_tokens=31000, max_output_tokens=2000),
    )
    assert "fast" in d.excluded and d.tier == "premium"


def test_max_cost_and_latency_hints() -> None:
    d = route({"task": "reasoning", "complexity": "complex", "sensitivity": "public", "max_cost_usd": 0.0})
    assert d.tier == "local"  # only the free tier's estimate fits a zero budget
    assert "max_cost_usd" in d.excluded["premium"]
    d = route({"task": "reasoning", "complexity": "complex", "sensitivity": "public", "max_latency_ms": 500})
    assert d.tier == "fast" and d.timeout_s == 0.5
    assert "typical latency 2000 ms > max_latency_ms 500" == d.excluded["premium"]


def test_metadata_rule_matches_list_membership() -> None:
    d = route({"task": "chat", "complexity": "medium", "sensitivity": "public", "metadata": {"user_tier": "trial"}})
    assert d.tier == "local" and d.rule == "free-users"
    d = route({"task": "chat", "complexity": "medium", "sensitivity": "public", "metadata": {"user_tier": "pro"}})
    assert d.tier == "fast"


def test_unhealthy_tiers_move_to_the_back_and_closed_tiers_are_excluded() -> None:
    hints = {"task": "reasoning", "complexity": "complex", "sensitivity": "public"}
    d = route(hints, state=RouterState(unhealthy_tiers=frozenset({"premium"})))
    assert d.tiers == ("fast", "local", "premium")
    assert "tried last (recently failed): premium" in d.reason
    d = route(hints, state=RouterState(closed_tiers={"premium": "daily budget $10 spent"}))
    assert d.tiers == ("fast", "local")
    assert d.excluded["premium"] == "closed by budget (daily budget $10 spent)"


def test_inferred_hints_are_reported() -> None:
    d = route(messages=[{"role": "user", "content": "Classify the sentiment of this review: great phone"}])
    assert "task" in d.inferred and d.task.value == "classification"
    assert d.tier == "local" and "inferred task=classification" in d.reason


def test_pii_makes_a_request_confidential_unless_the_caller_says_otherwise() -> None:
    msgs = [{"role": "user", "content": "Why was card 4111 1111 1111 1111 declined? Think it through step by step."}]
    d = route(messages=msgs)
    assert d.sensitivity.value == "confidential" and d.tier == "local"
    d = route({"sensitivity": "public"}, messages=msgs)
    assert d.tier != "local" or d.rule == "classify-local"


def test_empty_messages_rejected() -> None:
    with pytest.raises(InvalidRequest, match="messages is empty"):
        decide(CONFIG, PROFILES, [], needs=RequestNeeds())


def test_bad_hint_values_are_clear() -> None:
    with pytest.raises(ValueError, match="unknown complexity 'extreme'"):
        RouteHints(complexity="extreme")


def test_routers_do_not_leak_litellm_global_callbacks() -> None:
    import litellm

    from routed_llm import Router

    before = len(litellm.callbacks) + len(litellm.success_callback) + len(litellm._async_success_callback)
    for _ in range(120):  # LiteLLM caps its callback lists at 100
        Router({"tiers": {"a": {"models": [{"model": "openai/gpt-4o"}]}}, "routing": {"default": "a"}})
    after = len(litellm.callbacks) + len(litellm.success_callback) + len(litellm._async_success_callback)
    assert after == before
