"""LlamaIndex cascade and retrieval-first query engines against real loopback endpoints."""

import asyncio
from typing import Any

import pytest
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.response.schema import AsyncStreamingResponse, Response, StreamingResponse
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.llms.routed_llm import CascadeQueryEngine, RetrievalFirstQueryEngine, RoutedLLM

from routed_llm.chains import INSUFFICIENT
from tests.integration.chain_setup import TIERS, AcceptAt, calls, loopback_router
from tests.servers.faulty import FaultyServer

pytestmark = pytest.mark.servers


@pytest.fixture
def servers(faulty_server: Any) -> dict[str, FaultyServer]:
    return {
        "local": faulty_server("ok", content="Canberra [1]."),
        "mid": faulty_server("ok", content="Canberra is the capital."),
        "premium": faulty_server("ok", content="Canberra, since 1913."),
    }


def make_llm(servers: dict[str, FaultyServer]) -> RoutedLLM:
    return RoutedLLM(router=loopback_router(servers))


class FixedRetriever(BaseRetriever):
    def __init__(self, nodes: list[NodeWithScore] | Exception) -> None:
        self.nodes = nodes
        super().__init__()

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        if isinstance(self.nodes, Exception):
            raise self.nodes
        return self.nodes


NODES = [
    NodeWithScore(
        node=TextNode(text="Canberra is the capital city of Australia.", metadata={"source": "canberra"}), score=0.9
    ),
    NodeWithScore(
        node=TextNode(text="Sydney is the largest city in Australia.", metadata={"source": "sydney"}), score=0.6
    ),
]


def test_cascade_query_engine_escalates_per_verifier(servers: dict[str, FaultyServer]) -> None:
    engine = CascadeQueryEngine(make_llm(servers), TIERS, AcceptAt("mid"), max_tokens=16)
    response = engine.query("What is the capital of Australia?")
    assert isinstance(response, Response)
    assert response.response == "Canberra is the capital."
    meta = response.metadata or {}
    assert meta["tier"] == "mid" and [s["action"] for s in meta["trail"]] == ["escalated", "accepted"]
    assert meta["cost_usd"] == pytest.approx(sum(s["cost_usd"] for s in meta["trail"])) and meta["cost_usd"] > 0
    assert calls(servers) == {"local": 1, "mid": 1, "premium": 0}


def test_cascade_query_engine_keeps_confidential_questions_private(servers: dict[str, FaultyServer]) -> None:
    engine = CascadeQueryEngine(
        make_llm(servers), TIERS, AcceptAt("premium"), sensitivity="confidential", max_tokens=16
    )
    meta = engine.query("Summarise our Q3 dispute.").metadata or {}
    assert meta["outcome"] == "blocked" and meta["tier"] == "local"
    assert servers["mid"].connections == 0 and servers["premium"].connections == 0


def test_cascade_query_engine_streams_the_accepted_answer(servers: dict[str, FaultyServer]) -> None:
    engine = CascadeQueryEngine(make_llm(servers), TIERS, AcceptAt("premium"), streaming=True, max_tokens=16)
    response = engine.query("Q?")
    assert isinstance(response, StreamingResponse)
    assert "".join(response.response_gen) == "Canberra, since 1913."
    assert response.metadata is not None and response.metadata["tier"] == "premium"

    async def go() -> tuple[str, dict[str, Any]]:
        r = await CascadeQueryEngine(make_llm(servers), TIERS, AcceptAt("mid"), streaming=True, max_tokens=16).aquery(
            "Q?"
        )
        assert isinstance(r, AsyncStreamingResponse)
        return "".join([t async for t in r.async_response_gen()]), r.metadata or {}

    text, meta = asyncio.run(go())
    assert text == "Canberra is the capital." and meta["tier"] == "mid"


def test_retrieval_first_query_engine_cites_sources_cheaply(servers: dict[str, FaultyServer]) -> None:
    engine = RetrievalFirstQueryEngine(
        make_llm(servers), FixedRetriever(NODES), cheap_tier="local", escalation_tier="premium", max_tokens=16
    )
    response = engine.query("What is the capital city of Australia?")
    assert response.response == "Canberra [1]."
    assert [n.node.metadata["source"] for n in response.source_nodes] == ["canberra"]
    assert (response.metadata or {})["outcome"] == "answered_from_context"
    assert calls(servers) == {"local": 1, "mid": 0, "premium": 0}


def test_retrieval_first_query_engine_escalates_and_handles_retriever_errors(
    servers: dict[str, FaultyServer],
) -> None:
    servers["local"].set_mode("ok", content=INSUFFICIENT)
    llm = make_llm(servers)
    engine = RetrievalFirstQueryEngine(
        llm, FixedRetriever(NODES), cheap_tier="local", escalation_tier="premium", max_tokens=16
    )
    meta = engine.query("What is the capital city of Australia?").metadata or {}
    assert meta["tier"] == "premium" and meta["outcome"] == "escalated"
    assert calls(servers) == {"local": 1, "mid": 0, "premium": 1}
    broken = RetrievalFirstQueryEngine(
        llm, FixedRetriever(RuntimeError("index offline")), cheap_tier="local", escalation_tier="premium", max_tokens=16
    )
    response = asyncio.run(broken.aquery("What is the capital city of Australia?"))
    assert isinstance(response, Response)
    assert (response.metadata or {})["outcome"] == "retrieval_error" and response.response == ""
    assert "index offline" in (response.metadata or {})["trail"][0]["reason"]
    assert calls(servers) == {"local": 1, "mid": 0, "premium": 1}  # no new call
