"""The fault matrix: 9 fault kinds x 6 framework call paths = 54 cells (issue 11, "Done means").

Every cell sends one call through a framework adapter to a first tier that fails in one way
(a real loopback endpoint, `tests.servers.faulty.FaultyServer`, or a port nothing listens on)
with a healthy private tier behind it. Each cell either falls back and serves the answer, or
raises the documented `RoutedLLMError`:

- a provider 400 (``bad_request``) is the request's fault: `RequestRejected`, nothing else tried;
- a stream that dies after its first content (``die_after_first_chunk``, streaming paths):
  `StreamInterrupted`, since fallback happens only before the first chunk.

Nothing else may escape, and the healthy tier's answer must arrive intact.
"""

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from llama_index.core.llms import ChatMessage
from llama_index.llms.routed_llm import RoutedLLM

from langchain_routed_llm import ChatRoutedLLM
from routed_llm import RequestRejected, RoutedLLMError, Router, StreamInterrupted
from tests.servers.faulty import FaultyServer, closed_port

pytestmark = pytest.mark.servers

H = {"sensitivity": "public", "task": "chat", "complexity": "simple"}
ANSWER = "served by the healthy tier"
FAULTS = [
    "error500",
    "rate_limit",
    "slow",
    "refused",
    "die_after_first_chunk",
    "auth_error",
    "bad_request",
    "empty_choices",
    "malformed_chunk",
]
STREAMING = {"stream", "astream", "llamaindex.astream_chat"}


def router(first_base_url: str, healthy: FaultyServer) -> Router:
    return Router(
        {
            "tiers": {
                "cloud": {
                    "models": [{"model": "openai/cloud", "api_base": first_base_url, "api_key": "sk-x", "timeout": 1.0}]
                },
                "local": {
                    "models": [{"model": "openai/local", "api_base": healthy.base_url, "api_key": "sk-x"}],
                    "private": True,
                },
            },
            "routing": {"default": "cloud", "fallbacks": {"cloud": ["local"]}},
        }
    )


async def lc_invoke(r: Router) -> tuple[str, str]:
    msg = ChatRoutedLLM(router=r, **H).invoke("hello")
    return str(msg.content), msg.response_metadata["routing"]["tier"]


async def lc_ainvoke(r: Router) -> tuple[str, str]:
    msg = await ChatRoutedLLM(router=r, **H).ainvoke("hello")
    return str(msg.content), msg.response_metadata["routing"]["tier"]


async def lc_stream(r: Router) -> tuple[str, str]:
    chunks = list(ChatRoutedLLM(router=r, **H).stream("hello"))
    return "".join(str(c.content) for c in chunks), chunks[-1].response_metadata["routing"]["tier"]


async def lc_astream(r: Router) -> tuple[str, str]:
    chunks = [c async for c in ChatRoutedLLM(router=r, **H).astream("hello")]
    return "".join(str(c.content) for c in chunks), chunks[-1].response_metadata["routing"]["tier"]


async def li_chat(r: Router) -> tuple[str, str]:
    resp = RoutedLLM(router=r, **H).chat([ChatMessage(role="user", content="hello")])
    return str(resp.message.content), _tier(resp)


async def li_astream_chat(r: Router) -> tuple[str, str]:
    gen = await RoutedLLM(router=r, **H).astream_chat([ChatMessage(role="user", content="hello")])
    last = None
    async for last in gen:
        pass
    assert last is not None
    return str(last.message.content), _tier(last)


def _tier(resp: Any) -> str:
    return str(resp.additional_kwargs["routing"]["tier"])


PATHS: dict[str, Callable[[Router], Awaitable[tuple[str, str]]]] = {
    "invoke": lc_invoke,
    "ainvoke": lc_ainvoke,
    "stream": lc_stream,
    "astream": lc_astream,
    "llamaindex.chat": li_chat,
    "llamaindex.astream_chat": li_astream_chat,
}


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("fault", FAULTS)
async def test_fault_matrix(faulty_server: Any, fault: str, path: str) -> None:
    healthy = faulty_server("ok", content=ANSWER)
    if fault == "refused":
        first, first_url = None, f"http://127.0.0.1:{closed_port()}/v1"
    else:
        first = faulty_server(
            fault,
            delay_s=10,
            content="partial answer"
            if fault != "bad_request"
            else "Invalid value for 'temperature': expected a number between 0 and 2",
        )
        first_url = first.base_url
    r = router(first_url, healthy)
    expected_error: type[RoutedLLMError] | None = None
    if fault == "bad_request":
        expected_error = RequestRejected
    elif fault == "die_after_first_chunk" and path in STREAMING:
        expected_error = StreamInterrupted
    if expected_error is not None:
        with pytest.raises(expected_error) as e:
            await PATHS[path](r)
        assert "cloud" in str(e.value)
        assert healthy.chat_requests == []  # nothing was sent to another tier
        return
    text, tier = await PATHS[path](r)
    assert (text, tier) == (ANSWER, "local")
    if first is not None:
        assert len(first.chat_requests) == 1  # the failing tier was tried once, then left
    assert len(healthy.chat_requests) == 1
