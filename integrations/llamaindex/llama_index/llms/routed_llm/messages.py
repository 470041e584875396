"""Message conversion for `RoutedLLM`, both directions, kept apart from the LLM class.

LlamaIndex `ChatMessage` blocks become OpenAI-format messages for the core `Router`
(images as ``image_url`` parts, so the core routes them to vision tiers; blocks no tier
capability describes are refused), and LiteLLM responses and stream chunks become
`ChatResponse` objects with usage and routing. The LLM class only wires these to the core.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    AudioBlock,
    CachePoint,
    ChatMessage,
    ChatResponse,
    CitableBlock,
    CitationBlock,
    DocumentBlock,
    ImageBlock,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
    VideoBlock,
)

from routed_llm import InvalidRequest, RoutingInfo, StreamEnd
from routed_llm.sessions import ROUTING_MARKER

__all__ = ["to_openai_message", "to_openai_messages"]

_ASSISTANT_ROLES = {MessageRole.ASSISTANT, MessageRole.CHATBOT, MessageRole.MODEL}


# ---------------------------------------------------------------------------- LlamaIndex -> OpenAI


def _arguments_json(arguments: Any) -> str:
    """OpenAI wants tool-call arguments as a JSON string; LlamaIndex keeps dicts or strings."""
    if isinstance(arguments, str):
        return arguments
    return json.dumps(arguments if arguments is not None else {})


def _tool_call_dict(call: Any) -> dict[str, Any]:
    """Normalise a tool call (`ToolCallBlock`, OpenAI/LiteLLM object or dict) to an OpenAI dict."""
    if isinstance(call, ToolCallBlock):
        return {
            "id": call.tool_call_id or call.tool_name,
            "type": "function",
            "function": {"name": call.tool_name, "arguments": _arguments_json(call.tool_kwargs)},
        }
    data = call.model_dump() if hasattr(call, "model_dump") else dict(call)
    function = data.get("function") or {}
    if not isinstance(function, Mapping):
        function = function.model_dump() if hasattr(function, "model_dump") else dict(function)
    name = function.get("name") or ""
    return {
        "id": data.get("id") or name,
        "type": "function",
        "function": {"name": name, "arguments": _arguments_json(function.get("arguments"))},
    }


def _content_parts(blocks: Sequence[Any], where: str) -> list[dict[str, Any]]:
    """Translate content blocks to OpenAI parts; refuse blocks no tier capability describes.

    Images become ``image_url`` parts so the core sees them and routes only to
    vision tiers. Audio, video and documents have no capability in the tier
    profiles, so no tier could be trusted with them: they are refused here with
    a clear error rather than sent somewhere that silently drops them.
    """
    parts: list[dict[str, Any]] = []
    for block in blocks:
        if isinstance(block, TextBlock):
            parts.append({"type": "text", "text": block.text})
        elif isinstance(block, ImageBlock):
            if block.url is not None and block.image is None and block.path is None:
                url = str(block.url)
            else:
                url = block.inline_url()
            image_url: dict[str, Any] = {"url": url}
            if block.detail:
                image_url["detail"] = block.detail
            parts.append({"type": "image_url", "image_url": image_url})
        elif isinstance(block, CitableBlock):
            parts.extend(_content_parts(block.content, where))
        elif isinstance(block, CitationBlock):
            parts.extend(_content_parts([block.cited_content], where))
        elif isinstance(block, CachePoint):
            # A prompt-cache breakpoint marks the content before it, as Anthropic's ``cache_control``
            # (LiteLLM passes it to providers that cache prompts, and drops it for the others).
            if parts:
                control = block.cache_control
                marker: dict[str, Any] = {"type": getattr(control, "type", None) or "ephemeral"}
                if getattr(control, "ttl", None):
                    marker["ttl"] = control.ttl
                parts[-1]["cache_control"] = marker
        elif isinstance(block, (ToolCallBlock, ThinkingBlock)):
            # Tool calls travel in ``tool_calls``; reasoning is not message content in the Chat Completions format.
            continue
        elif isinstance(block, (AudioBlock, VideoBlock, DocumentBlock)):
            kind = type(block).__name__
            raise InvalidRequest(
                f"{where} has a {kind}: routed-llm routes text, image and tool-call content only "
                "(tier capabilities are tools, json_schema and vision), so no tier can be chosen "
                f"that is known to accept it. Remove the {kind} or turn it into text or an image."
            )
        else:
            raise InvalidRequest(f"{where} has an unsupported content block {type(block).__name__}")
    return parts


def to_openai_message(message: ChatMessage, index: int = 0) -> dict[str, Any]:
    """Convert one LlamaIndex `ChatMessage` to an OpenAI-format message dict.

    Text-only content becomes a string (what every OpenAI-compatible server
    accepts); content with images becomes a list of parts. Tool calls come from
    `ToolCallBlock` blocks, or from ``additional_kwargs["tool_calls"]`` for
    messages built the older way; ``tool_call_id`` (and ``name``, except on tool
    results, where OpenAI has none) are carried over from ``additional_kwargs``.
    """
    where = f"messages[{index}]"
    role = "assistant" if message.role in _ASSISTANT_ROLES else message.role.value
    parts = _content_parts(message.blocks, where)
    out: dict[str, Any] = {"role": role}
    if all(p["type"] == "text" and "cache_control" not in p for p in parts):
        out["content"] = "\n".join(p["text"] for p in parts)
    else:
        out["content"] = parts

    blocks = [b for b in message.blocks if isinstance(b, ToolCallBlock)]
    legacy = message.additional_kwargs.get("tool_calls") or []
    tool_calls = [_tool_call_dict(c) for c in (blocks or legacy)]
    if tool_calls:
        # Content stays "" rather than None: both are valid OpenAI, but LiteLLM drops a None
        # content key and llama.cpp's server then fails on the message (measured); "" is what
        # LangChain sends too, and LiteLLM strips empty text for providers that reject it.
        out["tool_calls"] = tool_calls
        # The tier and deployment that issued the calls, for the core's tool-loop continuity
        # (the core strips it before anything reaches a provider).
        routing = message.additional_kwargs.get(ROUTING_MARKER)
        if isinstance(routing, Mapping) and routing.get("tier"):
            out[ROUTING_MARKER] = {"tier": routing["tier"], "deployment": routing.get("deployment")}
    call_id = message.additional_kwargs.get("tool_call_id")
    if isinstance(call_id, str) and call_id:
        out["tool_call_id"] = call_id
    name = message.additional_kwargs.get("name")
    if isinstance(name, str) and name and role != "tool":  # OpenAI tool results carry no name
        out["name"] = name
    return out


def to_openai_messages(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """Convert LlamaIndex messages to the OpenAI format the core `Router` takes."""
    return [to_openai_message(m, i) for i, m in enumerate(messages)]


# ---------------------------------------------------------------------------- OpenAI -> LlamaIndex


def _parse_arguments(arguments: str) -> dict[str, Any] | str:
    """Return parsed arguments when they are complete JSON, else the raw string (e.g. mid-stream)."""
    try:
        parsed = json.loads(arguments) if arguments else {}
    except ValueError:
        return arguments
    return parsed if isinstance(parsed, dict) else arguments


def _assistant_message(
    content: str, tool_calls: list[dict[str, Any]], reasoning: str | None, info: RoutingInfo | None = None
) -> ChatMessage:
    blocks: list[Any] = []
    if reasoning:
        blocks.append(ThinkingBlock(content=reasoning))
    blocks.append(TextBlock(text=content))
    for call in tool_calls:
        blocks.append(
            ToolCallBlock(
                tool_call_id=call["id"],
                tool_name=call["function"]["name"],
                tool_kwargs=_parse_arguments(call["function"]["arguments"]),
            )
        )
    # ``additional_kwargs["tool_calls"]`` as plain dicts too, for code written against older
    # integrations; `to_openai_message` prefers the blocks, so nothing is sent twice.
    additional: dict[str, Any] = {"tool_calls": tool_calls} if tool_calls else {}
    if tool_calls and info is not None:
        # Who issued the calls travels with the message into the agent's memory, so the tool
        # results go back to the same tier and deployment (`to_openai_message` hands it to the core).
        additional[ROUTING_MARKER] = {"tier": info.tier, "deployment": info.deployment}
    return ChatMessage(role=MessageRole.ASSISTANT, blocks=blocks, additional_kwargs=additional)


def _response_kwargs(info: RoutingInfo, finish_reason: str | None) -> dict[str, Any]:
    """Usage as llama-index-llms-openai reports it, plus what routing did."""
    return {
        "prompt_tokens": info.prompt_tokens,
        "completion_tokens": info.completion_tokens,
        "total_tokens": info.total_tokens,
        "finish_reason": finish_reason,
        "routing": info.as_dict(),
    }


def _dump(obj: Any) -> dict[str, Any]:
    return obj.model_dump() if hasattr(obj, "model_dump") else dict(obj)


def _chat_response(response: Any, info: RoutingInfo) -> ChatResponse:
    """Convert a finished LiteLLM response into a `ChatResponse` with usage and routing."""
    choice = response.choices[0]
    msg = choice.message
    tool_calls = [_tool_call_dict(tc) for tc in (getattr(msg, "tool_calls", None) or [])]
    message = _assistant_message(
        getattr(msg, "content", None) or "", tool_calls, getattr(msg, "reasoning_content", None), info
    )
    return ChatResponse(
        message=message, raw=_dump(response), additional_kwargs=_response_kwargs(info, choice.finish_reason)
    )


class _StreamState:
    """Accumulates a routed stream into cumulative `ChatResponse` objects.

    Each content or tool-call chunk yields a response carrying the message so far
    and the new ``delta``; the final `StreamEnd` yields one more response (empty
    delta) with the whole message, usage and routing, so the last item of every
    stream tells the full story, as LlamaIndex agents and callbacks expect. Its
    ``raw`` is the last LiteLLM chunk (a stream has no single response object).
    """

    def __init__(self) -> None:
        self.content = ""
        self.reasoning = ""
        self.calls: dict[int, dict[str, Any]] = {}
        self.last_raw: dict[str, Any] | None = None

    def _tool_calls(self) -> list[dict[str, Any]]:
        return [self.calls[i] for i in sorted(self.calls)]

    def add(self, chunk: Any) -> ChatResponse | None:
        choices = getattr(chunk, "choices", None) or []
        self.last_raw = _dump(chunk)
        if not choices:
            return None
        delta = getattr(choices[0], "delta", None)
        if delta is None:
            return None
        text = getattr(delta, "content", None) or ""
        thinking = getattr(delta, "reasoning_content", None) or ""
        raw_calls = getattr(delta, "tool_calls", None) or []
        for position, tc in enumerate(raw_calls):
            index = getattr(tc, "index", None)
            index = position if index is None else int(index)
            fn = getattr(tc, "function", None)
            slot = self.calls.setdefault(
                index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
            )
            if getattr(tc, "id", None):
                slot["id"] = tc.id
            if fn is not None and getattr(fn, "name", None):
                slot["function"]["name"] = fn.name
                slot["id"] = slot["id"] or fn.name
            if fn is not None and getattr(fn, "arguments", None):
                slot["function"]["arguments"] += fn.arguments
        if not text and not thinking and not raw_calls:
            return None
        self.content += text
        self.reasoning += thinking
        extra = {"thinking_delta": thinking} if thinking else {}
        return ChatResponse(
            message=_assistant_message(self.content, self._tool_calls(), self.reasoning or None),
            delta=text,
            raw=self.last_raw,
            additional_kwargs=extra,
        )

    def finish(self, end: StreamEnd) -> ChatResponse:
        return ChatResponse(
            message=_assistant_message(self.content, self._tool_calls(), self.reasoning or None, end.routing),
            delta="",
            raw=self.last_raw,
            additional_kwargs=_response_kwargs(end.routing, end.finish_reason),
        )
