"""Empty or malformed answers are tier failures: fall back, charge nothing, cache nothing (issue 11, MEDIUM 3).

Also the provider's 400 (MEDIUM 4): a `RequestRejected` naming the tier, with the provider's
whole message. Every server is a real loopback endpoint (`tests.servers.faulty.FaultyServer`).
"""

from pathlib import Path
from typing import Any

import pytest
from llama_index.core.llms import ChatMessage
from llama_index.llms.routed_llm import RoutedLLM

from langchain_routed_llm import ChatRoutedLLM
from routed_llm import AllTiersFailed, EmptyAnswer, RequestRejected, Router, StreamEnd
from tests.servers.faulty import FaultyServer

pytestmark = pytest.mark.servers

H = {"sensitivity": "public", "task": "chat", "complexity": "simple"}


def two_tiers(cloud: FaultyServer, local: FaultyServer, tmp_path: Path, **extra: Any) -> Router:
    def dep(srv: FaultyServer) -> dict[str, Any]:
        return {
            "model": "openai/m",
            "api_base": srv.base_url,
            "api_key": "sk-x",
            "input_cost_per_token": 1e-3,
            "output_cost_per_token": 1e-3,
        }

    return Router(
        {
            "tiers": {"cloud": {"models": [dep(cloud)]}, "local": {"models": [dep(local)], "private": True}},
            "routing": {"default": "cloud", "fallbacks": {"cloud": ["local"]}},
            "budgets": {"store": f"sqlite:///{tmp_path}/ledger.db", "journal_dir": str(tmp_path / "j")},
            "cache": {"store": f"sqlite:///{tmp_path}/cache.db"},
            **extra,
        }
    )


@pytest.mark.parametrize("path", ["complete", "acomplete", "stream", "astream"])
@pytest.mark.parametrize("mode", ["empty_choices", "malformed_chunk"])
async def test_an_empty_or_malformed_answer_falls_back_on_every_call_path(
    faulty_server: Any, tmp_path: Path, mode: str, path: str
) -> None:
    cloud, local = faulty_server(mode), faulty_server("ok", content="a real answer")
    r = two_tiers(cloud, local, tmp_path)
    if path == "complete":
        info, text = (res := r.complete("q", H)).routing, res.response.choices[0].message.content
    elif path == "acomplete":
        info, text = (res := await r.acomplete("q", H)).routing, res.response.choices[0].message.content
    else:
        items = list(r.stream("q", H)) if path == "stream" else [i async for i in r.astream("q", H)]
        assert isinstance(items[-1], StreamEnd)
        info, text = items[-1].routing, "".join(c.choices[0].delta.content or "" for c in items[:-1] if c.choices)
    assert info.tier == "local" and info.attempts[0]["tier"] == "cloud" and text == "a real answer"
    assert len(cloud.chat_requests) == 1
    assert [e.tier for e in r.budget.ledger.entries()] == ["local"]  # the empty tier was never charged


def test_an_empty_answer_is_never_cached_and_replayed(faulty_server: Any, tmp_path: Path) -> None:
    only = faulty_server("empty_choices")
    r = Router(
        {
            "tiers": {"cloud": {"models": [{"model": "openai/m", "api_base": only.base_url, "api_key": "sk-x"}]}},
            "routing": {"default": "cloud"},
            "cache": {"store": f"sqlite:///{tmp_path}/cache.db"},
        }
    )
    with pytest.raises(AllTiersFailed) as e:
        r.complete("hello", H)
    assert isinstance(e.value.errors["cloud"], EmptyAnswer) and "no choices" in str(e.value)
    with pytest.raises(AllTiersFailed, match="no text and no tool call"):
        list(r.stream("hello", H))
    only.set_mode("ok", content="recovered")
    result = r.complete("hello", H)
    assert not result.routing.cached and result.response.choices[0].message.content == "recovered"
    assert r.complete("hello", H).routing.cached  # the real answer is what gets cached


def test_adapters_raise_routed_errors_for_empty_answers_not_index_error(faulty_server: Any) -> None:
    only = faulty_server("empty_choices")
    config = {
        "tiers": {"cloud": {"models": [{"model": "openai/m", "api_base": only.base_url, "api_key": "sk-x"}]}},
        "routing": {"default": "cloud"},
    }
    with pytest.raises(AllTiersFailed):
        ChatRoutedLLM(config=config).invoke("hello", **H)
    with pytest.raises(AllTiersFailed):
        RoutedLLM(config=config).chat([ChatMessage(role="user", content="hello")], **H)


def test_a_provider_400_names_the_tier_and_keeps_the_whole_message(faulty_server: Any, tmp_path: Path) -> None:
    long_message = "Invalid value for 'temperature': " + "x" * 400 + " (expected a number between 0 and 2)"
    bad, local = faulty_server("bad_request", content=long_message), faulty_server("ok")
    r = two_tiers(bad, local, tmp_path)
    for call in (lambda: r.complete("hi", H), lambda: list(r.stream("hi", H))):
        with pytest.raises(RequestRejected) as e:
            call()
        assert e.value.tier == "cloud" and e.value.status == 400
        assert long_message.rstrip(".") in str(e.value)
    assert len(local.chat_requests) == 0  # a request the provider rejects is not sent elsewhere
