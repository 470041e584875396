"""`Router`: the one object every adapter talks to.

It owns the config, the resolved tier profiles, the LiteLLM-backed engine and
the shared state (tier health). A LangChain `ChatRoutedLLM` and a LlamaIndex
`RoutedLLM` built over the same `Router` share all of it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from routed_llm.budget import BudgetManager, Closure
from routed_llm.cache import CachedAnswer, ResponseCache, StreamRecorder
from routed_llm.catalog import TierProfile, build_profiles
from routed_llm.classify.heuristic import classify_messages, tool_texts
from routed_llm.config import RoutingConfig, load_config
from routed_llm.engine import Engine, RoutedCompletion, RoutingInfo, StreamEnd
from routed_llm.errors import InvalidRequest
from routed_llm.policy import RouterState, decide
from routed_llm.savings import Savings
from routed_llm.scoring import Scorer, load_scorer, route_score
from routed_llm.sessions import ERROR_MARKER, ROUTING_MARKER, SessionCall, SessionManager
from routed_llm.shadow import ShadowEvaluator
from routed_llm.telemetry import NO_TRACE, CallTrace, Telemetry
from routed_llm.telemetry import response_output as _output
from routed_llm.tokens import count_prompt_tokens
from routed_llm.types import RequestNeeds, RouteDecision, RouteHints

__all__ = ["ConfigSource", "HintsLike", "Router", "normalize_messages", "request_needs"]

ConfigSource = RoutingConfig | str | os.PathLike[str] | Mapping[str, Any]
HintsLike = RouteHints | Mapping[str, Any] | None


def _has_content(message: Mapping[str, Any], where: str) -> bool:
    """Whether a message carries anything: text that is not blank, a non-text part, or tool calls.

    Raises `InvalidRequest` for content that is neither a string, a list of parts nor ``None``.
    """
    content = message.get("content")
    if message.get("tool_calls") or message.get("function_call"):
        return True
    if content is None:
        return False
    if isinstance(content, str):
        return bool(content.strip())
    if isinstance(content, list):
        for j, part in enumerate(content):
            if not isinstance(part, Mapping):
                raise InvalidRequest(
                    f"{where}.content[{j}] must be a content part such as {{'type': 'text', 'text': ...}} "
                    f"(got {type(part).__name__})"
                )
            if part.get("type", "text") != "text" or str(part.get("text") or "").strip():
                return True
        return False
    raise InvalidRequest(
        f"{where}.content must be a string, a list of content parts or None (got {type(content).__name__})"
    )


def normalize_messages(messages: str | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Accept a prompt string or OpenAI-format messages; reject anything else clearly.

    The one rule for empty input, applied for every adapter (LangChain, LlamaIndex,
    the CLI, the chains) because they all reach the model through here: a prompt
    must say something. An empty or blank string, no messages, messages none of
    which carries content, or a last user message that is blank, is refused with
    `InvalidRequest` before any model is called; so is content of the wrong type.
    """
    if isinstance(messages, str):
        if not messages.strip():
            raise InvalidRequest("the prompt is empty: pass a non-empty string or messages")
        return [{"role": "user", "content": messages}]
    if not isinstance(messages, Sequence) or not messages:
        raise InvalidRequest("messages is empty: pass at least one message to route")
    out = []
    some_content = False
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping) or "role" not in m:
            raise InvalidRequest(f"messages[{i}] must be a mapping with a 'role' (got {type(m).__name__})")
        m = _without_markers(_without_assistant_blocks(m))
        _check_message(i, m)
        has = _has_content(m, f"messages[{i}]")
        some_content = some_content or has
        if i == len(messages) - 1 and m["role"] == "user" and not has:
            raise InvalidRequest(f"messages[{i}] (the user's message) is empty: give the model something to answer")
        out.append(dict(m))
    if not some_content:
        raise InvalidRequest("every message is empty: pass at least one message with content to route")
    return out


_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
#: Blocks frameworks keep in an assistant message's content (LangChain's v1 output keeps
#: ``tool_call`` and ``reasoning`` blocks there) that are no OpenAI content parts: the calls
#: travel in ``tool_calls``, and reasoning is not sent back to a model.
_ASSISTANT_ONLY_BLOCKS = frozenset({"tool_call", "tool_use", "reasoning", "thinking"})


def _without_markers(m: Mapping[str, Any]) -> Mapping[str, Any]:
    """Drop the routing history a conversation carries for `routed_llm.sessions` (no provider may see it)."""
    if ROUTING_MARKER in m or ERROR_MARKER in m:
        return {k: v for k, v in m.items() if k not in (ROUTING_MARKER, ERROR_MARKER)}
    return m


def _without_assistant_blocks(m: Mapping[str, Any]) -> Mapping[str, Any]:
    """Drop `_ASSISTANT_ONLY_BLOCKS` from an assistant message's content (a copy; the caller's is untouched)."""
    content = m.get("content")
    if m.get("role") != "assistant" or not isinstance(content, list):
        return m
    kept = [p for p in content if not (isinstance(p, Mapping) and p.get("type") in _ASSISTANT_ONLY_BLOCKS)]
    if len(kept) == len(content):
        return m
    return {**m, "content": kept or None}


#: Content part types and the field each must carry (as the OpenAI chat API defines them).
_PART_FIELDS = {"text": "text", "image_url": "image_url", "input_audio": "input_audio", "file": "file"}


def _check_message(i: int, m: Mapping[str, Any]) -> None:
    """Reject a malformed message here, naming it, rather than as a raw error from deep in LiteLLM."""
    role = m.get("role")
    if role not in _ROLES:
        raise InvalidRequest(f"messages[{i}].role must be one of {', '.join(sorted(_ROLES))} (got {role!r})")
    name = m.get("name")
    if name is not None and not isinstance(name, str):
        raise InvalidRequest(f"messages[{i}].name must be a string (got {type(name).__name__})")
    content = m.get("content")
    if content is None or isinstance(content, str):
        return
    if not isinstance(content, list):
        raise InvalidRequest(
            f"messages[{i}].content must be a string or a list of content parts (got {type(content).__name__})"
        )
    for j, part in enumerate(content):
        where = f"messages[{i}].content[{j}]"
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind not in _PART_FIELDS:
            raise InvalidRequest(
                f"{where} must be a content part with type one of {', '.join(_PART_FIELDS)} (got "
                f"{kind!r} in a {type(part).__name__})"
            )
        value = part.get(_PART_FIELDS[kind])
        if kind == "text" and not isinstance(value, str):
            raise InvalidRequest(f"{where}: a text part needs a string 'text' (got {type(value).__name__})")
        if kind == "image_url":
            url = value.get("url") if isinstance(value, Mapping) else value
            if not isinstance(url, str) or not url:
                raise InvalidRequest(f"{where}: an image_url part needs image_url.url, a URL or data: URI string")
        if kind in ("input_audio", "file") and not isinstance(value, Mapping):
            raise InvalidRequest(f"{where}: a {kind} part needs a {_PART_FIELDS[kind]!r} object")


#: Numeric OpenAI params, checked here so a typo fails as `InvalidRequest`, not inside LiteLLM.
_INT_PARAMS = ("max_tokens", "max_completion_tokens", "n", "seed", "top_logprobs")
_NUMBER_PARAMS = ("temperature", "top_p", "presence_penalty", "frequency_penalty", "timeout")


def _check_params(params: Mapping[str, Any]) -> None:
    for key in _INT_PARAMS:
        v = params.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or (key != "seed" and v < 0)):
            raise InvalidRequest(f"{key} must be a non-negative integer (got {v!r})")
    for key in _NUMBER_PARAMS:
        v = params.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or v != v):
            raise InvalidRequest(f"{key} must be a number (got {v!r})")
    tools = params.get("tools")
    if tools is not None and (
        not isinstance(tools, Sequence) or isinstance(tools, str) or not all(isinstance(t, Mapping) for t in tools)
    ):
        raise InvalidRequest("tools must be a list of OpenAI tool definitions (mappings)")
    fmt = params.get("response_format")
    if fmt is not None and not isinstance(fmt, type):
        kind = fmt.get("type") if isinstance(fmt, Mapping) else None
        if kind not in ("text", "json_object", "json_schema"):
            raise InvalidRequest(
                "response_format must be {'type': 'text' | 'json_object' | 'json_schema', ...} or a pydantic "
                f"model class (got {fmt!r:.80})"
            )
    stop = params.get("stop")
    if stop is not None and not isinstance(stop, str | list):
        raise InvalidRequest(f"stop must be a string or a list of strings (got {type(stop).__name__})")


def _has_images(messages: Sequence[Mapping[str, Any]]) -> bool:
    for m in messages:
        content = m.get("content")
        if isinstance(content, list):
            for part in content:
                if isinstance(part, Mapping) and part.get("type") in ("image_url", "image", "input_image"):
                    return True
    return False


def request_needs(messages: Sequence[Mapping[str, Any]], params: Mapping[str, Any]) -> RequestNeeds:
    """Derive what a call needs from a tier: tools, schema/JSON, images, tokens."""
    tools = params.get("tools") or None
    response_format = params.get("response_format")
    json_schema = json_mode = False
    if isinstance(response_format, Mapping):
        kind = response_format.get("type")
        json_schema = kind == "json_schema"
        json_mode = kind == "json_object"
    elif isinstance(response_format, type):  # a pydantic model class, as LiteLLM accepts
        json_schema = True
    _check_params(params)
    try:
        prompt_tokens = count_prompt_tokens(messages, tools)
    except RecursionError:
        raise InvalidRequest("the messages are nested too deeply to be a chat request") from None
    except Exception as e:  # LiteLLM's counter meets a shape it does not know: the request is malformed
        raise InvalidRequest(
            f"the messages or tools could not be read as a chat request: {type(e).__name__}: {e}"
        ) from e
    max_out = params.get("max_tokens") or params.get("max_completion_tokens") or 0
    return RequestNeeds(
        tools=bool(tools),
        json_schema=json_schema,
        json_mode=json_mode,
        images=_has_images(messages),
        prompt_tokens=prompt_tokens,
        max_output_tokens=int(max_out),
    )


#: The prompt `Router.preview` routes: what "a plain call" means for pre-call metadata.
_PLAIN_MESSAGES = [{"role": "user", "content": "Hello!"}]


@functools.cache
def _plain_needs() -> RequestNeeds:
    return request_needs(_PLAIN_MESSAGES, {})


def _hints(hints: HintsLike) -> RouteHints:
    if hints is None:
        return RouteHints()
    if isinstance(hints, RouteHints):
        return hints
    if not isinstance(hints, Mapping):
        raise InvalidRequest(
            f"routing hints must be a mapping or RouteHints (got {type(hints).__name__} {hints!r:.60}); "
            "e.g. router.complete(prompt, {'sensitivity': 'confidential'})"
        )
    try:
        return RouteHints.model_validate(dict(hints))
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
        raise InvalidRequest(f"invalid routing hint: {problems}") from None


def _within_budget(decision: RouteDecision, closures: Mapping[str, Closure]) -> RouteDecision:
    """Apply ``on_exceeded: raise``: refuse a call whose tier is over a limit, and drop closed fallbacks."""
    if not closures:
        return decision
    if decision.tier in closures:
        raise closures[decision.tier].error(decision.tier)
    # a fallback must not spend past a limit either
    return decision.model_copy(
        update={
            "fallbacks": tuple(t for t in decision.fallbacks if t not in closures),
            "excluded": {
                **decision.excluded,
                **{t: f"closed by budget ({c.reason})" for t, c in closures.items()},
            },
        }
    )


class Router:
    """Routes chat calls to tiers according to a `RoutingConfig`.

    Args:
        config: a `RoutingConfig`, a path to a YAML file, a mapping, or ``None``
            for the embedded defaults (`routed_llm.defaults.default_config`).
        langfuse: a ``langfuse.Langfuse`` client to report calls to (one generation per call),
            instead of, or without, a ``telemetry.langfuse`` config section.
    """

    def __init__(self, config: ConfigSource | None = None, *, langfuse: Any = None) -> None:
        if config is None:
            from routed_llm.defaults import default_config

            config = default_config()
        self.config: RoutingConfig = config if isinstance(config, RoutingConfig) else load_config(config)
        self.profiles: dict[str, TierProfile] = build_profiles(self.config)
        self._previews: dict[Any, RouteDecision] = {}
        self.engine = Engine(self.config, self.profiles)
        #: Prices every call at ``routing.savings_baseline`` (``routing["baseline_cost_usd"]``, ``saved_usd``).
        self.savings = Savings(self.config, self.profiles)
        #: Spend ledger and limits (``budgets:`` in the config), shared by every adapter over this router.
        self.budget: BudgetManager | None = (
            BudgetManager(self.config.budgets, self.profiles, tiers=self.config.tiers)
            if self.config.budgets is not None
            else None
        )
        #: Response cache (``cache:`` in the config), in front of every tier and every adapter.
        self.cache: ResponseCache | None = (
            ResponseCache(self.config.cache) if self.config.cache is not None and self.config.cache.enabled else None
        )
        #: Langfuse generations and Prometheus metrics (``telemetry:`` or ``langfuse=``); ``None`` when off.
        self.telemetry: Telemetry | None = Telemetry.from_config(
            self.config.telemetry, langfuse=langfuse, models={t: p.models[0] for t, p in self.profiles.items()}
        )
        #: The ``routing.scorer`` (a learned one loads on its first score, and falls back to the heuristic).
        self.scorer: Scorer = load_scorer(self.config.routing.scorer)
        #: Score every call even when no rule reads the score: so traces and ``explain`` show it.
        self.score_every_call: bool = self.telemetry is not None
        #: ``routing.shadow``: background grading of a sample of cheaper answers (``None`` when off).
        self.shadow: ShadowEvaluator | None = (
            ShadowEvaluator(self, self.config.routing.shadow) if self.config.routing.shadow is not None else None
        )
        #: Session affinity, tool-loop continuity and stall escalation (``routing.sessions``); ``None`` when off.
        self.sessions: SessionManager | None = (
            SessionManager(self.config) if self.config.routing.sessions.enabled else None
        )

    def close(self) -> None:
        """Release the LiteLLM router's global hooks (done automatically when collected) and the ledger.

        Shadow evaluations still in flight (at most ``routing.shadow.max_concurrent``) finish first.
        """
        if self.shadow is not None:
            self.shadow.close()
        self.engine.close()
        if self.budget is not None:
            self.budget.close()
        if self.cache is not None:
            self.cache.close()
        if self.telemetry is not None:
            self.telemetry.close()
        if self.sessions is not None:
            self.sessions.close()

    def __enter__(self) -> Router:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Router(tiers={list(self.profiles)}, default={self.config.routing.default!r})"

    # ------------------------------------------------------------------ decisions

    def state(self, hints: RouteHints | None = None, needs: RequestNeeds | None = None) -> RouterState:
        """Return the state the policy sees now: tier health, and tiers the budget closed for this call.

        With ``budgets.on_exceeded: raise`` no tier is closed here; `_within_budget` raises instead, on a cache miss.
        """
        closed: dict[str, str] = {}
        if self.budget is not None and self.budget.config.on_exceeded == "downgrade":
            metadata = hints.metadata if hints is not None else {}
            closed = {t: c.reason for t, c in self.budget.closures(metadata, needs).items()}
        return RouterState(unhealthy_tiers=self.engine.health.unhealthy(), closed_tiers=closed)

    def preview(self, hints: HintsLike = None) -> RouteDecision:
        """Decide where a plain call would go: a one-line user message, no tools, with ``hints``.

        Frameworks ask for a model before any prompt exists (LangSmith's ``ls_model_name``,
        LlamaIndex's ``metadata.model_name`` / ``context_window``); this is the policy's
        answer for a plain prompt, tier health included, budgets not consulted (no ledger
        read). A real call can be routed elsewhere by its content and state: the model
        that served it is in its routing metadata.
        """
        unhealthy = self.engine.health.unhealthy()
        # Asked on every LangChain call (LangSmith parameters): the answer depends only on the
        # hints and tier health, so it is remembered per (hints, unhealthy tiers).
        try:
            key: Any = (json.dumps(hints, sort_keys=True, default=str), unhealthy)
        except (TypeError, ValueError):
            key = None
        cached = self._previews.get(key) if key is not None else None
        if cached is not None:
            return cached
        state = RouterState(unhealthy_tiers=unhealthy)
        decision = decide(
            self.config, self.profiles, _PLAIN_MESSAGES, needs=_plain_needs(), hints=_hints(hints), state=state
        )
        if key is not None:
            if len(self._previews) >= 256:
                self._previews.clear()
            self._previews[key] = decision
        return decision

    def route(
        self, messages: str | Sequence[Mapping[str, Any]], hints: HintsLike = None, **params: Any
    ) -> RouteDecision:
        """Decide where a call would go, without calling anything (raises `BudgetExceeded` as a call would)."""
        decision, _, closures, _ = self._prepare(messages, hints, params)
        return _within_budget(decision, closures)

    def _prepare(
        self, messages: str | Sequence[Mapping[str, Any]], hints: HintsLike, params: Mapping[str, Any]
    ) -> tuple[RouteDecision, list[dict[str, Any]], dict[str, Closure], SessionCall | None]:
        """Decide a call's route; with ``budgets.on_exceeded: raise`` also return the tiers over a limit.

        The closures are enforced by `_within_budget` only once the cache has missed:
        an answer already cached costs nothing, so a spent budget must not refuse it.
        The call's session bookkeeping (`routed_llm.sessions`) comes last, for `_finish_session`.
        """
        msgs = normalize_messages(messages)
        route_hints, needs = _hints(hints), request_needs(msgs, params)
        session = (
            # the raw messages: they carry the routing markers `normalize_messages` strips
            self.sessions.begin(msgs if isinstance(messages, str) else messages, route_hints, params)
            if self.sessions is not None
            else None
        )
        session_state = session.state if session is not None else None
        continuation = session_state is not None and session_state.continuation is not None
        classification = None
        if route_hints.sensitivity is None and params.get("tools"):
            # Tool definitions (names, descriptions) can carry PII too: classify with them in view.
            classification = classify_messages(msgs, extra_texts=tool_texts(params.get("tools")))
        score, classification = route_score(
            self.scorer,
            msgs,
            hints=route_hints,
            # a tool continuation is not re-routed: its score would change nothing
            needed=(self.score_every_call or self.config.routing.uses_score) and not continuation,
            classification=classification,
        )
        decision = decide(
            self.config,
            self.profiles,
            msgs,
            needs=needs,
            hints=route_hints,
            state=self.state(route_hints, needs),
            classification=classification,
            score=score,
            session=session_state,
        )
        closures: dict[str, Closure] = {}
        if self.budget is not None and self.budget.config.on_exceeded == "raise":
            closures = self.budget.closures(route_hints.metadata, needs)
        return decision, msgs, closures, session

    def _begin(
        self, messages: str | Sequence[Mapping[str, Any]], hints: HintsLike, params: Mapping[str, Any]
    ) -> tuple[RouteDecision, list[dict[str, Any]], str | None, CachedAnswer | None, SessionCall | None]:
        """Route, look the call up in the cache, and on a miss apply the budget.

        Returns (decision, messages, cache key, cache hit, session bookkeeping).
        """
        decision, msgs, closures, session = self._prepare(messages, hints, params)
        key = self.cache.key(decision, msgs, params) if self.cache is not None else None
        hit = self.cache.get(key) if key is not None and self.cache is not None else None
        if hit is None:
            decision = _within_budget(decision, closures)
        return decision, msgs, key, hit, session

    def _finish_session(self, session: SessionCall | None, info: RoutingInfo) -> None:
        """Say what session affinity did (``routing["session"]``) and remember the served tier for the session."""
        decision = info.decision
        if decision is None:
            return
        info.session = decision.session
        if session is not None and self.sessions is not None:
            self.sessions.finish(session, decision, info.tier, info.deployment)

    def _cached(self, hit: CachedAnswer, decision: RouteDecision) -> RoutedCompletion:
        """Serve a cache hit, priced against the baseline at the tokens the cached answer took."""
        assert self.cache is not None
        served = self.cache.completion(hit, decision)
        self.savings.apply(served.routing, hit.prompt_tokens, hit.completion_tokens)
        return served

    def _remember(self, key: str | None, result: RoutedCompletion) -> None:
        if key is not None and self.cache is not None:
            self.cache.put(key, CachedAnswer.from_response(result.response, result.routing))

    def _remember_stream(self, key: str | None, recorder: StreamRecorder | None, end: StreamEnd) -> None:
        if key is not None and recorder is not None and self.cache is not None:
            self.cache.put(key, recorder.answer(end))

    def span(self, name: str, **metadata: Any) -> contextlib.AbstractContextManager[Any]:
        """Group the calls made inside under one Langfuse span (a no-op without Langfuse).

        For chains that make several calls for one request (cascade, retrieval-first):
        ``with router.span("cascade", question=q): ...``.
        """
        return self.telemetry.span(name, **metadata) if self.telemetry is not None else contextlib.nullcontext()

    def _trace(self, decision: RouteDecision, msgs: list[dict[str, Any]], params: Mapping[str, Any]) -> CallTrace:
        return self.telemetry.start(msgs, decision, params) if self.telemetry is not None else NO_TRACE

    def _record(self, info: RoutingInfo, hints: HintsLike) -> None:
        """Put a served call's cost and baseline in the ledger (a cache hit too: it costs 0 and saves its baseline)."""
        if self.budget is None:
            return
        metadata = _hints(hints).metadata
        self.budget.record(
            tier=info.tier,
            model=info.model,
            cost_usd=info.cost_usd,
            metadata=metadata,
            baseline_usd=info.baseline_cost_usd,
            cached=info.cached,
        )

    # ------------------------------------------------------------------ calls

    def complete(
        self, messages: str | Sequence[Mapping[str, Any]], hints: HintsLike = None, **params: Any
    ) -> RoutedCompletion:
        """Route and run a chat call. ``params`` are OpenAI chat params (tools, max_tokens, ...)."""
        decision, msgs, key, hit, session = self._begin(messages, hints, params)
        trace = self._trace(decision, msgs, params)
        if hit is not None and self.cache is not None:
            return self._observe_completion(self._cached(hit, decision), trace, hints=hints, session=session)
        try:
            result = self.engine.complete(decision, msgs, params)
        except BaseException as e:
            trace.fail(e)
            raise
        return self._shadowed(
            self._observe_completion(result, trace, hints=hints, key=key, session=session), msgs, params
        )

    async def acomplete(
        self, messages: str | Sequence[Mapping[str, Any]], hints: HintsLike = None, **params: Any
    ) -> RoutedCompletion:
        """Async `complete`."""
        decision, msgs, key, hit, session = self._begin(messages, hints, params)
        trace = self._trace(decision, msgs, params)
        if hit is not None and self.cache is not None:
            return self._observe_completion(self._cached(hit, decision), trace, hints=hints, session=session)
        try:
            result = await self.engine.acomplete(decision, msgs, params)
        except BaseException as e:
            trace.fail(e)
            raise
        return self._shadowed(
            self._observe_completion(result, trace, hints=hints, key=key, session=session), msgs, params
        )

    def _observe_completion(
        self,
        result: RoutedCompletion,
        trace: CallTrace,
        *,
        hints: HintsLike = None,
        key: str | None = None,
        session: SessionCall | None = None,
    ) -> RoutedCompletion:
        """Price, trace and record a finished call (both call paths, live or cached); a live one is also cached."""
        if result.routing.saved_usd is None:
            self.savings.apply(result.routing)
        self._finish_session(session, result.routing)
        trace.finish(result.routing, _output(result.response))
        self._record(result.routing, hints)
        if not result.routing.cached:
            self._remember(key, result)
        return result

    def _shadowed(
        self, result: RoutedCompletion, msgs: list[dict[str, Any]], params: Mapping[str, Any]
    ) -> RoutedCompletion:
        """Offer a served call to shadow evaluation (sampling and a hand-off: it never waits for the shadow)."""
        if self.shadow is not None:
            output = _output(result.response)
            self.shadow.offer(result.routing, msgs, params, output.get("content") if output else None)
        return result

    def _shadow_stream(
        self, end: Any, recorder: StreamRecorder | None, msgs: list[dict[str, Any]], params: Mapping[str, Any]
    ) -> None:
        if self.shadow is not None and isinstance(end, StreamEnd) and recorder is not None:
            answer = recorder.answer(end)
            self.shadow.offer(end.routing, msgs, params, answer.content if answer is not None else None)

    def _observe_stream_item(
        self,
        item: Any,
        trace: CallTrace,
        *,
        hints: HintsLike = None,
        key: str | None = None,
        recorder: StreamRecorder | None = None,
        session: SessionCall | None = None,
    ) -> Any:
        """Trace one stream item (both stream paths, live or cached); on a live end, record spend and cache it."""
        if not isinstance(item, StreamEnd):
            trace.chunk(item)
            if recorder is not None:
                recorder.add(item)
            return item
        if item.routing.saved_usd is None:
            self.savings.apply(item.routing)
        self._finish_session(session, item.routing)
        trace.stream_end(item)
        self._record(item.routing, hints)
        if not item.routing.cached:
            self._remember_stream(key, recorder, item)
        return item

    def stream(
        self, messages: str | Sequence[Mapping[str, Any]], hints: HintsLike = None, **params: Any
    ) -> Iterator[Any]:
        """Route and stream: LiteLLM chunks, then a final `routed_llm.engine.StreamEnd`."""
        decision, msgs, key, hit, session = self._begin(messages, hints, params)
        trace = self._trace(decision, msgs, params)
        try:
            if hit is not None and self.cache is not None:
                for cached in self.cache.replay(hit, decision):
                    if isinstance(cached, StreamEnd):
                        self.savings.apply(cached.routing, hit.prompt_tokens, hit.completion_tokens)
                    yield self._observe_stream_item(cached, trace, hints=hints, session=session)
                return
            recorder = StreamRecorder() if key is not None or self.shadow is not None else None
            item = None
            for item in self.engine.stream(decision, msgs, params):
                yield self._observe_stream_item(item, trace, hints=hints, key=key, recorder=recorder, session=session)
            self._shadow_stream(item, recorder, msgs, params)
        except GeneratorExit:
            trace.close()
            raise
        except BaseException as e:
            trace.fail(e)
            raise

    async def astream(
        self, messages: str | Sequence[Mapping[str, Any]], hints: HintsLike = None, **params: Any
    ) -> AsyncIterator[Any]:
        """Async `stream`."""
        decision, msgs, key, hit, session = self._begin(messages, hints, params)
        trace = self._trace(decision, msgs, params)
        try:
            if hit is not None and self.cache is not None:
                for cached in self.cache.replay(hit, decision):
                    if isinstance(cached, StreamEnd):
                        self.savings.apply(cached.routing, hit.prompt_tokens, hit.completion_tokens)
                    yield self._observe_stream_item(cached, trace, hints=hints, session=session)
                return
            recorder = StreamRecorder() if key is not None or self.shadow is not None else None
            item = None
            async for item in self.engine.astream(decision, msgs, params):
                yield self._observe_stream_item(item, trace, hints=hints, key=key, recorder=recorder, session=session)
            self._shadow_stream(item, recorder, msgs, params)
        except GeneratorExit:
            trace.close()
            raise
        except BaseException as e:
            trace.fail(e)
            raise
