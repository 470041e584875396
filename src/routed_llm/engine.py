"""Execute a `RouteDecision` through LiteLLM, falling back tier by tier.

Within a tier, ``litellm.Router`` does what it is good at: per-deployment
retries, timeouts, cooldowns and load balancing (one model group per tier).
Across tiers, this module walks the decision's chain itself, because only the
policy knows which tiers satisfy the call's hard constraints; LiteLLM is given
no fallbacks of its own, so it can never take a call somewhere the policy did
not allow.

Streaming falls back only before the first chunk is emitted; after that a
failure raises `StreamInterrupted`. Usage and cost arrive on every result,
streaming included (on the final `StreamEnd`).

LiteLLM (seconds to import) and its ``Router`` are loaded at the first model
call, not when the engine is built: deciding a route needs neither. That is also
when a deployment's ``${VAR}`` credentials are resolved, so a tier whose key is
unset fails with `MissingCredential` naming the variable and the walk moves on.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import os
import threading
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from routed_llm.catalog import DeploymentProfile, TierProfile
from routed_llm.config import RoutingConfig, env_references, resolve_env
from routed_llm.errors import (
    AllTiersFailed,
    ConfigError,
    EmbeddedModelUnavailable,
    EmptyAnswer,
    MissingCredential,
    RequestRejected,
    RoutedLLMError,
    StreamInterrupted,
    TierCallFailed,
)
from routed_llm.litellm_offline import no_network_lookups
from routed_llm.tokens import count_prompt_tokens, count_text_tokens
from routed_llm.types import RouteDecision

if TYPE_CHECKING:
    import litellm

__all__ = ["Engine", "RoutedCompletion", "RoutingInfo", "StreamEnd", "TierHealth"]

logger = logging.getLogger(__name__)

#: Set while the engine waits for a tier's first content, when a failure still falls back to
#: the next tier (see `_LiteLLMFallbackLogFilter`).
_FALLBACK_POSSIBLE: contextvars.ContextVar[bool] = contextvars.ContextVar("routed_llm_fallback_possible", default=False)


class _LiteLLMFallbackLogFilter(logging.Filter):
    """Keep LiteLLM's logs true for calls routed-llm goes on to serve.

    LiteLLM's "Fallback also failed ... No fallback was attempted" ERROR is about LiteLLM's
    own fallbacks, which routed-llm never configures. While routed-llm can still
    fall back itself the record is re-logged at DEBUG on ``routed_llm.engine`` (the engine logs the
    tier failure as a WARNING, and raises `AllTiersFailed` if no tier serves the call).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if _FALLBACK_POSSIBLE.get() and str(record.msg).startswith("Fallback also failed"):
            logger.debug("LiteLLM (mid-stream, routed-llm falls back itself): %s", record.getMessage())
            return False
        return True


logging.getLogger("LiteLLM Router").addFilter(_LiteLLMFallbackLogFilter())

#: Seconds a tier that failed stays at the back of chains, unless the config says otherwise.
DEFAULT_TIER_COOLDOWN_S = 10.0


@dataclass
class RoutingInfo:
    """What happened to a call: where it went, why, what it cost. Adapters expose ``as_dict()``."""

    tier: str
    model: str
    reason: str
    rule: str | None
    fallbacks: tuple[str, ...]
    """Tiers the decision allowed after the first (whether or not they were needed)."""
    attempts: list[dict[str, str]] = field(default_factory=list)
    """Failed attempts before the serving tier: ``{"tier", "error"}``."""
    deployment: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cached: bool = False
    decision: RouteDecision | None = None
    baseline_tier: str | None = None
    """The ``routing.savings_baseline`` tier the call is compared with (`routed_llm.savings`)."""
    baseline_cost_usd: float | None = None
    """The same prompt and completion tokens priced at the baseline tier's first deployment."""
    saved_usd: float | None = None
    """``baseline_cost_usd - cost_usd``: what routing (or the cache, when ``cached``) saved; negative
    when the call cost more than the baseline would have."""
    cached_prompt_tokens: int = 0
    """Prompt tokens the provider served from its prompt cache (priced at its cache-read rate)."""
    session: dict[str, Any] | None = None
    """What session affinity did: ``{"id", "pinned_tier", "reason"}`` (`routed_llm.sessions`), else ``None``."""

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def as_dict(self) -> dict[str, Any]:
        """Plain-data view for ``response_metadata["routing"]`` and traces."""
        d = self.decision
        return {
            "tier": self.tier,
            "model": self.model,
            "reason": self.reason,
            "rule": self.rule,
            "fallbacks": list(self.fallbacks),
            "attempts": list(self.attempts),
            "deployment": self.deployment,
            "cost_usd": self.cost_usd,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cached_prompt_tokens": self.cached_prompt_tokens,
            "cached": self.cached,
            "baseline_tier": self.baseline_tier,
            "baseline_cost_usd": self.baseline_cost_usd,
            "saved_usd": self.saved_usd,
            "saved_by": ("cache" if self.cached else "routing") if self.saved_usd is not None else None,
            "task": d.task.value if d else None,
            "complexity": d.complexity.value if d else None,
            "sensitivity": d.sensitivity.value if d else None,
            "score": d.score if d else None,
            "scorer": d.scorer if d else None,
            "session": dict(self.session) if self.session is not None else None,
        }


@dataclass
class RoutedCompletion:
    """A finished non-streaming call: LiteLLM's response plus what routing did."""

    response: litellm.ModelResponse
    routing: RoutingInfo


@dataclass
class StreamEnd:
    """Last item of a routed stream: usage, cost and the routing info."""

    routing: RoutingInfo
    finish_reason: str | None = None


class TierHealth:
    """Remembers tiers that failed recently so the policy can try them last.

    Thread-safe; shared by every adapter over one `Router`.
    """

    def __init__(self, cooldown_s: float = DEFAULT_TIER_COOLDOWN_S) -> None:
        self._cooldown_s = cooldown_s
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def failed(self, tier: str, retry_after_s: float | None = None) -> None:
        """Mark ``tier`` unhealthy for the cooldown (or the server's Retry-After, if longer)."""
        window = max(self._cooldown_s, retry_after_s or 0.0)
        with self._lock:
            self._until[tier] = time.monotonic() + window

    def succeeded(self, tier: str) -> None:
        """Mark ``tier`` healthy again."""
        with self._lock:
            self._until.pop(tier, None)

    def unhealthy(self) -> frozenset[str]:
        """Tiers still inside their failure window."""
        now = time.monotonic()
        with self._lock:
            return frozenset(t for t, until in self._until.items() if until > now)


@functools.cache
def _litellm() -> Any:
    """Import LiteLLM (once, at the first model call) with its debug banner off."""
    import litellm

    litellm.suppress_debug_info = True
    return litellm


@functools.cache
def _tier_failures() -> tuple[type[BaseException], ...]:
    """Failures another tier might not have.

    Provider/API errors (LiteLLM maps them all onto the OpenAI SDK's exception tree),
    transport errors, timeouts, local-provider errors, LiteLLM's "No deployments
    available" when every deployment of the tier is cooling down (a ``ValueError`` in
    LiteLLM, but for us just a tier that is down right now), an empty answer, and a
    credential that is not set.
    """
    import httpx
    import openai
    from litellm.llms.custom_llm import CustomLLMError
    from litellm.types.router import RouterRateLimitError, RouterRateLimitErrorBasic

    return (
        openai.OpenAIError,
        httpx.HTTPError,
        TimeoutError,
        ConnectionError,
        CustomLLMError,
        RouterRateLimitError,
        RouterRateLimitErrorBasic,
        EmptyAnswer,
        MissingCredential,
    )


def _should_fall_back(exc: BaseException) -> bool:
    """Whether another tier might succeed where this one failed.

    Provider, network, timeout and auth failures fall back. A plain 400 means the
    request itself is wrong and is raised at once (context-window, content-policy
    and unsupported-parameter errors are tier specific and do fall back).
    Anything else is a bug, not an outage, and is raised rather than hidden.
    """
    if isinstance(exc, EmptyAnswer | MissingCredential | EmbeddedModelUnavailable):
        return True
    if not isinstance(exc, _tier_failures()):
        return False
    return type(exc) is not _litellm().BadRequestError


def _retry_after_s(exc: BaseException) -> float | None:
    headers = getattr(exc, "litellm_response_headers", None) or getattr(getattr(exc, "response", None), "headers", None)
    if not headers:
        return None
    try:
        return float(headers.get("retry-after"))
    except (TypeError, ValueError):
        return None


def _check_answer(tier: str, response: Any) -> None:
    """Raise `EmptyAnswer` for a 200 that answers nothing (no choices; no text and no tool call)."""
    choices = getattr(response, "choices", None)
    if not choices:
        raise EmptyAnswer(tier, "no choices")
    message = getattr(choices[0], "message", None)
    if message is None or not (getattr(message, "content", None) or getattr(message, "tool_calls", None)):
        raise EmptyAnswer(tier, "no text and no tool call")


def _provider_message(exc: BaseException) -> str:
    """Return the provider's own error text, whole (LiteLLM prefixes it and appends its own hints)."""
    body = getattr(exc, "body", None)
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping) and isinstance(inner.get("message"), str):
            return str(inner["message"])
    text = str(getattr(exc, "message", None) or exc)
    return text.split("\n\nLiteLLM:", 1)[0].strip()


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300]


def litellm_deployment_id(deployment_id: str, namespace: str) -> str:
    """LiteLLM's ``model_info.id`` for our deployment ``<tier>/<i>`` inside one engine.

    LiteLLM keeps deployment cooldowns and failure counts by this id, and every
    ``litellm.Router`` in the process hears every other router's failures through
    LiteLLM's global callbacks. With a bare ``<tier>/<i>`` one tenant's 401 cooled
    down the same-named deployment of every other tenant; the per-engine namespace
    keeps each Router's health its own.
    """
    return f"{deployment_id}@{namespace}"


def _mask(text: str, config: RoutingConfig) -> str:
    """Hide every configured API key in ``text`` (LiteLLM's messages may echo its params)."""
    for tier in config.tiers.values():
        for dep in tier.models:
            if dep.api_key is not None and dep.api_key.get_secret_value():
                text = text.replace(dep.api_key.get_secret_value(), "***")
    return text


def _check_deployments(config: RoutingConfig) -> None:
    """Reject, as a `ConfigError` naming the field, a deployment LiteLLM could never call.

    Without this a model string with no provider (``fast``) or an unset ``os.environ/`` model
    loads fine and then fails every call with a raw LiteLLM error.
    """
    problems = []
    for tier_name, tier in config.tiers.items():
        for i, dep in enumerate(tier.models):
            where = f"tiers.{tier_name}.models[{i}].model"
            model = dep.model
            if model.startswith("os.environ/"):
                var = model.split("/", 1)[1]
                model = os.environ.get(var, "")
                if not model:
                    problems.append(f"  - {where}: environment variable {var} ({dep.model!r}) is not set")
                    continue
            try:
                _litellm().get_llm_provider(model=model, api_base=dep.api_base)
            except Exception:
                problems.append(
                    f"  - {where}: LiteLLM cannot tell the provider of {dep.model!r}; "
                    "write provider/model, e.g. openai/gpt-4o-mini or ollama_chat/llama3.2:3b"
                )
    if problems:
        raise ConfigError("\n".join(problems))


def build_model_list(
    config: RoutingConfig,
    namespace: str = "",
    env: Mapping[str, str] | None = None,
    missing: dict[str, dict[str, str]] | None = None,
) -> list[dict[str, Any]]:
    """Translate tiers into a LiteLLM ``model_list``: one model group per tier.

    ``namespace`` makes the deployment ids unique to one engine (see `litellm_deployment_id`).
    ``${VAR}`` references the config kept for call time are resolved from ``env``
    (default ``os.environ``). A deployment with a variable still unset is left out,
    and recorded in ``missing`` as ``{tier: {config path: variable}}``.
    """
    env = os.environ if env is None else env
    default_timeout = config.router_settings.timeout
    # routed-llm prices every call from its own tier profiles (`Engine._account`), so LiteLLM
    # needs a deployment's price only to route by it within a tier. Handing it prices for models
    # missing from its map otherwise only registers them as custom-priced models, which LiteLLM
    # warns about at every start (no cache-token prices).
    prices = (
        ("input_cost_per_token", "output_cost_per_token")
        if config.router_settings.routing_strategy == "cost-based-routing"
        else ()
    )
    model_list: list[dict[str, Any]] = []
    for tier_name, tier in config.tiers.items():
        for i, dep in enumerate(tier.models):
            params: dict[str, Any] = {"model": dep.model, **dep.params}
            if dep.api_base is not None:
                params["api_base"] = dep.api_base
            if dep.api_key is not None:
                params["api_key"] = dep.api_key.get_secret_value()
            for key in ("api_version", "rpm", "tpm", "weight", *prices):
                value = getattr(dep, key)
                if value is not None:
                    params[key] = value
            timeout = dep.timeout or default_timeout
            if timeout is not None:
                params["timeout"] = timeout
                params["stream_timeout"] = timeout
            unset: dict[str, str] = {}
            params = resolve_env(params, env, f"tiers.{tier_name}.models[{i}]", unset)
            if unset:
                if missing is not None:
                    missing.setdefault(tier_name, {}).update(unset)
                continue
            dep_id = f"{tier_name}/{i}"
            model_list.append(
                {
                    "model_name": tier_name,
                    "litellm_params": params,
                    "model_info": {"id": litellm_deployment_id(dep_id, namespace) if namespace else dep_id},
                }
            )
    return model_list


def _credential_references(config: RoutingConfig) -> frozenset[str]:
    """Variables the deployments still reference (kept by the config for call time)."""
    refs: set[str] = set()
    for tier in config.tiers.values():
        for dep in tier.models:
            secret = dep.api_key.get_secret_value() if dep.api_key is not None else None
            refs |= env_references([dep.api_base, dep.api_version, secret, dep.params])
    return frozenset(refs)


class Engine:
    """Runs decisions against one ``litellm.Router`` holding a model group per tier.

    The LiteLLM router is built at the first call (`router`), with the credentials
    the environment holds then; it is rebuilt if a variable the config references
    changes later (a key exported after start-up is picked up). A deployment LiteLLM
    cannot call is a `ConfigError` then, at the first call (checking it needs LiteLLM).
    """

    def __init__(self, config: RoutingConfig, profiles: Mapping[str, TierProfile]) -> None:
        settings = config.router_settings
        self._config = config
        self._profiles = profiles
        #: Unique to this engine, so LiteLLM's per-deployment health is never shared between Routers.
        self.namespace = uuid.uuid4().hex[:12]
        deps = [d for p in profiles.values() for d in p.deployments]
        self._deployments: dict[str, DeploymentProfile] = {
            **{d.id: d for d in deps},
            **{litellm_deployment_id(d.id, self.namespace): d for d in deps},
        }
        self._settings: dict[str, Any] = {
            "num_retries": settings.num_retries,
            "retry_after": int(settings.retry_after),
            "routing_strategy": settings.routing_strategy,
        }
        if settings.timeout is not None:
            self._settings["timeout"] = settings.timeout
        if settings.allowed_fails is not None:
            self._settings["allowed_fails"] = settings.allowed_fails
        if settings.cooldown_time is not None:
            self._settings["cooldown_time"] = settings.cooldown_time
        self._drop_params = settings.drop_params
        self._references = _credential_references(config)
        self._router: Any = None
        self._router_env: dict[str, str | None] = {}
        self._missing: dict[str, dict[str, str]] = {}
        # Tiers served only by the embedded llama.cpp provider: checked before each call (see `_ready`).
        self._embedded = {
            name: tuple(d.model for d in tier.models)
            for name, tier in config.tiers.items()
            if all(d.provider == "routed-local" for d in tier.models)
        }
        self._local_provider: Any = None
        """The embedded provider (`routed_llm.local_llm`), registered with LiteLLM in `_build` when a tier uses it."""
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._build_lock = threading.Lock()
        self.health = TierHealth(settings.cooldown_time or DEFAULT_TIER_COOLDOWN_S)

    @property
    def router(self) -> Any:
        """The ``litellm.Router`` behind the tiers, built (importing LiteLLM) on first use."""
        env = {var: os.environ.get(var) for var in self._references}
        if self._router is None or env != self._router_env:
            with self._build_lock:
                if self._router is None or env != self._router_env:
                    self._build(env)
        return self._router

    def _build(self, env: dict[str, str | None]) -> None:
        litellm = _litellm()
        if any(d.provider == "routed-local" for t in self._config.tiers.values() for d in t.models):
            from routed_llm.local_llm import register_local_provider

            self._local_provider = register_local_provider()
        _check_deployments(self._config)
        missing: dict[str, dict[str, str]] = {}
        model_list = build_model_list(self._config, self.namespace, os.environ, missing)
        try:
            with no_network_lookups():  # LiteLLM's price registration would otherwise ask HF / Ollama
                router = litellm.Router(model_list=model_list, **self._settings)
        except Exception as e:  # LiteLLM rejects what our schema let through: say so as a config error
            raise ConfigError(
                f"  - tiers / router_settings: LiteLLM rejected the deployments: {type(e).__name__}: "
                f"{_mask(str(e), self._config)}"
            ) from None
        if self._finalizer is not None:
            self._finalizer()
        self._router, self._router_env, self._missing = router, env, missing
        # litellm.Router registers bound methods in LiteLLM's global callback lists (capped at
        # 100), which would keep every router alive forever; unhook it when this engine goes.
        self._finalizer = weakref.finalize(self, router.discard)

    def _ready(self, tier: str) -> Any:
        """Return the LiteLLM router once ``tier`` is known to have a deployment with its credentials set."""
        router = self.router
        unset = self._missing.get(tier)
        if unset and not any(m["model_name"] == tier for m in router.model_list):
            raise MissingCredential(tier, unset)
        for model in self._embedded.get(tier, ()):  # a llama.cpp that would crash the process fails the tier instead
            self._local_provider.ensure_runnable(model)
        return router

    def close(self) -> None:
        """Release LiteLLM's global hooks now (also happens when the engine is collected)."""
        if self._finalizer is not None:
            self._finalizer()

    # ------------------------------------------------------------------ helpers

    def _kwargs(
        self,
        decision: RouteDecision,
        tier: str,
        messages: Sequence[Mapping[str, Any]],
        params: Mapping[str, Any],
        *,
        stream: bool = False,
        deployment: str | None = None,
    ) -> dict[str, Any]:
        kwargs = {k: v for k, v in params.items() if v is not None}
        if stream:
            kwargs.update(stream=True, stream_options={"include_usage": True})
        if "max_tokens" not in kwargs and "max_completion_tokens" not in kwargs:
            cap = self._profiles[tier].max_output_tokens
            if cap is not None:
                kwargs["max_tokens"] = cap
        if decision.timeout_s is not None:
            kwargs["timeout"] = decision.timeout_s
        if self._drop_params:
            kwargs.setdefault("drop_params", True)
        # A pinned deployment (a session's or tool loop's) is called by its LiteLLM id: the same
        # deployment keeps the provider's prompt cache warm; the tier's group is tried next if it fails.
        model = litellm_deployment_id(deployment, self.namespace) if deployment is not None else tier
        return {"model": model, "messages": list(messages), **kwargs}

    def _attempts(self, decision: RouteDecision) -> list[tuple[str, str | None]]:
        """(tier, deployment) to try in order: a pinned deployment first, then its tier's group, then the fallbacks.

        A pin this process cannot call (left out of LiteLLM's list, e.g. its credential is unset
        here while another process served it) is skipped: the tier's group serves the call.
        """
        rest: list[tuple[str, str | None]] = [(t, None) for t in decision.tiers]
        pinned = decision.deployment
        if pinned is None:
            return rest
        model_id = litellm_deployment_id(pinned, self.namespace)
        if not any(m.get("model_info", {}).get("id") == model_id for m in self.router.model_list):
            return rest
        return [(decision.tier, pinned), *rest]

    def _info(self, decision: RouteDecision, tier: str, attempts: list[dict[str, str]]) -> RoutingInfo:
        return RoutingInfo(
            tier=tier,
            model=self._profiles[tier].models[0],
            reason=decision.reason if not attempts else f"{decision.reason}; fell back to {tier}",
            rule=decision.rule,
            fallbacks=decision.fallbacks,
            attempts=attempts,
            decision=decision,
        )

    def _account(
        self,
        info: RoutingInfo,
        hidden: Mapping[str, Any] | None,
        model: str | None,
        prompt_tokens: int,
        completion_tokens: int,
        cached_tokens: int = 0,
    ) -> None:
        """Fill served model, usage and cost (from the deployment's resolved prices, cache reads at their rate)."""
        dep_id = (hidden or {}).get("model_id")
        dep = self._deployments.get(str(dep_id)) if dep_id is not None else None
        if dep is None:  # unknown deployment: price at the tier's dearest (never under-report)
            profile = self._profiles[info.tier]
            dep = max(profile.deployments, key=lambda d: d.input_cost_per_token + d.output_cost_per_token)
        info.deployment = dep.id
        info.model = dep.model if not model else _served_model(dep.model, model)
        info.prompt_tokens = prompt_tokens
        info.completion_tokens = completion_tokens
        info.cached_prompt_tokens = cached_tokens
        info.cost_usd = dep.cost(prompt_tokens, completion_tokens, cached_tokens)

    def _finish(self, info: RoutingInfo, response: Any) -> RoutedCompletion:
        usage = getattr(response, "usage", None)
        self._account(
            info,
            getattr(response, "_hidden_params", None),
            getattr(response, "model", None),
            int(getattr(usage, "prompt_tokens", 0) or 0),
            int(getattr(usage, "completion_tokens", 0) or 0),
            _cached_tokens(usage),
        )
        self.health.succeeded(info.tier)
        return RoutedCompletion(response=response, routing=info)

    # ------------------------------------------------------------------ calls
    #
    # The four call paths differ only in how they call LiteLLM (sync/async, whole/stream);
    # the tier walk, failure bookkeeping and accounting are shared through `_Walk`,
    # `_StreamAccumulator` and the helpers above.

    def complete(
        self, decision: RouteDecision, messages: Sequence[Mapping[str, Any]], params: Mapping[str, Any]
    ) -> RoutedCompletion:
        """Run the call, tier by tier, until one answers."""
        walk = _Walk(self, decision)
        for tier, dep in self._attempts(decision):
            try:
                response = self._ready(tier).completion(
                    **self._kwargs(decision, tier, messages, params, deployment=dep)
                )
                _check_answer(tier, response)
            except Exception as e:
                walk.failed(tier, e)
                continue
            return self._finish(walk.info(tier), response)
        raise walk.exhausted()

    async def acomplete(
        self, decision: RouteDecision, messages: Sequence[Mapping[str, Any]], params: Mapping[str, Any]
    ) -> RoutedCompletion:
        """Async `complete`."""
        walk = _Walk(self, decision)
        for tier, dep in self._attempts(decision):
            try:
                response = await self._ready(tier).acompletion(
                    **self._kwargs(decision, tier, messages, params, deployment=dep)
                )
                _check_answer(tier, response)
            except Exception as e:
                walk.failed(tier, e)
                continue
            return self._finish(walk.info(tier), response)
        raise walk.exhausted()

    def stream(
        self, decision: RouteDecision, messages: Sequence[Mapping[str, Any]], params: Mapping[str, Any]
    ) -> Iterator[Any]:
        """Yield LiteLLM stream chunks, then one `StreamEnd`.

        Falls back to the next tier only if a tier fails before its first chunk.
        """
        walk = _Walk(self, decision)
        for tier, dep in self._attempts(decision):
            acc = _StreamAccumulator()
            held: list[Any] = []
            token = _FALLBACK_POSSIBLE.set(True)
            try:
                kwargs = self._kwargs(decision, tier, messages, params, stream=True, deployment=dep)
                iterator = iter(self._ready(tier).completion(**kwargs))
                # Hold chunks back until one carries text or a tool call: a stream that ends (or
                # breaks) before that has emitted nothing, so the next tier may still take over.
                while not acc.answered:
                    chunk = next(iterator, None)
                    if chunk is None:
                        raise EmptyAnswer(tier, "the stream ended with no text and no tool call")
                    if acc.take(chunk):
                        held.append(chunk)
            except Exception as e:
                walk.failed(tier, e)
                continue
            finally:
                _FALLBACK_POSSIBLE.reset(token)
            info = walk.info(tier)
            try:
                yield from held
                chunk = next(iterator, None)
                while chunk is not None:
                    if acc.take(chunk):
                        yield chunk
                    chunk = next(iterator, None)
            except Exception as e:
                raise self._interrupted(info, acc, e) from e
            yield self._stream_end(info, acc, messages)
            return
        raise walk.exhausted()

    async def astream(
        self, decision: RouteDecision, messages: Sequence[Mapping[str, Any]], params: Mapping[str, Any]
    ) -> AsyncIterator[Any]:
        """Async `stream`."""
        walk = _Walk(self, decision)
        for tier, dep in self._attempts(decision):
            acc = _StreamAccumulator()
            held: list[Any] = []
            token = _FALLBACK_POSSIBLE.set(True)
            try:
                kwargs = self._kwargs(decision, tier, messages, params, stream=True, deployment=dep)
                response = await self._ready(tier).acompletion(**kwargs)
                iterator = response.__aiter__()
                while not acc.answered:  # as in `stream`: nothing leaves before real content
                    chunk = await anext(iterator, None)
                    if chunk is None:
                        raise EmptyAnswer(tier, "the stream ended with no text and no tool call")
                    if acc.take(chunk):
                        held.append(chunk)
            except Exception as e:
                walk.failed(tier, e)
                continue
            finally:
                _FALLBACK_POSSIBLE.reset(token)
            info = walk.info(tier)
            try:
                for chunk in held:
                    yield chunk
                chunk = await anext(iterator, None)
                while chunk is not None:
                    if acc.take(chunk):
                        yield chunk
                    chunk = await anext(iterator, None)
            except Exception as e:
                raise self._interrupted(info, acc, e) from e
            yield self._stream_end(info, acc, messages)
            return
        raise walk.exhausted()

    def _interrupted(self, info: RoutingInfo, acc: _StreamAccumulator, cause: BaseException) -> StreamInterrupted:
        """Mark the tier failed and build the error for a stream that broke after its first chunk."""
        self.health.failed(info.tier, _retry_after_s(cause))
        return StreamInterrupted(info.tier, info.model, acc.emitted, cause)

    def _stream_end(
        self, info: RoutingInfo, acc: _StreamAccumulator, messages: Sequence[Mapping[str, Any]]
    ) -> StreamEnd:
        prompt, completion = acc.prompt_tokens, acc.completion_tokens
        if prompt is None:  # the server sent no usage: count it ourselves
            prompt = count_prompt_tokens(messages)
        if completion is None:
            completion = count_text_tokens(acc.text) if acc.text else 0
        self._account(info, acc.hidden, acc.model, prompt, completion, acc.cached_tokens)
        self.health.succeeded(info.tier)
        return StreamEnd(routing=info, finish_reason=acc.finish_reason)


def _cached_tokens(usage: Any) -> int:
    """Prompt tokens read from the provider's cache, as LiteLLM reports them (``prompt_tokens_details``)."""
    details = getattr(usage, "prompt_tokens_details", None)
    if isinstance(details, Mapping):
        value = details.get("cached_tokens")
    else:
        value = getattr(details, "cached_tokens", None)
    return int(value) if isinstance(value, int | float) and value > 0 else 0


def _served_model(configured: str, reported: str) -> str:
    """Prefer the configured ``provider/model`` string; keep the server's name when it is more specific."""
    bare = configured.split("/", 1)[-1]
    return (
        configured
        if reported in (bare, configured) or not reported
        else f"{configured.split('/', 1)[0]}/{reported}"
        if "/" in configured
        else reported
    )


class _Walk:
    """Bookkeeping for one walk down a decision's tiers: failures so far, and the final error."""

    def __init__(self, engine: Engine, decision: RouteDecision) -> None:
        self._engine = engine
        self._decision = decision
        self.attempts: list[dict[str, str]] = []
        self.errors: dict[str, BaseException] = {}

    def failed(self, tier: str, exc: BaseException) -> None:
        """Record a tier's failure, or raise when another tier would not help.

        What escapes is always a `RoutedLLMError`: a provider's 400 becomes `RequestRejected`
        (naming the tier and carrying the provider's whole message), anything unexpected
        `TierCallFailed`, each chained to LiteLLM's original exception.
        """
        if not _should_fall_back(exc):
            model = self._engine._profiles[tier].models[0]
            if isinstance(exc, RoutedLLMError):
                raise exc
            import openai

            if isinstance(exc, openai.APIStatusError | _litellm().BadRequestError):
                status = getattr(exc, "status_code", None)
                raise RequestRejected(tier, model, status, _provider_message(exc)) from exc
            raise TierCallFailed(tier, model, exc) from exc
        self._engine.health.failed(tier, _retry_after_s(exc))
        self.attempts.append({"tier": tier, "error": _describe(exc)})
        self.errors[tier] = exc
        logger.warning("tier %s failed (%s); trying the next tier", tier, _describe(exc))

    def info(self, tier: str) -> RoutingInfo:
        """Routing info for the tier that answered."""
        return self._engine._info(self._decision, tier, self.attempts)

    def exhausted(self) -> AllTiersFailed:
        """Build the error to raise once every tier has failed."""
        error = AllTiersFailed(self.errors)
        error.__cause__ = next(reversed(self.errors.values()), None)
        return error


class _StreamAccumulator:
    """Collects what a stream reveals about itself: usage, served model, text, finish reason."""

    def __init__(self) -> None:
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self.cached_tokens = 0
        self.hidden: dict[str, Any] | None = None
        self.model: str | None = None
        self.finish_reason: str | None = None
        self.emitted = 0
        self.answered = False
        """Whether a chunk carried text or a tool call (a stream without one is an empty answer)."""
        self._text: list[str] = []

    @property
    def text(self) -> str:
        return "".join(self._text)

    def add(self, chunk: Any) -> None:
        usage = getattr(chunk, "usage", None)
        if usage is not None and getattr(usage, "prompt_tokens", None) is not None:
            self.prompt_tokens = int(usage.prompt_tokens or 0)
            self.completion_tokens = int(usage.completion_tokens or 0)
            self.cached_tokens = _cached_tokens(usage)
        if self.hidden is None and getattr(chunk, "_hidden_params", None):
            self.hidden = dict(chunk._hidden_params)
        self.model = getattr(chunk, "model", None) or self.model
        for choice in getattr(chunk, "choices", None) or []:
            delta = getattr(choice, "delta", None)
            content = getattr(delta, "content", None) if delta is not None else None
            if content:
                self._text.append(content)
                self.answered = True
            if delta is not None and getattr(delta, "tool_calls", None):
                self.answered = True
            if getattr(choice, "finish_reason", None):
                self.finish_reason = choice.finish_reason

    def take(self, chunk: Any) -> bool:
        """Absorb a chunk; return whether it carries anything for the caller (and count it)."""
        self.add(chunk)
        if bool(getattr(chunk, "choices", None)) or getattr(chunk, "usage", None) is not None:
            self.emitted += 1
            return True
        return False
