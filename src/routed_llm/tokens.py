"""Prompt tokens as routing counts them: one fixed tokenizer, counted the way LiteLLM counts.

Routing needs a prompt's size on every call (context-window fit, per-request budget
estimates), so the count must be cheap and offline. `count_prompt_tokens` equals
``litellm.token_counter(model=COUNTING_MODEL, ...)`` and is about four times cheaper.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import litellm

__all__ = ["COUNTING_MODEL", "count_prompt_tokens"]

#: The tokenizer used to count prompts for routing. One fixed tokenizer keeps the
#: decision fast and offline (no per-model tokenizer downloads); it is an
#: estimate for non-OpenAI models, which is why context windows keep headroom.
COUNTING_MODEL = "gpt-4o"


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
    try:
        counter = _PromptCounter()
        expected = litellm.token_counter(
            model=COUNTING_MODEL, messages=_COUNTER_CHECK, use_default_image_token_count=True
        )
        return counter if counter(_COUNTER_CHECK, None) == expected else None
    except Exception:
        return None


def count_prompt_tokens(messages: Sequence[Mapping[str, Any]], tools: Any = None) -> int:
    """Prompt tokens as routing counts them: ``litellm.token_counter`` with `COUNTING_MODEL`."""
    counter = None if litellm.disable_token_counter else _prompt_counter()
    if counter is None:
        return int(
            litellm.token_counter(
                model=COUNTING_MODEL, messages=list(messages), tools=tools, use_default_image_token_count=True
            )
        )
    return counter(messages, tools)
