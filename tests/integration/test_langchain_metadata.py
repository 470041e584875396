"""Per-call routing metadata reaches the router through every LangChain entry point (issue 11, MEDIUM 6).

``metadata`` is LangChain's own keyword (``generate_prompt(metadata=...)``), so passing it per call
used to raise ``TypeError: got multiple values for keyword argument 'metadata'``. Each entry point
here calls a real loopback endpoint; the spend ledger shows which ``user_id`` each call was charged to.
"""

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from langchain_routed_llm import ChatRoutedLLM
from routed_llm import InvalidRequest, Router
from tests.servers.faulty import FaultyServer

pytestmark = pytest.mark.servers

H = {"sensitivity": "public", "task": "chat", "complexity": "simple"}
USER = {"user_id": "u-42"}


@pytest.fixture
def llm(faulty_server: Any, tmp_path: Path) -> ChatRoutedLLM:
    srv: FaultyServer = faulty_server("ok", content="fine")
    router = Router(
        {
            "tiers": {
                "cloud": {
                    "models": [
                        {
                            "model": "openai/m",
                            "api_base": srv.base_url,
                            "api_key": "sk-x",
                            "input_cost_per_token": 1e-6,
                            "output_cost_per_token": 1e-6,
                        }
                    ]
                }
            },
            "routing": {"default": "cloud"},
            "budgets": {
                "store": f"sqlite:///{tmp_path}/ledger.db",
                "journal_dir": str(tmp_path / "j"),
                "record_metadata": ["user_id"],
            },
        }
    )
    return ChatRoutedLLM(router=router, **H)


async def collect_astream(runnable: Any, **kw: Any) -> Any:
    chunks = [c async for c in runnable.astream("hi", **kw)]
    return chunks[-1]


ENTRY_POINTS: dict[str, Callable[[ChatRoutedLLM], Any]] = {
    "invoke(metadata=)": lambda m: m.invoke("hi", metadata=USER),
    "invoke(routing_metadata=)": lambda m: m.invoke("hi", routing_metadata=USER),
    "invoke(config.metadata)": lambda m: m.invoke("hi", config={"metadata": USER}),
    "with_config(metadata=)": lambda m: m.with_config(metadata=USER).invoke("hi"),
    "with_config(configurable.metadata)": lambda m: m.with_config(configurable={"metadata": USER}).invoke("hi"),
    "bind(metadata=)": lambda m: m.bind(metadata=USER).invoke("hi"),
    "stream(metadata=)": lambda m: list(m.stream("hi", metadata=USER))[-1],
    "batch(config.metadata)": lambda m: m.batch(["hi"], config={"metadata": USER})[0],
}
ASYNC_ENTRY_POINTS: dict[str, Callable[[ChatRoutedLLM], Awaitable[Any]]] = {
    "ainvoke(metadata=)": lambda m: m.ainvoke("hi", metadata=USER),
    "ainvoke(config.metadata)": lambda m: m.ainvoke("hi", config={"metadata": USER}),
    "astream(metadata=)": lambda m: collect_astream(m, metadata=USER),
    "bind(metadata=).ainvoke": lambda m: m.bind(metadata=USER).ainvoke("hi"),
    "abatch(config.metadata)": lambda m: _first(m.abatch(["hi"], config={"metadata": USER})),
}


async def _first(coro: Awaitable[list[Any]]) -> Any:
    return (await coro)[0]


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_sync_entry_points_carry_routing_metadata(llm: ChatRoutedLLM, entry: str) -> None:
    ENTRY_POINTS[entry](llm)
    assert [e.metadata for e in llm.routed.budget.ledger.entries()] == [USER]


@pytest.mark.parametrize("entry", list(ASYNC_ENTRY_POINTS))
async def test_async_entry_points_carry_routing_metadata(llm: ChatRoutedLLM, entry: str) -> None:
    await ASYNC_ENTRY_POINTS[entry](llm)
    assert [e.metadata for e in llm.routed.budget.ledger.entries()] == [USER]


def test_later_sources_win_and_a_non_mapping_is_refused(llm: ChatRoutedLLM) -> None:
    llm.with_config(metadata={"user_id": "from-config"}).invoke("hi", metadata=USER)
    assert [e.metadata for e in llm.routed.budget.ledger.entries()] == [USER]
    with pytest.raises(InvalidRequest, match="routing metadata must be a mapping"):
        llm.invoke("hi", routing_metadata="u-42")
