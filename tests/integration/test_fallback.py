"""Tier fallback against real failing endpoints on loopback, with a real model behind them.

The first tier is a `FaultyServer` failing in one specific way; the fallback tier
is the real llama.cpp server serving Gemma 3 270M. Nothing here is mocked.
"""

import asyncio
from typing import Any

import pytest

from langchain_routed_llm import ChatRoutedLLM
from routed_llm import AllTiersFailed, Router, StreamEnd, StreamInterrupted
from tests.servers.faulty import FaultyServer, closed_port
from tests.servers.llama_server import LlamaServer

pytestmark = pytest.mark.servers


def cloud(base_url: str, **extra: Any) -> dict[str, Any]:
    dep = {
        "model": "openai/cloud-model",
        "api_base": base_url,
        "api_key": "sk-test-cloud",
        "input_cost_per_token": 1e-6,
        "output_cost_per_token": 2e-6,
        **extra,
    }
    return {"models": [dep]}


def local(llama: LlamaServer) -> dict[str, Any]:
    return {
        "models": [
            {
                "model": "openai/gemma-3-270m",
                "api_base": llama.base_url,
                "api_key": "sk-test",
                "max_tokens": 8,
                "context_window": 2048,
            }
        ],
        "private": True,
    }


def router(faulty: FaultyServer | str, llama: LlamaServer, **cloud_extra: Any) -> Router:
    base = faulty if isinstance(faulty, str) else faulty.base_url
    return Router(
        {
            "tiers": {"cloud": cloud(base, **cloud_extra), "local": local(llama)},
            "routing": {"default": "cloud", "fallbacks": {"cloud": ["local"]}},
        }
    )


HINTS = {"sensitivity": "public", "task": "chat", "complexity": "simple"}


@pytest.mark.parametrize("mode", ["error500", "rate_limit", "die_after_first_chunk"])
def test_non_streaming_falls_back_to_the_next_tier(faulty_server: Any, llama_server: LlamaServer, mode: str) -> None:
    bad = faulty_server(mode)
    result = router(bad, llama_server).complete("Say hello", HINTS)
    info = result.routing
    assert info.tier == "local" and info.model == "openai/gemma-3-270m"
    assert [a["tier"] for a in info.attempts] == ["cloud"]
    assert len(bad.chat_requests) == 1
    assert info.completion_tokens > 0 and info.cost_usd == 0.0  # served privately, for free
    assert "fell back to local" in info.reason


def test_rate_limit_retry_after_keeps_the_tier_at_the_back(faulty_server: Any, llama_server: LlamaServer) -> None:
    bad = faulty_server("rate_limit", retry_after=30)
    r = router(bad, llama_server)
    first = r.complete("hi", HINTS)
    assert first.routing.attempts[0]["error"].startswith("RateLimitError")
    # The server asked for 30 s: the next decision tries the healthy tier first.
    decision = r.route("hi", HINTS)
    assert decision.tiers == ("local", "cloud")
    assert "tried last (recently failed): cloud" in decision.reason
    second = r.complete("hi", HINTS)
    assert second.routing.tier == "local" and second.routing.attempts == []
    assert len(bad.chat_requests) == 1


def test_timeout_falls_back(faulty_server: Any, llama_server: LlamaServer) -> None:
    slow = faulty_server("slow", delay_s=10)
    result = router(slow, llama_server, timeout=0.5).complete("hi", HINTS)
    assert result.routing.tier == "local"
    assert "Timeout" in result.routing.attempts[0]["error"]


def test_max_latency_hint_bounds_each_attempt(faulty_server: Any) -> None:
    # The fallback is a loopback server that answers at once, not a model: the hint applies to
    # every attempt, and a model generating on a busy machine could take longer than the bound.
    slow, quick = faulty_server("slow", delay_s=10), faulty_server("ok", content="in time")
    r = Router(
        {
            "tiers": {"cloud": cloud(slow.base_url), "local": {**cloud(quick.base_url), "private": True}},
            "routing": {"default": "cloud", "fallbacks": {"cloud": ["local"]}},
        }
    )
    result = r.complete("hi", {**HINTS, "max_latency_ms": 2000})
    assert result.routing.tier == "local" and result.response.choices[0].message.content == "in time"
    assert "Timeout" in result.routing.attempts[0]["error"]


def test_connection_refused_falls_back(llama_server: LlamaServer) -> None:
    result = router(f"http://127.0.0.1:{closed_port()}/v1", llama_server).complete("hi", HINTS)
    assert result.routing.tier == "local" and result.routing.attempts[0]["tier"] == "cloud"


def test_all_tiers_failing_names_each_failure(faulty_server: Any) -> None:
    a, b = faulty_server("error500"), faulty_server("rate_limit")
    r = Router(
        {
            "tiers": {"a": cloud(a.base_url), "b": {**cloud(b.base_url), "private": True}},
            "routing": {"default": "a", "fallbacks": {"a": ["b"]}},
        }
    )
    with pytest.raises(AllTiersFailed) as e:
        r.complete("hi", HINTS)
    assert set(e.value.errors) == {"a", "b"}
    assert "a: InternalServerError" in str(e.value) and "b: RateLimitError" in str(e.value)


def test_stream_falls_back_before_the_first_chunk(faulty_server: Any, llama_server: LlamaServer) -> None:
    bad = faulty_server("error500")
    items = list(router(bad, llama_server).stream("Say hello", HINTS))
    end = items[-1]
    assert isinstance(end, StreamEnd) and end.routing.tier == "local"
    text = "".join((c.choices[0].delta.content or "") for c in items[:-1] if c.choices)
    assert text  # real tokens from the fallback tier
    assert end.routing.completion_tokens > 0 and end.routing.prompt_tokens > 0


def test_stream_that_dies_after_its_first_chunk_raises_and_does_not_fall_back(
    faulty_server: Any, llama_server: LlamaServer
) -> None:
    bad = faulty_server("die_after_first_chunk", content="partial answer that never finishes")
    r = router(bad, llama_server)
    received = []
    with pytest.raises(StreamInterrupted) as e:
        for item in r.stream("Say hello", HINTS):
            received.append(item)
    assert len(received) == 1  # the one chunk the server sent reached the caller
    assert e.value.tier == "cloud" and e.value.chunks_emitted == 1
    assert "falls back only before the first chunk" in str(e.value)
    assert len(bad.chat_requests) == 1


async def test_async_stream_dies_after_first_chunk(faulty_server: Any, llama_server: LlamaServer) -> None:
    bad = faulty_server("die_after_first_chunk")
    r = router(bad, llama_server)
    with pytest.raises(StreamInterrupted):
        async for _ in r.astream("Say hello", HINTS):
            pass


async def test_async_complete_falls_back(faulty_server: Any, llama_server: LlamaServer) -> None:
    bad = faulty_server("error500")
    r = router(bad, llama_server)
    results = await asyncio.gather(*(r.acomplete(f"hello {i}", HINTS) for i in range(3)))
    assert {res.routing.tier for res in results} <= {"local"}


def test_cost_is_computed_from_the_serving_deployment(faulty_server: Any, llama_server: LlamaServer) -> None:
    ok = faulty_server("ok", content="one two three four")
    result = router(ok, llama_server).complete("count to four", HINTS)
    info = result.routing
    assert info.tier == "cloud" and info.deployment == "cloud/0"
    usage = result.response.usage
    assert (info.prompt_tokens, info.completion_tokens) == (usage.prompt_tokens, usage.completion_tokens)
    assert info.cost_usd == pytest.approx(usage.prompt_tokens * 1e-6 + usage.completion_tokens * 2e-6)


def test_streamed_usage_and_cost_arrive_on_the_final_chunk(faulty_server: Any, llama_server: LlamaServer) -> None:
    ok = faulty_server("ok", content="one two three four")
    llm = ChatRoutedLLM(router=router(ok, llama_server), sensitivity="public", task="chat", complexity="simple")
    chunks = list(llm.stream("count to four"))
    assert "".join(c.content for c in chunks) == "one two three four"
    final = chunks[-1]
    assert final.usage_metadata is not None and final.usage_metadata["output_tokens"] > 0
    routing = final.response_metadata["routing"]
    assert routing["tier"] == "cloud" and routing["cost_usd"] > 0
    merged = chunks[0]
    for c in chunks[1:]:
        merged = merged + c
    assert merged.usage_metadata == final.usage_metadata  # usage is counted once


def test_tools_only_reach_tool_capable_tiers(faulty_server: Any, llama_server: LlamaServer) -> None:
    plain = faulty_server("ok")  # a tier that cannot call tools
    tool_tier = local(llama_server)
    tool_tier["models"][0]["capabilities"] = {"tools": True}
    r = Router(
        {
            "tiers": {"plain": cloud(plain.base_url), "tools": tool_tier},
            "routing": {"default": "plain", "fallbacks": {"plain": ["tools"]}},
        }
    )

    def get_weather(city: str) -> str:
        """Get the weather for a city."""
        return "sunny"

    llm = ChatRoutedLLM(router=r, max_tokens=32, sensitivity="public", task="chat", complexity="simple")
    msg = llm.bind_tools([get_weather], tool_choice="get_weather").invoke("Weather in Paris?")
    assert msg.response_metadata["routing"]["tier"] == "tools"
    assert plain.connections == 0  # the tool-less tier never saw the request
    # the real server produced a real, schema-valid tool call
    assert msg.tool_calls and msg.tool_calls[0]["name"] == "get_weather"
    assert isinstance(msg.tool_calls[0]["args"].get("city"), str)
