"""Report routed calls to Langfuse (one generation per call) and Prometheus (metrics).

Why here and not in LiteLLM's own Langfuse callback: LiteLLM sees one *deployment*
call at a time, so a call that fell back shows up as several unrelated
generations, named after whatever model string LiteLLM was given, with no word
about why the router chose that tier. The `Router` knows the whole story, so it
reports one generation per routed call, named after the model that actually
served it, carrying tier, reason, the tiers that failed first, usage and cost.

Nesting: a generation is a child of whatever OpenTelemetry span is current when
the call starts, so a user's ``with langfuse.start_as_current_observation(...)``
(or ``Router.span`` / `Telemetry.span`, which cascades and retrieval-first chains
can open around their several calls) groups the calls of one logical request
under one parent. A *streamed* chain run cannot simply hold a ``with`` block
open across its ``yield`` statements: the span would stay current in the
consumer's code between chunks, and its context token would be detached in
whatever context happens to close the generator (another task, the garbage
collector), which OpenTelemetry refuses. `Telemetry.span_stream` /
`Telemetry.aspan_stream` instead open the span when iteration starts and make
it current only while the generator runs a step.

No duplicates with Langfuse's own LangChain ``CallbackHandler``: that handler
opens a generation for the chat-model run and, in sync code, makes it the current
span before our adapter calls the router. When the current span is such a foreign
Langfuse generation, the tracer *adopts* it (renames it after the served model and
adds routing, usage and cost) instead of opening a second one; the handler still
records input and output and ends it. In async code LangChain runs the handler in
an executor with a copied context, so its generation is never current for us:
the adapter hands it over explicitly with `adopt_langchain_run(run_manager)`.

Secrets: only the messages, the answer and routing facts are recorded, never
deployment parameters (API keys, API bases). ``capture_content: false`` drops
the messages and the answer as well.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import logging
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from routed_llm.engine import RoutingInfo, StreamEnd
from routed_llm.errors import AllTiersFailed, StreamInterrupted, TelemetryError

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from routed_llm.config import TelemetryConfig
    from routed_llm.types import RouteDecision

__all__ = [
    "NO_TRACE",
    "CallTrace",
    "RouterMetrics",
    "Telemetry",
    "adopt_langchain_run",
    "langfuse_generation_for_run",
    "response_output",
]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

#: Marks the generations this module opened, so a nested router call never "adopts" one of ours.
_OURS = "routed_llm.generation"

#: A generation another tracer opened for the call about to be routed (see `adopt_langchain_run`).
_ADOPTED: contextvars.ContextVar[Any] = contextvars.ContextVar("routed_llm_adopted_generation", default=None)


def langfuse_generation_for_run(run_manager: Any) -> Any:
    """Return the generation Langfuse's LangChain handler opened for this run, or ``None``.

    Looks through the run manager's handlers for a ``langfuse.langchain.CallbackHandler``
    and takes the observation it keeps for ``run_manager.run_id`` (its ``_runs`` map,
    present in langfuse 3 to 5).
    """
    run_id = getattr(run_manager, "run_id", None)
    for handler in getattr(run_manager, "handlers", None) or []:
        runs = getattr(handler, "_runs", None)
        if not type(handler).__module__.startswith("langfuse.") or not isinstance(runs, dict):
            continue
        observation = runs.get(run_id)
        if observation is not None and getattr(observation, "_observation_type", None) == "generation":
            return observation
    return None


@contextlib.contextmanager
def adopt_langchain_run(run_manager: Any) -> Iterator[None]:
    """Let router calls inside annotate the Langfuse handler's generation for this run instead of opening one.

    For LangChain adapters' ``_agenerate`` / ``_astream`` (and harmless in the sync ones)::

        with adopt_langchain_run(run_manager):
            result = await self._router.acomplete(...)
    """
    generation = langfuse_generation_for_run(run_manager) if run_manager is not None else None
    if generation is None:
        yield
        return
    token = _ADOPTED.set(generation)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):  # an async generator finalised in another context
            _ADOPTED.reset(token)


#: Histogram buckets (seconds) for LLM calls: from a cache-fast local model to a slow reasoning model.
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, float("inf"))


class RouterMetrics:
    """Prometheus metrics for routed calls, on a registry of their own unless one is given.

    A private registry by default, because the metric names can be registered only
    once per registry: two routers in one process (tests, notebooks) would otherwise
    collide on the global one. Serve it with ``prometheus_client.make_wsgi_app(registry)``
    or ``generate_latest(registry)``.

    Metrics (labels in braces): ``llm_request_duration_seconds{tier,model}`` histogram;
    ``llm_token_usage_total{tier,model,kind}`` (kind: prompt, completion);
    ``llm_requests_total{tier}`` and ``llm_errors_total{tier}`` (every tier attempt counts as a
    request; error rate = errors / requests); ``llm_cost_usd_total{tier,model}`` and
    ``llm_cost_daily_usd{tier,model}`` (spend since UTC midnight, in this process);
    ``llm_cache_hits_total{tier}``.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.duration = Histogram(
            "llm_request_duration_seconds",
            "Wall time of a routed LLM call, fallbacks included (streams: until the last chunk).",
            ["tier", "model"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.tokens = Counter("llm_token_usage", "Tokens used by routed calls.", ["tier", "model", "kind"], registry=r)
        self.requests = Counter("llm_requests", "Tier attempts (served or failed).", ["tier"], registry=r)
        self.errors = Counter("llm_errors", "Tier attempts that failed.", ["tier"], registry=r)
        self.cost = Counter("llm_cost_usd", "Spend of routed calls in USD.", ["tier", "model"], registry=r)
        self.cost_daily = Gauge(
            "llm_cost_daily_usd", "Spend since UTC midnight in USD (this process).", ["tier", "model"], registry=r
        )
        self.cache_hits = Counter("llm_cache_hits", "Calls answered from the response cache.", ["tier"], registry=r)
        self._day = dt.datetime.now(dt.UTC).date()
        self._lock = threading.Lock()

    def served(self, info: RoutingInfo, duration_s: float) -> None:
        """Count a finished call: its failed attempts, the serving tier, duration, tokens and cost."""
        if info.cached:
            self.cache_hits.labels(info.tier).inc()
            return
        for attempt in info.attempts:
            self.failed_tier(attempt["tier"])
        self.requests.labels(info.tier).inc()
        self.duration.labels(info.tier, info.model).observe(duration_s)
        self.tokens.labels(info.tier, info.model, "prompt").inc(info.prompt_tokens)
        self.tokens.labels(info.tier, info.model, "completion").inc(info.completion_tokens)
        self.cost.labels(info.tier, info.model).inc(info.cost_usd)
        with self._lock:
            today = dt.datetime.now(dt.UTC).date()
            if today != self._day:  # a new UTC day: the daily gauge starts from zero
                self._day = today
                self.cost_daily.clear()
            self.cost_daily.labels(info.tier, info.model).inc(info.cost_usd)

    def failed_tier(self, tier: str) -> None:
        """Count one failed attempt on ``tier`` (it is a request, and an error)."""
        self.requests.labels(tier).inc()
        self.errors.labels(tier).inc()


def _failed_tiers(exc: BaseException, decision: RouteDecision) -> list[str]:
    """Which tiers a failed call tried: every tier for `AllTiersFailed`, else the one that broke."""
    if isinstance(exc, AllTiersFailed):
        return list(exc.errors)
    if isinstance(exc, StreamInterrupted):
        return [exc.tier]
    return [decision.tier]


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}"[:1000]


def response_output(response: Any) -> Any:
    """Return the answer as Langfuse shows it: the assistant message (content and tool calls)."""
    try:
        message = response.choices[0].message
    except (AttributeError, IndexError, TypeError):
        return None
    out: dict[str, Any] = {"role": "assistant", "content": getattr(message, "content", None)}
    tool_calls = getattr(message, "tool_calls", None)
    if tool_calls:
        out["tool_calls"] = [tc.model_dump() if hasattr(tc, "model_dump") else dict(tc) for tc in tool_calls]
    return out


def _routing_metadata(info: RoutingInfo) -> dict[str, Any]:
    data = info.as_dict()
    return {
        "tier": data["tier"],
        "reason": data["reason"],
        "rule": data["rule"],
        "fallbacks": data["fallbacks"],
        "attempts": data["attempts"],
        "deployment": data["deployment"],
        "cached": data["cached"],
        "task": data["task"],
        "complexity": data["complexity"],
        "sensitivity": data["sensitivity"],
        "score": data["score"],
        "scorer": data["scorer"],
        "cost_usd": data["cost_usd"],
        "baseline_tier": data["baseline_tier"],
        "baseline_cost_usd": data["baseline_cost_usd"],
        "saved_usd": data["saved_usd"],
        "saved_by": data["saved_by"],
        "session": data["session"],
    }


class CallTrace:
    """One routed call in flight: its Langfuse generation (if any) and its clock.

    The router starts it before calling the engine and ends it exactly once, with
    `finish` (served), `fail` (raised) or `close` (a stream abandoned by its consumer).
    """

    def __init__(
        self,
        telemetry: Telemetry | None,
        messages: Sequence[Mapping[str, Any]],
        decision: RouteDecision | None,
        params: Mapping[str, Any],
    ) -> None:
        self._telemetry = telemetry
        self._decision = decision
        self._started = time.monotonic()
        self._first_chunk: dt.datetime | None = None
        self._text: list[str] = []
        self._generation: Any = None
        self._adopted = False
        self._done = telemetry is None
        if telemetry is not None and telemetry.langfuse is not None and decision is not None:
            try:
                self._open(telemetry, messages, decision, params)
            except Exception:  # tracing must never break a call
                logger.warning("could not open a Langfuse generation", exc_info=True)

    def _open(
        self,
        telemetry: Telemetry,
        messages: Sequence[Mapping[str, Any]],
        decision: RouteDecision,
        params: Mapping[str, Any],
    ) -> None:
        from langfuse import LangfuseGeneration, LangfuseOtelSpanAttributes
        from opentelemetry import trace as otel_trace

        client = telemetry.langfuse
        planned = telemetry.planned_model(decision.tier)
        handed = _ADOPTED.get()
        if handed is not None and handed._otel_span.is_recording():
            _ADOPTED.set(None)  # one call adopts it; a second call in the same run gets its own generation
            self._generation = handed
            self._adopted = True
            return
        current = otel_trace.get_current_span()
        attrs = getattr(current, "attributes", None) or {}
        if (
            current.is_recording()
            and attrs.get(LangfuseOtelSpanAttributes.OBSERVATION_TYPE) == "generation"
            and not attrs.get(_OURS)
        ):
            # A generation someone else opened for this very call (Langfuse's LangChain handler):
            # annotate it instead of opening a duplicate; its owner records input/output and ends it.
            self._generation = LangfuseGeneration(otel_span=current, langfuse_client=client)
            self._adopted = True
            return
        model_parameters = {k: params[k] for k in ("temperature", "max_tokens", "top_p") if params.get(k) is not None}
        self._generation = client.start_observation(
            name=planned,
            as_type="generation",
            input=list(messages) if telemetry.capture_content else None,
            model=planned,
            model_parameters=model_parameters or None,
            metadata={"tier": decision.tier, "reason": decision.reason, "planned_tiers": list(decision.tiers)},
        )
        self._generation._otel_span.set_attribute(_OURS, True)

    # ------------------------------------------------------------------ streaming

    def chunk(self, item: Any) -> None:
        """Note a stream chunk: the first one's time, and its text for the recorded output."""
        if self._done:
            return
        if self._first_chunk is None:
            self._first_chunk = dt.datetime.now(dt.UTC)
        for choice in getattr(item, "choices", None) or []:
            delta = getattr(choice, "delta", None)
            content = getattr(delta, "content", None) if delta is not None else None
            if content:
                self._text.append(content)

    def stream_end(self, end: StreamEnd) -> None:
        """Finish a stream on its final `StreamEnd`, with the text the chunks carried."""
        self.finish(end.routing, {"role": "assistant", "content": "".join(self._text)})

    # ------------------------------------------------------------------ endings

    def finish(self, info: RoutingInfo, output: Any) -> None:
        """Record a served call (or one answered from the cache) and end its generation."""
        if self._done:
            return
        self._done = True
        telemetry = self._telemetry
        assert telemetry is not None
        duration = time.monotonic() - self._started
        if telemetry.metrics is not None:
            telemetry.metrics.served(info, duration)
        if self._generation is None:
            return
        try:
            update: dict[str, Any] = {
                "name": info.model,
                "model": info.model,
                "metadata": _routing_metadata(info),
                "usage_details": {
                    "input": info.prompt_tokens,
                    "output": info.completion_tokens,
                    "total": info.total_tokens,
                },
                "cost_details": {"total": info.cost_usd},
            }
            if info.attempts:
                update["level"] = "WARNING"
                update["status_message"] = "served after failed tiers: " + ", ".join(a["tier"] for a in info.attempts)
            if not self._adopted:
                if telemetry.capture_content:
                    update["output"] = output
                if self._first_chunk is not None:
                    update["completion_start_time"] = self._first_chunk
            self._generation.update(**update)
            if not self._adopted:
                self._generation.end()
        except Exception:
            logger.warning("could not record a Langfuse generation", exc_info=True)

    def fail(self, exc: BaseException) -> None:
        """Record a call that raised: count the failed tiers, end an error-level generation."""
        if self._done:
            return
        self._done = True
        telemetry = self._telemetry
        assert telemetry is not None
        tiers = _failed_tiers(exc, self._decision) if self._decision is not None else []
        if telemetry.metrics is not None:
            for tier in tiers:
                telemetry.metrics.failed_tier(tier)
        if self._generation is None:
            return
        try:
            errors = exc.errors if isinstance(exc, AllTiersFailed) else {}
            self._generation.update(
                level="ERROR",
                status_message=_describe(exc),
                metadata={
                    "failed_tiers": tiers,
                    "attempts": [{"tier": t, "error": _describe(e)[:300]} for t, e in errors.items()],
                    "error_type": type(exc).__name__,
                },
            )
            if not self._adopted:
                self._generation.end()
        except Exception:
            logger.warning("could not record a failed Langfuse generation", exc_info=True)

    def close(self) -> None:
        """End the generation of a stream its consumer stopped reading before the end."""
        if self._done:
            return
        self._done = True
        if self._generation is not None and not self._adopted:
            with contextlib.suppress(Exception):
                self._generation.update(
                    level="WARNING",
                    status_message="stream closed by the caller before its end",
                    output={"role": "assistant", "content": "".join(self._text)}
                    if self._telemetry is not None and self._telemetry.capture_content
                    else None,
                ).end()


class _StepSpan:
    """A Langfuse span current only while a generator runs one step, so no context crosses a ``yield``.

    Why not ``with start_as_current_observation(...)`` around the generator body: that
    attaches an OpenTelemetry context token on the first ``next()`` and detaches it on
    the last, so between chunks the span is current *in the consumer's code* (its own
    calls would nest under the chain), and a generator closed from another task or by
    the garbage collector detaches a token created in a different context
    ("Failed to detach context"). Here every attach is undone before the step yields.
    """

    def __init__(self, telemetry: Telemetry | None, name: str, metadata: Mapping[str, Any]) -> None:
        self._observation: Any = None
        self._context: Any = None
        if telemetry is None or telemetry.langfuse is None:
            return
        try:
            from opentelemetry import trace as otel_trace

            # Parented on whatever is current when iteration starts, like a ``with`` block there.
            self._observation = telemetry.langfuse.start_observation(
                name=name, as_type="span", metadata=dict(metadata) or None
            )
            self._context = otel_trace.set_span_in_context(self._observation._otel_span)
        except Exception:  # tracing must never break a run
            logger.warning("could not open a Langfuse span", exc_info=True)
            self._observation = self._context = None

    @contextlib.contextmanager
    def current(self) -> Iterator[None]:
        """Make the span current for one step; the token is detached in the same step (same context)."""
        if self._context is None:
            yield
            return
        from opentelemetry import context as otel_context

        token = otel_context.attach(self._context)
        try:
            yield
        finally:
            otel_context.detach(token)

    def end(self, exc: BaseException | None) -> None:
        """End the span: plainly at the stream's end, as a warning if abandoned, as an error if it raised.

        Cancellation counts as abandonment, not as an error of the run: it is how an
        abandoned async stream is often finalised (asyncio cancels the pending
        ``aclose()`` task at shutdown) and how a web server drops a gone client.
        """
        if self._observation is None:
            return
        try:
            if isinstance(exc, GeneratorExit):
                self._observation.update(level="WARNING", status_message="stream closed by the caller before its end")
            elif isinstance(exc, asyncio.CancelledError):
                self._observation.update(level="WARNING", status_message="stream cancelled before its end")
            elif exc is not None:
                self._observation.update(level="ERROR", status_message=_describe(exc))
            self._observation.end()
        except Exception:
            logger.warning("could not end a Langfuse span", exc_info=True)
        self._observation = self._context = None


class Telemetry:
    """Where a `Router` reports its calls: a Langfuse client and/or Prometheus metrics.

    Build it from the config's ``telemetry:`` section (`Telemetry.from_config`), or
    pass your own Langfuse client (``Router(config, langfuse=Langfuse(...))``) so the
    router shares the client, and the traces, of the rest of your app.

    Args:
        langfuse: a ``langfuse.Langfuse`` client, or ``None`` for no tracing.
        metrics: a `RouterMetrics`, or ``None`` for no metrics.
        capture_content: record input messages and the output text in generations.
        models: tier -> model name, used to name a generation before its call is served
            (and a failed one, which no model served).
    """

    def __init__(
        self,
        *,
        langfuse: Any = None,
        metrics: RouterMetrics | None = None,
        capture_content: bool = True,
        models: Mapping[str, str] | None = None,
        owns_client: bool = False,
    ) -> None:
        self.langfuse = langfuse
        self.metrics = metrics
        self.capture_content = capture_content
        self._models = dict(models or {})
        self._owns_client = owns_client

    @classmethod
    def from_config(
        cls, config: TelemetryConfig | None, *, langfuse: Any = None, models: Mapping[str, str] | None = None
    ) -> Telemetry | None:
        """Build from ``telemetry:``; an explicit ``langfuse`` client wins over the config's keys.

        Returns ``None`` when nothing is enabled, so the router pays nothing per call.
        """
        lf_cfg = config.langfuse if config is not None else None
        prom_cfg = config.prometheus if config is not None else None
        owns = False
        if langfuse is None and lf_cfg is not None and lf_cfg.enabled:
            try:
                from langfuse import Langfuse
            except ImportError as e:
                raise TelemetryError(
                    "telemetry.langfuse needs the langfuse package: pip install 'routed-llm[observability]'"
                ) from e
            langfuse = Langfuse(
                public_key=lf_cfg.public_key,
                secret_key=lf_cfg.secret_key.get_secret_value() if lf_cfg.secret_key is not None else None,
                host=lf_cfg.host,
            )
            owns = True
        metrics: RouterMetrics | None = None
        if prom_cfg is not None and prom_cfg.enabled:
            try:
                import prometheus_client
            except ImportError as e:
                raise TelemetryError(
                    "telemetry.prometheus needs prometheus-client: pip install 'routed-llm[observability]'"
                ) from e
            metrics = RouterMetrics(prometheus_client.REGISTRY if prom_cfg.registry == "default" else None)
        if langfuse is None and metrics is None:
            return None
        capture = lf_cfg.capture_content if lf_cfg is not None else True
        return cls(langfuse=langfuse, metrics=metrics, capture_content=capture, models=models, owns_client=owns)

    @property
    def registry(self) -> CollectorRegistry | None:
        """The Prometheus registry the metrics live in (``None`` without metrics)."""
        return self.metrics.registry if self.metrics is not None else None

    def planned_model(self, tier: str) -> str:
        """Return the model a tier would serve with: the name of a generation not served yet."""
        return self._models.get(tier, tier)

    def start(
        self, messages: Sequence[Mapping[str, Any]], decision: RouteDecision, params: Mapping[str, Any]
    ) -> CallTrace:
        """Begin reporting one routed call (the router ends the returned trace)."""
        return CallTrace(self, messages, decision, params)

    @contextlib.contextmanager
    def span(self, name: str, **metadata: Any) -> Iterator[Any]:
        """Open a Langfuse span and make it current, so every routed call inside nests under it.

        For runnables that make several calls for one request (cascade, retrieval-first)::

            with router.telemetry.span("cascade", question=q):
                ...  # each router call becomes a child generation

        Yields the Langfuse span (``None`` without Langfuse), on which callers may ``update``.
        Not for the body of a generator: a streamed run uses `span_stream` / `aspan_stream`.
        """
        if self.langfuse is None:
            yield None
            return
        with self.langfuse.start_as_current_observation(name=name, as_type="span", metadata=metadata or None) as obs:
            try:
                yield obs
            except Exception as e:
                # OTel marks the span's status; Langfuse shows the level: set it as the streamed twin does
                with contextlib.suppress(Exception):
                    obs.update(level="ERROR", status_message=_describe(e))
                raise

    def span_stream(self, name: str, items: Iterator[_T], **metadata: Any) -> Generator[_T, None, None]:
        """Yield ``items`` inside one Langfuse span: the streaming twin of `span`.

        For a streamed run of several calls (cascade, retrieval-first)::

            return telemetry.span_stream("cascade", self._steps(plan))

        ``items`` should be a generator not started yet: all its work (every router
        call) then runs while the span is current, so each call's generation is a
        child of it. The span opens on the first ``next()`` and ends when ``items``
        is exhausted (plainly), raises (level ERROR) or is abandoned by the consumer
        (``close()``, ``break`` + garbage collection: level WARNING). In every case
        ``items`` is closed first, inside the span, so its own open generation ends
        before the span does. Between chunks nothing of the span is current.
        """
        span = _StepSpan(self, name, metadata)
        ended: BaseException | None = None
        try:
            while True:
                with span.current():
                    try:
                        item = next(items)
                    except StopIteration:
                        return
                yield item
        except BaseException as e:
            ended = e
            raise
        finally:
            try:
                close = getattr(items, "close", None)
                if close is not None:
                    with span.current():
                        close()
            finally:
                span.end(ended)

    async def aspan_stream(self, name: str, items: AsyncIterator[_T], **metadata: Any) -> AsyncGenerator[_T, None]:
        """Async `span_stream`: the span is current only inside each ``__anext__`` step.

        Safe however the consumer's steps are scheduled (LangChain runs each one in a
        task of its own) and when the generator is finalised by the event loop in yet
        another task: no context token ever outlives the step that attached it.
        """
        span = _StepSpan(self, name, metadata)
        ended: BaseException | None = None
        try:
            while True:
                with span.current():
                    try:
                        item = await anext(items)
                    except StopAsyncIteration:
                        return
                yield item
        except BaseException as e:
            ended = e
            raise
        finally:
            try:
                aclose = getattr(items, "aclose", None)
                if aclose is not None:
                    with span.current():
                        await aclose()
            finally:
                span.end(ended)

    def flush(self) -> None:
        """Send pending generations now (Langfuse batches them in the background)."""
        if self.langfuse is not None:
            self.langfuse.flush()

    def close(self) -> None:
        """Flush, and shut down the Langfuse client if this object created it."""
        if self.langfuse is None:
            return
        if self._owns_client:
            self.langfuse.shutdown()
        else:
            self.langfuse.flush()


NO_TRACE = CallTrace(None, (), None, {})
"""A trace that records nothing (telemetry off); ending it is a no-op."""
