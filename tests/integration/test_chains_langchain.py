"""LangChain cascade and retrieval-first chains end to end against real loopback endpoints.

Each tier is a real OpenAI-compatible HTTP server (`FaultyServer("ok")`) answering a
fixed text; connection counts prove which tiers were (not) contacted.
"""

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.runnables import RunnableLambda

from langchain_routed_llm import ChatRoutedLLM, create_cascade_chain, create_retrieval_first_chain
from routed_llm.chains import INSUFFICIENT, RetrievalError
from routed_llm.escalation import AgreementVerifier, Attempt
from tests.integration.chain_setup import TIERS, AcceptAt, calls, loopback_router
from tests.servers.faulty import FaultyServer

pytestmark = pytest.mark.servers


@pytest.fixture
def servers(faulty_server: Any) -> dict[str, FaultyServer]:
    return {
        "local": faulty_server("ok", content="Canberra.\nConfidence: 0.4"),
        "mid": faulty_server("ok", content="Canberra is the capital.\nConfidence: 0.9"),
        "premium": faulty_server("ok", content="Canberra, since 1913."),
    }


def make_llm(servers: dict[str, FaultyServer]) -> ChatRoutedLLM:
    return ChatRoutedLLM(router=loopback_router(servers))


def assert_costs_add_up(out: dict[str, Any]) -> None:
    assert out["cost_usd"] == pytest.approx(sum(s["cost_usd"] for s in out["trail"]))
    assert out["prompt_tokens"] == sum(s["prompt_tokens"] for s in out["trail"])


def test_cascade_self_confidence_escalates_once_and_strips_the_confidence(servers: dict[str, FaultyServer]) -> None:
    chain = create_cascade_chain(make_llm(servers), tiers=TIERS, max_tokens=16)
    out = chain.invoke({"question": "What is the capital of Australia?", "sensitivity": "public"})
    assert out["answer"] == "Canberra is the capital." and out["tier"] == "mid" and out["outcome"] == "accepted"
    assert [(s["tier"], s["action"]) for s in out["trail"]] == [("local", "escalated"), ("mid", "accepted")]
    assert "0.40 < 0.7" in out["trail"][0]["reason"]
    assert calls(servers) == {"local": 1, "mid": 1, "premium": 0}
    assert servers["premium"].connections == 0
    assert "Confidence" in servers["local"].chat_requests[0].body["messages"][0]["content"]
    assert out["cost_usd"] > 0 and out["trail"][0]["cost_usd"] == 0.0
    assert_costs_add_up(out)


@pytest.mark.parametrize("accept_at", TIERS)
def test_cascade_escalates_exactly_when_the_verifier_says(servers: dict[str, FaultyServer], accept_at: str) -> None:
    verifier = AcceptAt(accept_at)
    out = create_cascade_chain(make_llm(servers), TIERS, verifier, max_tokens=16).invoke("Capital of Australia?")
    reached = TIERS[: TIERS.index(accept_at) + 1]
    assert verifier.seen == reached
    assert calls(servers) == {t: int(t in reached) for t in TIERS}
    assert out["tier"] == accept_at
    assert [s["tier"] for s in out["trail"]] == reached
    assert_costs_add_up(out)
    if accept_at == "premium":
        assert out["cost_usd"] > out["trail"][0]["cost_usd"] + out["trail"][1]["cost_usd"] > 0


@pytest.mark.parametrize("how", ["hint", "config", "inferred"])
def test_confidential_question_never_leaves_the_private_tier(servers: dict[str, FaultyServer], how: str) -> None:
    chain = create_cascade_chain(make_llm(servers), TIERS, AcceptAt("premium"), max_tokens=16)
    question = "Summarise the dispute on card 4111 1111 1111 1111 for me."
    if how == "hint":
        out = chain.invoke({"question": "Summarise our Q3 dispute.", "sensitivity": "confidential"})
    elif how == "config":
        out = chain.invoke("Summarise our Q3 dispute.", {"configurable": {"sensitivity": "confidential"}})
    else:
        out = chain.invoke(question)
    assert servers["mid"].connections == 0 and servers["premium"].connections == 0
    assert calls(servers)["local"] == 1
    assert out["tier"] == "local" and out["outcome"] == "blocked"
    actions = [(s["tier"], s["action"]) for s in out["trail"]]
    assert ("mid", "skipped") in actions and ("premium", "skipped") in actions and actions[-1][1] == "blocked"
    assert "confidential" in out["trail"][-1]["reason"]


@pytest.mark.parametrize("bad", ["garbage", "raises"])
def test_broken_verifier_keeps_the_cheap_answer_with_no_premium_call(
    servers: dict[str, FaultyServer], bad: str
) -> None:
    class Bad:
        name = "bad"

        def verify(self, question: str, attempt: Attempt, history: Sequence[Attempt]) -> Any:
            if bad == "raises":
                raise RuntimeError("verifier exploded")
            return "escalate please"

    out = create_cascade_chain(make_llm(servers), TIERS, Bad(), max_tokens=16).invoke("Capital of Australia?")
    assert out["outcome"] == "verifier_error" and out["tier"] == "local"
    assert out["trail"][-1]["action"] == "error" and "keeping this answer" in out["trail"][-1]["reason"]
    assert servers["mid"].connections == 0 and servers["premium"].connections == 0


def test_agreement_verifier_over_real_tiers(servers: dict[str, FaultyServer]) -> None:
    servers["mid"].set_mode("ok", content="B")
    servers["local"].set_mode("ok", content="B\n")
    out = create_cascade_chain(make_llm(servers), TIERS, AgreementVerifier(), max_tokens=4).invoke("A or B?")
    assert out["tier"] == "mid" and out["answer"] == "B" and servers["premium"].connections == 0
    assert "agreement with local 1.00" in out["trail"][-1]["reason"]


def test_stream_yields_only_the_accepted_answer(servers: dict[str, FaultyServer]) -> None:
    chain = create_cascade_chain(make_llm(servers), TIERS, AcceptAt("premium"), max_tokens=16)
    chunks = list(chain.stream("Capital of Australia?"))
    answer = "".join(c.get("answer", "") for c in chunks)
    assert answer == "Canberra, since 1913."
    assert len([c for c in chunks if "answer" in c]) > 1  # the last tier is streamed live, piece by piece
    total = chunks[0]
    for c in chunks[1:]:
        total = total + c
    assert total["answer"] == answer and total["tier"] == "premium"
    assert [s["action"] for s in total["trail"]] == ["escalated", "escalated", "accepted"]
    assert total["trail"][-1]["completion_tokens"] > 0 and total["cost_usd"] > 0
    assert servers["premium"].chat_requests[0].body.get("stream") is True
    # accepted before the last tier: the verified answer is emitted whole, never the rejected one
    mid = list(create_cascade_chain(make_llm(servers), TIERS, AcceptAt("mid"), max_tokens=16).stream("Q?"))
    assert "".join(c.get("answer", "") for c in mid) == "Canberra is the capital.\nConfidence: 0.9"


def test_async_invoke_and_stream(servers: dict[str, FaultyServer]) -> None:
    chain = create_cascade_chain(make_llm(servers), TIERS, AcceptAt("mid"), max_tokens=16)

    async def go() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        return await chain.ainvoke("Q?"), [c async for c in chain.astream("Q?")]

    out, chunks = asyncio.run(go())
    assert out["tier"] == "mid" and calls(servers) == {"local": 2, "mid": 2, "premium": 0}
    assert "".join(c.get("answer", "") for c in chunks) == out["answer"]


# ------------------------------------------------------------------ retrieval-first

DOCS = [
    Document(
        page_content="Canberra is the capital city of Australia.", metadata={"source": "wiki/canberra", "score": 0.9}
    ),
    Document(page_content="Sydney is the largest city in Australia.", metadata={"source": "wiki/sydney", "score": 0.7}),
]


def retriever(docs: list[Document] | Exception) -> RunnableLambda:
    def get(query: str) -> list[Document]:
        if isinstance(docs, Exception):
            raise docs
        return docs

    return RunnableLambda(get)


def rf_chain(servers: dict[str, FaultyServer], docs: list[Document] | Exception, **kw: Any) -> Any:
    return create_retrieval_first_chain(
        make_llm(servers), retriever(docs), cheap_tier="local", escalation_tier="premium", max_tokens=16, **kw
    )


def test_retrieval_first_answers_cheaply_with_citations(servers: dict[str, FaultyServer]) -> None:
    servers["local"].set_mode("ok", content="Canberra [1].")
    out = rf_chain(servers, DOCS).invoke("What is the capital city of Australia?")
    assert out["answer"] == "Canberra [1]." and out["tier"] == "local" and out["outcome"] == "answered_from_context"
    assert [s["source"] for s in out["sources"]] == ["wiki/canberra"]
    assert calls(servers) == {"local": 1, "mid": 0, "premium": 0}
    sent = servers["local"].chat_requests[0].body["messages"]
    assert "[1] Canberra is the capital" in sent[1]["content"] and INSUFFICIENT in sent[0]["content"]
    assert out["trail"][0]["action"] == "retrieved" and "sufficient" in out["trail"][0]["reason"]


def test_retrieval_first_escalates_when_the_cheap_tier_judges_the_context_insufficient(
    servers: dict[str, FaultyServer],
) -> None:
    servers["local"].set_mode("ok", content=INSUFFICIENT)
    out = rf_chain(servers, DOCS).invoke("What is the capital city of Australia?")
    assert out["tier"] == "premium" and out["outcome"] == "escalated" and out["answer"] == "Canberra, since 1913."
    assert calls(servers) == {"local": 1, "mid": 0, "premium": 1}
    assert [(s["tier"], s["action"]) for s in out["trail"][1:]] == [("local", "escalated"), ("premium", "accepted")]
    assert_costs_add_up(out)


def test_retrieval_first_cheap_signals_skip_the_cheap_tier(servers: dict[str, FaultyServer]) -> None:
    out = rf_chain(servers, []).invoke("What is the capital city of Australia?")
    assert calls(servers) == {"local": 0, "mid": 0, "premium": 1} and out["tier"] == "premium"
    assert "no passages" in out["trail"][0]["reason"]
    low = rf_chain(servers, DOCS, min_score=0.95).invoke("What is the capital city of Australia?")
    assert "best retrieval score 0.90 < 0.95" in low["trail"][0]["reason"] and low["tier"] == "premium"
    off_topic = rf_chain(servers, DOCS).invoke("How do penguins regulate body temperature?")
    assert "coverage" in off_topic["trail"][0]["reason"] and off_topic["tier"] == "premium"
    assert calls(servers)["local"] == 0


def test_retrieval_first_retriever_error_is_reported_without_any_model_call(servers: dict[str, FaultyServer]) -> None:
    out = rf_chain(servers, ConnectionError("vector store down")).invoke("Capital of Australia?")
    assert out["outcome"] == "retrieval_error" and out["answer"] == "" and out["tier"] is None
    assert "vector store down" in out["trail"][0]["reason"] and "no model called" in out["trail"][0]["reason"]
    assert sum(calls(servers).values()) == 0
    with pytest.raises(RetrievalError, match="vector store down"):
        rf_chain(servers, ConnectionError("vector store down"), on_retrieval_error="raise").invoke("Q?")
    esc = rf_chain(servers, ConnectionError("down"), on_retrieval_error="escalate").invoke("Capital of Australia?")
    assert esc["tier"] == "premium" and "without context" in esc["trail"][0]["reason"]
    secret = rf_chain(servers, ConnectionError("down"), on_retrieval_error="escalate").invoke(
        {"question": "Capital of Australia?", "sensitivity": "confidential"}
    )
    assert secret["outcome"] == "retrieval_error" and "not private" in secret["trail"][0]["reason"]
    assert calls(servers)["premium"] == 1  # only the public escalation above


def test_retrieval_first_confidential_never_escalates(servers: dict[str, FaultyServer]) -> None:
    servers["local"].set_mode("ok", content=INSUFFICIENT)
    out = rf_chain(servers, []).invoke({"question": "What did our client say?", "sensitivity": "confidential"})
    assert servers["premium"].connections == 0 and calls(servers)["local"] == 1
    assert out["outcome"] == "blocked" and out["tier"] == "local"
    assert out["answer"] == "The retrieved context does not answer this question."
    assert "not private" in out["trail"][0]["reason"]


def test_retrieval_first_streams_and_runs_async(servers: dict[str, FaultyServer]) -> None:
    servers["local"].set_mode("ok", content=INSUFFICIENT)
    chain = rf_chain(servers, DOCS)
    chunks = list(chain.stream("What is the capital city of Australia?"))
    assert "".join(c.get("answer", "") for c in chunks) == "Canberra, since 1913."
    assert chunks[-1]["tier"] == "premium" and "answer" not in chunks[-1]

    async def go() -> dict[str, Any]:
        return await chain.ainvoke("What is the capital city of Australia?")

    assert asyncio.run(go())["tier"] == "premium"
    assert calls(servers) == {"local": 2, "mid": 0, "premium": 2}


def test_bad_input_is_a_clear_error(servers: dict[str, FaultyServer]) -> None:
    from routed_llm import InvalidRequest, UnknownTier

    with pytest.raises(UnknownTier):
        create_cascade_chain(make_llm(servers), ["local", "nope"])
    with pytest.raises(InvalidRequest, match="non-empty"):
        create_cascade_chain(make_llm(servers), TIERS).invoke("  ")
    with pytest.raises(InvalidRequest, match="question"):
        create_cascade_chain(make_llm(servers), TIERS).invoke({"text": "x"})
    assert sum(calls(servers).values()) == 0


def test_judge_on_a_cheaper_tier_is_charged_in_the_trail(servers: dict[str, FaultyServer]) -> None:
    from routed_llm.chains import judge_on_tier
    from routed_llm.escalation import JudgeVerifier

    servers["mid"].set_mode("ok", content='{"confidence": 0.2}')
    llm = make_llm(servers)
    verifier = JudgeVerifier(judge_on_tier(llm.routed, "mid", max_tokens=8), threshold=0.5)
    out = create_cascade_chain(llm, ["local", "premium"], verifier, max_tokens=16).invoke("Capital of Australia?")
    assert out["tier"] == "premium" and calls(servers) == {"local": 1, "mid": 2, "premium": 1}
    assert "judge confidence 0.20 < 0.5" in out["trail"][0]["reason"]
    judged = servers["mid"].chat_requests[0].body["messages"][-1]["content"]
    assert "Capital of Australia?" in judged and "Canberra." in judged
    assert out["trail"][0]["cost_usd"] > 0  # the local answer is free: this is the judge's call
    assert_costs_add_up(out)


def test_logprob_verifier_asks_for_logprobs_and_escalates_without_them(servers: dict[str, FaultyServer]) -> None:
    from routed_llm.escalation import LogprobVerifier

    out = create_cascade_chain(make_llm(servers), ["local", "mid"], LogprobVerifier(), max_tokens=16).invoke("Q?")
    assert servers["local"].chat_requests[0].body.get("logprobs") is True
    assert "no log-probabilities" in out["trail"][0]["reason"] and out["tier"] == "mid"


def test_streams_are_traced_with_the_whole_output(servers: dict[str, FaultyServer]) -> None:
    from langchain_core.callbacks import BaseCallbackHandler

    class Ends(BaseCallbackHandler):
        def __init__(self) -> None:
            self.outputs: list[Any] = []

        def on_chain_end(self, outputs: Any, **kwargs: Any) -> None:
            self.outputs.append(outputs)

    ends = Ends()
    chain = create_cascade_chain(make_llm(servers), TIERS, AcceptAt("premium"), max_tokens=16)
    list(chain.stream("Q?", {"callbacks": [ends]}))
    assert ends.outputs[-1]["answer"] == "Canberra, since 1913." and ends.outputs[-1]["tier"] == "premium"
    assert len(ends.outputs[-1]["trail"]) == 3
