"""A loopback OpenAI-compatible chat endpoint whose answer is a function of the request.

For tests and benchmarks that need answers to differ by prompt (a cheap tier that is
right on easy prompts and wrong on hard ones, a judge that grades), on real sockets.
Usage is deterministic, as in `tests.servers.faulty`: one token per whitespace word.
Tracks requests in flight (``peak_in_flight``) so a test can check a concurrency bound.

    with ScriptedServer(lambda body: "42") as srv:
        ... api_base=srv.base_url ...
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from tests.servers.faulty import _chunk, _usage

__all__ = ["ScriptedServer", "last_user_text"]

Answer = Callable[[dict[str, Any]], str]


def last_user_text(body: dict[str, Any]) -> str:
    """The text of the request's last user message."""
    for msg in reversed(body.get("messages") or []):
        if isinstance(msg, dict) and msg.get("role") == "user":
            content = msg.get("content")
            if isinstance(content, list):
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: ScriptedServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._send(200, {"object": "list", "data": [{"id": "scripted", "object": "model"}]})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        owner = self.server.owner
        owner._enter(body)
        try:
            if owner.delay_s:
                time.sleep(owner.delay_s)
            content = owner.answer(body)
        finally:
            owner._leave()
        cid = f"chatcmpl-scripted-{uuid.uuid4().hex[:12]}"
        created = int(time.time())
        model = str(body.get("model") or "scripted")
        usage = _usage(body, content)
        if not body.get("stream"):
            message = {"role": "assistant", "content": content}
            self._send(
                200,
                {
                    "id": cid,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                    "usage": usage,
                },
            )
            return
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        events = [
            _chunk(cid, created, model, {"role": "assistant", "content": content}, None, include_usage),
            _chunk(cid, created, model, {}, "stop", include_usage),
        ]
        if include_usage:
            final = _chunk(cid, created, model, None, None, True)
            final["usage"] = usage
            events.append(final)
        data = b"".join(f"data: {json.dumps(e)}\n\n".encode() for e in events) + b"data: [DONE]\n\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class ScriptedServer:
    """Serve ``answer(request_body) -> content`` on a loopback port, after ``delay_s`` seconds."""

    def __init__(self, answer: Answer, *, delay_s: float = 0.0, host: str = "127.0.0.1") -> None:
        self.answer = answer
        self.delay_s = delay_s
        self.requests: list[dict[str, Any]] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self._lock = threading.Lock()
        self._server = _Server((host, 0), _Handler)
        self._server.owner = self
        self._thread: threading.Thread | None = None

    def _enter(self, body: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(body)
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start(self) -> Self:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
