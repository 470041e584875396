"""ChatRoutedLLM's routing surface: hints (kwargs, configurable, instance), metadata, callbacks, tools, schema.

Tiers are real loopback endpoints: `FaultyServer` in ``ok`` mode (deterministic
answers and usage, counted connections) and the real llama.cpp server where a
real model's output matters (tool calls).
"""

from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.outputs import LLMResult
from pydantic import BaseModel

from langchain_routed_llm import ChatRoutedLLM
from routed_llm import InvalidRequest, NoEligibleTier, TierNotAllowed, UnknownTier
from tests.servers.faulty import FaultyServer
from tests.servers.llama_server import LlamaServer

pytestmark = pytest.mark.servers

PUBLIC = {"sensitivity": "public", "task": "chat", "complexity": "simple"}


def tier(server: FaultyServer, *, private: bool = False, **caps: bool) -> dict[str, Any]:
    return {
        "models": [
            {
                "model": "openai/m",
                "api_base": server.base_url,
                "api_key": "sk-test-routing",
                "input_cost_per_token": 1e-6,
                "output_cost_per_token": 1e-6,
                "capabilities": caps,
            }
        ],
        "private": private,
    }


@pytest.fixture
def two_tiers(faulty_server: Any) -> tuple[ChatRoutedLLM, FaultyServer, FaultyServer]:
    cheap = faulty_server("ok", content="cheap answer")
    premium = faulty_server("ok", content="premium answer")
    llm = ChatRoutedLLM(
        config={
            "tiers": {"cheap": tier(cheap, private=True), "premium": tier(premium)},
            "routing": {
                "default": "cheap",
                "rules": [{"name": "hard", "when": {"complexity": "complex"}, "tier": "premium"}],
            },
        },
        **PUBLIC,
    )
    return llm, cheap, premium


def test_hints_as_invoke_kwargs_and_configurable(two_tiers: tuple[ChatRoutedLLM, FaultyServer, FaultyServer]) -> None:
    llm, cheap, premium = two_tiers
    assert llm.invoke("hi").content == "cheap answer"
    msg = llm.invoke("hi", complexity="complex")
    assert msg.content == "premium answer"
    assert msg.response_metadata["routing"]["rule"] == "hard"
    msg = llm.with_config(configurable={"tier": "premium"}).invoke("hi")
    assert msg.response_metadata["routing"]["tier"] == "premium"
    assert msg.response_metadata["routing"]["rule"] == "hint:tier"
    assert len(cheap.chat_requests) == 1 and len(premium.chat_requests) == 2


def test_instance_hint_confidential_blocks_explicit_premium(
    two_tiers: tuple[ChatRoutedLLM, FaultyServer, FaultyServer],
) -> None:
    llm, _, premium = two_tiers
    with pytest.raises(TierNotAllowed, match="not private"):
        llm.invoke("hi", tier="premium", sensitivity="confidential")
    with pytest.raises(UnknownTier, match="unknown tier 'gpu'"):
        llm.invoke("hi", tier="gpu")
    with pytest.raises(InvalidRequest, match="invalid routing hint"):
        llm.invoke("hi", complexity="extreme")
    assert premium.connections == 0


def test_response_and_usage_metadata(two_tiers: tuple[ChatRoutedLLM, FaultyServer, FaultyServer]) -> None:
    llm, cheap, _ = two_tiers
    msg = llm.invoke("hello there")
    usage = msg.usage_metadata
    assert usage is not None and usage["input_tokens"] > 0 and usage["output_tokens"] == 2
    routing = msg.response_metadata["routing"]
    assert routing["tier"] == "cheap" and routing["model"] == "openai/m"
    assert routing["cost_usd"] == pytest.approx((usage["input_tokens"] + usage["output_tokens"]) * 1e-6)
    assert msg.response_metadata["model_name"] == "openai/m"
    body = cheap.chat_requests[-1].body
    assert body["messages"] == [{"role": "user", "content": "hello there"}]
    assert "sk-test-routing" not in repr(llm) and "sk-test-routing" not in str(routing)


def test_callbacks_see_every_token_and_the_end(two_tiers: tuple[ChatRoutedLLM, FaultyServer, FaultyServer]) -> None:
    llm, _, _ = two_tiers

    class Recorder(BaseCallbackHandler):
        def __init__(self) -> None:
            self.tokens: list[str] = []
            self.ends: list[LLMResult] = []

        def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
            self.tokens.append(token)

        def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
            self.ends.append(response)

    rec = Recorder()
    chunks = list(llm.stream("hi", config={"callbacks": [rec]}))
    assert "".join(rec.tokens) == "cheap answer" == "".join(str(c.content) for c in chunks)
    assert len(rec.ends) == 1
    streaming = ChatRoutedLLM(router=llm.routed, streaming=True, **PUBLIC)
    rec2 = Recorder()
    msg = streaming.invoke("hi", config={"callbacks": [rec2]})
    assert msg.content == "cheap answer" and "".join(rec2.tokens) == "cheap answer"
    assert msg.response_metadata["routing"]["tier"] == "cheap"


async def test_async_batch_routes_each_call(two_tiers: tuple[ChatRoutedLLM, FaultyServer, FaultyServer]) -> None:
    llm, cheap, premium = two_tiers
    results = await llm.abatch(["a", "b", "c"])
    assert [r.content for r in results] == ["cheap answer"] * 3
    msg = await llm.ainvoke("x", complexity="complex")
    assert msg.content == "premium answer"
    assert len(cheap.chat_requests) == 3 and len(premium.chat_requests) == 1


def test_structured_output_routes_only_to_schema_capable_tiers(faulty_server: Any) -> None:
    plain = faulty_server("ok", content="not json")
    schema_tier = faulty_server("ok", content='{"city": "Paris", "sunny": true}')
    llm = ChatRoutedLLM(
        config={
            "tiers": {"plain": tier(plain, private=True), "schema": tier(schema_tier, json_schema=True)},
            "routing": {"default": "plain", "fallbacks": {"plain": ["schema"]}},
        },
        **PUBLIC,
    )

    class Weather(BaseModel):
        city: str
        sunny: bool

    result = llm.with_structured_output(Weather).invoke("Weather in Paris?")
    assert result == Weather(city="Paris", sunny=True)
    assert plain.connections == 0
    sent = schema_tier.chat_requests[-1].body["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["schema"]["required"] == ["city", "sunny"]
    with pytest.raises(NoEligibleTier, match="schema: not private"):
        llm.with_structured_output(Weather).invoke("Weather in Paris?", sensitivity="confidential")


def test_forced_single_tool_becomes_a_named_tool_choice(llama_server: LlamaServer) -> None:
    llm = ChatRoutedLLM(
        config={
            "tiers": {
                "local": {
                    "models": [
                        {
                            "model": "openai/gemma-3-270m",
                            "api_base": llama_server.base_url,
                            "api_key": "sk-test",
                            "max_tokens": 32,
                            "capabilities": {"tools": True},
                        }
                    ],
                    "private": True,
                }
            },
            "routing": {"default": "local"},
        },
        **PUBLIC,
    )

    def magic_function(input: int) -> int:
        """Apply a magic function to an input."""
        return input + 2

    msg = llm.bind_tools([magic_function], tool_choice="any").invoke("What is magic_function(3)?")
    # llama.cpp ignores tool_choice="required"; naming the one bound tool makes the real model call it
    assert [tc["name"] for tc in msg.tool_calls] == ["magic_function"]
    assert isinstance(msg.tool_calls[0]["args"]["input"], int)
    merged = None
    for chunk in llm.bind_tools([magic_function], tool_choice="any").stream("What is magic_function(3)?"):
        merged = chunk if merged is None else merged + chunk
    assert merged is not None
    # llama.cpp repeats the name in every streamed chunk; the converter forwards it once
    assert [tc["name"] for tc in merged.tool_calls + merged.invalid_tool_calls] == ["magic_function"]


# A 1x1 PNG, as a data URL: the image travels inline, so no server fetches anything.
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAHnOcQAAAAABJRU5ErkJggg=="
PNG_DATA_URL = f"data:image/png;base64,{PNG_B64}"


def test_image_input_goes_only_to_vision_tiers_and_reaches_the_server(faulty_server: Any) -> None:
    from langchain_core.messages import HumanMessage

    text_only = faulty_server("ok", content="text tier")
    seeing = faulty_server("ok", content="vision tier")
    llm = ChatRoutedLLM(
        config={
            "tiers": {"text": tier(text_only, private=True), "seeing": tier(seeing, vision=True)},
            "routing": {"default": "text", "fallbacks": {"text": ["seeing"]}},
        },
        **PUBLIC,
    )
    message = HumanMessage(
        content=[
            {"type": "text", "text": "What colour is this pixel?"},
            {"type": "image_url", "image_url": {"url": PNG_DATA_URL}},
        ]
    )
    answer = llm.invoke([message])
    assert answer.content == "vision tier"
    routing = answer.response_metadata["routing"]
    assert routing["tier"] == "seeing"
    assert text_only.chat_requests == []  # the text-only default was skipped, not tried
    (sent,) = seeing.chat_requests
    parts = sent.body["messages"][0]["content"]
    assert {"type": "image_url", "image_url": {"url": PNG_DATA_URL}} in parts
    # a text call still starts on the default tier
    assert llm.invoke("hi").content == "text tier"
    # and an image never goes to a tier that cannot see, even when asked for by name
    with pytest.raises(TierNotAllowed, match="no image input"):
        llm.invoke([message], tier="text")
