"""LlamaIndex query engines: retrieval-first and cascade, over a `RoutedLLM`.

The LlamaIndex twins of `langchain_routed_llm.chains`: thin shells over the
framework-free engines in `routed_llm.chains`, so both frameworks escalate by the
same rules (and by the loop the offline benchmark replays).

A `Response` carries the answer, ``source_nodes`` (the retrieved nodes the answer
cites) and ``metadata`` with ``tier``, ``model``, ``outcome``, ``trail`` (every
tier called, why, tokens and cost) and ``cost_usd``. With ``streaming=True`` the
engines return a `StreamingResponse` / `AsyncStreamingResponse` whose generator
yields the accepted answer; its ``metadata`` is filled when the stream ends.

Example::

    engine = RetrievalFirstQueryEngine(llm, index.as_retriever(), cheap_tier="local", escalation_tier="premium")
    response = engine.query("What does the contract say about termination?")
    response.response, response.metadata["tier"], response.metadata["trail"]
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Generator, Sequence
from typing import Any

from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.response.schema import AsyncStreamingResponse, Response, StreamingResponse
from llama_index.core.callbacks import CallbackManager
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index.llms.routed_llm.base import RoutedLLM

from routed_llm.chains import (
    AsyncChainStream,
    CascadeEngine,
    ChainOutput,
    ChainStream,
    OnRetrievalError,
    Passage,
    RetrievalFirstEngine,
)
from routed_llm.escalation import OnVerifierError, Verifier

__all__ = ["CascadeQueryEngine", "RetrievalFirstQueryEngine"]

AnyResponse = Response | StreamingResponse | AsyncStreamingResponse


def _metadata(out: ChainOutput) -> dict[str, Any]:
    d = out.as_dict()
    d.pop("answer")
    return d


def _streaming_response(items: ChainStream) -> StreamingResponse:
    """Build a response that streams the accepted answer; the run's metadata fills in when the stream ends."""
    metadata: dict[str, Any] = {}

    def tokens() -> Generator[str, None, None]:
        # Closing the response generator closes the engine's stream at once, which ends the run's trace span.
        with contextlib.closing(items):
            for item in items:
                if isinstance(item, ChainOutput):
                    metadata.update(_metadata(item))
                else:
                    yield item

    return StreamingResponse(tokens(), metadata=metadata)


def _async_streaming_response(items: AsyncChainStream) -> AsyncStreamingResponse:
    """Async `_streaming_response`."""
    metadata: dict[str, Any] = {}

    async def tokens() -> AsyncGenerator[str, None]:
        # An async generator is not closed when dropped, only finalised later by the loop: close it explicitly.
        async with contextlib.aclosing(items):
            async for item in items:
                if isinstance(item, ChainOutput):
                    metadata.update(_metadata(item))
                else:
                    yield item

    return AsyncStreamingResponse(tokens(), metadata=metadata)


class CascadeQueryEngine(BaseQueryEngine):
    """Answer on the cheapest tier first; a verifier accepts or escalates after each answer.

    Args:
        llm: the routed LLM; its router and tiers are used.
        tiers: tier names, cheapest first.
        verifier: any `routed_llm.escalation.Verifier`; default: the model's own confidence.
        threshold: accept threshold of the default verifier.
        on_verifier_error: a raising / garbage verifier keeps the answer (default), escalates or raises.
        sensitivity: the questions' sensitivity; inferred per question when None.
        streaming: return a streaming response.
        params: chat params for every call (e.g. ``max_tokens``).
    """

    def __init__(
        self,
        llm: RoutedLLM,
        tiers: Sequence[str],
        verifier: Verifier | None = None,
        *,
        threshold: float = 0.7,
        on_verifier_error: OnVerifierError = "accept",
        sensitivity: str | None = None,
        streaming: bool = False,
        callback_manager: CallbackManager | None = None,
        **params: Any,
    ) -> None:
        self.engine = CascadeEngine(
            llm.routed, tiers, verifier, threshold=threshold, on_verifier_error=on_verifier_error, **params
        )
        self.sensitivity = sensitivity
        self.streaming = streaming
        super().__init__(callback_manager=callback_manager or llm.callback_manager)

    def _get_prompt_modules(self) -> dict[str, Any]:
        return {}

    def _query(self, query_bundle: QueryBundle) -> AnyResponse:
        q = query_bundle.query_str
        if self.streaming:
            return _streaming_response(self.engine.stream(q, self.sensitivity))
        out = self.engine.invoke(q, self.sensitivity)
        return Response(out.answer, metadata=_metadata(out))

    async def _aquery(self, query_bundle: QueryBundle) -> AnyResponse:
        q = query_bundle.query_str
        if self.streaming:
            return _async_streaming_response(self.engine.astream(q, self.sensitivity))
        out = await self.engine.ainvoke(q, self.sensitivity)
        return Response(out.answer, metadata=_metadata(out))


def _passages(nodes: Sequence[NodeWithScore]) -> list[Passage]:
    return [
        Passage(
            text=n.node.get_content(),
            source=str(n.node.metadata.get("source") or n.node.metadata.get("file_name") or n.node.node_id),
            score=n.score,
            metadata=dict(n.node.metadata),
        )
        for n in nodes
    ]


class RetrievalFirstQueryEngine(BaseQueryEngine):
    """Retrieve, answer from the context on a cheap tier, escalate only when the context does not suffice.

    Args:
        llm: the routed LLM.
        retriever: any LlamaIndex retriever (node scores are used as a signal).
        cheap_tier: answers from the context (default: the first configured tier).
        escalation_tier: answers when the context does not suffice (default: the last).
        min_score: best node score below this means "insufficient" (when scores exist).
        min_coverage: share of the question's content words the passages must contain.
        on_retrieval_error: "report" (default; no model call), "escalate" or "raise".
        sensitivity: the questions' sensitivity; inferred per question when None.
        streaming: return a streaming response.
        params: chat params for every call (e.g. ``max_tokens``).
    """

    def __init__(
        self,
        llm: RoutedLLM,
        retriever: BaseRetriever,
        *,
        cheap_tier: str | None = None,
        escalation_tier: str | None = None,
        min_score: float | None = None,
        min_coverage: float = 0.5,
        on_retrieval_error: OnRetrievalError = "report",
        sensitivity: str | None = None,
        streaming: bool = False,
        callback_manager: CallbackManager | None = None,
        **params: Any,
    ) -> None:
        names = list(llm.routed.profiles)
        self.engine = RetrievalFirstEngine(
            llm.routed,
            cheap_tier=cheap_tier or names[0],
            escalation_tier=escalation_tier or names[-1],
            min_score=min_score,
            min_coverage=min_coverage,
            on_retrieval_error=on_retrieval_error,
            **params,
        )
        self.retriever = retriever
        self.sensitivity = sensitivity
        self.streaming = streaming
        super().__init__(callback_manager=callback_manager or llm.callback_manager)

    def _get_prompt_modules(self) -> dict[str, Any]:
        return {}

    @staticmethod
    def _cited(out: ChainOutput, nodes: Sequence[NodeWithScore]) -> list[NodeWithScore]:
        return [nodes[s["index"] - 1] for s in out.sources if 0 < s["index"] <= len(nodes)]

    def _respond(self, out: ChainOutput, nodes: Sequence[NodeWithScore]) -> Response:
        return Response(out.answer, source_nodes=self._cited(out, nodes), metadata=_metadata(out))

    def _query(self, query_bundle: QueryBundle) -> AnyResponse:
        q = query_bundle.query_str
        try:
            nodes: list[NodeWithScore] = self.retriever.retrieve(query_bundle)
            found: list[Passage] | BaseException = _passages(nodes)
        except Exception as e:  # reported in the trail (or raised as RetrievalError), per on_retrieval_error
            nodes, found = [], e
        if self.streaming:
            return _streaming_response(self.engine.stream(q, found, self.sensitivity))
        return self._respond(self.engine.invoke(q, found, self.sensitivity), nodes)

    async def _aquery(self, query_bundle: QueryBundle) -> AnyResponse:
        q = query_bundle.query_str
        try:
            nodes: list[NodeWithScore] = await self.retriever.aretrieve(query_bundle)
            found: list[Passage] | BaseException = _passages(nodes)
        except Exception as e:
            nodes, found = [], e
        if self.streaming:
            return _async_streaming_response(self.engine.astream(q, found, self.sensitivity))
        return self._respond(await self.engine.ainvoke(q, found, self.sensitivity), nodes)
