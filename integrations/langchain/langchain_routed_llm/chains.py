"""Ready-made LCEL runnables: retrieval-first and cascade, over a `ChatRoutedLLM`.

Both are thin shells over the framework-free engines in `routed_llm.chains`
(the escalation loop itself is `routed_llm.escalation`), so they escalate by
exactly the rules the offline benchmark (`routed-llm bench cascade`) replays.

Input: a question string, or a dict with ``question`` (or ``input`` / ``query``)
and optionally ``sensitivity``; ``config["configurable"]["sensitivity"]`` works
too. Output: a dict with ``answer``, ``sources``, ``tier``, ``model``,
``outcome``, ``trail`` (every tier called, why, tokens and cost), ``cost_usd``
and token totals. Streaming yields `AddableDict` chunks: ``{"answer": piece}``
for the accepted answer, then one chunk with everything else, so they add up to
the ``invoke`` output.

Example::

    chain = create_cascade_chain(llm, tiers=["local", "fast", "premium"])
    out = chain.invoke("What is the capital of Australia?")
    out["answer"], out["tier"], out["cost_usd"], [s["action"] for s in out["trail"]]
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

from langchain_core.documents import Document
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.utils import AddableDict

from langchain_routed_llm.chat_models import ChatRoutedLLM
from routed_llm.chains import (
    AsyncChainStream,
    CascadeEngine,
    ChainOutput,
    ChainStream,
    OnRetrievalError,
    Passage,
    RetrievalFirstEngine,
)
from routed_llm.errors import InvalidRequest
from routed_llm.escalation import OnVerifierError, Verifier

__all__ = ["CascadeChain", "RetrievalFirstChain", "create_cascade_chain", "create_retrieval_first_chain"]

_QUESTION_KEYS = ("question", "input", "query")


def _parse_input(value: Any, config: RunnableConfig | None) -> tuple[str, str | None]:
    sensitivity = ((config or {}).get("configurable") or {}).get("sensitivity")
    if isinstance(value, str):
        return value, sensitivity
    if isinstance(value, Mapping):
        for key in _QUESTION_KEYS:
            if key in value:
                return value[key], value.get("sensitivity", sensitivity)
    raise InvalidRequest(f"chain input must be a question string or a dict with 'question' (got {value!r:.80})")


def _chunks(items: Iterator[str | ChainOutput]) -> Iterator[AddableDict]:
    for item in items:
        if isinstance(item, ChainOutput):
            rest = item.as_dict()
            rest.pop("answer")
            yield AddableDict(rest)
        else:
            yield AddableDict(answer=item)


async def _aiter(value: Any) -> AsyncIterator[Any]:
    yield value


def _passage(doc: Document) -> Passage:
    meta = dict(doc.metadata or {})
    score = meta.get("score", meta.get("relevance_score"))
    return Passage(
        text=doc.page_content,
        source=str(meta.get("source") or doc.id or "") or None,
        score=float(score) if isinstance(score, int | float) else None,
        metadata=meta,
    )


class _EngineChain(Runnable[Any, dict[str, Any]]):
    """The LCEL surface both chains share; a subclass says only how to run and stream its engine.

    Input parsing, run tracing (``_call_with_config`` / ``_transform_stream_with_config``),
    chunking and closing the engine's stream when the consumer stops live here once.
    """

    @abc.abstractmethod
    def _run(self, question: str, sensitivity: str | None, config: RunnableConfig | None) -> ChainOutput: ...

    @abc.abstractmethod
    async def _arun(self, question: str, sensitivity: str | None, config: RunnableConfig | None) -> ChainOutput: ...

    @abc.abstractmethod
    def _open_stream(self, question: str, sensitivity: str | None, config: RunnableConfig | None) -> ChainStream: ...

    @abc.abstractmethod
    async def _aopen_stream(
        self, question: str, sensitivity: str | None, config: RunnableConfig | None
    ) -> AsyncChainStream: ...

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        """Answer the question."""

        def run(value: Any) -> dict[str, Any]:
            return self._run(*_parse_input(value, config), config).as_dict()

        return self._call_with_config(run, input, config, run_type="chain")

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        """Async `invoke`."""

        async def run(value: Any) -> dict[str, Any]:
            return (await self._arun(*_parse_input(value, config), config)).as_dict()

        return await self._acall_with_config(run, input, config, run_type="chain")

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Stream the accepted answer (`AddableDict` chunks), then everything else (sources, trail)."""

        def transform(inputs: Iterator[Any]) -> Iterator[AddableDict]:
            for value in inputs:
                with contextlib.closing(self._open_stream(*_parse_input(value, config), config)) as items:
                    yield from _chunks(items)

        yield from self._transform_stream_with_config(iter([input]), transform, config, run_type="chain")

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[dict[str, Any]]:
        """Async `stream`."""

        async def transform(inputs: AsyncIterator[Any]) -> AsyncIterator[AddableDict]:
            async for value in inputs:
                stream = await self._aopen_stream(*_parse_input(value, config), config)
                async with contextlib.aclosing(stream) as items:
                    async for item in items:
                        for chunk in _chunks(iter([item])):
                            yield chunk

        async for chunk in self._atransform_stream_with_config(_aiter(input), transform, config, run_type="chain"):
            yield chunk


class CascadeChain(_EngineChain):
    """Cheap tier first, escalate while the verifier says so; see `create_cascade_chain`."""

    def __init__(self, engine: CascadeEngine) -> None:
        self.engine = engine

    def _run(self, question: str, sensitivity: str | None, config: RunnableConfig | None) -> ChainOutput:
        return self.engine.invoke(question, sensitivity)

    async def _arun(self, question: str, sensitivity: str | None, config: RunnableConfig | None) -> ChainOutput:
        return await self.engine.ainvoke(question, sensitivity)

    def _open_stream(self, question: str, sensitivity: str | None, config: RunnableConfig | None) -> ChainStream:
        return self.engine.stream(question, sensitivity)

    async def _aopen_stream(
        self, question: str, sensitivity: str | None, config: RunnableConfig | None
    ) -> AsyncChainStream:
        return self.engine.astream(question, sensitivity)


class RetrievalFirstChain(_EngineChain):
    """Retrieve, answer cheaply from the context, escalate only when needed; see `create_retrieval_first_chain`."""

    def __init__(self, engine: RetrievalFirstEngine, retriever: Runnable[str, list[Document]]) -> None:
        self.engine = engine
        self.retriever = retriever

    def _retrieve(self, question: str, config: RunnableConfig | None) -> list[Passage] | BaseException:
        try:
            return [_passage(d) for d in self.retriever.invoke(question, config)]
        except Exception as e:  # handled by the engine: reported in the trail, or raised as RetrievalError
            return e

    async def _aretrieve(self, question: str, config: RunnableConfig | None) -> list[Passage] | BaseException:
        try:
            return [_passage(d) for d in await self.retriever.ainvoke(question, config)]
        except Exception as e:
            return e

    def _run(self, question: str, sensitivity: str | None, config: RunnableConfig | None) -> ChainOutput:
        return self.engine.invoke(question, self._retrieve(question, config), sensitivity)

    async def _arun(self, question: str, sensitivity: str | None, config: RunnableConfig | None) -> ChainOutput:
        return await self.engine.ainvoke(question, await self._aretrieve(question, config), sensitivity)

    def _open_stream(self, question: str, sensitivity: str | None, config: RunnableConfig | None) -> ChainStream:
        return self.engine.stream(question, self._retrieve(question, config), sensitivity)

    async def _aopen_stream(
        self, question: str, sensitivity: str | None, config: RunnableConfig | None
    ) -> AsyncChainStream:
        return self.engine.astream(question, await self._aretrieve(question, config), sensitivity)


def create_cascade_chain(
    llm: ChatRoutedLLM,
    tiers: Sequence[str],
    verifier: Verifier | None = None,
    *,
    threshold: float = 0.7,
    on_verifier_error: OnVerifierError = "accept",
    system_prompt: str | None = None,
    **params: Any,
) -> CascadeChain:
    """Build a cascade: answer on ``tiers[0]``; after each answer ``verifier`` accepts or escalates.

    Args:
        llm: the routed chat model; its router and tiers are used.
        tiers: tier names, cheapest first.
        verifier: a `routed_llm.escalation.Verifier` (self-confidence, log-probabilities,
            agreement, judge, learned). Default: the model's own confidence at ``threshold``.
        threshold: accept threshold of the default (self-confidence) verifier.
        on_verifier_error: a verifier that raises or returns garbage keeps the answer
            ("accept", default: never a silent premium call), escalates, or raises.
        system_prompt: optional system message for every tier.
        params: chat params for every call, e.g. ``max_tokens=256``.

    A confidential question (hint, or inferred) never reaches a non-private tier: it
    ends with the best private answer and ``outcome == "blocked"``.
    """
    engine = CascadeEngine(
        llm.routed,
        tiers,
        verifier,
        threshold=threshold,
        on_verifier_error=on_verifier_error,
        system_prompt=system_prompt,
        **params,
    )
    return CascadeChain(engine)


def create_retrieval_first_chain(
    llm: ChatRoutedLLM,
    retriever: Runnable[str, list[Document]],
    *,
    cheap_tier: str | None = None,
    escalation_tier: str | None = None,
    min_score: float | None = None,
    min_coverage: float = 0.5,
    on_retrieval_error: OnRetrievalError = "report",
    **params: Any,
) -> RetrievalFirstChain:
    """Build retrieval-first: retrieve, answer from the context on ``cheap_tier``, escalate only if needed.

    Args:
        llm: the routed chat model.
        retriever: any LangChain retriever (or runnable returning documents); a
            ``score`` / ``relevance_score`` in document metadata is used as a signal.
        cheap_tier: answers from the context (default: the first configured tier).
        escalation_tier: answers when the context does not suffice (default: the last).
        min_score: best retrieval score below this means "insufficient" (when scores exist).
        min_coverage: share of the question's content words the passages must contain.
        on_retrieval_error: "report" (default; no model call, outcome ``retrieval_error``),
            "escalate" (answer without context on the escalation tier), or "raise".
        params: chat params for every call, e.g. ``max_tokens=256``.
    """
    names = list(llm.routed.profiles)
    engine = RetrievalFirstEngine(
        llm.routed,
        cheap_tier=cheap_tier or names[0],
        escalation_tier=escalation_tier or names[-1],
        min_score=min_score,
        min_coverage=min_coverage,
        on_retrieval_error=on_retrieval_error,
        **params,
    )
    return RetrievalFirstChain(engine, retriever)
