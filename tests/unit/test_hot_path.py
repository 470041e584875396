"""Per-call work that is cached or short-cut must give exactly what the slow path gives."""

from typing import Any

import litellm
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routed_llm import Router, load_config
from routed_llm.config import RuleCondition
from routed_llm.policy import _describe
from routed_llm.router import request_needs
from routed_llm.tokens import COUNTING_MODEL, count_prompt_tokens


def _litellm_count(messages: list[dict[str, Any]], tools: Any = None) -> int:
    return int(
        litellm.token_counter(
            model=COUNTING_MODEL, messages=list(messages), tools=tools, use_default_image_token_count=True
        )
    )


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]

CONVERSATIONS: list[list[dict[str, Any]]] = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "user", "content": ""}],
    [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "hi <|endoftext|> ünïcode 日本語 🙂", "name": "bob"},
    ],
    [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            ],
        }
    ],
    [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "18 C, cloudy"},
    ],
    [{"role": "user", "content": "word " * 3000 + "x" * 5000}],  # spans many 1024-character chunks
    [{"role": "developer", "content": "Answer in JSON."}, {"role": "user", "content": "List three fruits."}],
]


@pytest.mark.parametrize("tools", [None, TOOLS], ids=["no-tools", "tools"])
@pytest.mark.parametrize("messages", CONVERSATIONS, ids=lambda m: "-".join(str(x.get("role")) for x in m))
def test_prompt_count_equals_litellm_token_counter(messages: list[dict[str, Any]], tools: Any) -> None:
    assert count_prompt_tokens(messages, tools) == _litellm_count(messages, tools)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.fixed_dictionaries(
            {"role": st.sampled_from(["system", "user", "assistant"]), "content": st.text(max_size=300)},
            optional={"name": st.text(alphabet="abcdefgh_", min_size=1, max_size=8)},
        ),
        min_size=1,
        max_size=6,
    ),
    st.booleans(),
)
def test_prompt_count_equals_litellm_token_counter_on_random_text(messages: list[dict[str, Any]], tools: bool) -> None:
    assert count_prompt_tokens(messages, TOOLS if tools else None) == _litellm_count(messages, TOOLS if tools else None)


def test_prompt_count_follows_litellms_disable_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(litellm, "disable_token_counter", True)
    assert count_prompt_tokens([{"role": "user", "content": "hello there"}]) == 0


def test_prompt_counter_that_disagrees_with_litellm_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    from routed_llm import tokens as tokens_module

    monkeypatch.setattr(tokens_module._PromptCounter, "__call__", lambda self, messages, tools: -1)
    tokens_module._prompt_counter.cache_clear()
    try:
        assert tokens_module._prompt_counter() is None  # the one-time check caught it
        messages = [{"role": "user", "content": "count me through the public API"}]
        assert count_prompt_tokens(messages) == _litellm_count(messages)
    finally:
        tokens_module._prompt_counter.cache_clear()


def test_request_needs_counts_tools_and_output_cap() -> None:
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    needs = request_needs(messages, {"tools": TOOLS, "max_tokens": 64})
    assert needs.prompt_tokens == _litellm_count(messages, TOOLS)
    assert needs.tools and needs.max_output_tokens == 64


def test_rule_description_is_rendered_once_per_condition_and_matches_describe() -> None:
    conditions = [
        RuleCondition(task=["classification", "extraction"]),
        RuleCondition(complexity="complex", tools=True),
        RuleCondition(metadata={"user_tier": ["free", "trial"]}, context_tokens_over=1000),
        RuleCondition(),
    ]
    for cond in conditions:
        first = _describe(cond)
        assert first == cond.describe()
        assert _describe(cond) is first  # cached: the same string object


def test_rule_description_cache_does_not_outlive_its_condition() -> None:
    texts = set()
    for task in ("code", "reasoning", "summarization"):
        texts.add(_describe(RuleCondition(task=task)))  # each condition dies right after
    assert texts == {"task=code", "task=reasoning", "task=summarization"}


def test_decision_reason_names_the_rule_condition() -> None:
    router = Router(
        load_config(
            {
                "tiers": {
                    "local": {"models": [{"model": "openai/gpt-4.1-nano"}], "private": True},
                    "fast": {"models": [{"model": "openai/gpt-4o-mini"}]},
                },
                "routing": {"default": "fast", "rules": [{"when": {"task": "classification"}, "tier": "local"}]},
            }
        )
    )
    try:
        for _ in range(2):  # the second decision reads the cached description
            decision = router.route("Classify the sentiment of this review: great product.")
            assert decision.reason.startswith("rule 'rules[0]' (task=classification) -> local")
    finally:
        router.close()


def test_chat_model_reads_its_router_and_identity_from_the_router() -> None:
    from langchain_routed_llm import ChatRoutedLLM

    router = Router(
        {
            "tiers": {
                "local": {"models": [{"model": "openai/gpt-4.1-nano"}], "private": True},
                "premium": {"models": [{"model": "openai/gpt-4o"}, {"model": "anthropic/claude-sonnet-4-20250514"}]},
            },
            "routing": {"default": "local"},
        }
    )
    try:
        llm = ChatRoutedLLM(router=router, temperature=0.2, max_tokens=32)
        assert llm.routed is router is llm._router
        assert llm.bind(tier="premium").bound.routed is router  # type: ignore[attr-defined]
        assert llm._identifying_params == {
            "tiers": {
                "local": ["openai/gpt-4.1-nano"],
                "premium": ["openai/gpt-4o", "anthropic/claude-sonnet-4-20250514"],
            },
            "default_tier": "local",
            "tier": None,
            "temperature": 0.2,
            "max_tokens": 32,
        }
        assert llm._get_ls_params()["ls_model_name"] == "openai/gpt-4.1-nano"
        assert llm._get_ls_params(tier="premium")["ls_model_name"] == "openai/gpt-4o"
        assert llm._get_ls_params(model="nowhere")["ls_model_name"] == "nowhere"
    finally:
        router.close()
