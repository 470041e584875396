"""Decisions both adapters take from the core (`routed_llm.adapters`), so the frameworks cannot drift apart."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.documents import Document
from llama_index.core.schema import TextNode
from llama_index.embeddings.routed_llm import stamp_space as li_stamp
from llama_index.llms.routed_llm import RoutedLLM
from llama_index.llms.routed_llm import base as li_base
from pydantic import BaseModel

from langchain_routed_llm import ChatRoutedLLM
from langchain_routed_llm import chat_models as lc_chat
from langchain_routed_llm.embeddings import stamp_space as lc_stamp
from routed_llm import RouteHints, Router
from routed_llm.adapters import resolve_tool_choice, split_call_kwargs, starting_decision
from routed_llm.embeddings import METADATA_KEY, EmbeddingSpace, scheme_for_model


def tier(model: str, *, private: bool = False, tools: bool = False, window: int = 8192) -> dict[str, Any]:
    dep = {"model": model, "api_key": "sk-x", "context_window": window, "capabilities": {"tools": tools}}
    return {"models": [dep], "private": private}


CONFIG: dict[str, Any] = {
    "tiers": {
        "cloud": tier("openai/big", tools=True, window=128000),
        "edge": tier("openai/edge", private=True, window=4096),
        "local": tier("openai/small", private=True, tools=True, window=2048),
    },
    # a confidential call's chain (cloud -> edge) reaches a private tier only through the fallback
    "routing": {"default": "cloud", "fallbacks": {"cloud": ["edge"]}, "last_resort": "raise"},
}


class Weather(BaseModel):
    city: str


def test_both_adapters_take_hint_keys_from_route_hints() -> None:
    assert lc_chat.HINT_KEYS == li_base.HINT_KEYS == tuple(RouteHints.model_fields)


def test_split_call_kwargs_routes_model_to_the_tier_hint_and_drops_unset_values() -> None:
    hints, params = split_call_kwargs(
        {"tier": None, "task": "chat"}, {"temperature": 0.2}, {"model": "local", "temperature": None, "top_p": 0.9}
    )
    assert hints == {"tier": "local", "task": "chat"}
    assert params == {"top_p": 0.9}  # a per-call None unsets the default, as before in both adapters


def test_tool_choice_mapping_is_one_function_with_the_named_tool_check() -> None:
    assert resolve_tool_choice("any", ["a"]) == {"type": "function", "function": {"name": "a"}}
    assert resolve_tool_choice(True, ["a", "b"]) == "required"
    with pytest.raises(ValueError, match="not one of the tools"):
        resolve_tool_choice("c", ["a", "b"])
    # LangChain's bind_tools now checks the name too (it used to pass a typo to the provider)
    llm = ChatRoutedLLM(config=CONFIG)
    with pytest.raises(ValueError, match="'Wether', which is not one of the tools: Weather"):
        llm.bind_tools([Weather], tool_choice="Wether")
    bound = llm.bind_tools([Weather], tool_choice="any")
    assert bound.kwargs["tool_choice"] == {"type": "function", "function": {"name": "Weather"}}  # type: ignore[attr-defined]


def test_llamaindex_metadata_asks_the_policy_for_the_starting_tier() -> None:
    router = Router(CONFIG)
    try:
        llm = RoutedLLM(router=router, sensitivity="confidential")
        # the policy's answer for a confidential call: the first private tier of the chain,
        # not "any private tier" (local has tools but is not on the chain and last_resort is raise)
        assert router.route("hello", {"sensitivity": "confidential"}).tier == "edge"
        assert llm.metadata.model_name == "openai/edge"
        assert not llm.metadata.is_function_calling_model  # edge has no tools; local is out of reach
        with_resort = {**CONFIG, "routing": {**CONFIG["routing"], "last_resort": "any_eligible"}}
        assert RoutedLLM(config=with_resort, sensitivity="confidential").metadata.is_function_calling_model
        decision = starting_decision(router, {"tier": "local"})
        assert decision is not None and decision.tier == "local"
    finally:
        router.close()


def test_stamp_space_copies_in_both_frameworks() -> None:
    space = EmbeddingSpace(model="nomic-embed-text", dimensions=768, prefixes=scheme_for_model("nomic-embed-text"))
    doc = Document(page_content="a", metadata={"k": 1})
    node = TextNode(text="a", metadata={"k": 1})
    (lc_out,) = lc_stamp([doc], space)
    (li_out,) = li_stamp([node], space)
    assert lc_out.metadata[METADATA_KEY] == li_out.metadata[METADATA_KEY] == space.id
    assert doc.metadata == {"k": 1} and node.metadata == {"k": 1}  # the caller's objects are unchanged
    assert METADATA_KEY not in node.excluded_embed_metadata_keys
    assert METADATA_KEY in li_out.excluded_embed_metadata_keys and METADATA_KEY in li_out.excluded_llm_metadata_keys
