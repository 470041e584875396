"""The default config with no keys and no Ollama: tools, structured output and agents on the embedded tier.

The private tier runs SmolLM2-135M-Instruct in-process (llama.cpp grammars make the
structure real). Cloud tiers have no keys here, so calls that route to them fall back
to the local tier. These tests assert structure (a tool call whose arguments validate
against the tool's schema, a parsed pydantic model, an agent loop that calls the tool
and ends), never the quality of an answer.
"""

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, ToolMessage
from langchain_core.tools import tool
from pydantic import BaseModel

from langchain_routed_llm import ChatRoutedLLM
from routed_llm import Router

KEYS = ("GROQ_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_API_KEY")


@tool
def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"It is sunny and 21 C in {city}."


@tool
def get_time(timezone: str) -> str:
    """Get the current time in a timezone."""
    return f"It is 12:00 in {timezone}."


class Person(BaseModel):
    name: str
    age: int


@pytest.fixture(scope="module")
def no_keys_no_ollama() -> Iterator[None]:
    """A new user's machine: no cloud keys, and nothing listens where Ollama would (the embedded model serves)."""
    mp = pytest.MonkeyPatch()
    for key in KEYS:
        mp.delenv(key, raising=False)
    mp.setenv("OLLAMA_BASE_URL", "http://127.0.0.1:9")
    yield
    mp.undo()


@pytest.fixture(scope="module")
def llm(no_keys_no_ollama: None) -> ChatRoutedLLM:
    model = ChatRoutedLLM()
    assert model.routed.profiles["local"].models == ("routed-local/smollm2-135m",)
    return model


def assert_valid_call(message: AIMessage, tools: dict[str, Any]) -> dict[str, Any]:
    """The message carries a tool call to a bound tool whose arguments validate against its schema."""
    assert message.tool_calls, f"no tool call in {message!r}"
    call = message.tool_calls[0]
    assert call["name"] in tools
    tools[call["name"]].args_schema.model_validate(call["args"])
    assert message.response_metadata["routing"]["tier"] == "local"
    return call


def test_bind_tools_auto_invoke_makes_a_schema_valid_call(llm: ChatRoutedLLM) -> None:
    msg = llm.bind_tools([get_weather]).invoke("What is the weather in Paris right now?")
    assert_valid_call(msg, {"get_weather": get_weather})


def test_bind_tools_forced_choice(llm: ChatRoutedLLM) -> None:
    msg = llm.bind_tools([get_weather, get_time], tool_choice="get_time").invoke("What time is it in Tokyo?")
    call = assert_valid_call(msg, {"get_time": get_time})
    assert call["name"] == "get_time"


def test_required_choice_among_two_tools(llm: ChatRoutedLLM) -> None:
    msg = llm.bind_tools([get_weather, get_time], tool_choice="any").invoke("What time is it in Tokyo?")
    assert_valid_call(msg, {"get_weather": get_weather, "get_time": get_time})


def test_streamed_tool_call_merges_into_a_valid_call(llm: ChatRoutedLLM) -> None:
    chunks = list(llm.bind_tools([get_weather], tool_choice="get_weather").stream("Weather in Oslo?"))
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    assert isinstance(merged, AIMessageChunk)
    assert_valid_call(merged, {"get_weather": get_weather})
    assert merged.usage_metadata and merged.usage_metadata["output_tokens"] > 0


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_with_structured_output_parses_a_model(llm: ChatRoutedLLM, method: str) -> None:
    result = llm.with_structured_output(Person, method=method).invoke("Alice is 31 years old.")
    assert isinstance(result, Person)


def test_langchain_create_agent_loop_calls_the_tool_and_ends(llm: ChatRoutedLLM) -> None:
    from langchain.agents import create_agent

    agent = create_agent(llm, tools=[get_weather], system_prompt="Use get_weather for weather questions.")
    state = agent.invoke(
        {"messages": [{"role": "user", "content": "What is the weather in Paris?"}]}, {"recursion_limit": 8}
    )
    messages = state["messages"]
    calls = [m for m in messages if isinstance(m, AIMessage) and m.tool_calls]
    assert calls and calls[0].tool_calls[0]["name"] == "get_weather"
    get_weather.args_schema.model_validate(calls[0].tool_calls[0]["args"])
    assert any(isinstance(m, ToolMessage) and m.name == "get_weather" for m in messages)
    final = messages[-1]
    assert isinstance(final, AIMessage) and not final.tool_calls  # the loop ended with an answer


def weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"It is sunny and 21 C in {city}."


async def test_llamaindex_function_agent_with_one_tool(no_keys_no_ollama: None) -> None:
    from llama_index.core.agent.workflow import FunctionAgent
    from llama_index.core.tools import FunctionTool
    from llama_index.llms.routed_llm import RoutedLLM

    tool_ = FunctionTool.from_defaults(fn=weather)
    agent = FunctionAgent(tools=[tool_], llm=RoutedLLM(), system_prompt="Use weather for weather questions.")
    output = await agent.run("What is the weather in Paris?", max_iterations=6)
    assert output.tool_calls, "the agent made no tool call"
    result = output.tool_calls[0]
    assert result.tool_name == "weather"
    assert isinstance(result.tool_kwargs.get("city"), str)
    assert "sunny" in str(result.tool_output.content)
    assert isinstance(str(output.response.content or ""), str)


def test_a_small_output_cap_does_not_cut_tool_arguments_short(llm: ChatRoutedLLM) -> None:
    msg = llm.bind_tools([get_weather], tool_choice="get_weather").invoke("Weather in Lima?", max_tokens=4)
    assert_valid_call(msg, {"get_weather": get_weather})


def test_a_small_output_cap_does_not_cut_structured_output_short(llm: ChatRoutedLLM) -> None:
    result = llm.with_structured_output(Person, method="json_schema").invoke("Alice is 31 years old.", max_tokens=4)
    assert isinstance(result, Person)


@tool
def create_customer(customer_name: str, description: str) -> str:
    """Create a customer with a name in their native language."""
    return f"Created {customer_name}"


def test_arguments_that_run_on_past_the_cap_are_regenerated_bounded_and_parse(llm: ChatRoutedLLM) -> None:
    # Greedy decoding on this prompt repeats inside a string until the 256-token cap
    # (the standard suite's unicode test found it): the retry bounds every string.
    prompt = "Create a customer named '你好啊集团' (Hello Group) - a Chinese technology company"
    msg = llm.bind_tools([create_customer], tool_choice="create_customer").invoke(prompt, temperature=0.0)
    assert not msg.invalid_tool_calls, msg.invalid_tool_calls
    assert_valid_call(msg, {"create_customer": create_customer})


def test_llamaindex_predict_and_call_and_structured_predict_on_the_defaults(no_keys_no_ollama: None) -> None:
    from llama_index.core.prompts import PromptTemplate
    from llama_index.core.tools import FunctionTool
    from llama_index.llms.routed_llm import RoutedLLM

    llm = RoutedLLM()
    called = llm.predict_and_call([FunctionTool.from_defaults(fn=weather)], "What is the weather in Paris?")
    person = llm.structured_predict(Person, PromptTemplate("Extract the person: {text}"), text="Alice is 31.")
    assert called.sources and called.sources[0].tool_name == "weather"
    assert not called.sources[0].is_error
    assert "sunny" in called.response
    assert isinstance(person, Person)


def test_cloud_tiers_without_keys_fail_at_once_naming_the_variable(no_keys_no_ollama: None) -> None:
    # No DNS lookup, no provider error text: each unset key is named, and the call is served locally.
    out = Router().complete(
        [{"role": "user", "content": "Design a multi-region rate limiter. Analyze the trade-offs step by step."}],
        max_tokens=4,
    )
    assert out.routing.tier == "local"
    errors = {a["tier"]: a["error"] for a in out.routing.attempts}
    assert errors["premium"].startswith("MissingCredential") and "ANTHROPIC_API_KEY" in errors["premium"]
    assert "OPENAI_API_KEY" in errors["premium"]
    assert errors["fast"].startswith("MissingCredential") and "GROQ_API_KEY" in errors["fast"]


def test_closing_the_provider_frees_its_models_and_the_next_call_loads_again(llm: ChatRoutedLLM) -> None:
    from routed_llm.local_llm import register_local_provider

    handler = register_local_provider()
    llm.invoke("Say hi.", max_tokens=4)
    assert handler._models  # loaded by the call
    handler.close()  # what atexit runs, before llama-cpp-python's globals are torn down
    assert not handler._models
    assert llm.invoke("Say hi.", max_tokens=4).response_metadata["routing"]["tier"] == "local"
    assert handler._models
