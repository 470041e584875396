"""LangChain and LlamaIndex conventions both adapters keep (no model is called here).

Config errors, token counting, serialisation without secrets, one rule for empty
input, and pre-routing metadata that names what the policy would choose.
"""

import json
import pickle
from pathlib import Path
from typing import Any

import litellm
import pytest
from langchain_core.load import dumps, loads
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, trim_messages
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.llms.routed_llm import RoutedLLM

from langchain_routed_llm import ChatRoutedLLM
from routed_llm import ConfigError, InvalidRequest, Router, load_config
from routed_llm.serialization import config_source
from routed_llm.tokens import COUNTING_MODEL

SECRET = "sk-very-secret-value-0123456789"
ADAPTERS = [ChatRoutedLLM, RoutedLLM]


def _config(**extra: Any) -> dict[str, Any]:
    return {
        "tiers": {
            "local": {
                "models": [
                    {
                        "model": "ollama_chat/llama3.2:3b",
                        "api_base": "http://127.0.0.1:9",
                        "context_window": 2048,
                        "max_tokens": 64,
                    }
                ],
                "private": True,
            },
            "cloud": {"models": [{"model": "openai/gpt-4o", "api_key": "${RL_TEST_CLOUD_KEY}"}]},
            "literal": {
                "models": [
                    {
                        "model": "groq/llama-3.3-70b-versatile",
                        "api_key": SECRET,
                        "context_window": 131072,
                        "input_cost_per_token": 5.9e-7,
                        "output_cost_per_token": 7.9e-7,
                    }
                ]
            },
        },
        "routing": {
            "default": "cloud",
            "rules": [{"name": "simple-local", "when": {"complexity": "simple"}, "tier": "local"}],
            "fallbacks": {"cloud": ["local"]},
        },
        **extra,
    }


@pytest.fixture
def cloud_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("RL_TEST_CLOUD_KEY", "sk-from-env-" + "x" * 12)
    return "sk-from-env-" + "x" * 12


# ---------------------------------------------------------------------------- config errors


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"tiers": {}, "routing": {"default": "x"}}, "tiers"),
        ({"tiers": {"a": {"models": [{"model": "openai/x"}]}}, "routing": {"default": "a"}, "tyop": 1}, "tyop"),
        ("/nonexistent/routing.yaml", "file not found"),
        (42, "config=: expected a RoutingConfig"),
    ],
)
def test_a_bad_config_raises_config_error(adapter: type, config: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        adapter(config=config)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_an_unknown_default_tier_raises_config_error(adapter: type, cloud_key: str) -> None:
    with pytest.raises(ConfigError, match="tier='nope'"):
        adapter(config=_config(), tier="nope")


# ---------------------------------------------------------------------------- token counting


def test_langchain_token_counts_are_the_policys(cloud_key: str) -> None:
    llm = ChatRoutedLLM(config=_config())
    messages = [SystemMessage("Be brief."), HumanMessage("What is the capital of France?"), AIMessage("Paris.")]
    expected = litellm.token_counter(
        model=COUNTING_MODEL,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is the capital of France?"},
            {"role": "assistant", "content": "Paris."},
        ],
    )
    assert llm.get_num_tokens_from_messages(messages) == expected
    assert llm.get_num_tokens("What is the capital of France?") == litellm.token_counter(
        model=COUNTING_MODEL, text="What is the capital of France?"
    )
    assert len(llm.get_token_ids("hello world")) == llm.get_num_tokens("hello world")
    decision = llm.routed.route([{"role": "user", "content": "What is the capital of France?"}])
    assert llm.get_num_tokens_from_messages([HumanMessage("What is the capital of France?")]) == (
        decision.needs.prompt_tokens
    )
    # trim_messages works offline with the model as its token counter
    long = [HumanMessage("word " * 200), AIMessage("ok"), HumanMessage("last question?")]
    trimmed = trim_messages(long, max_tokens=50, token_counter=llm, strategy="last")
    assert trimmed and trimmed[-1].content == "last question?" and llm.get_num_tokens_from_messages(trimmed) <= 50


# ---------------------------------------------------------------------------- serialisation


def _no_secret(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text


def test_langchain_dumps_loads_round_trip_without_secrets(cloud_key: str) -> None:
    llm = ChatRoutedLLM(config=_config(), temperature=0.2, max_tokens=32, sensitivity="internal")
    text = dumps(llm)
    _no_secret(text, SECRET, cloud_key)
    _no_secret(repr(llm), SECRET, cloud_key)
    data = json.loads(text)
    assert data["id"] == ["langchain_routed_llm", "chat_models", "ChatRoutedLLM"]
    assert data["kwargs"]["config"]["tiers"]["cloud"]["models"][0]["api_key"] == "${RL_TEST_CLOUD_KEY}"
    assert data["kwargs"]["config_secret_RL_TEST_CLOUD_KEY"] == {"lc": 1, "type": "secret", "id": ["RL_TEST_CLOUD_KEY"]}

    variable = "ROUTED_LLM_TIERS_LITERAL_MODELS_0_API_KEY"
    restored = loads(
        text,
        allowed_objects=[ChatRoutedLLM],
        valid_namespaces=["langchain_routed_llm"],
        secrets_map={"RL_TEST_CLOUD_KEY": "sk-from-map", variable: SECRET},
    )
    assert isinstance(restored, ChatRoutedLLM)
    assert (restored.temperature, restored.max_tokens, restored.sensitivity) == (0.2, 32, llm.sensitivity)
    deps = restored.routed.config.tiers
    assert deps["cloud"].models[0].api_key.get_secret_value() == "sk-from-map"
    assert deps["literal"].models[0].api_key.get_secret_value() == SECRET
    assert restored.routed.config.routing == llm.routed.config.routing


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_pickle_round_trip_keeps_references_and_carries_literal_keys_as_secrets(
    adapter: type, cloud_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pickle moves a working object between processes of one app, as LangChain's own models do."""
    llm = adapter(config=_config(), tier="cloud", max_tokens=16)
    blob = pickle.dumps(llm)
    _no_secret(blob.decode("latin-1"), cloud_key)  # a ${VAR} reference stays a reference
    monkeypatch.delenv("ROUTED_LLM_TIERS_LITERAL_MODELS_0_API_KEY", raising=False)
    restored = pickle.loads(blob)
    assert type(restored) is adapter and restored.tier == "cloud" and restored.max_tokens == 16
    assert restored.routed is not llm.routed
    assert restored.routed.config.model_dump() == llm.routed.config.model_dump()
    literal = restored.routed.config.tiers["literal"].models[0].api_key
    assert literal.get_secret_value() == SECRET  # no environment variable needed in the copy
    _no_secret(repr(restored) + repr(restored.routed.config), SECRET)


def test_llamaindex_to_dict_from_dict_round_trip_without_secrets(cloud_key: str) -> None:
    llm = RoutedLLM(config=_config(), temperature=0.3, sensitivity="internal")
    data = llm.to_dict()
    _no_secret(json.dumps(data), SECRET, cloud_key)
    assert data["config"]["tiers"]["cloud"]["models"][0]["api_key"] == "${RL_TEST_CLOUD_KEY}"
    assert "router" not in data
    restored = RoutedLLM.from_dict(data)
    assert restored.temperature == 0.3 and restored.routed.config.routing == llm.routed.config.routing
    assert restored.routed.config.tiers["cloud"].models[0].api_key.get_secret_value() == cloud_key
    # the literal secret became a reference to a variable that is not set: kept for call time
    literal = restored.routed.config.tiers["literal"].models[0].api_key.get_secret_value()
    assert literal == "${ROUTED_LLM_TIERS_LITERAL_MODELS_0_API_KEY}"


def test_config_source_keeps_references_from_a_litellm_proxy_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "gsk-" + "y" * 20)
    kosmos = Path(__file__).resolve().parents[2] / "examples" / "configs" / "seed000_kosmos.yaml"
    config = load_config(kosmos)
    source = config_source(config)
    assert source["tiers"]["groq-llama"]["models"][0]["api_key"] == "${GROQ_API_KEY}"
    assert source["budgets"]["store"].startswith("${ROUTED_LLM_LEDGER:-")
    assert load_config(source).model_dump() == config.model_dump()


# ---------------------------------------------------------------------------- empty input: one rule


@pytest.mark.parametrize(
    "messages",
    [
        "",
        "   ",
        [],
        [{"role": "user", "content": ""}],
        [{"role": "user", "content": []}],
        [{"role": "user", "content": None}],
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "  "}],
        [{"role": "user", "content": [{"type": "text", "text": " "}]}],
    ],
)
def test_the_core_refuses_empty_prompts(messages: Any, cloud_key: str) -> None:
    router = Router(_config())
    with pytest.raises(InvalidRequest, match="empty"):
        router.route(messages)


@pytest.mark.parametrize("content", [42, {"text": "hi"}, [42]])
def test_the_core_refuses_content_of_the_wrong_type(content: Any, cloud_key: str) -> None:
    with pytest.raises(InvalidRequest, match=r"messages\[0\]\.content"):
        Router(_config()).route([{"role": "user", "content": content}])


def test_tool_results_and_tool_calls_are_content(cloud_key: str) -> None:
    messages = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "w", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": ""},
    ]
    assert Router(_config()).route(messages).tier in ("local", "cloud")


@pytest.mark.parametrize(
    "call",
    [
        lambda llm: llm.invoke(""),
        lambda llm: llm.invoke([HumanMessage(content=[])]),
        lambda llm: llm.invoke([SystemMessage("Be brief."), HumanMessage("")]),
        lambda llm: list(llm.stream("")),
    ],
)
def test_langchain_entry_points_apply_the_core_rule(call: Any, cloud_key: str) -> None:
    llm = ChatRoutedLLM(config=_config())
    with pytest.raises(InvalidRequest, match="empty"):
        call(llm)


@pytest.mark.parametrize(
    "call",
    [
        lambda llm: llm.complete(""),
        lambda llm: llm.chat([ChatMessage(role=MessageRole.USER, content=None)]),
        lambda llm: llm.chat([ChatMessage(role=MessageRole.USER, content="")]),
        lambda llm: list(llm.stream_complete("   ")),
    ],
)
def test_llamaindex_entry_points_apply_the_core_rule(call: Any, cloud_key: str) -> None:
    llm = RoutedLLM(config=_config())
    with pytest.raises(InvalidRequest, match="empty"):
        call(llm)


# ---------------------------------------------------------------------------- pre-routing metadata


def test_metadata_names_what_the_policy_chooses_for_a_plain_call(cloud_key: str) -> None:
    # The default tier is "cloud", but a plain prompt is simple and the rule sends it to "local".
    chat = ChatRoutedLLM(config=_config())
    assert chat.routed.route("Hello!").tier == "local"
    assert chat._get_ls_params()["ls_model_name"] == "ollama_chat/llama3.2:3b"
    assert chat._get_ls_params(tier="cloud")["ls_model_name"] == "openai/gpt-4o"
    assert ChatRoutedLLM(config=_config(), tier="literal")._get_ls_params()["ls_model_name"] == (
        "groq/llama-3.3-70b-versatile"
    )

    meta = RoutedLLM(config=_config()).metadata
    assert (meta.model_name, meta.context_window) == ("ollama_chat/llama3.2:3b", 2048)
    meta = RoutedLLM(config=_config(), complexity="complex").metadata
    assert meta.model_name == "openai/gpt-4o" and meta.context_window > 100_000
    meta = RoutedLLM(config=_config(), sensitivity="confidential", complexity="complex").metadata
    assert meta.model_name == "ollama_chat/llama3.2:3b"  # confidential: private tiers only


def test_assistant_tool_call_and_reasoning_blocks_are_not_refused_as_content_parts() -> None:
    """LangChain's v1 output keeps tool_call / reasoning blocks in an AIMessage's content; calls are in tool_calls."""
    from routed_llm.router import normalize_messages

    call = {"id": "c1", "type": "function", "function": {"name": "add", "arguments": "{}"}}
    messages = [
        {"role": "user", "content": "add"},
        {
            "role": "assistant",
            "content": [{"type": "reasoning", "reasoning": "..."}, {"type": "tool_call", "id": "c1", "name": "add"}],
            "tool_calls": [call],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "3"},
    ]
    out = normalize_messages(messages)
    assert out[1]["content"] is None and out[1]["tool_calls"] == [call]
    assert messages[1]["content"][1]["type"] == "tool_call"  # the caller's message is untouched
