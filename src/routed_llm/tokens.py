"""Prompt tokens as routing counts them: one fixed tokenizer, counted the way LiteLLM counts.

Routing needs a prompt's size on every call (context-window fit, per-request budget
estimates), so the count must be cheap and offline. `count_prompt_tokens` equals
``litellm.token_counter(model=COUNTING_MODEL, ...)``.

A routing decision must not pay for importing LiteLLM (seconds, most of a cold
start), so plain chat messages (string content, no tools) are counted here with
tiktoken over LiteLLM's bundled tokenizer files, using LiteLLM's own arithmetic
for ``gpt-4o``. Anything richer (tools, tool calls, content parts, images) is
handed to LiteLLM itself, imported on first need.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import tiktoken

__all__ = ["COUNTING_MODEL", "count_prompt_tokens", "count_text_tokens", "litellm_package_dir", "text_token_ids"]

#: The tokenizer used to count prompts for routing. One fixed tokenizer keeps the
#: decision fast and offline (no per-model tokenizer downloads); it is an
#: estimate for non-OpenAI models, which is why context windows keep headroom.
COUNTING_MODEL = "gpt-4o"
#: The tiktoken encoding LiteLLM uses for `COUNTING_MODEL`.
_ENCODING = "o200k_base"
#: LiteLLM's per-message accounting for OpenAI chat models (``_MessageCountParams``).
_TOKENS_PER_MESSAGE = 3
_TOKENS_PER_NAME = 1
#: Every reply is primed with ``<|start|>assistant<|message|>`` (LiteLLM's ``_count_extra``).
_REPLY_PRIMING = 3
#: LiteLLM encodes text in chunks of this many characters (``TIKTOKEN_ENCODE_CHUNK_SIZE_CHARS``)
#: and extrapolates from samples above ``TOKEN_COUNTER_MAX_EXACT_CHARS``; these are its defaults.
_CHUNK_CHARS = 1024
_MAX_EXACT_CHARS = 4_000_000
#: Environment variables that change LiteLLM's counting; when set, LiteLLM counts.
_LITELLM_COUNTING_ENV = ("TIKTOKEN_ENCODE_CHUNK_SIZE_CHARS", "TOKEN_COUNTER_MAX_EXACT_CHARS")


def litellm_package_dir() -> Path | None:
    """LiteLLM's package directory, found without importing (executing) it."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@functools.cache
def _encoding() -> tiktoken.Encoding | None:
    """``o200k_base`` from LiteLLM's bundled tokenizer files, or ``None`` to let LiteLLM count.

    Points tiktoken at the same directory LiteLLM points it at on import (its bundled
    files, or ``CUSTOM_TIKTOKEN_CACHE_DIR``), so the encoding loads offline and is the
    one LiteLLM would use.
    """
    try:
        import tiktoken
    except ImportError:
        return None
    package = litellm_package_dir()
    if package is None:
        return None
    os.environ["TIKTOKEN_CACHE_DIR"] = os.getenv("CUSTOM_TIKTOKEN_CACHE_DIR") or str(
        package / "litellm_core_utils" / "tokenizers"
    )
    try:
        return tiktoken.get_encoding(_ENCODING)
    except Exception:  # a missing or damaged file: LiteLLM knows what to do
        return None


def count_text_tokens(text: str) -> int:
    """Tokens in ``text`` as ``litellm.token_counter(model=COUNTING_MODEL, text=text)`` counts them."""
    count = _plain_counter()
    if count is not None and len(text) <= _MAX_EXACT_CHARS:
        return count(text)
    import litellm

    return int(litellm.token_counter(model=COUNTING_MODEL, text=text))


def text_token_ids(text: str) -> list[int]:
    """Token ids of ``text`` under `COUNTING_MODEL`'s tokenizer (what `count_text_tokens` counts, unchunked)."""
    encoding = _encoding()
    if encoding is not None:
        return list(encoding.encode(text, disallowed_special=()))
    import litellm

    return list(litellm.encode(model=COUNTING_MODEL, text=text))


@functools.cache
def _plain_counter() -> Callable[[str], int] | None:
    if any(os.getenv(var) for var in _LITELLM_COUNTING_ENV):
        return None
    encoding = _encoding()
    if encoding is None:
        return None
    encode = encoding.encode

    def count(text: str) -> int:
        return sum(
            len(encode(text[start : start + _CHUNK_CHARS], disallowed_special=()))
            for start in range(0, len(text), _CHUNK_CHARS)
        )

    return count


def _count_plain(messages: Sequence[Any]) -> int | None:
    """Count messages whose every value is a string or ``None``; ``None`` when LiteLLM must count.

    The arithmetic is LiteLLM's ``_count_messages`` + ``_count_extra`` for ``gpt-4o``
    without tools: 3 tokens per message, each string value's tokens, 1 more per
    ``name``, and 3 for the reply priming. Non-string values other than the ones
    LiteLLM counts specially are skipped, as LiteLLM skips them.
    """
    count = _plain_counter()
    if count is None:
        return None
    total, chars = _REPLY_PRIMING, 0
    for message in messages:
        if not isinstance(message, Mapping):
            return None
        total += _TOKENS_PER_MESSAGE
        for key, value in message.items():
            if value is None:
                continue
            if isinstance(value, str):
                chars += len(value)
                total += count(value) + (_TOKENS_PER_NAME if key == "name" else 0)
            elif key in ("tool_calls", "function_call", "content", "search_results"):
                return None  # counted specially by LiteLLM
    return None if chars > _MAX_EXACT_CHARS else total


# ---------------------------------------------------------------------------- the LiteLLM path


class _PromptCounter:
    """``litellm.token_counter(model=COUNTING_MODEL, messages=..., tools=...)``, set up once.

    ``token_counter`` rebuilds its counting parameters on every call (model-name
    fix-ups, tokenizer selection, encoding lookup): about 80 % of its cost for a
    short prompt. This runs the same LiteLLM counting steps over parameters built
    once per process, so the count is the same by construction.
    """

    def __init__(self) -> None:
        from litellm.litellm_core_utils import token_counter as tc
        from litellm.utils import convert_list_message_to_dict

        self._params = tc._MessageCountParams(COUNTING_MODEL, None)
        self._count_messages = tc._count_messages
        self._count_extra = tc._count_extra
        self._to_dicts = convert_list_message_to_dict

    def __call__(self, messages: Sequence[Mapping[str, Any]], tools: Any) -> int:
        msgs = self._to_dicts(messages)
        has_system = any(m.get("role", None) == "system" for m in msgs)
        count = self._count_messages(self._params, msgs, True, None)
        return int(count + self._count_extra(self._params.count_function, tools, None, has_system))


_COUNTER_CHECK = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "Hello, wörld! <|endoftext|>", "name": "u1"},
]


@functools.cache
def _prompt_counter() -> _PromptCounter | None:
    """Build the counter once; ``None`` (count with ``litellm.token_counter``) if LiteLLM's internals moved."""
    import litellm

    try:
        counter = _PromptCounter()
        expected = litellm.token_counter(
            model=COUNTING_MODEL, messages=_COUNTER_CHECK, use_default_image_token_count=True
        )
        return counter if counter(_COUNTER_CHECK, None) == expected else None
    except Exception:
        return None


def _count_with_litellm(messages: Sequence[Mapping[str, Any]], tools: Any) -> int:
    import litellm

    counter = None if litellm.disable_token_counter else _prompt_counter()
    if counter is None:
        return int(
            litellm.token_counter(
                model=COUNTING_MODEL, messages=list(messages), tools=tools, use_default_image_token_count=True
            )
        )
    return counter(messages, tools)


def count_prompt_tokens(messages: Sequence[Mapping[str, Any]], tools: Any = None) -> int:
    """Prompt tokens as routing counts them: ``litellm.token_counter`` with `COUNTING_MODEL`.

    Plain messages are counted without importing LiteLLM; tools and structured
    content go through LiteLLM. Once LiteLLM is loaded, its ``disable_token_counter``
    switch is honoured as ``token_counter`` honours it (the count is 0).
    """
    litellm = sys.modules.get("litellm")
    if litellm is not None and getattr(litellm, "disable_token_counter", False):
        return 0
    if not tools:
        plain = _count_plain(messages)
        if plain is not None:
            return plain
    return _count_with_litellm(messages, tools)
