"""The chains with a real model as the private tier: llama.cpp serving Gemma 3 270M (cassettes).

The default run replays cassettes recorded from the real server; re-record with
``pytest tests/integration/test_chains_llama.py --record-mode=rewrite``. The
non-private tier is a live `FaultyServer` on loopback (never recorded), so the
connection count proves a confidential question never reached it.
"""

import asyncio
from typing import Any
from urllib.parse import urlparse

import pytest
from langchain_core.documents import Document
from langchain_core.runnables import RunnableLambda

from langchain_routed_llm import ChatRoutedLLM, create_cascade_chain, create_retrieval_first_chain
from routed_llm import Router
from tests.integration.chain_setup import AcceptAt, tier
from tests.servers.faulty import FaultyServer
from tests.servers.fixtures import llama_port

pytestmark = [pytest.mark.vcr, pytest.mark.servers]


def _only_llama(request: Any) -> Any:
    """Record (and replay) only the llama server; the loopback cloud tier is real every run."""
    return request if urlparse(request.uri).port == llama_port() else None


@pytest.fixture(scope="module")
def vcr_config(vcr_config: dict[str, Any]) -> dict[str, Any]:
    return {**vcr_config, "before_record_request": _only_llama}


@pytest.fixture
def cloud(faulty_server: Any) -> FaultyServer:
    return faulty_server("ok", content="Premium answer.")


def make_llm(llama_base_url: str, cloud: FaultyServer) -> ChatRoutedLLM:
    return ChatRoutedLLM(
        router=Router(
            {
                "tiers": {
                    "local": tier(
                        "openai/gemma-3-270m", llama_base_url, private=True, max_tokens=12, context_window=2048
                    ),
                    "premium": tier("openai/premium-model", cloud.base_url, price=3e-5),
                },
                "routing": {"default": "local"},
            }
        )
    )


def test_confidential_cascade_ends_on_the_real_private_model(llama_base_url: str, cloud: FaultyServer) -> None:
    chain = create_cascade_chain(make_llm(llama_base_url, cloud), ["local", "premium"], temperature=0.0)
    out = chain.invoke({"question": "Summarise the complaint from our client.", "sensitivity": "confidential"})
    assert cloud.connections == 0
    assert out["tier"] == "local" and out["model"] == "openai/gemma-3-270m" and out["outcome"] == "blocked"
    assert out["answer"].strip()  # Gemma's (nonsense) reply, with any confidence line stripped
    assert out["trail"][0]["action"] == "skipped" and out["trail"][0]["tier"] == "premium"
    assert out["trail"][1]["action"] == "final" and "no allowed tier left" in out["trail"][1]["reason"]
    assert out["trail"][1]["completion_tokens"] > 0 and out["trail"][-1]["action"] == "blocked"
    assert out["cost_usd"] == 0.0  # served privately, for free


def test_public_cascade_escalates_from_the_real_model_when_told(llama_base_url: str, cloud: FaultyServer) -> None:
    chain = create_cascade_chain(
        make_llm(llama_base_url, cloud), ["local", "premium"], AcceptAt("premium"), temperature=0.0
    )
    out = chain.invoke({"question": "Name a colour.", "sensitivity": "public"})
    assert out["tier"] == "premium" and out["answer"] == "Premium answer." and len(cloud.chat_requests) == 1
    assert out["trail"][0]["tier"] == "local" and out["trail"][0]["completion_tokens"] > 0
    assert out["cost_usd"] == pytest.approx(out["trail"][1]["cost_usd"]) and out["cost_usd"] > 0


def test_streaming_the_real_model_live(llama_base_url: str, cloud: FaultyServer) -> None:
    chain = create_cascade_chain(make_llm(llama_base_url, cloud), ["local"], AcceptAt("local"), temperature=0.0)
    chunks = list(chain.stream({"question": "Say hello.", "sensitivity": "public"}))
    pieces = [c["answer"] for c in chunks if "answer" in c]
    assert len(pieces) > 1 and "".join(pieces).strip()
    assert chunks[-1]["tier"] == "local" and chunks[-1]["trail"][-1]["completion_tokens"] > 0
    assert cloud.connections == 0


def test_retrieval_first_answers_on_the_real_model(llama_base_url: str, cloud: FaultyServer) -> None:
    docs = [Document(page_content="The office opens at nine in the morning.", metadata={"source": "handbook"})]
    chain = create_retrieval_first_chain(
        make_llm(llama_base_url, cloud),
        RunnableLambda(lambda q: docs),
        cheap_tier="local",
        escalation_tier="premium",
        temperature=0.0,
    )

    async def go() -> dict[str, Any]:
        return await chain.ainvoke({"question": "When does the office open in the morning?", "sensitivity": "public"})

    out = asyncio.run(go())
    assert out["tier"] == "local" and out["outcome"] == "answered_from_context"
    assert cloud.connections == 0 and out["trail"][1]["completion_tokens"] > 0
