"""`ChatRoutedLLM`: a LangChain chat model that routes every call to a tier.

The adapter only translates: LangChain messages and tools in, OpenAI-format
payload to the core `routed_llm.Router`, LiteLLM results back out as
`AIMessage` / `AIMessageChunk` with usage and routing metadata. It holds no
routing logic of its own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.chat_models import (
    BaseChatModel,
    LangSmithParams,
    agenerate_from_stream,
    generate_from_stream,
)
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ToolMessage,
    convert_to_openai_messages,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.output_parsers.base import OutputParserLike
from langchain_core.output_parsers.openai_tools import (
    JsonOutputKeyToolsParser,
    PydanticToolsParser,
    make_invalid_tool_call,
    parse_tool_call,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig, RunnableMap, RunnablePassthrough
from langchain_core.runnables.config import ensure_config
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
from langchain_core.utils.pydantic import is_basemodel_subclass
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from routed_llm import InvalidRequest, RoutedLLMError, Router, RoutingInfo, StreamEnd, load_config
from routed_llm.adapters import (
    CONFIG_ENV,
    HINT_KEYS,
    adopt_router,
    config_source_from_env,
    resolve_tool_choice,
    split_call_kwargs,
)
from routed_llm.serialization import config_source
from routed_llm.sessions import ERROR_MARKER, METADATA_KEYS, ROUTING_MARKER
from routed_llm.telemetry import adopt_langchain_run
from routed_llm.tokens import count_prompt_tokens, count_text_tokens, text_token_ids
from routed_llm.types import Complexity, Sensitivity, Task

__all__ = ["CONFIG_ENV", "HINT_KEYS", "ROUTING_METADATA_KWARG", "ChatRoutedLLM"]

#: Per-call routing metadata under a name that does not clash with LangChain's own ``metadata``.
ROUTING_METADATA_KWARG = "routing_metadata"


def _carry_routing(messages: Sequence[BaseMessage], converted: list[dict[str, Any]]) -> None:
    """Carry the conversation's routing history into the OpenAI messages (in place), for the core's sessions.

    The last assistant message with tool calls gets the tier and deployment that issued them (its
    ``response_metadata["routing"]``), and tool results LangChain marks ``status="error"`` say so:
    the core continues tool loops on the issuing tier and counts errors for stall escalation. The
    core strips both before anything reaches a provider.
    """
    issuer = next((m for m in reversed(messages) if isinstance(m, AIMessage) and m.tool_calls), None)
    routing = issuer.response_metadata.get("routing") if issuer is not None else None
    if isinstance(routing, Mapping) and routing.get("tier"):
        target = next((m for m in reversed(converted) if m.get("role") == "assistant" and m.get("tool_calls")), None)
        if target is not None:
            target[ROUTING_MARKER] = {"tier": routing["tier"], "deployment": routing.get("deployment")}
    failed = {m.tool_call_id for m in messages if isinstance(m, ToolMessage) and m.status == "error"}
    if failed:
        for m in converted:
            if m.get("role") == "tool" and m.get("tool_call_id") in failed:
                m[ERROR_MARKER] = True


def _carry_cache_control(messages: Sequence[BaseMessage], converted: list[dict[str, Any]]) -> None:
    """Keep the ``cache_control`` of text blocks (Anthropic prompt caching) that the OpenAI conversion drops.

    LiteLLM passes ``cache_control`` parts through to providers that cache prompts; a session
    that stays on one deployment then keeps that cache warm.
    """
    if len(messages) != len(converted):
        return
    for original, out in zip(messages, converted, strict=True):
        blocks = original.content if isinstance(original.content, list) else []
        texts = [b for b in blocks if isinstance(b, dict) and b.get("type") == "text"]
        if not any("cache_control" in b for b in texts):
            continue
        content = out.get("content")
        if isinstance(content, str):
            out["content"] = [
                {
                    "type": "text",
                    "text": b.get("text", ""),
                    **({"cache_control": b["cache_control"]} if "cache_control" in b else {}),
                }
                for b in texts
            ]
        elif isinstance(content, list):
            parts = [p for p in content if isinstance(p, dict) and p.get("type") == "text"]
            for part, block in zip(parts, texts, strict=False):
                if "cache_control" in block:
                    part["cache_control"] = block["cache_control"]


def _session_from_config(config: Mapping[str, Any]) -> str | None:
    """Return the session key of a run config: ``configurable["session_id"|"thread_id"]``, else ``metadata``."""
    for section in (config.get("configurable") or {}, config.get("metadata") or {}):
        for name in METADATA_KEYS:
            value = section.get(name)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
                return str(value)
    return None


def _usage(info: RoutingInfo) -> UsageMetadata:
    return UsageMetadata(
        input_tokens=info.prompt_tokens,
        output_tokens=info.completion_tokens,
        total_tokens=info.prompt_tokens + info.completion_tokens,
    )


def _response_metadata(info: RoutingInfo, finish_reason: str | None) -> dict[str, Any]:
    return {
        "model_name": info.model,
        "model_provider": "routed_llm",
        "finish_reason": finish_reason,
        "routing": info.as_dict(),
    }


def _ai_message(message: Any, info: RoutingInfo, finish_reason: str | None) -> AIMessage:
    """Convert a LiteLLM choice message into an `AIMessage` with usage and routing."""
    tool_calls, invalid = [], []
    for raw in getattr(message, "tool_calls", None) or []:
        raw_dict = raw.model_dump() if hasattr(raw, "model_dump") else dict(raw)
        try:
            parsed = parse_tool_call(raw_dict, return_id=True)
            if parsed:
                tool_calls.append(parsed)
        except Exception as e:  # malformed JSON arguments from the model
            invalid.append(make_invalid_tool_call(raw_dict, str(e)))
    return AIMessage(
        content=getattr(message, "content", None) or "",
        tool_calls=tool_calls,
        invalid_tool_calls=invalid,
        usage_metadata=_usage(info),
        response_metadata=_response_metadata(info, finish_reason),
    )


class _ChunkConverter:
    """Convert one stream's LiteLLM chunks into `AIMessageChunk`s (None when a chunk carries nothing).

    One converter per stream, because servers differ: OpenAI sends a tool call's
    name and id only in its first chunk, while some (llama.cpp) repeat them in
    every chunk, which LangChain's chunk merging would concatenate. The converter
    forwards each tool call's name and id once.
    """

    def __init__(self) -> None:
        self._named: set[int] = set()

    def __call__(self, chunk: Any) -> AIMessageChunk | None:
        choices = getattr(chunk, "choices", None) or []
        if not choices:
            return None
        delta = getattr(choices[0], "delta", None)
        if delta is None:
            return None
        content = getattr(delta, "content", None) or ""
        tool_chunks = []
        for position, tc in enumerate(getattr(delta, "tool_calls", None) or []):
            index = getattr(tc, "index", None)
            index = position if index is None else index
            fn = getattr(tc, "function", None)
            first = index not in self._named
            self._named.add(index)
            tool_chunks.append(
                tool_call_chunk(
                    name=getattr(fn, "name", None) if first else None,
                    args=getattr(fn, "arguments", None),
                    id=getattr(tc, "id", None) if first else None,
                    index=index,
                )
            )
        if not content and not tool_chunks:
            return None
        return AIMessageChunk(content=content, tool_call_chunks=tool_chunks)


#: Prefix of the constructor arguments carrying a serialised config's secrets (`ChatRoutedLLM.lc_secrets`).
_SECRET_KWARG = "config_secret_"


def _rebuild(cls: type[ChatRoutedLLM], kwargs: dict[str, Any]) -> ChatRoutedLLM:
    """Unpickle: build the model again from its constructor arguments."""
    return cls(**kwargs)


_RUN_KWARG = "_routed_llm_run"


class _RunRef:
    """The run id and callback handlers of an ``astream`` call, for `adopt_langchain_run`."""

    def __init__(self, run_id: Any, callbacks: Any) -> None:
        self.run_id = run_id
        self.handlers = list(getattr(callbacks, "handlers", callbacks) or [])

    def __repr__(self) -> str:  # it may be logged with the invocation params
        return "<run>"


def _generation_chunk(message: AIMessageChunk | None) -> ChatGenerationChunk | None:
    return None if message is None else ChatGenerationChunk(message=message)


def _final_chunk(end: StreamEnd) -> ChatGenerationChunk:
    info = end.routing
    return ChatGenerationChunk(
        message=AIMessageChunk(
            content="",
            usage_metadata=_usage(info),
            response_metadata=_response_metadata(info, end.finish_reason),
            chunk_position="last",
        ),
        generation_info={"finish_reason": end.finish_reason},
    )


class ChatRoutedLLM(BaseChatModel):
    """LangChain chat model that routes each call to a tier (local, fast, premium, ...).

    Setup:
        .. code-block:: bash

            pip install langchain-routed-llm
            # optional: an in-process local tier that needs no server
            pip install 'routed-llm[local]'

    Instantiate:
        .. code-block:: python

            from langchain_routed_llm import ChatRoutedLLM

            llm = ChatRoutedLLM(config="routing.yaml")  # or a RoutingConfig, or router=Router(...)
            llm = ChatRoutedLLM()                        # embedded defaults: local SmolLM2-135M-Instruct + cloud tiers

    Invoke:
        .. code-block:: python

            msg = llm.invoke("Classify the sentiment: 'great product'", max_tokens=16)
            msg.response_metadata["routing"]  # where the call went: the served tier and model
            # {'tier': 'local', 'model': 'routed-local/smollm2-135m',
            #  'reason': "rule 'classification-local' (task=classification) -> local; inferred ...",
            #  'fallbacks': [], 'attempts': [], 'cost_usd': 0.0, ...}
            msg.usage_metadata
            # {'input_tokens': 18, 'output_tokens': 16, 'total_tokens': 34}

            # hints per call, as kwargs ...
            llm.invoke("Summarise this contract ...", sensitivity="confidential")
            # ... or through LangChain config
            llm.with_config(configurable={"tier": "premium"}).invoke("...")

    Stream:
        .. code-block:: python

            for chunk in llm.stream("Tell me a story", max_tokens=32):
                print(chunk.content, end="")
            # the last chunk carries usage_metadata and response_metadata["routing"]

    Async:
        .. code-block:: python

            msg = await llm.ainvoke("hello", max_tokens=8)
            async for chunk in llm.astream("hello", max_tokens=8):
                ...

    Model name before a call:
        LangSmith's ``ls_model_name`` is the model the policy picks for a plain prompt with
        this model's hints; each call's served model is in ``response_metadata["routing"]``.

    Serialise:
        .. code-block:: python

            from langchain_core.load import dumps, loads

            text = dumps(llm)  # the config as data; secrets as markers, never values
            llm2 = loads(text, allowed_objects=[ChatRoutedLLM],
                         valid_namespaces=["langchain_routed_llm"], secrets_map={"GROQ_API_KEY": "..."})
            pickle.loads(pickle.dumps(llm))  # secrets as ${VAR}, resolved from the environment

    Tools and structured output route only to tiers that support them:
        .. code-block:: python

            llm.bind_tools([get_weather]).invoke("Weather in Paris?")
            llm.with_structured_output(Answer, method="json_schema").invoke("...")
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, populate_by_name=True)

    config: Any = Field(default=None, exclude=True, repr=False)
    """Routing config: a `RoutingConfig`, a YAML path or a mapping; ``None`` uses the defaults.

    A bad one raises `routed_llm.ConfigError` naming the field (typed ``Any`` so that
    a wrong type gets that error too, not a pydantic ``ValidationError``)."""
    router: Router | None = Field(default=None, exclude=True)
    """An existing `Router` to share (tier health, budgets, cache) with other adapters."""
    tier: str | None = None
    """Default tier hint for every call (per-call hints override it)."""
    task: Task | None = None
    """Default task hint."""
    complexity: Complexity | None = None
    """Default complexity hint."""
    sensitivity: Sensitivity | None = None
    """Default sensitivity hint."""
    max_latency_ms: int | None = None
    """Default latency bound in milliseconds."""
    max_cost_usd: float | None = None
    """Default per-call cost bound in USD."""
    temperature: float | None = None
    """Sampling temperature passed to the served model."""
    max_tokens: int | None = None
    """Output-token cap; unset uses each tier's configured cap."""
    stop: list[str] | None = Field(default=None, alias="stop_sequences")
    """Stop sequences."""
    timeout: float | None = None
    """Per-attempt timeout in seconds, overriding the deployments' own."""
    max_retries: int | None = None
    """Retries within a tier (LiteLLM's ``num_retries``) before falling back to the next tier."""
    streaming: bool = False
    """Stream internally even for ``invoke`` (callbacks then see every token)."""
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Extra OpenAI-style params passed through to LiteLLM."""

    _router: Router = PrivateAttr()

    def __init__(self, **kwargs: Any) -> None:
        # Secrets LangChain's ``loads`` filled in (from ``secrets_map`` / the environment) for
        # the ``${VAR}`` references of a serialised config; see `lc_secrets`.
        secrets = {k.removeprefix(_SECRET_KWARG): kwargs.pop(k) for k in list(kwargs) if k.startswith(_SECRET_KWARG)}
        super().__init__(**kwargs)
        # Built here rather than in a validator, so a ConfigError reaches the caller as itself
        # (pydantic would wrap it in a ValidationError).
        if self.router is None:
            self.config = config_source_from_env(self.config)
            given = {k: str(v) for k, v in secrets.items() if v}
            if given and isinstance(self.config, Mapping):
                self.config = load_config(self.config, env={**os.environ, **given})
        self._router = adopt_router(self.config, self.router, tier=self.tier)

    # ------------------------------------------------------------------ serialisation
    #
    # Serialised from the router's config, with every secret a reference: LangChain secret
    # markers for ``dumps`` (filled from ``secrets_map`` / the environment by ``loads``),
    # ``${VAR}`` references for pickle. A shared router= is not carried over: the copy
    # builds its own router from the same config.

    @classmethod
    def is_lc_serializable(cls) -> bool:
        """Return True: serialisable with LangChain's ``dumps`` / ``loads``."""
        return True

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        """Import path used by ``loads`` (pass ``valid_namespaces=["langchain_routed_llm"]``)."""
        return ["langchain_routed_llm", "chat_models"]

    def _serialised_config(self) -> tuple[dict[str, Any], list[str]]:
        """Return the config as data (secrets as ``${VAR}``) and the variables standing for whole secrets."""
        names: list[str] = []

        def keep(variable: str) -> str:
            names.append(variable)
            return "${" + variable + "}"

        return config_source(self.routed.config, reference=keep), names

    @property
    def lc_secrets(self) -> dict[str, str]:
        """One constructor argument per secret of the config, written as a LangChain secret marker.

        ``loads`` fills each from ``secrets_map`` (or the environment with
        ``secrets_from_env=True``); one it cannot fill stays a ``${VAR}`` reference,
        resolved from the environment like any config.
        """
        return {_SECRET_KWARG + name: name for name in self._serialised_config()[1]}

    @property
    def lc_attributes(self) -> dict[str, Any]:
        """The routing config as data, its secrets as ``${VAR}`` references (never values)."""
        source, names = self._serialised_config()
        return {"config": source, **{_SECRET_KWARG + name: "${" + name + "}" for name in names}}

    def _init_kwargs(self) -> dict[str, Any]:
        kwargs = {k: getattr(self, k) for k in self.model_fields_set if k not in ("config", "router")}
        kwargs["config"] = config_source(self.routed.config, keep_secrets=True)
        return kwargs

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as constructor arguments over the config's data.

        References stay ``${VAR}``; a key written literally travels as its `SecretStr`
        (never in ``repr``), as LangChain's own chat models pickle their keys, so the copy
        works in another process of the same app (multiprocessing, Ray, Dask).
        """
        return (_rebuild, (type(self), self._init_kwargs()))

    @property
    def routed(self) -> Router:
        """The core router behind this model."""
        # Read straight from pydantic's private-attribute store: ``self._router`` goes
        # through a failed lookup and ``BaseModel.__getattr__`` (~2 us), several times per call.
        return self.__pydantic_private__["_router"]  # type: ignore[index]

    # ------------------------------------------------------------------ LangChain identity

    @property
    def _llm_type(self) -> str:
        return "routed-llm"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        router = self.routed
        return {
            "tiers": {name: list(p.models) for name, p in router.profiles.items()},
            "default_tier": router.config.routing.default,
            "tier": self.tier,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        """LangSmith's run parameters, known before the call.

        ``ls_model_name`` is the model the policy would choose for a plain prompt with
        this model's hints (`routed_llm.Router.preview`); the model that actually served a
        call is in its ``response_metadata["routing"]["model"]``.
        """
        params = LangSmithParams(
            ls_provider="routed_llm", ls_model_name=self._preview_model(kwargs), ls_model_type="chat"
        )
        temperature = kwargs.get("temperature", self.temperature)
        if temperature is not None:
            params["ls_temperature"] = temperature
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        if max_tokens is not None:
            params["ls_max_tokens"] = max_tokens
        if ls_stop := stop or kwargs.get("stop") or self.stop:
            params["ls_stop"] = ls_stop
        return params

    def _preview_model(self, kwargs: dict[str, Any]) -> str:
        hints = self._default_hints()
        for key, value in kwargs.items():
            if key in HINT_KEYS and value is not None:
                hints[key] = value
            elif key == "model" and value is not None:
                hints["tier"] = value
        router = self.routed
        try:
            tier = router.preview(hints).tier
        except RoutedLLMError:  # e.g. an unknown tier hint: the call itself will say so
            tier = hints.get("tier") or router.config.routing.default
        profile = router.profiles.get(tier)
        return profile.models[0] if profile is not None else str(tier)

    # ------------------------------------------------------------------ token counting

    def get_token_ids(self, text: str) -> list[int]:
        """Token ids as routing counts them (offline; no tokenizer download)."""
        return text_token_ids(text)

    def get_num_tokens(self, text: str) -> int:
        """Tokens in ``text``, counted as the routing policy counts them (offline)."""
        return count_text_tokens(text)

    def get_num_tokens_from_messages(self, messages: list[BaseMessage], tools: Sequence[Any] | None = None) -> int:
        """Prompt tokens of ``messages`` (and ``tools``), counted as the routing policy counts them.

        The same counter decides context-window fit and budget estimates, so
        ``trim_messages`` and memory size prompts exactly as routing will see them.
        """
        formatted = [convert_to_openai_tool(t) for t in tools] if tools else None
        return count_prompt_tokens(convert_to_openai_messages(messages), formatted)

    # ------------------------------------------------------------------ payload

    def _default_hints(self) -> dict[str, Any]:
        """Return the hints this model's own fields set (``tier``, ``task``, ...), without the unset ones."""
        return {k: v for k in HINT_KEYS if k in type(self).model_fields and (v := getattr(self, k)) is not None}

    def _payload(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
        """Build (OpenAI messages, hints, params): the one builder every call path shares."""
        defaults = {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "timeout": self.timeout,
            "num_retries": self.max_retries,
        }
        defaults = {k: v for k, v in defaults.items() if v is not None} | self.model_kwargs
        default_hints = self._default_hints()
        call = dict(kwargs)
        routing_metadata = call.pop(ROUTING_METADATA_KWARG, None)
        hints, params = split_call_kwargs(default_hints, defaults, call)
        if routing_metadata:
            hints["metadata"] = {**(hints.get("metadata") or {}), **routing_metadata}
        stop = stop or params.pop("stop", None) or self.stop
        if stop:
            params["stop"] = stop
        params.pop("ls_structured_output_format", None)
        openai_messages = convert_to_openai_messages(messages)
        _carry_routing(messages, openai_messages)
        _carry_cache_control(messages, openai_messages)
        return openai_messages, hints, params

    # ------------------------------------------------------------------ configurable hints

    @staticmethod
    def _hints_from_config(config: RunnableConfig | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Merge hints from the run config and kwargs; routing metadata travels as ``routing_metadata``.

        Routing metadata (per-user budgets, ``when: metadata`` rules) is taken, later winning, from
        the run config's ``metadata`` (LangChain's convention: ``with_config(metadata=...)``,
        ``invoke(..., config={"metadata": ...})``), ``configurable["metadata"]``, and the call's
        ``metadata=`` / ``routing_metadata=`` kwargs (``bind`` included). It is renamed because
        LangChain's ``generate_prompt`` takes a ``metadata`` argument of its own.
        """
        config = config or {}
        configurable = config.get("configurable") or {}
        # Hints and the session key are also read from the run's context config: LangGraph calls a
        # node's model without passing the graph's config on, and its thread is the session.
        in_context = ensure_config(config)
        context_configurable = in_context.get("configurable") or {}
        merged = {k: context_configurable[k] for k in HINT_KEYS if k in context_configurable and k != "metadata"}
        merged.update(kwargs)
        if merged.get("session_id") is None:
            session = _session_from_config(in_context)
            if session is not None:
                merged["session_id"] = session
        metadata: dict[str, Any] = {}
        for source in (
            config.get("metadata"),
            configurable.get("metadata"),
            merged.pop("metadata", None),
            merged.pop(ROUTING_METADATA_KWARG, None),
        ):
            if source is not None and not isinstance(source, Mapping):
                raise InvalidRequest(f"routing metadata must be a mapping (got {type(source).__name__})")
            metadata.update(source or {})
        if metadata:
            merged[ROUTING_METADATA_KWARG] = metadata
        return merged

    def invoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AIMessage:
        """Invoke; hints come from kwargs or ``config["configurable"]``."""
        return super().invoke(input, config, stop=stop, **self._hints_from_config(config, kwargs))

    async def ainvoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AIMessage:
        """Async invoke; hints come from kwargs or ``config["configurable"]``."""
        return await super().ainvoke(input, config, stop=stop, **self._hints_from_config(config, kwargs))

    def stream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> Iterator[AIMessageChunk]:
        """Stream; hints come from kwargs or ``config["configurable"]``."""
        yield from super().stream(input, config, stop=stop, **self._hints_from_config(config, kwargs))

    async def astream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[AIMessageChunk]:
        """Async stream; hints come from kwargs or ``config["configurable"]``."""
        # LangChain does not hand `_astream` its run manager here, so the run is named up
        # front: `_astream` can then find a Langfuse handler's generation for it (one per call).
        config = ensure_config(config)
        if config.get("run_id") is None:
            config = {**config, "run_id": uuid.uuid4()}
        kwargs = self._hints_from_config(config, kwargs)
        kwargs[_RUN_KWARG] = _RunRef(config["run_id"], config.get("callbacks"))
        async for chunk in super().astream(input, config, stop=stop, **kwargs):
            yield chunk

    # ------------------------------------------------------------------ generation

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.streaming:
            return generate_from_stream(self._stream(messages, stop, run_manager, **kwargs))
        msgs, hints, params = self._payload(messages, stop, kwargs)
        result = self.routed.complete(msgs, hints, **params)
        return self._chat_result(result.response, result.routing)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.streaming:
            return await agenerate_from_stream(self._astream(messages, stop, run_manager, **kwargs))
        msgs, hints, params = self._payload(messages, stop, kwargs)
        # LangChain runs async callbacks in a copied context, so a Langfuse handler's generation
        # is not current here; adopting it keeps one generation per call instead of two.
        with adopt_langchain_run(run_manager):
            result = await self.routed.acomplete(msgs, hints, **params)
        return self._chat_result(result.response, result.routing)

    @staticmethod
    def _chat_result(response: Any, info: RoutingInfo) -> ChatResult:
        choice = response.choices[0]
        message = _ai_message(choice.message, info, choice.finish_reason)
        return ChatResult(
            generations=[ChatGeneration(message=message, generation_info={"finish_reason": choice.finish_reason})],
            llm_output={"model_name": info.model, "routing": info.as_dict()},
        )

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        msgs, hints, params = self._payload(messages, stop, kwargs)
        convert = _ChunkConverter()
        for item in self.routed.stream(msgs, hints, **params):
            gen = _final_chunk(item) if isinstance(item, StreamEnd) else _generation_chunk(convert(item))
            if gen is None:
                continue
            if run_manager:
                run_manager.on_llm_new_token(gen.text, chunk=gen)
            yield gen

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        run_ref = kwargs.pop(_RUN_KWARG, None)
        msgs, hints, params = self._payload(messages, stop, kwargs)
        convert = _ChunkConverter()
        with adopt_langchain_run(run_manager or run_ref):
            async for item in self.routed.astream(msgs, hints, **params):
                gen = _final_chunk(item) if isinstance(item, StreamEnd) else _generation_chunk(convert(item))
                if gen is None:
                    continue
                if run_manager:
                    await run_manager.on_llm_new_token(gen.text, chunk=gen)
                yield gen

    # ------------------------------------------------------------------ tools & structured output

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: dict[str, Any] | str | bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools; calls then route only to tiers whose every deployment supports tool calling.

        ``tool_choice`` accepts a tool name, ``"auto"``, ``"none"``, ``"any"``/``"required"``/``True``
        (must call some tool) or an OpenAI tool-choice dict.
        """
        formatted = [convert_to_openai_tool(t) for t in tools]
        if tool_choice is not None and tool_choice is not False:
            # the core's mapping: "any"/True mean "required", one tool is named (llama.cpp ignores
            # "required"), and a tool name must name one of the tools
            names = [t["function"]["name"] for t in formatted]
            kwargs["tool_choice"] = resolve_tool_choice(tool_choice, names)
        return super().bind(tools=formatted, **kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type | None = None,
        *,
        method: Literal["function_calling", "json_mode", "json_schema"] = "json_schema",
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | BaseModel]:
        """Return a runnable that outputs ``schema``-shaped data.

        ``json_schema`` (default) routes to tiers that support response schemas,
        ``function_calling`` to tool-capable tiers, ``json_mode`` anywhere JSON
        mode works (the schema then only shapes the parsing).
        """
        if kwargs:
            raise ValueError(f"unexpected arguments: {sorted(kwargs)}")
        is_pydantic = isinstance(schema, type) and is_basemodel_subclass(schema)
        if method == "function_calling":
            if schema is None:
                raise ValueError("schema is required for method='function_calling'")
            tool = convert_to_openai_tool(schema, strict=strict)
            name = tool["function"]["name"]
            llm = self.bind_tools(
                [tool],
                tool_choice=name,
                ls_structured_output_format={"kwargs": {"method": method, "strict": strict}, "schema": tool},
            )
            parser: OutputParserLike = (
                PydanticToolsParser(tools=[schema], first_tool_only=True)  # type: ignore[list-item]
                if is_pydantic
                else JsonOutputKeyToolsParser(key_name=name, first_tool_only=True)
            )
        elif method == "json_schema":
            if schema is None:
                raise ValueError("schema is required for method='json_schema'")
            json_schema = convert_to_json_schema(schema)
            name = json_schema.get("title", "output")
            response_format = {
                "type": "json_schema",
                "json_schema": {
                    "name": name,
                    "schema": json_schema,
                    **({"strict": strict} if strict is not None else {}),
                },
            }
            llm = self.bind(
                response_format=response_format,
                ls_structured_output_format={"kwargs": {"method": method, "strict": strict}, "schema": json_schema},
            )
            parser = PydanticOutputParser(pydantic_object=schema) if is_pydantic else JsonOutputParser()  # type: ignore[arg-type]
        elif method == "json_mode":
            llm = self.bind(
                response_format={"type": "json_object"},
                ls_structured_output_format={"kwargs": {"method": method}, "schema": schema},
            )
            parser = PydanticOutputParser(pydantic_object=schema) if is_pydantic else JsonOutputParser()  # type: ignore[arg-type]
        else:
            raise ValueError(f"unknown method {method!r}; use function_calling, json_schema or json_mode")

        if not include_raw:
            return llm | parser
        parser_with_fallback = RunnablePassthrough.assign(
            parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
        ).with_fallbacks([RunnablePassthrough.assign(parsed=lambda _: None)], exception_key="parsing_error")
        return RunnableMap(raw=llm) | parser_with_fallback
