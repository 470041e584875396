"""RoutedLLM against a real llama.cpp server (Gemma 3 270M, a base model: replies are gibberish).

The default run replays cassettes recorded from that server; re-record with
``pytest tests/integration/test_llamaindex_llm.py --record-mode=rewrite`` (the
``llama_base_url`` fixture then starts ``llama_cpp.server`` on the fixed port).

Facts about this server the tests rely on: it returns real ``tool_calls`` when
``tool_choice`` names a function and ignores tools under ``"auto"``, so tool tests
force the tool (by name, or through ``tool_required`` with one tool, which the
adapter maps to the named function); streaming ignores ``include_usage``, so
streamed usage is the core's own count. Requests to the failing endpoints of
``faulty_server`` are never recorded: they always go to the real local server.
"""

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import pytest
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ChatMessage, MessageRole, ToolCallBlock
from llama_index.core.callbacks import CallbackManager, LlamaDebugHandler
from llama_index.core.prompts import PromptTemplate
from llama_index.core.tools import FunctionTool
from llama_index.llms.routed_llm import RoutedLLM
from pydantic import BaseModel

from langchain_routed_llm import ChatRoutedLLM
from routed_llm import Router
from tests.servers.fixtures import FaultyServerFactory, llama_port

pytestmark = pytest.mark.vcr

MAX_TOKENS = 16


def _only_llama(request: Any) -> Any:
    """Record (and replay) only the llama server; anything else is real every run."""
    return request if urlparse(request.uri).port == llama_port() else None


@pytest.fixture(scope="module")
def vcr_config(vcr_config: dict[str, Any]) -> dict[str, Any]:
    return {**vcr_config, "before_record_request": _only_llama}


def gemma(base_url: str, model: str = "openai/gemma-3-270m") -> dict[str, Any]:
    return {
        "models": [
            {
                "model": model,
                "api_base": base_url,
                "api_key": "sk-test",
                "max_tokens": MAX_TOKENS,
                "context_window": 2048,
                "capabilities": {"tools": True},
            }
        ],
        "private": True,
    }


@pytest.fixture
def llm(llama_base_url: str) -> RoutedLLM:
    return RoutedLLM(config={"tiers": {"local": gemma(llama_base_url)}, "routing": {"default": "local"}})


def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"It is sunny in {city}."


WEATHER = FunctionTool.from_defaults(get_weather)
QUESTION = "What is the weather in Paris?"


def user(text: str) -> ChatMessage:
    return ChatMessage(role=MessageRole.USER, content=text)


def assert_routed_usage(kw: dict[str, Any], tier: str = "local") -> None:
    assert 0 < kw["completion_tokens"] <= MAX_TOKENS
    assert kw["prompt_tokens"] > 0
    assert kw["total_tokens"] == kw["prompt_tokens"] + kw["completion_tokens"]
    routing = kw["routing"]
    assert routing["tier"] == tier and routing["model"] == "openai/gemma-3-270m"
    assert routing["deployment"] == f"{tier}/0" and routing["attempts"] == []
    assert (routing["prompt_tokens"], routing["completion_tokens"]) == (kw["prompt_tokens"], kw["completion_tokens"])
    assert routing["cost_usd"] == 0.0  # a private tier without prices is free


# ---------------------------------------------------------------------------- chat & completion


def test_chat(llm: RoutedLLM) -> None:
    resp = llm.chat([ChatMessage(role=MessageRole.SYSTEM, content="You are terse."), user("Name a colour.")])
    assert resp.message.role == MessageRole.ASSISTANT
    assert isinstance(resp.message.content, str) and resp.message.content.strip()
    assert_routed_usage(resp.additional_kwargs)
    assert resp.additional_kwargs["routing"]["rule"] == "default"
    assert resp.additional_kwargs["finish_reason"] == "length"  # a base model runs into the cap
    # raw is the LiteLLM response as a dict, and agrees with what we extracted
    assert resp.raw["choices"][0]["message"]["content"] == resp.message.content
    assert resp.raw["usage"]["completion_tokens"] == resp.additional_kwargs["completion_tokens"] == MAX_TOKENS


def test_stream_chat(llm: RoutedLLM) -> None:
    items = list(llm.stream_chat([user("Tell me a story.")]))
    assert len(items) > 2
    text = "".join(r.delta or "" for r in items)
    assert text.strip() and items[-1].message.content == text
    assert all("routing" not in r.additional_kwargs for r in items[:-1])
    assert_routed_usage(items[-1].additional_kwargs)  # the server sent no usage: the core counted it
    assert isinstance(items[0].raw, dict) and items[0].raw["object"] == "chat.completion.chunk"


def test_complete_with_hints(llm: RoutedLLM) -> None:
    resp = llm.complete("Say hello.", tier="local", task="chat", complexity="simple")
    assert resp.text.strip()
    routing = resp.additional_kwargs["routing"]
    assert (routing["rule"], routing["task"], routing["complexity"]) == ("hint:tier", "chat", "simple")
    assert_routed_usage(resp.additional_kwargs)


def test_stream_complete(llm: RoutedLLM) -> None:
    items = list(llm.stream_complete("Once upon a time"))
    assert items[-1].text == "".join(r.delta or "" for r in items) != ""
    assert_routed_usage(items[-1].additional_kwargs)


async def test_achat_and_acomplete(llm: RoutedLLM) -> None:
    resp = await llm.achat([user("Name a fruit.")])
    assert resp.message.content and resp.additional_kwargs["routing"]["tier"] == "local"
    assert_routed_usage(resp.additional_kwargs)
    comp = await llm.acomplete("Name an animal.")
    assert comp.text.strip()
    assert_routed_usage(comp.additional_kwargs)


async def test_astream_chat_and_astream_complete(llm: RoutedLLM) -> None:
    items = [r async for r in await llm.astream_chat([user("Tell me a story.")])]
    assert len(items) > 2 and items[-1].message.content == "".join(r.delta or "" for r in items)
    assert_routed_usage(items[-1].additional_kwargs)
    comp = [r async for r in await llm.astream_complete("Once upon a time")]
    assert comp[-1].text.strip()
    assert_routed_usage(comp[-1].additional_kwargs)


# ---------------------------------------------------------------------------- tools


def test_predict_and_call(llm: RoutedLLM) -> None:
    out = llm.predict_and_call([WEATHER], QUESTION, tool_choice="get_weather")
    [source] = out.sources
    assert source.tool_name == "get_weather" and not source.is_error
    city = source.raw_input["kwargs"]["city"]
    assert isinstance(city, str) and city.strip()
    assert out.response == f"It is sunny in {city}."  # the tool really ran on the model's arguments


def test_chat_with_tools_required_names_the_single_tool(llm: RoutedLLM) -> None:
    # llama.cpp ignores tool_choice="required"; with one tool the adapter names it, so the call is forced
    resp = llm.chat_with_tools([WEATHER], QUESTION, tool_required=True)
    [block] = [b for b in resp.message.blocks if isinstance(b, ToolCallBlock)]
    assert block.tool_name == "get_weather" and block.tool_call_id
    [call] = llm.get_tool_calls_from_response(resp)
    assert set(call.tool_kwargs) == {"city"}
    assert resp.additional_kwargs["routing"]["tier"] == "local"


def test_stream_chat_with_tools(llm: RoutedLLM) -> None:
    items = list(llm.stream_chat_with_tools([WEATHER], QUESTION, tool_choice="get_weather"))
    # the server streams the arguments in fragments; the last response holds them all, reassembled
    pieces = "".join(
        tc["function"]["arguments"] or ""
        for r in items[:-1]
        for tc in r.raw["choices"][0]["delta"].get("tool_calls") or []
    )
    assert len(pieces) > 2
    [block] = [b for b in items[-1].message.blocks if isinstance(b, ToolCallBlock)]
    try:
        expected: Any = json.loads(pieces)
    except ValueError:  # a base model may run into max_tokens mid-argument: kept raw, not lost
        expected = pieces
    assert block.tool_kwargs == expected
    [call] = llm.get_tool_calls_from_response(items[-1])
    assert call.tool_name == "get_weather" and set(call.tool_kwargs) == {"city"}
    assert call.tool_id == block.tool_call_id and call.tool_id.startswith("call_")
    assert items[-1].additional_kwargs["routing"]["tier"] == "local"


class City(BaseModel):
    """A city someone asked about."""

    name: str


def test_structured_predict_through_function_calling(llm: RoutedLLM) -> None:
    # LlamaIndex picks its function-calling program because the metadata says tools are reachable;
    # that program sends tool_required=True with one tool, which the adapter turns into a named tool_choice.
    assert llm.metadata.is_function_calling_model
    city = llm.structured_predict(
        City, PromptTemplate("Which city is the Eiffel Tower in?"), llm_kwargs={"max_tokens": 32, "temperature": 0.0}
    )
    assert isinstance(city, City) and city.name.strip()


@pytest.mark.parametrize("streaming", [False, True], ids=["achat", "astream_chat"])
async def test_function_agent_loop(llama_base_url: str, streaming: bool) -> None:
    debug = LlamaDebugHandler()
    llm = RoutedLLM(
        config={"tiers": {"local": gemma(llama_base_url)}, "routing": {"default": "local"}},
        callback_manager=CallbackManager([debug]),
        temperature=0.0,  # greedy: the same loop on every re-recording
        max_tokens=32,  # room for the whole JSON arguments (the tier's own cap is 16)
    )
    agent = FunctionAgent(tools=[WEATHER], llm=llm, initial_tool_choice="get_weather", streaming=streaming)
    result = await agent.run(QUESTION)

    [tool_call] = result.tool_calls
    assert tool_call.tool_name == "get_weather" and not tool_call.tool_output.is_error
    city = tool_call.tool_kwargs["city"]
    assert isinstance(city, str) and tool_call.tool_output.content == f"It is sunny in {city}."
    # two LLM calls: one forced tool call, then an answer that saw the tool's output
    (_, first), (second_in, second) = debug.get_llm_inputs_outputs()
    assert first.payload is not None and second_in.payload is not None and second.payload is not None
    assert [b.tool_name for b in first.payload["response"].message.blocks if isinstance(b, ToolCallBlock)] == [
        "get_weather"
    ]
    tool_msgs = [m for m in second_in.payload["messages"] if m.role == MessageRole.TOOL]
    assert [m.content for m in tool_msgs] == [tool_call.tool_output.content]
    assert result.response.content == second.payload["response"].message.content
    assert second.payload["response"].additional_kwargs["routing"]["tier"] == "local"


# ---------------------------------------------------------------------------- one router, two frameworks


def test_langchain_and_llamaindex_see_the_same_decisions(llama_base_url: str) -> None:
    router = Router(
        {
            "tiers": {"local": gemma(llama_base_url), "alt": gemma(llama_base_url, "openai/gemma-3-270m-alt")},
            "routing": {
                "default": "local",
                "rules": [{"name": "classify-alt", "when": {"task": "classification"}, "tier": "alt"}],
                "fallbacks": {"alt": ["local"]},
            },
        }
    )
    li, lc = RoutedLLM(router=router), ChatRoutedLLM(router=router)
    assert li.routed is lc.routed is router

    prompts = ["Classify the sentiment of this review as positive or negative: great product", "Name a colour."]
    for prompt in prompts:  # decisions without calls: the translations agree with the core's own view
        assert li.route([user(prompt)]) == router.route([{"role": "user", "content": prompt}])
    assert li.route([user(prompts[1])], tier="alt") == router.route(prompts[1], {"tier": "alt"})

    decision_keys = ("tier", "model", "reason", "rule", "fallbacks", "task", "complexity", "sensitivity")
    seen = []
    for prompt in prompts:  # real calls through each adapter
        li_routing = li.chat([user(prompt)]).additional_kwargs["routing"]
        lc_routing = lc.invoke(prompt).response_metadata["routing"]
        assert {k: li_routing[k] for k in decision_keys} == {k: lc_routing[k] for k in decision_keys}
        assert li_routing["prompt_tokens"] == lc_routing["prompt_tokens"]  # the same request reached the server
        seen.append(li_routing["tier"])
    assert seen == ["alt", "local"]


@pytest.mark.servers
@pytest.mark.parametrize("first", ["llamaindex", "langchain"])
def test_tier_health_is_shared(llama_base_url: str, faulty_server: FaultyServerFactory, first: str) -> None:
    flaky = faulty_server("error500")
    router = Router(
        {
            "tiers": {
                "cloud": {
                    "models": [
                        {
                            "model": "openai/flaky",
                            "api_base": flaky.base_url,
                            "api_key": "sk-test",
                            "max_tokens": MAX_TOKENS,
                            "input_cost_per_token": 1e-6,
                            "output_cost_per_token": 2e-6,
                        }
                    ]
                },
                "local": gemma(llama_base_url),
            },
            "routing": {"default": "cloud", "fallbacks": {"cloud": ["local"]}},
        }
    )
    li, lc = RoutedLLM(router=router), ChatRoutedLLM(router=router)
    calls: dict[str, Callable[[], dict[str, Any]]] = {
        "llamaindex": lambda: li.chat([user("Name a colour.")]).additional_kwargs["routing"],
        "langchain": lambda: lc.invoke("Name a colour.").response_metadata["routing"],
    }
    second = "langchain" if first == "llamaindex" else "llamaindex"

    before = calls[first]()  # cloud fails for real, the call falls back to local
    assert before["tier"] == "local"
    assert [a["tier"] for a in before["attempts"]] == ["cloud"]
    assert "fell back to local" in before["reason"]
    hits = len(flaky.chat_requests)
    assert hits >= 1

    after = calls[second]()  # the other adapter starts at local: it saw the failure
    assert after["tier"] == "local" and after["attempts"] == []
    assert "tried last (recently failed): cloud" in after["reason"]
    assert after["fallbacks"] == ["cloud"]  # still allowed, just last
    assert len(flaky.chat_requests) == hits  # the failing tier was not called again


# ---------------------------------------------------------------------------- defaults


def test_default_config_metadata() -> None:
    llm = RoutedLLM()  # the embedded defaults; building them only probes for a local Ollama
    # What a plain call is served by (the rule "simple-local"), not the default cloud tier.
    plain = llm.routed.preview()
    assert plain.tier == "local" and plain.tier == llm.routed.route("Hello!").tier
    profile = llm.routed.profiles[plain.tier]
    meta = llm.metadata
    assert (meta.context_window, meta.model_name) == (profile.context_window, profile.models[0])
    assert meta.context_window == 2048
    assert meta.is_chat_model
    assert meta.is_function_calling_model == any(p.tools for p in llm.routed.profiles.values())
