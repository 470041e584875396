"""`RoutedLLM`: a LlamaIndex LLM that routes every call to a tier.

The adapter only translates: LlamaIndex `ChatMessage` blocks and tools in,
OpenAI-format messages and params to the core `routed_llm.Router`, LiteLLM
results back out as `ChatResponse` with usage and routing metadata. Every
routing decision (tier choice, capability checks, fallbacks, tier health) is
the core's; nothing here second-guesses it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from llama_index.core.base.llms.generic_utils import (
    achat_to_completion_decorator,
    astream_chat_to_completion_decorator,
    chat_to_completion_decorator,
    stream_chat_to_completion_decorator,
)
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
    ToolCallBlock,
)
from llama_index.core.bridge.pydantic import (
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
)
from llama_index.core.constants import DEFAULT_NUM_OUTPUTS
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import ToolSelection
from llama_index.core.llms.utils import parse_partial_json
from llama_index.llms.routed_llm.messages import (
    _chat_response,
    _StreamState,
    _tool_call_dict,
    to_openai_message,
    to_openai_messages,
)

from routed_llm import (
    RouteDecision,
    RoutedLLMError,
    Router,
    StreamEnd,
)
from routed_llm.adapters import (
    HINT_KEYS,
    adopt_router,
    config_source_from_env,
    split_call_kwargs,
    tools_reachable,
)
from routed_llm.adapters import resolve_tool_choice as _core_tool_choice
from routed_llm.serialization import config_source
from routed_llm.types import (
    Complexity,
    Sensitivity,
    Task,
    normalize_complexity,
    normalize_sensitivity,
    normalize_task,
)

if TYPE_CHECKING:
    from llama_index.core.tools.types import BaseTool

__all__ = ["HINT_KEYS", "RoutedLLM", "resolve_tool_choice", "to_openai_message", "to_openai_messages"]


def resolve_tool_choice(
    tool_choice: str | dict[str, Any] | bool | None, tool_required: bool, tool_names: Sequence[str]
) -> str | dict[str, Any]:
    """Map LlamaIndex's ``tool_required`` / ``tool_choice`` onto an OpenAI ``tool_choice``.

    The mapping (and the check that a named tool exists) is the core's,
    `routed_llm.adapters.resolve_tool_choice`, shared with LangChain's ``bind_tools``.
    """
    return _core_tool_choice(tool_choice, tool_names, tool_required=tool_required)


# ---------------------------------------------------------------------------- the LLM


def _rebuild(cls: type[RoutedLLM], kwargs: dict[str, Any]) -> RoutedLLM:
    """Unpickle: build the LLM again from its constructor arguments."""
    return cls(**kwargs)


class RoutedLLM(FunctionCallingLLM):
    """LlamaIndex LLM that routes each call to a tier (local, fast, premium, ...).

    The tiers, rules and fallbacks live in one routing config shared with the
    LangChain `ChatRoutedLLM`; build both over one `Router` and they share tier
    health (and budgets and cache as those arrive).

    Setup:
        .. code-block:: bash

            pip install llama-index-routed-llm

    Instantiate:
        .. code-block:: python

            from llama_index.llms.routed_llm import RoutedLLM

            llm = RoutedLLM(config="routing.yaml")   # or a RoutingConfig, a mapping, or nothing for the defaults
            llm = RoutedLLM(router=router)           # share one routed_llm.Router with ChatRoutedLLM(router=router)
            llm = RoutedLLM(config="routing.yaml", tier="local", max_tokens=256)  # default hints and params

    Chat:
        .. code-block:: python

            # the embedded defaults (RoutedLLM(max_tokens=16)): classification goes to the local tier
            from llama_index.core.llms import ChatMessage

            messages = [ChatMessage(role="user", content="Classify the sentiment: 'great product'")]
            resp = llm.chat(messages)
            resp.message.content  # 'The sentiment of this tweet is positive and appreciative. The user is praising the'
            resp.additional_kwargs
            # {'prompt_tokens': 26, 'completion_tokens': 16, 'total_tokens': 42, 'finish_reason': 'length',
            #  'routing': {'tier': 'local', 'model': 'routed-local/smollm2-135m',
            #              'reason': "rule 'classification-local' (task=classification) -> local; inferred "
            #                        'task=classification, complexity=simple, sensitivity=public (...)',
            #              'rule': 'classification-local', 'fallbacks': [], 'attempts': [], 'deployment': 'local/0',
            #              'cost_usd': 0.0, 'prompt_tokens': 26, 'completion_tokens': 16, 'cached': False,
            #              'task': 'classification', 'complexity': 'simple', 'sensitivity': 'public', ...}}
            resp.raw  # the LiteLLM response as a dict

            # routing hints per call, as keyword arguments
            llm.chat(messages, sensitivity="confidential")  # private tiers only, fallbacks included
            llm.complete("Summarise ...", task="summarization", complexity="complex", max_cost_usd=0.01)
            llm.route(messages, tier="premium")  # the RouteDecision, without calling anything

    Stream:
        .. code-block:: python

            for r in llm.stream_chat([ChatMessage(role="user", content="Tell me a story")]):
                print(r.delta, end="")
            # The last time I saw him was yesterday.I never did see him again,
            r.additional_kwargs  # the last response carries usage and routing
            # {'prompt_tokens': 11, 'completion_tokens': 15, 'total_tokens': 26, 'finish_reason': 'length',
            #  'routing': {'tier': 'local', 'model': 'openai/gemma-3-270m', 'rule': 'default', ...}}

    Async:
        .. code-block:: python

            resp = await llm.achat(messages)
            resp = await llm.acomplete("hello")
            async for r in await llm.astream_chat(messages):
                ...

    Tools (routed only to tiers whose every deployment supports tool calling):
        .. code-block:: python

            from llama_index.core.tools import FunctionTool
            from llama_index.core.agent.workflow import FunctionAgent

            weather = FunctionTool.from_defaults(get_weather)
            llm.predict_and_call([weather], "Weather in Paris?", tool_choice="get_weather")
            agent = FunctionAgent(tools=[weather], llm=llm)
            await agent.run("Weather in Paris?")
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    config: Any = Field(
        default=None,
        exclude=True,
        repr=False,  # a mapping may hold literal keys; the router's config repr is secret-free
        description=(
            "Routing config: a RoutingConfig, a YAML path or a mapping; None uses the embedded defaults. "
            "A bad one raises routed_llm.ConfigError."
        ),
    )
    router: Router | None = Field(
        default=None,
        exclude=True,
        description="An existing routed_llm.Router to share (tier health, budgets, cache) with other adapters.",
    )
    tier: str | None = Field(default=None, description="Default tier hint for every call; per-call hints override it.")
    task: Task | None = Field(default=None, description="Default task hint (chat, reasoning, code, ...).")
    complexity: Complexity | None = Field(default=None, description="Default complexity hint.")
    sensitivity: Sensitivity | None = Field(
        default=None, description="Default sensitivity hint; confidential keeps every call on private tiers."
    )
    max_latency_ms: int | None = Field(default=None, gt=0, description="Default latency bound in milliseconds.")
    max_cost_usd: float | None = Field(default=None, ge=0, description="Default per-call cost bound in USD.")
    session_id: str | None = Field(
        default=None,
        description=(
            "Session key for every call (an agent run or conversation): calls that share it keep their tier "
            "(routing.sessions). Per call: chat(..., session_id=...)."
        ),
    )
    temperature: float | None = Field(default=None, description="Sampling temperature passed to the served model.")
    max_tokens: int | None = Field(
        default=None, gt=0, description="Output-token cap; unset uses each tier's configured cap."
    )
    additional_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Extra OpenAI-style params passed through to LiteLLM on every call."
    )

    _router: Router = PrivateAttr()

    @field_validator("task", "complexity", "sensitivity", mode="before")
    @classmethod
    def _hint_alias(cls, value: Any, info: ValidationInfo) -> Any:
        """Accept the same names and aliases as per-call hints (e.g. ``"analysis"``, ``"private"``)."""
        normalize = {"task": normalize_task, "complexity": normalize_complexity, "sensitivity": normalize_sensitivity}
        return None if value is None else normalize[str(info.field_name)](value)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Build (or adopt) the core router once; a shared router is what lets adapters share
        # state. Built here rather than in a validator, so a ConfigError reaches the caller as
        # itself (pydantic would wrap it in a ValidationError).
        if self.router is None:
            self.config = config_source_from_env(self.config)
        self._router = adopt_router(self.config, self.router, tier=self.tier)

    # ------------------------------------------------------------------ serialisation

    def to_dict(self, **kwargs: Any) -> dict[str, Any]:
        """Serialise with the routing config as data, its secrets as ``${VAR}`` references (never values).

        `from_dict` builds an equal LLM (with a router of its own) from it; references
        resolve from the environment, deployment credentials when their tier is called.
        """
        data = super().to_dict(**kwargs)
        data.pop("router", None)
        data["config"] = config_source(self._router.config)
        return data

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as constructor arguments over the config's data.

        References stay ``${VAR}``; a key written literally travels as its `SecretStr`
        (never in ``repr``), so the copy works in another process of the same app.
        """
        kwargs = {k: getattr(self, k) for k in self.model_fields_set if k not in ("config", "router")}
        kwargs["config"] = config_source(self._router.config, keep_secrets=True)
        return (_rebuild, (type(self), kwargs))

    @classmethod
    def class_name(cls) -> str:
        """Name used by LlamaIndex serialisation and instrumentation."""
        return "RoutedLLM"

    @property
    def routed(self) -> Router:
        """The core router behind this LLM (share it with `ChatRoutedLLM(router=...)`)."""
        return self._router

    # ------------------------------------------------------------------ metadata

    @property
    def metadata(self) -> LLMMetadata:
        """What LlamaIndex may assume when it sizes prompts and picks a program.

        ``context_window`` / ``num_output`` / ``model_name`` describe the tier the policy
        chooses for a plain call (a one-line prompt, no tools) with this LLM's default
        hints (`routed_llm.Router.preview`): what a simple call is served by. A call's
        content can route it elsewhere, but the policy only ever picks tiers whose window
        fits the prompt; the model that served a call is in its routing metadata
        (``additional_kwargs["routing"]``).
        ``num_output`` is ``max_tokens`` if set, else that tier's output cap.

        ``is_function_calling_model`` is the policy's answer to "can a tool call with
        these default hints go anywhere?" (`routed_llm.adapters.tools_reachable`). The
        policy still picks a tool-capable tier per call, or raises `NoEligibleTier`.
        """
        profile = self._router.profiles[self._starting_tier()]
        return LLMMetadata(
            context_window=profile.context_window,
            num_output=self.max_tokens or profile.max_output_tokens or DEFAULT_NUM_OUTPUTS,
            is_chat_model=True,
            is_function_calling_model=self._tools_reachable(),
            model_name=profile.models[0],
        )

    def _default_hints(self) -> dict[str, Any]:
        """Return the hints every call starts from: the fields named like `RouteHints` fields."""
        return {k: getattr(self, k) for k in HINT_KEYS if k in type(self).model_fields}

    def _starting_tier(self) -> str:
        """Return the tier the policy gives a plain call with this LLM's default hints (`Router.preview`)."""
        hints = {k: v for k, v in self._default_hints().items() if v is not None}
        try:
            return self._router.preview(hints).tier
        except RoutedLLMError:  # no tier fits the default hints: a call will say why
            return self.tier or self._router.config.routing.default

    def _tools_reachable(self) -> bool:
        return tools_reachable(self._router, self._default_hints())

    # ------------------------------------------------------------------ payload

    def _payload(
        self, messages: Sequence[ChatMessage], kwargs: Mapping[str, Any]
    ) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
        """Build (OpenAI messages, hints, params): the one builder every call path shares."""
        defaults: dict[str, Any] = {**self.additional_kwargs}
        if self.temperature is not None:
            defaults["temperature"] = self.temperature
        if self.max_tokens is not None:
            defaults["max_tokens"] = self.max_tokens
        hints, params = split_call_kwargs(self._default_hints(), defaults, kwargs)
        return to_openai_messages(messages), hints, params

    def route(self, messages: Sequence[ChatMessage] | str, **kwargs: Any) -> RouteDecision:
        """Decide where a call with these messages and kwargs would go, without calling anything.

        Uses the same translation as `chat`, so it answers "which tier, and why" for
        exactly the call `chat(messages, **kwargs)` would make (tier health aside).
        """
        if isinstance(messages, str):
            messages = [ChatMessage(role=MessageRole.USER, content=messages)]
        msgs, hints, params = self._payload(messages, kwargs)
        return self._router.route(msgs, hints, **params)

    # ------------------------------------------------------------------ chat (written once each)
    #
    # The public methods carry the LlamaIndex callback decorators; the private ones do
    # the work, so the completion methods (derived from the private ones) emit exactly
    # one completion event per call rather than a completion event wrapping a chat event.

    def _chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        msgs, hints, params = self._payload(messages, kwargs)
        result = self._router.complete(msgs, hints, **params)
        return _chat_response(result.response, result.routing)

    async def _achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        msgs, hints, params = self._payload(messages, kwargs)
        result = await self._router.acomplete(msgs, hints, **params)
        return _chat_response(result.response, result.routing)

    def _stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        msgs, hints, params = self._payload(messages, kwargs)

        def gen() -> ChatResponseGen:
            state = _StreamState()
            for item in self._router.stream(msgs, hints, **params):
                response = state.finish(item) if isinstance(item, StreamEnd) else state.add(item)
                if response is not None:
                    yield response

        return gen()

    async def _astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        msgs, hints, params = self._payload(messages, kwargs)

        async def gen() -> ChatResponseAsyncGen:
            state = _StreamState()
            async for item in self._router.astream(msgs, hints, **params):
                response = state.finish(item) if isinstance(item, StreamEnd) else state.add(item)
                if response is not None:
                    yield response

        return gen()

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """Route and run a chat call; routing hints may be passed as keyword arguments."""
        return self._chat(messages, **kwargs)

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """Async `chat`."""
        return await self._achat(messages, **kwargs)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        """Stream a routed chat call; the last response carries usage and routing."""
        return self._stream_chat(messages, **kwargs)

    @llm_chat_callback()
    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        """Async `stream_chat`."""
        return await self._astream_chat(messages, **kwargs)

    # ------------------------------------------------------------------ completion (derived)

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        """Complete a prompt as a one-message chat (routing hints as keyword arguments)."""
        return chat_to_completion_decorator(self._chat)(prompt, **kwargs)

    @llm_completion_callback()
    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        """Async `complete`."""
        return await achat_to_completion_decorator(self._achat)(prompt, **kwargs)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        """Stream a completion; the last response carries usage and routing."""
        return stream_chat_to_completion_decorator(self._stream_chat)(prompt, **kwargs)

    @llm_completion_callback()
    async def astream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseAsyncGen:
        """Async `stream_complete`."""
        return await astream_chat_to_completion_decorator(self._astream_chat)(prompt, **kwargs)

    # ------------------------------------------------------------------ tools

    def _prepare_chat_with_tools(
        self,
        tools: Sequence[BaseTool],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        tool_choice: str | dict[str, Any] | bool | None = None,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Build `chat` kwargs for a tool call: OpenAI tool specs, ``tool_choice`` and the messages.

        Passing ``tools`` is what makes the core route only to tool-capable tiers.
        See `resolve_tool_choice` for how ``tool_required`` / ``tool_choice`` map.
        The caller's ``chat_history`` list is copied, never appended to.
        """
        specs = [tool.metadata.to_openai_tool(skip_length_check=True) for tool in tools]
        if strict is not None:
            for spec in specs:
                spec["function"]["strict"] = strict
        messages = list(chat_history or [])
        if isinstance(user_msg, str):
            user_msg = ChatMessage(role=MessageRole.USER, content=user_msg)
        if user_msg is not None:
            messages.append(user_msg)
        out: dict[str, Any] = {"messages": messages, **kwargs}
        if specs:
            names = [spec["function"]["name"] for spec in specs]
            out["tools"] = specs
            out["tool_choice"] = resolve_tool_choice(tool_choice, tool_required, names)
            out["parallel_tool_calls"] = allow_parallel_tool_calls
        return out

    def _validate_chat_with_tools_response(
        self,
        response: ChatResponse,
        tools: Sequence[BaseTool],
        allow_parallel_tool_calls: bool = False,
        **kwargs: Any,
    ) -> ChatResponse:
        """Keep only the first tool call unless parallel calls were allowed (some models ignore the flag)."""
        if allow_parallel_tool_calls:
            return response
        message = response.message
        calls = [b for b in message.blocks if isinstance(b, ToolCallBlock)]
        if len(calls) > 1:
            message.blocks = [b for b in message.blocks if not isinstance(b, ToolCallBlock)] + calls[:1]
            if message.additional_kwargs.get("tool_calls"):
                message.additional_kwargs["tool_calls"] = message.additional_kwargs["tool_calls"][:1]
        return response

    def get_tool_calls_from_response(
        self,
        response: ChatResponse,
        error_on_no_tool_call: bool = True,
        **kwargs: Any,
    ) -> list[ToolSelection]:
        """Return the tool calls of a (possibly partial, streamed) response as `ToolSelection` objects."""
        blocks = [b for b in response.message.blocks if isinstance(b, ToolCallBlock)]
        if not blocks:
            legacy = response.message.additional_kwargs.get("tool_calls") or []
            calls = [_tool_call_dict(c) for c in legacy]
            blocks = [
                ToolCallBlock(
                    tool_call_id=c["id"], tool_name=c["function"]["name"], tool_kwargs=c["function"]["arguments"]
                )
                for c in calls
            ]
        if not blocks:
            if error_on_no_tool_call:
                raise ValueError("Expected at least one tool call, but the response has none.")
            return []
        selections = []
        for block in blocks:
            arguments: Any = block.tool_kwargs
            if isinstance(arguments, str):
                try:
                    arguments = parse_partial_json(arguments) if arguments.strip() else {}
                except (ValueError, TypeError):
                    arguments = {}
            selections.append(
                ToolSelection(
                    tool_id=block.tool_call_id or block.tool_name,
                    tool_name=block.tool_name,
                    tool_kwargs=arguments if isinstance(arguments, dict) else {},
                )
            )
        return selections
