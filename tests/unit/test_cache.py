"""The router-level response cache, offline (LiteLLM ``mock_response``, no sockets)."""

import logging
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from routed_llm import ConfigError, Router, StreamEnd, TierNotAllowed, load_config
from routed_llm.cache import CachedAnswer, MemoryCacheStore, ResponseCache, StreamRecorder
from routed_llm.config import CacheConfig
from tests.tiers import local_and_cloud

H = {"sensitivity": "public", "task": "chat", "complexity": "simple"}
ANSWER = "The quick brown fox jumps over the lazy dog, twice."


def cfg(cache: dict[str, Any] | None = None, budgets: bool = True) -> dict[str, Any]:
    c = local_and_cloud(cache={"store": "memory://", **(cache or {})})
    if budgets:
        c["budgets"] = {"store": "memory://"}
    return c


def call(r: Router, hints: dict[str, Any] | None = None, **params: Any) -> Any:
    return r.complete("hello there", {**H, **(hints or {})}, **{"mock_response": ANSWER, **params})


def text(items: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in items if not isinstance(c, StreamEnd) and c.choices)


def test_a_repeated_call_is_a_free_cache_hit() -> None:
    r = Router(cfg())
    first = call(r)
    assert first.routing.cached is False and first.routing.cost_usd > 0
    second = call(r)
    info = second.routing
    assert info.cached is True and info.as_dict()["cached"] is True
    assert info.cost_usd == 0 and info.tier == "cloud" and info.model == "anthropic/claude-x"
    assert "cache hit (answered by tier cloud" in info.reason
    assert second.response.choices[0].message.content == ANSWER
    live, hit = r.budget.ledger.entries()  # the hit is recorded for its savings, at no cost
    assert (live.cached, hit.cached, hit.cost_usd) == (False, True, 0.0)
    assert hit.baseline_usd == pytest.approx(info.saved_usd) and info.saved_usd > 0
    assert r.budget.spent_usd() == pytest.approx(first.routing.cost_usd)


class Answer(BaseModel):
    text: str


TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}


@pytest.mark.parametrize(
    "variant",
    [
        {"temperature": 0.7},
        {"max_tokens": 12},
        {"stop": ["\n"]},
        {"seed": 3},
        {"tools": [TOOL]},
        {"response_format": {"type": "json_object"}},
        {"response_format": Answer},
    ],
)
def test_decisive_params_change_the_key(variant: dict[str, Any]) -> None:
    r = Router(cfg())
    d = r.route("hello there", H)
    msgs = [{"role": "user", "content": "hello there"}]
    assert r.cache.key(d, msgs, {}) != r.cache.key(d, msgs, variant)
    assert r.cache.key(d, msgs, variant) == r.cache.key(d, msgs, dict(variant))  # stable


def test_transport_params_do_not_change_the_key() -> None:
    r = Router(cfg())
    d = r.route("hello there", H)
    msgs = [{"role": "user", "content": "hello there"}]
    assert r.cache.key(d, msgs, {"temperature": 0}) == r.cache.key(
        d, msgs, {"temperature": 0, "timeout": 5, "stream": True, "metadata": {"x": 1}}
    )


def test_messages_and_tier_chain_are_part_of_the_key() -> None:
    r = Router(cfg())
    call(r)
    assert call(r, {"tier": "local"}).routing.cached is False  # another chain
    assert r.complete("hello there!", H, mock_response=ANSWER).routing.cached is False
    assert call(r, {"tier": "local"}).routing.cached is True


def test_confidential_calls_are_not_cached_in_a_shared_store() -> None:
    r = Router(cfg({"private": False}))
    hints = {"sensitivity": "confidential"}
    assert call(r, hints).routing.tier == "local"
    assert call(r, hints).routing.cached is False
    assert r.cache.store._data == {}  # nothing was written


def test_confidential_calls_are_cached_in_a_private_store() -> None:
    r = Router(cfg({"private": True}))
    hints = {"sensitivity": "confidential"}
    call(r, hints)
    hit = call(r, hints)
    assert hit.routing.cached is True and hit.routing.tier == "local"


def test_entries_expire() -> None:
    r = Router(cfg({"ttl_s": 0.2}))
    call(r)
    assert call(r).routing.cached is True
    time.sleep(0.3)
    assert call(r).routing.cached is False


def test_stream_is_cached_and_replayed() -> None:
    r = Router(cfg())
    live = list(r.stream("hello there", H, mock_response=ANSWER))
    assert text(live) == ANSWER and live[-1].routing.cached is False
    replay = list(r.stream("hello there", H, mock_response=ANSWER))
    end = replay[-1]
    assert isinstance(end, StreamEnd) and end.routing.cached is True and end.routing.cost_usd == 0
    assert text(replay) == ANSWER
    assert len(replay) > 3  # replayed as several chunks, not one blob
    assert replay[-2].choices[0].finish_reason == end.finish_reason == "stop"
    # a streamed answer also serves a plain call, and the other way round
    assert call(r).routing.cached is True
    entries = r.budget.ledger.entries()  # one paid call; the two hits are recorded at no cost
    assert [e.cached for e in entries] == [False, True, True] and sum(e.cost_usd for e in entries[1:]) == 0
    assert end.routing.saved_usd == end.routing.baseline_cost_usd == entries[1].baseline_usd > 0


async def test_async_paths_share_the_cache() -> None:
    r = Router(cfg())
    await r.acomplete("hello there", H, mock_response=ANSWER)
    hit = await r.acomplete("hello there", H, mock_response=ANSWER)
    assert hit.routing.cached is True
    items = [i async for i in r.astream("hello there", H, mock_response=ANSWER)]
    assert items[-1].routing.cached is True and text(items) == ANSWER


def test_tool_calls_survive_the_cache() -> None:
    answer = CachedAnswer(
        content=None,
        tool_calls=[{"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}],
        finish_reason="tool_calls",
        tier="cloud",
        model="anthropic/claude-x",
    )
    response = answer.response()
    assert response.choices[0].message.tool_calls[0].function.name == "lookup"
    recorder = StreamRecorder()
    chunks = list(answer.chunks())
    for c in chunks:
        recorder.add(c)
    end = StreamEnd(routing=ResponseCache.info(answer, Router(cfg()).route("x", H)), finish_reason="tool_calls")
    again = recorder.answer(end)
    assert again is not None and again.tool_calls == answer.tool_calls and again.content is None


def test_sqlite_store_is_shared_by_routers(tmp_path: Path) -> None:
    c = cfg({"store": f"sqlite:///{tmp_path}/cache.db"})
    call(Router(c))
    assert call(Router(c)).routing.cached is True


def test_corrupt_cache_file_is_a_logged_miss(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "cache.db"
    path.write_bytes(b"not sqlite" * 100)
    r = Router(cfg({"store": f"sqlite:///{path}"}))
    with caplog.at_level(logging.WARNING):
        result = call(r)
    assert result.response.choices[0].message.content == ANSWER and result.routing.cached is False
    assert "response cache read failed" in caplog.text and "response cache write failed" in caplog.text


def test_no_cache_section_means_no_cache() -> None:
    c = cfg()
    del c["cache"]
    r = Router(c)
    assert r.cache is None
    call(r)
    assert call(r).routing.cached is False


def test_bad_cache_config_names_the_field() -> None:
    with pytest.raises(ConfigError, match=r"cache\.store: expected sqlite:///path"):
        load_config(cfg({"store": "ftp://x"}))
    with pytest.raises(ConfigError, match=r"cache\.ttl_s: Input should be greater than 0"):
        load_config(cfg({"ttl_s": -1}))
    assert "pw" not in repr(CacheConfig(store="redis://:pw@h:1/0"))


def test_langchain_and_llamaindex_share_hits() -> None:
    from llama_index.core.base.llms.types import ChatMessage
    from llama_index.llms.routed_llm import RoutedLLM

    from langchain_routed_llm import ChatRoutedLLM

    r = Router(cfg())
    lc = ChatRoutedLLM(router=r, model_kwargs={"mock_response": ANSWER}, **H)
    first = lc.invoke("hello there")
    assert first.response_metadata["routing"]["cached"] is False
    second = lc.invoke("hello there")
    assert second.content == ANSWER and second.response_metadata["routing"]["cached"] is True
    assert second.response_metadata["routing"]["cost_usd"] == 0
    streamed = list(lc.stream("hello there"))
    assert "".join(c.content for c in streamed) == ANSWER
    assert streamed[-1].response_metadata["routing"]["cached"] is True
    li = RoutedLLM(router=r, additional_kwargs={"mock_response": ANSWER}, **H)
    resp = li.chat([ChatMessage(role="user", content="hello there")])
    assert resp.message.content == ANSWER and resp.additional_kwargs["routing"]["cached"] is True


_ROUTERS = {private: Router(cfg({"private": private}, budgets=False)) for private in (False, True)}
CALL = st.fixed_dictionaries(
    {
        "sensitivity": st.sampled_from(["public", "internal", "confidential"]),
        "tier": st.sampled_from([None, "local", "cloud"]),
        "prompt": st.sampled_from(["hello there", "my IBAN please"]),
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(private_store=st.booleans(), calls=st.lists(CALL, min_size=1, max_size=6))
def test_confidential_answers_stay_private_through_the_cache(private_store: bool, calls: list[dict[str, Any]]) -> None:
    r = _ROUTERS[private_store]
    r.cache.store = MemoryCacheStore()
    allowed_keys: set[str] = set()  # keys that non-confidential calls may write
    for c in calls:
        hints = {**H, "sensitivity": c["sensitivity"], **({"tier": c["tier"]} if c["tier"] else {})}
        if c["sensitivity"] == "confidential" and c["tier"] == "cloud":
            with pytest.raises(TierNotAllowed):
                r.complete(c["prompt"], hints, mock_response=ANSWER)
            continue
        result = r.complete(c["prompt"], hints, mock_response=ANSWER)
        info = result.routing
        if c["sensitivity"] == "confidential":
            assert r.profiles[info.tier].private  # hit or miss, the answer came from a private tier
            assert private_store or not info.cached
        else:
            key = r.cache.key(info.decision, [{"role": "user", "content": c["prompt"]}], {"mock_response": ANSWER})
            assert key is not None
            allowed_keys.add(key)
    if not private_store:
        assert set(r.cache.store._data) <= allowed_keys  # nothing confidential was ever written
