"""RoutedLLM without a network: message translation, tool_choice mapping, metadata, hints, responses.

Calls that reach LiteLLM use its ``mock_response`` / ``mock_tool_calls`` parameters, so the
real LiteLLM response and stream objects flow through the real core `Router` and back through
the adapter with sockets disabled. The same paths against a real server are in
``tests/integration/test_llamaindex_llm.py``.
"""

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import litellm
import pytest
from llama_index.core.base.llms.types import (
    AudioBlock,
    ChatMessage,
    ChatResponse,
    DocumentBlock,
    ImageBlock,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)
from llama_index.core.callbacks import CallbackManager, CBEventType, LlamaDebugHandler
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.tools import FunctionTool
from llama_index.llms.routed_llm import RoutedLLM
from llama_index.llms.routed_llm.base import (
    HINT_KEYS,
    _StreamState,
    resolve_tool_choice,
    to_openai_message,
    to_openai_messages,
)

from routed_llm import ConfigError, InvalidRequest, NoEligibleTier, Router, StreamEnd, TierNotAllowed
from routed_llm.engine import RoutingInfo
from routed_llm.serialization import config_source

# A 1x1 PNG, so ImageBlock can guess the mimetype from the bytes.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def tier(model: str, **kw: Any) -> dict[str, Any]:
    caps = kw.pop("capabilities", {})
    private = kw.pop("private", False)
    prices = {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}
    dep = {"model": model, "api_key": "sk-secret-do-not-leak", **prices, **kw, "capabilities": caps}
    return {"models": [dep], "private": private}


CONFIG: dict[str, Any] = {
    "tiers": {
        "local": tier(
            "openai/gemma-3-270m",
            api_base="http://127.0.0.1:9/v1",
            max_tokens=16,
            context_window=2048,
            capabilities={"tools": True},
            private=True,
        ),
        "fast": tier("openai/fast-model", context_window=32000, max_tokens=512, capabilities={"tools": True}),
        "vision": tier("openai/seeing-model", context_window=128000, capabilities={"vision": True}),
    },
    "routing": {"default": "fast", "fallbacks": {"fast": ["local"]}},
}

TEXT_ONLY: dict[str, Any] = {
    "tiers": {"local": tier("openai/gemma-3-270m", context_window=2048, private=True)},
    "routing": {"default": "local"},
}


@pytest.fixture
def llm() -> RoutedLLM:
    return RoutedLLM(config=CONFIG)


def user(text: str) -> ChatMessage:
    return ChatMessage(role=MessageRole.USER, content=text)


def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"It is sunny in {city}."


def get_time(city: str) -> str:
    """Get the local time in a city."""
    return "12:00"


WEATHER = FunctionTool.from_defaults(get_weather)
TIME = FunctionTool.from_defaults(get_time)


# ---------------------------------------------------------------------------- message translation


def test_text_messages_become_plain_strings() -> None:
    msgs = [
        ChatMessage(role=MessageRole.SYSTEM, content="be brief"),
        ChatMessage(role=MessageRole.USER, blocks=[TextBlock(text="one"), TextBlock(text="two")]),
        ChatMessage(role=MessageRole.CHATBOT, content="ok"),
    ]
    assert to_openai_messages(msgs) == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "one\ntwo"},  # joined as ChatMessage.content joins them
        {"role": "assistant", "content": "ok"},  # chatbot/model roles are the assistant
    ]


def test_image_blocks_become_image_url_parts() -> None:
    msg = ChatMessage(
        role=MessageRole.USER,
        blocks=[
            TextBlock(text="what is this?"),
            ImageBlock(url="https://example.com/cat.png", detail="low"),
            ImageBlock(image=PNG),
        ],
    )
    out = to_openai_message(msg)
    assert out["role"] == "user"
    text, by_url, inline = out["content"]
    assert text == {"type": "text", "text": "what is this?"}
    assert by_url == {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}}
    assert inline["type"] == "image_url"
    assert inline["image_url"]["url"].startswith("data:image/png;base64,")
    assert base64.b64decode(inline["image_url"]["url"].split(",", 1)[1]) == PNG


def test_image_from_path_is_inlined(tmp_path: Path) -> None:
    path = tmp_path / "dot.png"
    path.write_bytes(PNG)
    out = to_openai_message(ChatMessage(role=MessageRole.USER, blocks=[ImageBlock(path=path)]))
    assert out["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")


def test_tool_call_blocks_and_tool_results() -> None:
    assistant = ChatMessage(
        role=MessageRole.ASSISTANT,
        blocks=[
            ThinkingBlock(content="the user wants weather"),
            TextBlock(text=""),
            ToolCallBlock(tool_call_id="call_1", tool_name="get_weather", tool_kwargs={"city": "Paris"}),
            ToolCallBlock(tool_call_id="call_2", tool_name="get_time", tool_kwargs='{"city": "Rome"}'),
        ],
        # what RoutedLLM itself also stores: must not be sent a second time
        additional_kwargs={"tool_calls": [{"id": "call_1", "function": {"name": "get_weather", "arguments": "{}"}}]},
    )
    tool = ChatMessage(
        role=MessageRole.TOOL, content="sunny", additional_kwargs={"tool_call_id": "call_1", "name": "get_weather"}
    )
    a, t = to_openai_messages([assistant, tool])
    assert a == {
        "role": "assistant",
        "content": "",  # thinking is not content; "" (not None) keeps llama.cpp and LiteLLM happy
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
            {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": '{"city": "Rome"}'}},
        ],
    }
    assert t == {"role": "tool", "content": "sunny", "tool_call_id": "call_1"}  # no "name" on tool results
    named = ChatMessage(role=MessageRole.USER, content="hi", additional_kwargs={"name": "ann"})
    assert to_openai_message(named) == {"role": "user", "content": "hi", "name": "ann"}


def test_legacy_tool_calls_in_additional_kwargs() -> None:
    call = litellm.utils.ChatCompletionMessageToolCall(
        id="c9", type="function", function={"name": "get_weather", "arguments": '{"city": "Oslo"}'}
    )
    msg = ChatMessage(role=MessageRole.ASSISTANT, content="", additional_kwargs={"tool_calls": [call]})
    assert to_openai_message(msg)["tool_calls"] == [
        {"id": "c9", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}
    ]


@pytest.mark.parametrize(
    "block",
    [
        AudioBlock(audio=b"RIFF0000WAVEfmt ", format="wav"),
        DocumentBlock(data=b"%PDF-1.4", title="t"),
    ],
    ids=["audio", "document"],
)
def test_blocks_no_tier_capability_covers_are_refused_clearly(block: Any) -> None:
    msgs = [user("hi"), ChatMessage(role=MessageRole.USER, blocks=[TextBlock(text="listen"), block])]
    with pytest.raises(InvalidRequest) as err:
        to_openai_messages(msgs)
    text = str(err.value)
    assert "messages[1]" in text and type(block).__name__ in text
    assert "vision" in text  # names what tiers can be asked for


def test_images_without_a_vision_tier_name_the_constraint() -> None:
    llm = RoutedLLM(config=TEXT_ONLY)
    msg = ChatMessage(role=MessageRole.USER, blocks=[TextBlock(text="what is this?"), ImageBlock(image=PNG)])
    with pytest.raises(NoEligibleTier) as err:
        llm.chat([msg])  # refused by the policy before any network I/O
    assert err.value.excluded == {"local": "no image input (a message has an image)"}
    assert "no image input" in str(err.value)


def test_images_route_to_the_vision_tier(llm: RoutedLLM) -> None:
    msg = ChatMessage(role=MessageRole.USER, blocks=[TextBlock(text="what is this?"), ImageBlock(image=PNG)])
    decision = llm.route([msg])
    assert decision.needs.images
    assert decision.tier == "vision"
    assert set(decision.excluded) == {"local", "fast"}


# ---------------------------------------------------------------------------- tool_choice


@pytest.mark.parametrize(
    ("tool_choice", "required", "names", "expected"),
    [
        (None, False, ["a", "b"], "auto"),
        (None, True, ["a", "b"], "required"),
        (None, True, ["a"], {"type": "function", "function": {"name": "a"}}),
        ("required", False, ["a"], {"type": "function", "function": {"name": "a"}}),
        (True, False, ["a", "b"], "required"),
        ("any", False, ["a", "b"], "required"),
        ("auto", True, ["a"], "auto"),  # an explicit choice wins over tool_required
        ("none", False, ["a"], "none"),
        ("b", False, ["a", "b"], {"type": "function", "function": {"name": "b"}}),
        (
            {"type": "function", "function": {"name": "a"}},
            False,
            ["a"],
            {"type": "function", "function": {"name": "a"}},
        ),
    ],
)
def test_resolve_tool_choice(tool_choice: Any, required: bool, names: list[str], expected: Any) -> None:
    assert resolve_tool_choice(tool_choice, required, names) == expected


def test_tool_choice_naming_an_unknown_tool_is_an_error() -> None:
    with pytest.raises(ValueError, match="'get_wether'.*get_weather, get_time"):
        resolve_tool_choice("get_wether", False, ["get_weather", "get_time"])


def test_prepare_chat_with_tools(llm: RoutedLLM) -> None:
    history = [ChatMessage(role=MessageRole.SYSTEM, content="use tools")]
    kwargs = llm._prepare_chat_with_tools(
        [WEATHER, TIME], "weather in Paris?", chat_history=history, tool_choice="get_weather", tier="fast"
    )
    assert len(history) == 1  # the caller's list is not appended to
    assert [m.content for m in kwargs["messages"]] == ["use tools", "weather in Paris?"]
    assert [t["function"]["name"] for t in kwargs["tools"]] == ["get_weather", "get_time"]
    assert kwargs["tools"][0]["function"]["parameters"]["required"] == ["city"]
    assert kwargs["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert kwargs["parallel_tool_calls"] is False
    assert kwargs["tier"] == "fast"  # hints ride along to chat()


def test_prepare_chat_with_tools_required_and_strict(llm: RoutedLLM) -> None:
    one = llm._prepare_chat_with_tools([WEATHER], "hi", tool_required=True, strict=True)
    assert one["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert one["tools"][0]["function"]["strict"] is True
    two = llm._prepare_chat_with_tools([WEATHER, TIME], "hi", tool_required=True, allow_parallel_tool_calls=True)
    assert two["tool_choice"] == "required" and two["parallel_tool_calls"] is True
    none = llm._prepare_chat_with_tools([], "hi")
    assert "tools" not in none and "tool_choice" not in none


def test_tool_calls_route_only_to_tool_capable_tiers(llm: RoutedLLM) -> None:
    kwargs = llm._prepare_chat_with_tools([WEATHER], "weather in Paris?")
    messages = kwargs.pop("messages")
    decision = llm.route(messages, **kwargs)
    assert decision.needs.tools
    assert decision.tiers == ("fast", "local")
    assert decision.excluded == {"vision": "no tool calling (the call has tools)"}
    with pytest.raises(TierNotAllowed, match="no tool calling"):
        llm.route(messages, **kwargs, tier="vision")


def test_get_tool_calls_from_response(llm: RoutedLLM) -> None:
    msg = ChatMessage(
        role=MessageRole.ASSISTANT,
        blocks=[
            TextBlock(text=""),
            ToolCallBlock(tool_call_id="c1", tool_name="get_weather", tool_kwargs={"city": "Paris"}),
            ToolCallBlock(tool_call_id=None, tool_name="get_time", tool_kwargs='{"city": "Ro'),  # mid-stream
        ],
    )
    calls = llm.get_tool_calls_from_response(ChatResponse(message=msg))
    assert [(c.tool_id, c.tool_name, c.tool_kwargs) for c in calls] == [
        ("c1", "get_weather", {"city": "Paris"}),
        ("get_time", "get_time", {"city": None}),  # LlamaIndex's partial-JSON parser: key known, value not yet
    ]
    legacy = ChatMessage(
        role=MessageRole.ASSISTANT,
        content="",
        additional_kwargs={"tool_calls": [{"id": "c2", "function": {"name": "get_time", "arguments": '{"city":"X"}'}}]},
    )
    [call] = llm.get_tool_calls_from_response(ChatResponse(message=legacy))
    assert (call.tool_id, call.tool_name, call.tool_kwargs) == ("c2", "get_time", {"city": "X"})

    empty = ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content="no tools"))
    with pytest.raises(ValueError, match="at least one tool call"):
        llm.get_tool_calls_from_response(empty)
    assert llm.get_tool_calls_from_response(empty, error_on_no_tool_call=False) == []


def test_validate_keeps_one_tool_call_unless_parallel(llm: RoutedLLM) -> None:
    def response() -> ChatResponse:
        calls = [
            {"id": f"c{i}", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
            for i in range(2)
        ]
        blocks = [TextBlock(text="")] + [
            ToolCallBlock(tool_call_id=c["id"], tool_name="get_weather", tool_kwargs={}) for c in calls
        ]
        return ChatResponse(
            message=ChatMessage(role=MessageRole.ASSISTANT, blocks=blocks, additional_kwargs={"tool_calls": calls})
        )

    single = llm._validate_chat_with_tools_response(response(), [WEATHER])
    assert [c.tool_id for c in llm.get_tool_calls_from_response(single)] == ["c0"]
    assert len(single.message.additional_kwargs["tool_calls"]) == 1
    both = llm._validate_chat_with_tools_response(response(), [WEATHER], allow_parallel_tool_calls=True)
    assert len(llm.get_tool_calls_from_response(both)) == 2


# ---------------------------------------------------------------------------- metadata


def test_metadata_describes_the_default_tier(llm: RoutedLLM) -> None:
    meta = llm.metadata
    assert (meta.context_window, meta.num_output, meta.model_name) == (32000, 512, "openai/fast-model")
    assert meta.is_chat_model and meta.is_function_calling_model


def test_metadata_follows_the_tier_hint_and_max_tokens() -> None:
    meta = RoutedLLM(config=CONFIG, tier="local").metadata
    assert (meta.context_window, meta.num_output, meta.model_name) == (2048, 16, "openai/gemma-3-270m")
    assert meta.is_function_calling_model
    assert RoutedLLM(config=CONFIG, tier="local", max_tokens=8).metadata.num_output == 8
    vision = RoutedLLM(config=CONFIG, tier="vision").metadata
    assert vision.context_window == 128000 and vision.num_output == 256  # no cap: LlamaIndex's default
    assert not vision.is_function_calling_model  # a hinted tier without tools cannot take a tool call


def test_metadata_of_a_confidential_llm_describes_a_private_tier() -> None:
    meta = RoutedLLM(config=CONFIG, sensitivity="confidential").metadata  # default "fast" is not private
    assert (meta.context_window, meta.model_name) == (2048, "openai/gemma-3-270m")


def test_function_calling_flag_tells_the_truth() -> None:
    assert not RoutedLLM(config=TEXT_ONLY).metadata.is_function_calling_model
    no_private_tools: dict[str, Any] = {
        "tiers": {
            "local": tier("openai/small", private=True),
            "cloud": tier("openai/big", capabilities={"tools": True}),
        },
        "routing": {"default": "cloud"},
    }
    assert RoutedLLM(config=no_private_tools).metadata.is_function_calling_model
    # confidential calls only reach private tiers, and no private tier has tools
    assert not RoutedLLM(config=no_private_tools, sensitivity="confidential").metadata.is_function_calling_model


# ---------------------------------------------------------------------------- construction


def test_config_sources(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(json.dumps(TEXT_ONLY))  # JSON is YAML
    for source in (path, str(path), TEXT_ONLY, Router(TEXT_ONLY).config):
        assert list(RoutedLLM(config=source).routed.profiles) == ["local"]
    router = Router(CONFIG)
    assert RoutedLLM(router=router).routed is router


def test_bad_construction_is_refused() -> None:
    with pytest.raises(ValueError, match="either config= or router="):
        RoutedLLM(config=CONFIG, router=Router(CONFIG))
    message = "tier=.premium.: not a configured tier; configured tiers: local, fast, vision"
    with pytest.raises(ConfigError, match=message):
        RoutedLLM(config=CONFIG, tier="premium")
    with pytest.raises(ValueError, match="unknown task"):
        RoutedLLM(config=CONFIG, task="poetry")
    assert RoutedLLM(config=CONFIG, task="analysis", sensitivity="private").task == "reasoning"
    with pytest.raises(ValueError, match="extra"):
        RoutedLLM(config=CONFIG, model="gpt-4o")  # a typo or a foreign kwarg is not silently ignored


def test_serialisation_never_carries_the_config_or_secrets(llm: RoutedLLM) -> None:
    data = llm.to_dict()
    assert data["class_name"] == "RoutedLLM"
    assert "router" not in data
    assert data["config"]["tiers"] == config_source(llm.routed.config)["tiers"]  # the config, secrets as references
    for text in (llm.to_json(), repr(llm), json.dumps(llm.to_payload())):
        assert "sk-secret-do-not-leak" not in text


# ---------------------------------------------------------------------------- hints


def test_hints_are_keyword_arguments(llm: RoutedLLM) -> None:
    assert set(HINT_KEYS) == {
        "tier",
        "task",
        "complexity",
        "sensitivity",
        "max_latency_ms",
        "max_cost_usd",
        "metadata",
        "session_id",
    }
    msgs = [user("hello")]
    assert llm.route(msgs).tier == "fast"
    hinted = llm.route(msgs, tier="local")
    assert (hinted.tier, hinted.rule) == ("local", "hint:tier")
    private = llm.route(msgs, sensitivity="confidential")
    assert private.tiers == ("local",) and "sensitivity" not in private.inferred
    decided = llm.route(msgs, task="summarization", complexity="complex", metadata={"user": "u1"})
    assert (decided.task.value, decided.complexity.value) == ("summarization", "complex")
    with pytest.raises(InvalidRequest, match="sensitivity"):
        llm.route(msgs, sensitivity="top-secret")


def test_instance_hints_are_defaults_per_call_hints_win() -> None:
    llm = RoutedLLM(config=CONFIG, tier="local", task="classification")
    decision = llm.route("hello")
    assert (decision.tier, decision.task.value) == ("local", "classification")
    assert llm.route("hello", tier="fast", task="chat").tier == "fast"


def test_params_and_hints_are_split(llm: RoutedLLM) -> None:
    llm = RoutedLLM(config=CONFIG, temperature=0.2, max_tokens=7, additional_kwargs={"top_p": 0.9, "seed": 1})
    msgs, hints, params = llm._payload([user("x")], {"tier": "fast", "seed": 2, "tools": None, "max_cost_usd": 0.5})
    assert msgs == [{"role": "user", "content": "x"}]
    assert hints == {"tier": "fast", "max_cost_usd": 0.5}
    assert params == {"top_p": 0.9, "seed": 2, "temperature": 0.2, "max_tokens": 7}


# ---------------------------------------------------------------------------- responses (LiteLLM mocks)


def test_chat_response_carries_usage_routing_and_raw(llm: RoutedLLM) -> None:
    resp = llm.chat([user("hello")], tier="local", mock_response="Hi there!")
    assert resp.message.role == MessageRole.ASSISTANT and resp.message.content == "Hi there!"
    kw = resp.additional_kwargs
    assert kw["prompt_tokens"] > 0 and kw["completion_tokens"] > 0
    assert kw["total_tokens"] == kw["prompt_tokens"] + kw["completion_tokens"]
    assert kw["finish_reason"] == "stop"
    routing = kw["routing"]
    assert (routing["tier"], routing["rule"], routing["model"]) == ("local", "hint:tier", "openai/gemma-3-270m")
    assert routing["prompt_tokens"] == kw["prompt_tokens"]
    assert isinstance(resp.raw, dict) and resp.raw["choices"][0]["message"]["content"] == "Hi there!"


def test_chat_response_with_tool_calls(llm: RoutedLLM) -> None:
    mock_calls = [
        {"id": "call_7", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
    ]
    resp = llm.chat_with_tools([WEATHER], "weather?", tool_choice="get_weather", mock_tool_calls=mock_calls)
    [block] = [b for b in resp.message.blocks if isinstance(b, ToolCallBlock)]
    assert (block.tool_call_id, block.tool_name, block.tool_kwargs) == ("call_7", "get_weather", {"city": "Paris"})
    assert resp.message.additional_kwargs["tool_calls"][0]["id"] == "call_7"
    assert resp.additional_kwargs["routing"]["tier"] == "fast"  # default tier, which has tools
    out = llm.predict_and_call([WEATHER], "weather?", tool_choice="get_weather", mock_tool_calls=mock_calls)
    assert out.response == "It is sunny in Paris."


def test_complete_is_derived_from_chat(llm: RoutedLLM) -> None:
    resp = llm.complete("hello", mock_response="Yo", task="chat")
    assert resp.text == "Yo"
    assert resp.additional_kwargs["routing"]["task"] == "chat"
    assert resp.additional_kwargs["total_tokens"] > 0
    assert resp.raw["choices"][0]["message"]["content"] == "Yo"


def test_stream_chat_deltas_then_usage_on_the_last(llm: RoutedLLM) -> None:
    items = list(llm.stream_chat([user("hello")], mock_response="Hello brave new world"))
    assert len(items) > 2
    assert "".join(r.delta or "" for r in items) == "Hello brave new world"
    assert items[-1].message.content == "Hello brave new world"
    assert all("routing" not in r.additional_kwargs for r in items[:-1])
    last = items[-1].additional_kwargs
    assert (
        last["routing"]["tier"] == "fast" and last["total_tokens"] == last["prompt_tokens"] + last["completion_tokens"]
    )
    assert last["completion_tokens"] > 0
    texts = [r.text for r in llm.stream_complete("hello", mock_response="a b c")]
    assert texts[-1] == "a b c"


async def test_async_paths(llm: RoutedLLM) -> None:
    resp = await llm.achat([user("hello")], mock_response="async hi")
    assert resp.message.content == "async hi" and resp.additional_kwargs["routing"]["tier"] == "fast"
    assert (await llm.acomplete("hello", mock_response="done")).text == "done"
    items = [r async for r in await llm.astream_chat([user("hello")], mock_response="one two three")]
    assert items[-1].message.content == "one two three" and "routing" in items[-1].additional_kwargs
    comp = [r async for r in await llm.astream_complete("hello", mock_response="x y")]
    assert comp[-1].text == "x y" and comp[-1].additional_kwargs["total_tokens"] > 0


def _chunk(delta: dict[str, Any], finish: str | None = None) -> litellm.ModelResponseStream:
    return litellm.ModelResponseStream(choices=[{"index": 0, "delta": delta, "finish_reason": finish}])


def test_streamed_tool_call_fragments_are_assembled() -> None:
    state = _StreamState()
    chunks = [
        _chunk(
            {
                "role": "assistant",
                "tool_calls": [{"index": 0, "id": "c1", "function": {"name": "get_weather", "arguments": ""}}],
            }
        ),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ty": "Paris"}'}}]}),
        _chunk({}, finish="tool_calls"),
    ]
    out = [state.add(c) for c in chunks]
    assert out[-1] is None  # nothing new for the caller
    mid = out[1]
    assert mid is not None
    [partial] = [b for b in mid.message.blocks if isinstance(b, ToolCallBlock)]
    assert partial.tool_kwargs == '{"ci'  # kept raw until it parses
    info = RoutingInfo(
        tier="fast", model="m", reason="r", rule="default", fallbacks=(), prompt_tokens=5, completion_tokens=9
    )
    final = state.finish(StreamEnd(routing=info, finish_reason="tool_calls"))
    [block] = [b for b in final.message.blocks if isinstance(b, ToolCallBlock)]
    assert (block.tool_call_id, block.tool_name, block.tool_kwargs) == ("c1", "get_weather", {"city": "Paris"})
    assert final.delta == "" and final.additional_kwargs["total_tokens"] == 14
    assert final.additional_kwargs["finish_reason"] == "tool_calls"


# ---------------------------------------------------------------------------- instrumentation


class _Collect(BaseEventHandler):
    events: list[str] = []

    @classmethod
    def class_name(cls) -> str:
        return "Collect"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        self.events.append(event.class_name())


@pytest.fixture
def events() -> Iterator[list[str]]:
    handler = _Collect(events=[])
    dispatcher = get_dispatcher()
    dispatcher.add_event_handler(handler)
    try:
        yield handler.events
    finally:
        dispatcher.event_handlers.remove(handler)


def test_every_public_method_is_instrumented(llm: RoutedLLM, events: list[str]) -> None:
    llm.chat([user("a")], mock_response="x")
    assert events == ["LLMChatStartEvent", "LLMChatEndEvent"]
    events.clear()
    llm.complete("a", mock_response="x")
    # exactly one completion event pair: complete() is derived from the undecorated _chat
    assert events == ["LLMCompletionStartEvent", "LLMCompletionEndEvent"]
    events.clear()
    list(llm.stream_chat([user("a")], mock_response="x y"))
    assert events[0] == "LLMChatStartEvent" and events[-1] == "LLMChatEndEvent"
    assert "LLMChatInProgressEvent" in events
    events.clear()
    list(llm.stream_complete("a", mock_response="x y"))
    assert events[0] == "LLMCompletionStartEvent" and events[-1] == "LLMCompletionEndEvent"
    assert not any(e.startswith("LLMChat") for e in events)


async def test_async_methods_are_instrumented(llm: RoutedLLM, events: list[str]) -> None:
    await llm.achat([user("a")], mock_response="x")
    await llm.acomplete("a", mock_response="x")
    [r async for r in await llm.astream_chat([user("a")], mock_response="x")]
    [r async for r in await llm.astream_complete("a", mock_response="x")]
    assert events.count("LLMChatStartEvent") == events.count("LLMChatEndEvent") == 2
    assert events.count("LLMCompletionStartEvent") == events.count("LLMCompletionEndEvent") == 2


def test_callback_manager_sees_the_routing() -> None:
    debug = LlamaDebugHandler()
    llm = RoutedLLM(config=CONFIG, callback_manager=CallbackManager([debug]))
    llm.chat([user("a")], mock_response="x", tier="local")
    [(start, end)] = debug.get_llm_inputs_outputs()
    assert start.event_type == CBEventType.LLM and start.payload is not None and end.payload is not None
    assert start.payload["additional_kwargs"]["tier"] == "local"
    assert end.payload["response"].additional_kwargs["routing"]["tier"] == "local"
