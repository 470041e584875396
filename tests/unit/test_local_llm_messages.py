"""Message and response-format translation for llama.cpp's chatml-function-calling handler (pure functions)."""

from routed_llm.local_llm import _chatml_messages, _response_format, _tool_name

TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}


def test_tool_results_become_user_turns_naming_the_function() -> None:
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "Sunny"}]},
    ]
    out = _chatml_messages(messages, [TOOL])
    assert out[0]["role"] == "system"  # the template lists tools only inside a system turn
    assert out[-1]["role"] == "user"
    assert "get_weather returned: Sunny" in out[-1]["content"]
    assert out[2]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert all("content" in m for m in out)


def test_no_system_turn_is_added_without_tools() -> None:
    assert _chatml_messages([{"role": "user", "content": "hi"}], None) == [{"role": "user", "content": "hi"}]


def test_openai_json_schema_becomes_a_llama_cpp_grammar_request() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    assert _response_format({"type": "json_schema", "json_schema": {"name": "X", "schema": schema}}) == {
        "type": "json_object",
        "schema": schema,
    }
    assert _response_format({"type": "json_object"}) == {"type": "json_object"}
    assert _response_format({"type": "text"}) is None


def test_forced_tool_name() -> None:
    assert _tool_name({"type": "function", "function": {"name": "f"}}) == "f"
    assert _tool_name("auto") is None
