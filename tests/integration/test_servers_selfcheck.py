"""Self-checks for the loopback test servers: if these fail, fallback tests mean nothing."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import httpx
import openai
import pytest

from tests.servers.faulty import FaultyServer, closed_port
from tests.servers.fixtures import FaultyServerFactory
from tests.servers.llama_server import LlamaServer

pytestmark = pytest.mark.servers

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi there"}]}


def _sse_events(lines: list[str]) -> list[str]:
    return [line[len("data: ") :] for line in lines if line.startswith("data: ")]


def _client(srv: FaultyServer, **kw: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.base_url, api_key="sk-test", max_retries=0, **kw)


# -- faulty server: modes --------------------------------------------------------------------


def test_error500(faulty_server: FaultyServerFactory) -> None:
    srv = faulty_server("error500")
    assert srv.connections == 0
    resp = httpx.post(f"{srv.base_url}/chat/completions", json=CHAT)
    assert resp.status_code == 500
    err = resp.json()["error"]
    assert err["type"] == "server_error" and err["message"]
    assert srv.connections == 1
    [rec] = srv.requests
    assert (rec.method, rec.path) == ("POST", "/v1/chat/completions")
    assert rec.body == CHAT
    assert rec.header("Content-Type") == "application/json"


@pytest.mark.parametrize("retry_after", [None, 7])
def test_rate_limit(faulty_server: FaultyServerFactory, retry_after: int | None) -> None:
    srv = faulty_server("rate_limit") if retry_after is None else faulty_server("rate_limit", retry_after=retry_after)
    resp = httpx.post(f"{srv.base_url}/chat/completions", json=CHAT)
    assert resp.status_code == 429
    assert resp.headers["Retry-After"] == str(retry_after or 1)
    assert resp.json()["error"]["code"] == "rate_limit_exceeded"


def test_connection_counting(faulty_server: FaultyServerFactory) -> None:
    srv = faulty_server("ok")
    assert srv.connections == 0 and srv.requests == []
    with httpx.Client() as client:  # keep-alive: two requests, one TCP connection
        client.post(f"{srv.base_url}/chat/completions", json=CHAT).raise_for_status()
        client.post(f"{srv.base_url}/chat/completions", json=CHAT).raise_for_status()
    assert srv.connections == 1
    assert len(srv.requests) == 2
    httpx.get(f"{srv.base_url}/models").raise_for_status()  # fresh client, new connection
    assert srv.connections == 2
    # A bare TCP connect with no request at all is still counted (accept time).
    with socket.create_connection(("127.0.0.1", srv.port)):
        deadline = time.monotonic() + 2
        while srv.connections < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert srv.connections == 3
    assert len(srv.requests) == 3
    assert len(srv.chat_requests) == 2
    srv.reset()
    assert srv.connections == 0 and srv.requests == []


def test_models_and_unknown_path(faulty_server: FaultyServerFactory) -> None:
    srv = faulty_server("error500", model="tier-x")
    models = httpx.get(f"{srv.base_url}/models")
    assert models.status_code == 200
    assert [m["id"] for m in models.json()["data"]] == ["tier-x"]
    assert httpx.post(f"{srv.base_url}/embeddings", json={}).status_code == 404


def test_mode_switch_at_runtime(faulty_server: FaultyServerFactory) -> None:
    srv = faulty_server("error500")
    url = f"{srv.base_url}/chat/completions"
    with httpx.Client() as client:
        assert client.post(url, json=CHAT).status_code == 500
        srv.mode = "rate_limit"
        assert client.post(url, json=CHAT).status_code == 429
        srv.set_mode("ok", content="recovered")
        ok = client.post(url, json=CHAT)
    assert ok.status_code == 200
    assert ok.json()["choices"][0]["message"]["content"] == "recovered"
    with pytest.raises(ValueError):
        srv.mode = "nope"  # type: ignore[assignment]


def test_ok_non_stream(faulty_server: FaultyServerFactory) -> None:
    srv = faulty_server("ok", content="four words right here")
    body = httpx.post(f"{srv.base_url}/chat/completions", json=CHAT).json()
    assert body["object"] == "chat.completion"
    assert body["model"] == "m"
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "four words right here",
    }
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 2, "completion_tokens": 4, "total_tokens": 6}


@pytest.mark.parametrize("include_usage", [False, True])
def test_ok_stream(faulty_server: FaultyServerFactory, include_usage: bool) -> None:
    srv = faulty_server("ok", content="alpha beta gamma")
    req: dict[str, Any] = {**CHAT, "stream": True}
    if include_usage:
        req["stream_options"] = {"include_usage": True}
    with httpx.stream("POST", f"{srv.base_url}/chat/completions", json=req) as resp:
        assert resp.headers["content-type"] == "text/event-stream"
        events = _sse_events(list(resp.iter_lines()))
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "alpha beta gamma"
    if include_usage:
        assert chunks[-1]["choices"] == []
        assert chunks[-1]["usage"]["completion_tokens"] == 3
        assert all(c["usage"] is None for c in chunks[:-1])
    else:
        assert all("usage" not in c for c in chunks)


def test_slow_trips_client_timeout_without_blocking_others(
    faulty_server: FaultyServerFactory,
) -> None:
    srv = faulty_server("slow", delay_s=5.0)
    t0 = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{srv.base_url}/chat/completions", json=CHAT, timeout=0.3)
    assert time.monotonic() - t0 < 2

    # Threaded: the second 2 s request is accepted while the first is still sleeping
    # (a serialised server would accept it only >= 2 s later). Asserted on the server's
    # own receive times, so a slow client start on a busy machine does not matter.
    srv.set_mode("slow", delay_s=2.0)
    srv.reset()
    results: list[int] = []

    def call() -> None:
        r = httpx.post(f"{srv.base_url}/chat/completions", json=CHAT, timeout=10)
        results.append(r.status_code)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200, 200]
    first, second = sorted(r.received_at for r in srv.chat_requests)
    assert second - first < 1.5


def test_slow_server_stops_promptly() -> None:
    srv = FaultyServer("slow", delay_s=30).start()
    errors: list[BaseException] = []

    def call() -> None:
        try:
            httpx.post(f"{srv.base_url}/chat/completions", json=CHAT, timeout=60)
        except httpx.HTTPError as exc:
            errors.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 2
    while not srv.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert srv.requests, "slow request never arrived"
    t0 = time.monotonic()
    srv.stop()
    assert time.monotonic() - t0 < 1.5
    caller.join(timeout=5)
    assert not caller.is_alive()
    assert len(errors) == 1  # the in-flight request was cut off, not left hanging


def test_die_after_first_chunk_stream(faulty_server: FaultyServerFactory) -> None:
    srv = faulty_server("die_after_first_chunk", content="partial answer")
    lines: list[str] = []
    with pytest.raises(httpx.RemoteProtocolError):
        with httpx.stream("POST", f"{srv.base_url}/chat/completions", json={**CHAT, "stream": True}) as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"] == "text/event-stream"
            for line in resp.iter_lines():
                lines.append(line)
    events = _sse_events(lines)
    assert len(events) == 1 and "[DONE]" not in events
    chunk = json.loads(events[0])
    assert chunk["object"] == "chat.completion.chunk"
    assert chunk["choices"][0]["delta"]["content"] == "partial answer"


def test_die_after_first_chunk_non_stream_resets(faulty_server: FaultyServerFactory) -> None:
    srv = faulty_server("die_after_first_chunk")
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        httpx.post(f"{srv.base_url}/chat/completions", json=CHAT)
    assert srv.connections == 1


def test_closed_port_refuses() -> None:
    port = closed_port()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2)


def test_stopped_server_refuses_new_connections() -> None:
    with FaultyServer("ok") as srv:
        url = f"{srv.base_url}/models"
        assert httpx.get(url).status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=2)


# -- faulty server: the official openai client maps it to the right exceptions -----------------


def test_openai_client_rate_limit(faulty_server: FaultyServerFactory) -> None:
    srv = faulty_server("rate_limit", retry_after=3)
    with pytest.raises(openai.RateLimitError) as info:
        _client(srv).chat.completions.create(model="m", messages=CHAT["messages"])
    assert info.value.status_code == 429
    assert info.value.response.headers["retry-after"] == "3"
    assert srv.connections == 1


def test_openai_client_internal_server_error(faulty_server: FaultyServerFactory) -> None:
    srv = faulty_server("error500")
    with pytest.raises(openai.InternalServerError) as info:
        _client(srv).chat.completions.create(model="m", messages=CHAT["messages"])
    assert info.value.status_code == 500


def test_openai_client_retries_hit_the_wire(faulty_server: FaultyServerFactory) -> None:
    srv = faulty_server("error500")
    client = openai.OpenAI(base_url=srv.base_url, api_key="sk-test", max_retries=2)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="m", messages=CHAT["messages"])
    assert len(srv.chat_requests) == 3


def test_openai_client_timeout(faulty_server: FaultyServerFactory) -> None:
    srv = faulty_server("slow", delay_s=5)
    with pytest.raises(openai.APITimeoutError):
        _client(srv, timeout=0.3).chat.completions.create(model="m", messages=CHAT["messages"])


def test_openai_client_connection_refused() -> None:
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{closed_port()}/v1", api_key="sk-test", max_retries=0)
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="m", messages=CHAT["messages"])


def test_openai_client_stream_dies(faulty_server: FaultyServerFactory) -> None:
    srv = faulty_server("die_after_first_chunk", content="half")
    stream = _client(srv).chat.completions.create(model="m", messages=CHAT["messages"], stream=True)
    got: list[str] = []
    with pytest.raises((httpx.RemoteProtocolError, openai.APIError)):
        for chunk in stream:
            got.append(chunk.choices[0].delta.content or "")
    assert got == ["half"]


def test_openai_client_ok_stream_usage(faulty_server: FaultyServerFactory) -> None:
    srv = faulty_server("ok", content="one two")
    stream = _client(srv).chat.completions.create(
        model="m",
        messages=CHAT["messages"],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "one two"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 2


# -- real llama.cpp server -------------------------------------------------------------------------


def test_llama_server_chat_completion(llama_server: LlamaServer) -> None:
    assert llama_server.is_running()
    models = httpx.get(f"{llama_server.base_url}/models", timeout=10).json()
    assert [m["id"] for m in models["data"]] == ["gemma-3-270m"]
    resp = httpx.post(
        f"{llama_server.base_url}/chat/completions",
        json={
            "model": "gemma-3-270m",
            "messages": [{"role": "user", "content": "Say hello."}],
            "max_tokens": 8,
            "temperature": 0,
        },
        timeout=60,
    )
    resp.raise_for_status()
    body = resp.json()
    assert body["choices"][0]["message"]["content"].strip()
    usage = body["usage"]
    assert usage["prompt_tokens"] > 0
    assert 0 < usage["completion_tokens"] <= 8
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_llama_server_via_openai_client(llama_server: LlamaServer) -> None:
    client = openai.OpenAI(base_url=llama_server.base_url, api_key="unused", max_retries=0)
    out = client.chat.completions.create(
        model="gemma-3-270m",
        messages=[{"role": "user", "content": "Name a colour."}],
        max_tokens=8,
        temperature=0,
    )
    assert out.choices[0].message.content
    assert out.usage is not None and out.usage.completion_tokens > 0


def test_llama_server_refuses_busy_port(faulty_server: FaultyServerFactory) -> None:
    from tests.servers.llama_server import LlamaServerError

    busy = faulty_server("ok")
    with pytest.raises(LlamaServerError, match="already in use"):
        LlamaServer(port=busy.port).start()
    assert busy.chat_requests == []


def test_llama_server_startup_failure_reports_log_tail(tmp_path: Any) -> None:
    from tests.servers.llama_server import LlamaServerError

    bogus = tmp_path / "not-a-model.gguf"
    bogus.write_bytes(b"definitely not gguf")
    server = LlamaServer(port=closed_port(), model_path=bogus, startup_timeout=60)
    with pytest.raises(LlamaServerError, match="exited with code") as info:
        server.start()
    assert "tail of" in str(info.value)
    assert not server.is_running()
    server.stop()
