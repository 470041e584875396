"""Message and response-format translation for llama.cpp's chatml-function-calling handler (pure functions)."""

from routed_llm.local_llm import _bounded_schema, _chatml_messages, _response_format, _tool_name

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


def test_a_bounded_schema_caps_free_strings_and_arrays_to_fit_the_output_cap() -> None:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "kind": {"type": "string", "enum": ["a", "b"]},
            "when": {"type": "string", "format": "date"},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 5},
            "note": {"type": "string", "maxLength": 2},
        },
        "required": ["name", "tags"],
    }
    bounded = _bounded_schema(schema, 256)
    props = bounded["properties"]
    # name + note + 3 array items = 5 free strings; 8 typed values: (256 - 64) // (3 * 5)
    assert props["name"]["maxLength"] == 12
    assert props["note"]["maxLength"] == 2  # a tighter cap of the caller's own is kept
    assert "maxLength" not in props["kind"] and "maxLength" not in props["when"]
    assert props["tags"]["maxItems"] == 3 and props["tags"]["minItems"] == 3
    assert props["tags"]["items"]["maxLength"] == 12
    assert bounded["required"] == ["name", "tags"]
    assert "maxLength" not in schema["properties"]["name"]  # the caller's schema is not touched


def test_a_bounded_schema_follows_definitions_and_never_caps_below_a_few_characters() -> None:
    schema = {
        "$defs": {"Item": {"type": "object", "properties": {"label": {"type": "string"}}}},
        "type": "object",
        "properties": {f"f{i}": {"type": "string"} for i in range(40)} | {"item": {"$ref": "#/$defs/Item"}},
    }
    bounded = _bounded_schema(schema, 256)
    assert bounded["$defs"]["Item"]["properties"]["label"]["maxLength"] == 4
    assert bounded["properties"]["f0"]["maxLength"] == 4
