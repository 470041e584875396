"""Streamed cascade and retrieval-first runs are one Langfuse trace, exactly like non-streamed ones.

The real Langfuse SDK exports to a loopback OTLP receiver; tiers are real
OpenAI-compatible endpoints on loopback (`FaultyServer`). Every run escalates: the
cheap tier's answer is rejected (cascade: by the verifier; retrieval-first: it replies
`INSUFFICIENT`), so each run makes a whole call on ``cheap`` and streams ``backup``
live. Each surface is checked: the core engines, the LangChain runnables and the
LlamaIndex query engines, sync and async, read to the end, abandoned after the first
chunk, or failing.
"""

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from routed_llm import Router
from routed_llm.chains import INSUFFICIENT, CascadeEngine, Passage, RetrievalFirstEngine
from routed_llm.escalation import Attempt, Verdict
from tests.servers.faulty import FaultyServer
from tests.servers.otlp_receiver import OtlpReceiver, ReceivedSpan

pytestmark = [
    pytest.mark.servers,
    # an OTel context token detached in the wrong context, or a generator finalised with an error, fails the test
    pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning"),
]

QUESTION = "What is the capital city of Australia?"
ANSWER = "Canberra is the capital city of Australia [1]."
TEXTS = ["Canberra is the capital city of Australia.", "Sydney is the largest city in Australia."]
SPAN_NAME = {"cascade": "cascade", "retrieval_first": "retrieval_first"}
SURFACES = ["core", "langchain", "llamaindex"]
CHAINS = ["cascade", "retrieval_first"]


class RejectCheap:
    name = "reject-cheap"

    def verify(self, question: str, attempt: Attempt, history: Sequence[Attempt]) -> Verdict:
        return Verdict(accept=attempt.tier != "cheap", reason="cheap answers are not trusted here")


def make_router(faulty_server: Any, langfuse_client: Any, backup_mode: str = "ok") -> Router:
    def tier(name: str, srv: FaultyServer) -> dict[str, Any]:
        return {
            "models": [
                {
                    "model": f"openai/{name}-model",
                    "api_base": srv.base_url,
                    "api_key": "sk-test",
                    "input_cost_per_token": 1e-6,
                    "output_cost_per_token": 2e-6,
                }
            ]
        }

    servers = {"cheap": faulty_server("ok", content=INSUFFICIENT), "backup": faulty_server(backup_mode, content=ANSWER)}
    cfg = {"tiers": {n: tier(n, s) for n, s in servers.items()}, "routing": {"default": "cheap"}}
    return Router(cfg, langfuse=langfuse_client)


# --------------------------------------------------------------------------- one streamed run per surface


def sync_stream(surface: str, chain: str, router: Router) -> Any:
    """Start a streamed run on ``surface`` and return the generator the user reads."""
    if surface == "core":
        if chain == "cascade":
            return CascadeEngine(router, ["cheap", "backup"], RejectCheap(), max_tokens=32).stream(QUESTION, "public")
        engine = RetrievalFirstEngine(router, cheap_tier="cheap", escalation_tier="backup", max_tokens=32)
        return engine.stream(QUESTION, [Passage(t, source=f"doc{i}") for i, t in enumerate(TEXTS)], "public")
    if surface == "langchain":
        from langchain_core.documents import Document
        from langchain_core.runnables import RunnableLambda

        from langchain_routed_llm import ChatRoutedLLM, create_cascade_chain, create_retrieval_first_chain

        llm = ChatRoutedLLM(router=router)
        question = {"question": QUESTION, "sensitivity": "public"}
        if chain == "cascade":
            return create_cascade_chain(llm, ["cheap", "backup"], RejectCheap(), max_tokens=32).stream(question)
        docs = [Document(t, metadata={"source": f"doc{i}"}) for i, t in enumerate(TEXTS)]
        lc = create_retrieval_first_chain(
            llm, RunnableLambda(lambda q: docs), cheap_tier="cheap", escalation_tier="backup", max_tokens=32
        )
        return lc.stream(question)
    response = llama_engine(chain, router).query(QUESTION)
    return response.response_gen


def async_stream(surface: str, chain: str, router: Router) -> Callable[[], Any]:
    """Return a coroutine function that starts a streamed run and returns the async iterator."""

    async def start() -> AsyncIterator[Any]:
        if surface == "core":
            if chain == "cascade":
                engine = CascadeEngine(router, ["cheap", "backup"], RejectCheap(), max_tokens=32)
                return engine.astream(QUESTION, "public")
            rf = RetrievalFirstEngine(router, cheap_tier="cheap", escalation_tier="backup", max_tokens=32)
            return rf.astream(QUESTION, [Passage(t, source=f"doc{i}") for i, t in enumerate(TEXTS)], "public")
        if surface == "langchain":
            from langchain_core.documents import Document
            from langchain_core.runnables import RunnableLambda

            from langchain_routed_llm import ChatRoutedLLM, create_cascade_chain, create_retrieval_first_chain

            llm = ChatRoutedLLM(router=router)
            question = {"question": QUESTION, "sensitivity": "public"}
            if chain == "cascade":
                return create_cascade_chain(llm, ["cheap", "backup"], RejectCheap(), max_tokens=32).astream(question)
            docs = [Document(t, metadata={"source": f"doc{i}"}) for i, t in enumerate(TEXTS)]
            lc = create_retrieval_first_chain(
                llm, RunnableLambda(lambda q: docs), cheap_tier="cheap", escalation_tier="backup", max_tokens=32
            )
            return lc.astream(question)
        response = await llama_engine(chain, router).aquery(QUESTION)
        return response.response_gen

    return start


def llama_engine(chain: str, router: Router) -> Any:
    from llama_index.core.base.base_retriever import BaseRetriever
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
    from llama_index.llms.routed_llm import CascadeQueryEngine, RetrievalFirstQueryEngine, RoutedLLM

    llm = RoutedLLM(router=router)
    if chain == "cascade":
        return CascadeQueryEngine(
            llm, ["cheap", "backup"], RejectCheap(), sensitivity="public", streaming=True, max_tokens=32
        )

    class Fixed(BaseRetriever):
        def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
            return [
                NodeWithScore(node=TextNode(text=t, metadata={"source": f"doc{i}"}), score=0.9)
                for i, t in enumerate(TEXTS)
            ]

    return RetrievalFirstQueryEngine(
        llm, Fixed(), cheap_tier="cheap", escalation_tier="backup", sensitivity="public", streaming=True, max_tokens=32
    )


def text_of(items: list[Any]) -> str:
    out = []
    for item in items:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict) and "answer" in item:
            out.append(item["answer"])
    return "".join(out)


# --------------------------------------------------------------------------- reading the export


def end_times(rx: OtlpReceiver) -> dict[str, int]:
    """span id (hex) -> end time (ns since the epoch), from the raw OTLP bodies."""
    out: dict[str, int] = {}
    for body in rx.raw_bodies:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                for s in ss.spans:
                    out[s.span_id.hex()] = s.end_time_unix_nano
    return out


def one_trace(rx: OtlpReceiver, chain: str) -> tuple[ReceivedSpan, list[ReceivedSpan]]:
    """Assert the run is one trace: one chain span, parent of every generation. Return both."""
    spans = [s for s in rx.spans() if s.name == SPAN_NAME[chain]]
    gens = rx.generations()
    assert len(spans) == 1, f"expected one {SPAN_NAME[chain]!r} span, got {[s.name for s in rx.spans()]}"
    [span] = spans
    assert sorted(g.name for g in gens) == ["openai/backup-model", "openai/cheap-model"]
    assert {g.trace_id for g in gens} == {span.trace_id}, "the streamed run is split over several traces"
    assert all(g.parent_span_id == span.span_id for g in gens)
    ends = end_times(rx)
    assert ends[span.span_id] >= max(ends[g.span_id] for g in gens), "the span ended before one of its generations"
    return span, gens


def not_current() -> None:
    """The run's span never leaks into the consumer's context between chunks."""
    assert not otel_trace.get_current_span().is_recording()


@pytest.fixture
def no_context_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail on OpenTelemetry's "Failed to detach context" (logged, not raised) and any other error log."""
    with caplog.at_level(logging.WARNING):
        yield
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.name.startswith("opentelemetry")]
    assert not bad, [r.getMessage() for r in bad]


# --------------------------------------------------------------------------- read to the end


@pytest.mark.usefixtures("no_context_errors")
@pytest.mark.parametrize("chain", CHAINS)
@pytest.mark.parametrize("surface", SURFACES)
def test_sync_streamed_run_is_one_trace(
    faulty_server: Any, otlp_receiver: OtlpReceiver, langfuse_client: Any, surface: str, chain: str
) -> None:
    router = make_router(faulty_server, langfuse_client)
    stream = sync_stream(surface, chain, router)
    items = [next(stream)]
    not_current()
    langfuse_client.flush()
    assert not [s for s in otlp_receiver.spans() if s.name == SPAN_NAME[chain]], "the span ended at the first chunk"
    for item in stream:
        not_current()
        items.append(item)
        last_chunk = time.time_ns()
    assert text_of(items) == ANSWER
    langfuse_client.flush()
    span, _ = one_trace(otlp_receiver, chain)
    assert end_times(otlp_receiver)[span.span_id] >= last_chunk
    assert "langfuse.observation.level" not in span.attributes


@pytest.mark.usefixtures("no_context_errors")
@pytest.mark.parametrize("chain", CHAINS)
@pytest.mark.parametrize("surface", SURFACES)
def test_async_streamed_run_is_one_trace(
    faulty_server: Any, otlp_receiver: OtlpReceiver, langfuse_client: Any, surface: str, chain: str
) -> None:
    router = make_router(faulty_server, langfuse_client)

    async def run() -> tuple[list[Any], int]:
        stream = await async_stream(surface, chain, router)()
        items = [await anext(stream)]
        not_current()
        langfuse_client.flush()
        assert not [s for s in otlp_receiver.spans() if s.name == SPAN_NAME[chain]], "span ended at the first chunk"
        async for item in stream:
            not_current()
            items.append(item)
            last = time.time_ns()
        return items, last

    items, last_chunk = asyncio.run(run())
    assert text_of(items) == ANSWER
    langfuse_client.flush()
    span, _ = one_trace(otlp_receiver, chain)
    assert end_times(otlp_receiver)[span.span_id] >= last_chunk


# --------------------------------------------------------------------------- abandoned after the first chunk


def assert_abandoned(rx: OtlpReceiver, chain: str) -> None:
    span, gens = one_trace(rx, chain)
    assert span.attributes["langfuse.observation.level"] == "WARNING", span.attributes
    # a dropped async stream may be finalised by a cancelled aclose() task at loop shutdown
    status = span.attributes["langfuse.observation.status_message"]
    assert "closed by the caller" in status or "cancelled" in status
    [backup] = [g for g in gens if g.name == "openai/backup-model"]
    assert backup.attributes["langfuse.observation.level"] == "WARNING"  # the live stream, cut short


@pytest.mark.usefixtures("no_context_errors")
@pytest.mark.parametrize("how", ["close", "drop"])
@pytest.mark.parametrize("chain", CHAINS)
@pytest.mark.parametrize("surface", SURFACES)
def test_sync_stream_abandoned_after_the_first_chunk_still_ends_the_span(
    faulty_server: Any, otlp_receiver: OtlpReceiver, langfuse_client: Any, surface: str, chain: str, how: str
) -> None:
    router = make_router(faulty_server, langfuse_client)
    stream = sync_stream(surface, chain, router)
    for _ in stream:
        break
    not_current()
    if how == "close":
        stream.close()
    else:  # the consumer just lets go of it
        del stream
        gc.collect()
    not_current()
    langfuse_client.flush()
    assert_abandoned(otlp_receiver, chain)


@pytest.mark.usefixtures("no_context_errors")
@pytest.mark.parametrize("how", ["aclose", "drop"])
@pytest.mark.parametrize("chain", CHAINS)
@pytest.mark.parametrize("surface", SURFACES)
def test_async_stream_abandoned_after_the_first_chunk_still_ends_the_span(
    faulty_server: Any, otlp_receiver: OtlpReceiver, langfuse_client: Any, surface: str, chain: str, how: str
) -> None:
    router = make_router(faulty_server, langfuse_client)
    loop_errors: list[dict[str, Any]] = []

    async def run() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: loop_errors.append(ctx))
        stream = await async_stream(surface, chain, router)()
        async for _ in stream:
            break
        not_current()
        if how == "aclose":
            await stream.aclose()
        # "drop": asyncio.run finalises the abandoned generator, in a task of its own

    asyncio.run(run())
    not_current()
    assert not loop_errors, loop_errors
    langfuse_client.flush()
    assert_abandoned(otlp_receiver, chain)


# --------------------------------------------------------------------------- a stream that raises


@pytest.mark.usefixtures("no_context_errors")
@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("surface", ["core", "langchain"])
def test_failing_streamed_run_ends_its_span_as_an_error(
    faulty_server: Any, otlp_receiver: OtlpReceiver, langfuse_client: Any, surface: str, mode: str
) -> None:
    from routed_llm import AllTiersFailed

    router = make_router(faulty_server, langfuse_client, backup_mode="error500")
    with pytest.raises(AllTiersFailed):
        if mode == "sync":
            list(sync_stream(surface, "cascade", router))
        else:

            async def run() -> None:
                async for _ in await async_stream(surface, "cascade", router)():
                    pass

            asyncio.run(run())
    not_current()
    langfuse_client.flush()
    [span] = [s for s in otlp_receiver.spans() if s.name == "cascade"]
    gens = otlp_receiver.generations()
    assert len(gens) == 2 and all(g.parent_span_id == span.span_id and g.trace_id == span.trace_id for g in gens)
    assert span.attributes["langfuse.observation.level"] == "ERROR"
    assert "AllTiersFailed" in span.attributes["langfuse.observation.status_message"]
    assert span.status_code == 2  # OpenTelemetry STATUS_CODE_ERROR
    ends = end_times(otlp_receiver)
    assert ends[span.span_id] >= max(ends[g.span_id] for g in gens)


def test_streamed_run_without_langfuse_streams_the_same(faulty_server: Any) -> None:
    router = make_router(faulty_server, None)
    assert router.telemetry is None
    items = list(sync_stream("core", "cascade", router))
    assert text_of(items) == ANSWER
    with contextlib.closing(sync_stream("core", "retrieval_first", router)) as stream:
        assert isinstance(next(stream), str)
