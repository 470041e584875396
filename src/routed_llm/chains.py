"""Retrieval-first and cascade chains over a `Router`, framework-free.

The LangChain runnables (`langchain_routed_llm.chains`) and the LlamaIndex query
engines (`llama_index.llms.routed_llm.chains`) are thin shells over the two
engines here, so both frameworks escalate by the same rules: the decision loop
is `routed_llm.escalation.CascadeRun`, the calls go through `Router`.

What both engines guarantee:

* A confidential question (told by the caller, or inferred by the router's
  classifier) is only ever sent to private tiers: the loop skips the others and
  every call also carries ``sensitivity=confidential``, so the router refuses them
  a second time. When the verifier asks for a forbidden tier, the best private
  answer is returned and the trail says the escalation was blocked.
* Every model call is in the trail with its tier, reason, tokens and cost;
  ``cost_usd`` is their sum.
* With Langfuse, a run is one trace: one span (``cascade`` / ``retrieval_first``)
  whose children are the generations of every call, streamed or not. A streamed
  run's span opens when iteration starts and closes when the stream ends, raises
  or is abandoned by its consumer.
* Streaming streams the answer finally accepted: answers that still have to be
  verified are generated whole; the last tier (whose answer is returned whatever
  the verifier says) is streamed live. Exceptions, so that nothing unaccepted is
  ever shown: when later tiers were skipped (a blocked escalation may return an
  earlier answer) and with the self-confidence verifier (the confidence line is
  stripped first), the answer is emitted whole once decided.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from routed_llm.engine import StreamEnd
from routed_llm.errors import InvalidRequest, RoutedLLMError, UnknownTier
from routed_llm.escalation import (
    Attempt,
    CascadeResult,
    CascadeRun,
    LogprobVerifier,
    OnVerifierError,
    SelfConfidenceVerifier,
    Verdict,
    Verifier,
    parse_confidence,
)
from routed_llm.router import Router
from routed_llm.types import Sensitivity

__all__ = [
    "INSUFFICIENT",
    "AsyncChainStream",
    "CascadeEngine",
    "ChainOutput",
    "ChainStream",
    "ContextVerifier",
    "OnRetrievalError",
    "Passage",
    "RetrievalError",
    "RetrievalFirstEngine",
    "context_signals",
    "judge_on_tier",
]

#: What the cheap tier replies when the retrieved passages do not answer the question.
INSUFFICIENT = "INSUFFICIENT_CONTEXT"

_CONFIDENCE_INSTRUCTION = (
    "After your answer, add a last line 'Confidence: <a number from 0 to 1>' saying how sure you are."
)
_CONFIDENCE_LINE = re.compile(r"\n?\s*confidence\W{0,3}\s*[0-9.]+\s*%?\s*$", re.IGNORECASE)
_CITATION = re.compile(r"\[(\d{1,3})\]")
_STOPWORDS = frozenset(
    "a an and are as at be by can did do does for from had has have how i in is it its of on or that the this to "
    "was were what when where which who whom why will with you your".split()
)


class RetrievalError(RoutedLLMError):
    """The retriever failed; raised only with ``on_retrieval_error="raise"`` (otherwise it is in the trail)."""


@dataclass(frozen=True)
class Passage:
    """A retrieved passage, whatever framework retrieved it."""

    text: str
    source: str | None = None
    score: float | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class ChainOutput:
    """What a chain returns: the answer, the sources it used, and the trail of every call."""

    answer: str
    tier: str | None
    outcome: str
    trail: list[dict[str, Any]]
    sources: list[dict[str, Any]] = field(default_factory=list)
    model: str | None = None
    baseline_cost_usd: float | None = None
    """The answering call's tokens priced at the savings baseline tier (`routed_llm.savings`)."""

    @property
    def saved_usd(self) -> float | None:
        """``baseline_cost_usd`` minus everything the run spent: net of every tier visited and verifier call."""
        return None if self.baseline_cost_usd is None else self.baseline_cost_usd - self.cost_usd

    @property
    def cost_usd(self) -> float:
        """Sum of the trail's costs: every tier called and every verifier call."""
        return sum(float(s.get("cost_usd") or 0.0) for s in self.trail)

    @property
    def prompt_tokens(self) -> int:
        """Prompt tokens over the whole trail."""
        return sum(int(s.get("prompt_tokens") or 0) for s in self.trail)

    @property
    def completion_tokens(self) -> int:
        """Completion tokens over the whole trail."""
        return sum(int(s.get("completion_tokens") or 0) for s in self.trail)

    def as_dict(self) -> dict[str, Any]:
        """Plain data (what the LangChain runnables return)."""
        return {
            "answer": self.answer,
            "tier": self.tier,
            "model": self.model,
            "outcome": self.outcome,
            "sources": self.sources,
            "trail": self.trail,
            "cost_usd": self.cost_usd,
            "baseline_cost_usd": self.baseline_cost_usd,
            "saved_usd": self.saved_usd,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
        }


#: What ``stream`` returns: the accepted answer's text pieces, then the `ChainOutput`.
#: A generator, so a consumer that stops early can ``close()`` it (ending the run's trace span).
ChainStream = Generator[str | ChainOutput, None, None]
#: What ``astream`` returns; ``aclose()`` it (or ``contextlib.aclosing``) when stopping early.
AsyncChainStream = AsyncGenerator[str | ChainOutput, None]


# --------------------------------------------------------------------------- calling a tier


def _content(response: Any) -> str:
    return str(getattr(response.choices[0].message, "content", None) or "")


def _logprobs(response: Any) -> tuple[float, ...] | None:
    lp = getattr(response.choices[0], "logprobs", None)
    content = getattr(lp, "content", None) if lp is not None else None
    if not content:
        return None
    out: list[float] = []
    for t in content:
        value = t.get("logprob") if isinstance(t, Mapping) else getattr(t, "logprob", None)
        if not isinstance(value, int | float):
            return None
        out.append(float(value))
    return tuple(out)


def _attempt(tier: str, text: str, info: Any, logprobs: tuple[float, ...] | None, ask_confidence: bool) -> Attempt:
    confidence = None
    if ask_confidence:
        confidence = parse_confidence(text)
        text = _CONFIDENCE_LINE.sub("", text).rstrip()
    # The trail records where the answer came from: the tier and model that served it, which
    # differ from the tier asked for when that tier fell back.
    return Attempt(
        tier=info.tier,
        requested_tier=tier,
        text=text,
        model=info.model,
        cost_usd=float(info.cost_usd or 0.0),
        prompt_tokens=int(info.prompt_tokens or 0),
        completion_tokens=int(info.completion_tokens or 0),
        confidence=confidence,
        logprobs=logprobs,
        metadata={"served_tier": info.tier},
    )


def judge_on_tier(
    router: Router, tier: str, *, max_tokens: int = 32, sensitivity: str | None = None
) -> Callable[[str], Attempt]:
    """Build the ``judge`` callable of `routed_llm.escalation.JudgeVerifier` from a (cheaper) tier of ``router``."""
    if tier not in router.profiles:
        raise UnknownTier(tier, list(router.profiles))
    hints: dict[str, Any] = {"tier": tier}
    if sensitivity is not None:
        hints["sensitivity"] = sensitivity

    def judge(prompt: str) -> Attempt:
        result = router.complete(prompt, hints, max_tokens=max_tokens)
        return _attempt(tier, _content(result.response), result.routing, None, False)

    return judge


# --------------------------------------------------------------------------- the shared driver


class _Closing:
    """Close a router stream when the chain's stream is closed, not whenever it is collected.

    So an abandoned run ends its live call's generation (as "closed by the caller")
    at once, inside the run's span, and before the span itself ends. A class, not a
    ``@contextmanager`` generator: an async generator helper would itself be closed
    independently by the event loop at shutdown, racing the stream it guards.
    """

    def __init__(self, items: Any) -> None:
        self.items = items

    def __enter__(self) -> Any:
        return self.items

    def __exit__(self, *exc: object) -> None:
        close = getattr(self.items, "close", None)
        if close is not None:
            close()

    async def __aenter__(self) -> Any:
        return self.items

    async def __aexit__(self, *exc: object) -> None:
        aclose = getattr(self.items, "aclose", None)
        if aclose is not None:
            await aclose()


@dataclass
class _Plan:
    """One question's cascade, as prepared by an engine."""

    run: CascadeRun | None
    messages: Callable[[str], list[dict[str, Any]]]
    hints: dict[str, Any]
    params: dict[str, Any]
    ask_confidence: bool
    pre_trail: list[dict[str, Any]]
    finish: Callable[[CascadeResult | None, list[dict[str, Any]]], ChainOutput]


class _Driver:
    """Runs a `_Plan` sync, async or streaming; the one place that calls the router."""

    router: Router
    #: Name of the one trace span a run opens, so its calls show as nested steps (Langfuse).
    span_name = "chain"

    def _hints(self, plan: _Plan, tier: str) -> dict[str, Any]:
        return {**plan.hints, "tier": tier}

    def _call(self, plan: _Plan, tier: str) -> Attempt:
        result = self.router.complete(plan.messages(tier), self._hints(plan, tier), **plan.params)
        return _attempt(
            tier, _content(result.response), result.routing, _logprobs(result.response), plan.ask_confidence
        )

    async def _acall(self, plan: _Plan, tier: str) -> Attempt:
        result = await self.router.acomplete(plan.messages(tier), self._hints(plan, tier), **plan.params)
        return _attempt(
            tier, _content(result.response), result.routing, _logprobs(result.response), plan.ask_confidence
        )

    def _end(self, plan: _Plan) -> ChainOutput:
        result = plan.run.result() if plan.run is not None and plan.run.attempts else None
        trail = plan.pre_trail + ([s.as_dict() for s in plan.run.trail] if plan.run is not None else [])
        out = plan.finish(result, trail)
        # Savings net of the whole run: the answer's tokens at the baseline, less every call made.
        answered = [s for s in trail if s.get("prompt_tokens") or s.get("completion_tokens")]
        if answered and out.tier is not None:
            last = next((s for s in reversed(answered) if s.get("tier") == out.tier), answered[-1])
            tokens = int(last.get("prompt_tokens") or 0), int(last.get("completion_tokens") or 0)
            out.baseline_cost_usd = self.router.savings.price(*tokens)
        return out

    def _drive(self, plan: _Plan) -> ChainOutput:
        run = plan.run
        with self.router.span(self.span_name):
            while run is not None and (tier := run.next_tier()) is not None:
                run.record(self._call(plan, tier))
        return self._end(plan)

    async def _adrive(self, plan: _Plan) -> ChainOutput:
        run = plan.run
        with self.router.span(self.span_name):
            while run is not None and (tier := run.next_tier()) is not None:
                run.record(await self._acall(plan, tier))
        return self._end(plan)

    @staticmethod
    def _delta(chunk: Any) -> str:
        choices = getattr(chunk, "choices", None) or []
        delta = getattr(choices[0], "delta", None) if choices else None
        return str(getattr(delta, "content", None) or "")

    def _drive_stream(self, plan: _Plan) -> ChainStream:
        """Stream a run inside one trace span, like `_drive`: every call's generation is a child of it.

        The span opens when iteration starts and ends when the stream ends, raises or
        is abandoned (see `routed_llm.telemetry.Telemetry.span_stream`).
        """
        telemetry = self.router.telemetry
        steps = self._stream_steps(plan)
        return telemetry.span_stream(self.span_name, steps) if telemetry is not None else steps

    def _adrive_stream(self, plan: _Plan) -> AsyncChainStream:
        """Async `_drive_stream`."""
        telemetry = self.router.telemetry
        steps = self._astream_steps(plan)
        return telemetry.aspan_stream(self.span_name, steps) if telemetry is not None else steps

    def _stream_steps(self, plan: _Plan) -> ChainStream:
        run, streamed = plan.run, False
        while run is not None and (tier := run.next_tier()) is not None:
            if run.returns_next and not plan.ask_confidence:
                parts: list[str] = []
                end: StreamEnd | None = None
                with _Closing(self.router.stream(plan.messages(tier), self._hints(plan, tier), **plan.params)) as live:
                    for item in live:
                        if isinstance(item, StreamEnd):
                            end = item
                        elif piece := self._delta(item):
                            parts.append(piece)
                            yield piece
                if end is None:  # pragma: no cover - the router always ends a stream with StreamEnd
                    raise RoutedLLMError("the stream ended without usage")
                run.record(_attempt(tier, "".join(parts), end.routing, None, False))
                streamed = True
                break
            run.record(self._call(plan, tier))
        out = self._end(plan)
        if not streamed and out.answer:
            yield out.answer  # verified whole before it could be shown
        yield out

    async def _astream_steps(self, plan: _Plan) -> AsyncChainStream:
        run, streamed = plan.run, False
        while run is not None and (tier := run.next_tier()) is not None:
            if run.returns_next and not plan.ask_confidence:
                parts: list[str] = []
                end: StreamEnd | None = None
                stream = self.router.astream(plan.messages(tier), self._hints(plan, tier), **plan.params)
                async with _Closing(stream) as live:
                    async for item in live:
                        if isinstance(item, StreamEnd):
                            end = item
                        elif piece := self._delta(item):
                            parts.append(piece)
                            yield piece
                if end is None:  # pragma: no cover
                    raise RoutedLLMError("the stream ended without usage")
                run.record(_attempt(tier, "".join(parts), end.routing, None, False))
                streamed = True
                break
            run.record(await self._acall(plan, tier))
        out = self._end(plan)
        if not streamed and out.answer:
            yield out.answer  # verified whole before it could be shown
        yield out


def _sensitivity(router: Router, question: str, sensitivity: str | Sensitivity | None) -> Sensitivity:
    """Return the question's sensitivity: the caller's word, else the router's classifier (PII detection)."""
    if sensitivity is not None:
        try:
            return Sensitivity(sensitivity)
        except ValueError:
            raise InvalidRequest(
                f"sensitivity {sensitivity!r}: expected one of {', '.join(s.value for s in Sensitivity)}"
            ) from None
    try:
        return router.route(question).sensitivity
    except RoutedLLMError:
        return Sensitivity.CONFIDENTIAL  # cannot tell: treat as the strictest case


def _allowed(router: Router, sensitivity: Sensitivity) -> Callable[[str], str | None]:
    def allowed(tier: str) -> str | None:
        if sensitivity is Sensitivity.CONFIDENTIAL and not router.profiles[tier].private:
            return f"confidential question; tier {tier!r} is not private"
        return None

    return allowed


def _check_tiers(router: Router, tiers: Sequence[str]) -> list[str]:
    if not tiers:
        raise InvalidRequest("a chain needs at least one tier")
    for t in tiers:
        if t not in router.profiles:
            raise UnknownTier(t, list(router.profiles))
    return list(tiers)


def _question(question: Any) -> str:
    if not isinstance(question, str) or not question.strip():
        raise InvalidRequest(f"the question must be a non-empty string (got {question!r:.60})")
    return question


# --------------------------------------------------------------------------- cascade


class CascadeEngine(_Driver):
    """Cheap tier first; after each answer the verifier accepts or escalates to the next tier.

    A run, streamed or not, is one ``cascade`` trace span with a generation per tier called.

    Args:
        router: the core router.
        tiers: tier names, cheapest first.
        verifier: any `routed_llm.escalation.Verifier`; default: the model's own
            confidence (the chain then asks each tier to state it) at ``threshold``.
        threshold: threshold of the default verifier.
        on_verifier_error: a raising / garbage verifier keeps the answer ("accept", default),
            escalates, or raises.
        system_prompt: optional system message for every tier.
        params: OpenAI chat params for every call (e.g. ``max_tokens``).
    """

    span_name = "cascade"

    def __init__(
        self,
        router: Router,
        tiers: Sequence[str],
        verifier: Verifier | None = None,
        *,
        threshold: float = 0.7,
        on_verifier_error: OnVerifierError = "accept",
        system_prompt: str | None = None,
        **params: Any,
    ) -> None:
        self.router = router
        self.tiers = _check_tiers(router, tiers)
        self.verifier: Verifier = verifier if verifier is not None else SelfConfidenceVerifier(threshold)
        self.on_verifier_error = on_verifier_error
        self.system_prompt = system_prompt
        self.params = params
        self.ask_confidence = isinstance(self.verifier, SelfConfidenceVerifier)
        if isinstance(self.verifier, LogprobVerifier):
            self.params.setdefault("logprobs", True)

    def plan(self, question: str, sensitivity: str | Sensitivity | None = None) -> _Plan:
        """Prepare one question (sensitivity, allowed tiers, messages)."""
        question = _question(question)
        sens = _sensitivity(self.router, question, sensitivity)
        run = CascadeRun(
            question,
            self.tiers,
            self.verifier,
            allowed=_allowed(self.router, sens),
            on_verifier_error=self.on_verifier_error,
        )
        system = "\n".join(
            p for p in (self.system_prompt, _CONFIDENCE_INSTRUCTION if self.ask_confidence else None) if p
        )
        msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": question}]

        def finish(result: CascadeResult | None, trail: list[dict[str, Any]]) -> ChainOutput:
            assert result is not None  # a cascade always has an answer once run
            return ChainOutput(result.answer.text, result.answer.tier, result.outcome, trail, model=result.answer.model)

        return _Plan(
            run, lambda tier: msgs, {"sensitivity": sens.value}, dict(self.params), self.ask_confidence, [], finish
        )

    def invoke(self, question: str, sensitivity: str | Sensitivity | None = None) -> ChainOutput:
        """Answer ``question`` through the cascade."""
        return self._drive(self.plan(question, sensitivity))

    async def ainvoke(self, question: str, sensitivity: str | Sensitivity | None = None) -> ChainOutput:
        """Async `invoke`."""
        return await self._adrive(self.plan(question, sensitivity))

    def stream(self, question: str, sensitivity: str | Sensitivity | None = None) -> ChainStream:
        """Yield the accepted answer's text pieces, then the `ChainOutput`."""
        return self._drive_stream(self.plan(question, sensitivity))

    def astream(self, question: str, sensitivity: str | Sensitivity | None = None) -> AsyncChainStream:
        """Async `stream`."""
        return self._adrive_stream(self.plan(question, sensitivity))


# --------------------------------------------------------------------------- retrieval-first


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOPWORDS and len(w) > 1}


def context_signals(
    question: str, passages: Sequence[Passage], *, min_score: float | None = None, min_coverage: float = 0.5
) -> tuple[bool, str]:
    """Cheap, model-free check that the retrieved context can answer: (looks sufficient?, why).

    Signals: at least one passage; the best retrieval score (when the retriever gives
    scores) at least ``min_score``; and coverage, the share of the question's content
    words found in the passages, at least ``min_coverage``.
    """
    if not passages:
        return False, "the retriever returned no passages"
    scores = [p.score for p in passages if p.score is not None]
    best = max(scores) if scores else None
    if min_score is not None and best is not None and best < min_score:
        return False, f"best retrieval score {best:.2f} < {min_score}"
    q = _words(question)
    found = _words(" ".join(p.text for p in passages))
    coverage = len(q & found) / len(q) if q else 1.0
    score_note = f", best score {best:.2f}" if best is not None else ""
    if coverage < min_coverage:
        return False, f"coverage {coverage:.2f} < {min_coverage} of the question's words{score_note}"
    return True, f"{len(passages)} passages, coverage {coverage:.2f}{score_note}"


class ContextVerifier:
    """The cheap-tier judgement of retrieval-first: accept unless the tier said the context is insufficient."""

    name = "context"

    def verify(self, question: str, attempt: Attempt, history: Sequence[Attempt]) -> Verdict:
        """Look for the `INSUFFICIENT` marker (or an empty answer)."""
        if INSUFFICIENT in attempt.text or not attempt.text.strip():
            return Verdict(False, 0.0, f"{attempt.tier} judged the context insufficient")
        return Verdict(True, 1.0, f"{attempt.tier} answered from the context")


_CHEAP_PROMPT = (
    "Answer the question using only the numbered passages. Cite the passages you use as [n]. "
    f"If the passages do not contain the answer, reply exactly {INSUFFICIENT} and nothing else."
)
_ESCALATED_PROMPT = (
    "Answer the question. Use the numbered passages when they help and cite them as [n]; "
    "otherwise answer from your own knowledge."
)

OnRetrievalError = Literal["report", "escalate", "raise"]


class RetrievalFirstEngine(_Driver):
    """Answer from retrieved context on a cheap tier; escalate only when the context does not suffice.

    Order of decisions: cheap signals first (`context_signals`: passages, scores,
    coverage; no model call), then the cheap tier's own judgement, made in the same
    call that answers (it replies `INSUFFICIENT` instead of an answer). Only then is
    ``escalation_tier`` called, with the passages, and never for a confidential
    question when that tier is not private.

    ``on_retrieval_error``: a retriever that raises is "report"-ed (no model call,
    outcome ``retrieval_error``, the error in the trail; default), "escalate"-d
    (the escalation tier answers without context, and the trail says why) or "raise"-d.
    """

    span_name = "retrieval_first"

    def __init__(
        self,
        router: Router,
        *,
        cheap_tier: str,
        escalation_tier: str,
        min_score: float | None = None,
        min_coverage: float = 0.5,
        max_context_chars: int = 6000,
        on_retrieval_error: OnRetrievalError = "report",
        **params: Any,
    ) -> None:
        self.router = router
        self.cheap_tier, self.escalation_tier = _check_tiers(router, [cheap_tier, escalation_tier])
        self.min_score = min_score
        self.min_coverage = min_coverage
        self.max_context_chars = max_context_chars
        self.on_retrieval_error = on_retrieval_error
        self.params = params

    def _context(self, passages: Sequence[Passage]) -> str:
        out, used = [], 0
        for i, p in enumerate(passages, 1):
            text = p.text[: max(0, self.max_context_chars - used)]
            if not text:
                break
            used += len(text)
            out.append(f"[{i}] {text}")
        return "\n\n".join(out)

    def plan(
        self,
        question: str,
        passages: Sequence[Passage] | BaseException,
        sensitivity: str | Sensitivity | None = None,
    ) -> _Plan:
        """Prepare one question given what the retriever returned (or raised)."""
        question = _question(question)
        sens = _sensitivity(self.router, question, sensitivity)
        allowed = _allowed(self.router, sens)
        pre: list[dict[str, Any]] = []
        docs: list[Passage] = []
        if isinstance(passages, BaseException):
            why = f"retriever failed: {type(passages).__name__}: {passages}"
            if self.on_retrieval_error == "raise":
                raise RetrievalError(why) from passages
            blocked = allowed(self.escalation_tier) if self.on_retrieval_error == "escalate" else None
            if self.on_retrieval_error == "report" or blocked is not None:
                pre.append(
                    _pre(
                        None, "error", why + (f"; not escalating ({blocked})" if blocked else "") + "; no model called"
                    )
                )
                return _Plan(
                    None,
                    lambda t: [],
                    {},
                    {},
                    False,
                    pre,
                    lambda r, trail: ChainOutput("", None, "retrieval_error", trail),
                )
            pre.append(_pre(None, "error", why + f"; answering on {self.escalation_tier} without context"))
            tiers = [self.escalation_tier]
        else:
            docs = list(passages)
            ok, why = context_signals(question, docs, min_score=self.min_score, min_coverage=self.min_coverage)
            if ok:
                pre.append(_pre(None, "retrieved", f"context looks sufficient: {why}"))
                tiers = [self.cheap_tier, self.escalation_tier]
            elif allowed(self.escalation_tier) is None:
                pre.append(
                    _pre(None, "retrieved", f"context insufficient by cheap signals: {why}; skipping the cheap tier")
                )
                tiers = [self.escalation_tier]
            else:
                pre.append(
                    _pre(
                        None,
                        "retrieved",
                        f"context insufficient by cheap signals: {why}; "
                        f"{allowed(self.escalation_tier)}, so trying the cheap tier anyway",
                    )
                )
                tiers = [self.cheap_tier, self.escalation_tier]
        context = self._context(docs)

        def messages(tier: str) -> list[dict[str, Any]]:
            system = _CHEAP_PROMPT if tier == self.cheap_tier and tier != self.escalation_tier else _ESCALATED_PROMPT
            user = f"Passages:\n{context}\n\nQuestion: {question}" if context else f"Question: {question}"
            return [{"role": "system", "content": system}, {"role": "user", "content": user}]

        def finish(result: CascadeResult | None, trail: list[dict[str, Any]]) -> ChainOutput:
            assert result is not None
            answer = result.answer
            text = answer.text
            outcome = {
                "accepted": "answered_from_context" if answer.tier == self.cheap_tier else "escalated",
                "last_tier": "escalated",
            }.get(result.outcome, result.outcome)
            if INSUFFICIENT in text:
                text = "The retrieved context does not answer this question."
                outcome = "blocked" if result.outcome == "blocked" else "insufficient_context"
            cited = sorted({int(n) for n in _CITATION.findall(text) if 0 < int(n) <= len(docs)})
            sources = [
                {"index": n, "source": docs[n - 1].source, "score": docs[n - 1].score, "text": docs[n - 1].text[:200]}
                for n in cited
            ]
            return ChainOutput(text, answer.tier, outcome, trail, sources, model=answer.model)

        run = CascadeRun(question, tiers, ContextVerifier(), allowed=allowed)
        return _Plan(run, messages, {"sensitivity": sens.value}, dict(self.params), False, pre, finish)

    def invoke(
        self, question: str, passages: Sequence[Passage] | BaseException, sensitivity: str | None = None
    ) -> ChainOutput:
        """Answer ``question`` from ``passages`` (or handle the retriever's exception)."""
        return self._drive(self.plan(question, passages, sensitivity))

    async def ainvoke(
        self, question: str, passages: Sequence[Passage] | BaseException, sensitivity: str | None = None
    ) -> ChainOutput:
        """Async `invoke`."""
        return await self._adrive(self.plan(question, passages, sensitivity))

    def stream(
        self, question: str, passages: Sequence[Passage] | BaseException, sensitivity: str | None = None
    ) -> ChainStream:
        """Yield the accepted answer's text pieces, then the `ChainOutput`."""
        return self._drive_stream(self.plan(question, passages, sensitivity))

    def astream(
        self, question: str, passages: Sequence[Passage] | BaseException, sensitivity: str | None = None
    ) -> AsyncChainStream:
        """Async `stream`."""
        return self._adrive_stream(self.plan(question, passages, sensitivity))


def _pre(tier: str | None, action: str, reason: str) -> dict[str, Any]:
    return {
        "tier": tier,
        "action": action,
        "reason": reason,
        "model": None,
        "score": None,
        "cost_usd": 0.0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
    }
