"""Real, deliberately failing OpenAI-compatible HTTP endpoints on loopback.

Tier-fallback logic has to be tested against real sockets, real status codes and real
half-finished streams: mocks at the client layer cannot show what actually reached the
wire or whether a connection was opened at all. This module uses only the standard
library so it works wherever the test-suite runs.

Typical use::

    with FaultyServer("rate_limit", retry_after=2) as srv:
        client = openai.OpenAI(base_url=srv.base_url, api_key="x", max_retries=0)
        ...
        assert srv.connections == 1
        assert srv.requests[0].body["model"] == "..."
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, Self, cast, get_args

__all__ = [
    "MODES",
    "FaultyServer",
    "Mode",
    "RecordedRequest",
    "closed_port",
]

Mode = Literal[
    "ok",
    "error500",
    "rate_limit",
    "slow",
    "die_after_first_chunk",
    "auth_error",
    "bad_request",
    "empty_choices",
    "malformed_chunk",
]
MODES: tuple[str, ...] = get_args(Mode)

_CHAT_PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})
_MODELS_PATHS = frozenset({"/v1/models", "/models"})


def closed_port(host: str = "127.0.0.1") -> int:
    """Return a loopback port where nothing listens, so connecting is refused.

    The port is bound and released (never listened on), so it leaves no TIME_WAIT
    state; another process could in theory grab it afterwards, which is an accepted,
    very unlikely race.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request exactly as it reached the server, for wire-level assertions."""

    method: str
    path: str
    headers: dict[str, str]  # keys lower-cased
    body: Any  # parsed JSON, or None when the body was empty or not JSON
    raw_body: bytes = b""
    received_at: float = field(default_factory=time.monotonic)

    def header(self, name: str, default: str | None = None) -> str | None:
        """Case-insensitive header lookup."""
        return self.headers.get(name.lower(), default)

    @classmethod
    def from_handler(cls, handler: BaseHTTPRequestHandler, raw: bytes) -> RecordedRequest:
        """Record the request ``handler`` is serving, whose body was ``raw``."""
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        return cls(
            method=handler.command,
            path=handler.path,
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=body,
            raw_body=raw,
        )


def read_body(handler: BaseHTTPRequestHandler) -> bytes:
    """Read a request body, plain (``Content-Length``) or chunked (how httpx streams uploads)."""
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        parts: list[bytes] = []
        while True:
            size_line = handler.rfile.readline()
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                # Consume optional trailers up to the blank line.
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            parts.append(handler.rfile.read(size))
            handler.rfile.readline()  # CRLF after each chunk
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length > 0 else b""


@dataclass
class _Behaviour:
    """Mutable knobs shared by all handler threads (guarded by the server lock)."""

    mode: Mode
    content: str
    retry_after: int
    delay_s: float
    model: str


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that counts and tracks every accepted TCP connection."""

    daemon_threads = True
    allow_reuse_address = True
    owner: FaultyServer

    def get_request(self) -> tuple[socket.socket, Any]:
        # Counted at accept time, before any byte is parsed, so a test can assert that
        # an endpoint was (or was not) contacted even if the request itself is garbage.
        conn, addr = super().get_request()
        self.owner._on_accept(conn)
        return conn, addr

    def shutdown_request(self, request: Any) -> None:
        self.owner._on_close(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Client disconnects are the whole point of this server; keep test output quiet.
        return


class _Handler(BaseHTTPRequestHandler):
    """Dispatches every request according to the owning server's current mode."""

    protocol_version = "HTTP/1.1"  # keep-alive + chunked streaming, like real providers
    server_version = "FaultyServer/1.0"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return  # silence per-request stderr noise

    # -- plumbing -------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        return read_body(self)

    def _record(self, raw: bytes) -> RecordedRequest:
        rec = RecordedRequest.from_handler(self, raw)
        self.server.owner._on_request(rec)
        return rec

    def _send_json(self, status: int, payload: Any, extra_headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (extra_headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _start_sse(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _write_event(self, payload: Any) -> None:
        self._write_chunk(b"data: " + json.dumps(payload).encode() + b"\n\n")

    def _reset_connection(self) -> None:
        """Close with RST (SO_LINGER 0) so the peer sees a reset, not a clean EOF."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()  # drop makefile's reference so close() really closes the fd
            self.connection.close()
        except OSError:
            pass

    # -- HTTP verbs -------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._record(b"")
        route = self.path.split("?", 1)[0]
        if route in _MODELS_PATHS:
            model = self.server.owner.behaviour().model
            self._send_json(
                200,
                {
                    "object": "list",
                    "data": [{"id": model, "object": "model", "created": 0, "owned_by": "faulty"}],
                },
            )
        else:
            self._send_json(404, _error_body(f"Unknown path {route}", "invalid_request_error"))

    def do_POST(self) -> None:
        raw = self._read_body()
        rec = self._record(raw)
        route = self.path.split("?", 1)[0]
        if route not in _CHAT_PATHS:
            self._send_json(404, _error_body(f"Unknown path {route}", "invalid_request_error"))
            return
        body = rec.body if isinstance(rec.body, dict) else {}
        cfg = self.server.owner.behaviour()
        stream = bool(body.get("stream"))

        if cfg.mode == "error500":
            self._send_json(500, _error_body("The server had an error while processing your request."))
        elif cfg.mode == "rate_limit":
            self._send_json(
                429,
                _error_body(
                    "Rate limit reached for requests. Please try again later.",
                    "requests",
                    code="rate_limit_exceeded",
                ),
                {"Retry-After": str(cfg.retry_after)},
            )
        elif cfg.mode == "slow":
            # Wait on the stop event, not time.sleep, so stop() never hangs on us.
            if self.server.owner._stopping.wait(cfg.delay_s):
                self._reset_connection()
                return
            self._answer_ok(body, cfg, stream)
        elif cfg.mode == "die_after_first_chunk":
            self._die_after_first_chunk(body, cfg, stream)
        elif cfg.mode == "auth_error":
            self._send_json(
                401,
                _error_body("Incorrect API key provided.", "invalid_request_error", code="invalid_api_key"),
            )
        elif cfg.mode == "bad_request":
            self._send_json(400, _error_body(cfg.content, "invalid_request_error", code="invalid_value"))
        elif cfg.mode == "empty_choices":
            self._empty_choices(body, cfg, stream)
        elif cfg.mode == "malformed_chunk":
            self._malformed(stream)
        else:
            self._answer_ok(body, cfg, stream)

    # -- behaviours ---------------------------------------------------------------------------

    def _answer_ok(self, body: dict[str, Any], cfg: _Behaviour, stream: bool) -> None:
        cid = f"chatcmpl-faulty-{uuid.uuid4().hex[:12]}"
        created = int(time.time())
        model = str(body.get("model") or cfg.model)
        usage = _usage(body, cfg.content)
        if not stream:
            self._send_json(
                200,
                {
                    "id": cid,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": cfg.content},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage,
                },
            )
            return
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        self._start_sse()
        deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
        deltas += [{"content": piece} for piece in _pieces(cfg.content)]
        for delta in deltas:
            self._write_event(_chunk(cid, created, model, delta, None, include_usage))
        self._write_event(_chunk(cid, created, model, {}, "stop", include_usage))
        if include_usage:
            final = _chunk(cid, created, model, None, None, True)
            final["usage"] = usage
            self._write_event(final)
        self._write_chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _empty_choices(self, body: dict[str, Any], cfg: _Behaviour, stream: bool) -> None:
        """A 200 that answers nothing: ``choices: []``, or a stream of only ``data: [DONE]``."""
        if not stream:
            cid = f"chatcmpl-faulty-{uuid.uuid4().hex[:12]}"
            model = str(body.get("model") or cfg.model)
            payload = {
                "id": cid,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [],
                "usage": _usage(body, ""),
            }
            self._send_json(200, payload)
            return
        self._start_sse()
        self._write_chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _malformed(self, stream: bool) -> None:
        """A 200 whose body (or first stream event) is not JSON."""
        if not stream:
            data = b'{"id": "chatcmpl-faulty", "choices": [{"message": '
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
            return
        self._start_sse()
        self._write_chunk(b'data: {"id": "chatcmpl-faulty", "choices": [{"delta": \n\n')
        self._write_chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _die_after_first_chunk(self, body: dict[str, Any], cfg: _Behaviour, stream: bool) -> None:
        if stream:
            cid = f"chatcmpl-faulty-{uuid.uuid4().hex[:12]}"
            model = str(body.get("model") or cfg.model)
            self._start_sse()
            delta = {"role": "assistant", "content": cfg.content}
            self._write_event(_chunk(cid, int(time.time()), model, delta, None, False))
            # FIN without the terminating zero-size chunk: the event already sent stays
            # readable (an RST could discard it from the peer's buffer) but the body is
            # provably incomplete, so HTTP clients raise instead of ending cleanly.
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        # Non-stream: promise a body, send half of it, then reset the connection.
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "4096")
        self.end_headers()
        self.wfile.write(b'{"id": "chatcmpl-faulty", "object": "chat.completion", "choi')
        self.wfile.flush()
        self._reset_connection()


def _error_body(message: str, err_type: str = "server_error", code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": err_type, "param": None, "code": code}}


def _pieces(content: str) -> Iterator[str]:
    """Split content into word-ish pieces (keeping whitespace) for realistic streaming."""
    start = 0
    for i, ch in enumerate(content):
        if ch == " " and i > start:
            yield content[start:i]
            start = i
    if start < len(content):
        yield content[start:]


def _usage(body: dict[str, Any], content: str) -> dict[str, int]:
    """Deterministic fake token counts (whitespace-separated words), not a real tokenizer."""
    prompt = 0
    for msg in body.get("messages") or []:
        if isinstance(msg, dict) and isinstance(msg.get("content"), str):
            prompt += len(msg["content"].split())
    completion = len(content.split())
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _chunk(
    cid: str,
    created: int,
    model: str,
    delta: dict[str, Any] | None,
    finish_reason: str | None,
    include_usage: bool,
) -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    if include_usage:
        chunk["usage"] = None  # as OpenAI does on every chunk but the last
    return chunk


class FaultyServer:
    """A loopback OpenAI-compatible endpoint that fails in a chosen, switchable way.

    Modes (``POST /v1/chat/completions``; ``GET /v1/models`` always answers 200):

    - ``"ok"``: well-formed completion (``content``), streamed or not, with a final usage
      chunk when ``stream_options.include_usage`` is set.
    - ``"error500"``: HTTP 500 with an OpenAI-style error body.
    - ``"rate_limit"``: HTTP 429, ``Retry-After: retry_after``, OpenAI-style error body.
    - ``"slow"``: waits ``delay_s`` then answers like ``"ok"`` (to trip client timeouts).
    - ``"die_after_first_chunk"``: streams one chunk then closes without ``[DONE]`` or the
      chunked terminator; non-stream requests get half a body and a connection reset.
    - ``"auth_error"``: HTTP 401 (a revoked or wrong API key).
    - ``"bad_request"``: HTTP 400 whose error message is ``content``.
    - ``"empty_choices"``: HTTP 200 with ``choices: []``; streamed, only ``data: [DONE]``.
    - ``"malformed_chunk"``: HTTP 200 whose JSON body, or first stream event, is cut short.
    """

    def __init__(
        self,
        mode: Mode = "ok",
        *,
        content: str = "Hello from the faulty server.",
        retry_after: int = 1,
        delay_s: float = 5.0,
        model: str = "faulty-model",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        _check_mode(mode)
        self._lock = threading.Lock()
        self._behaviour = _Behaviour(mode, content, retry_after, delay_s, model)
        self._host = host
        self._requested_port = port
        self._connections = 0
        self._requests: list[RecordedRequest] = []
        self._open_sockets: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind and serve in a daemon thread; returns self for chaining."""
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server((self._host, self._requested_port), _Handler)
        server.owner = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"FaultyServer:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop promptly: wake sleeping handlers, close live connections, free the port."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        with self._lock:
            live = list(self._open_sockets)
            self._open_sockets.clear()
        for sock in live:  # unblock handler threads parked on idle keep-alive reads
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses ------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound TCP port (ephemeral unless one was requested)."""
        if self._server is None:
            raise RuntimeError("FaultyServer is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Root URL without the ``/v1`` suffix."""
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        """OpenAI-style base URL (``http://127.0.0.1:PORT/v1``)."""
        return f"{self.url}/v1"

    # -- behaviour ------------------------------------------------------------------------------

    @property
    def mode(self) -> Mode:
        """Current failure mode; assignable at runtime (applies to the next request)."""
        with self._lock:
            return self._behaviour.mode

    @mode.setter
    def mode(self, value: Mode) -> None:
        self.set_mode(value)

    def set_mode(
        self,
        mode: Mode,
        *,
        content: str | None = None,
        retry_after: int | None = None,
        delay_s: float | None = None,
        model: str | None = None,
    ) -> None:
        """Switch mode and optionally its knobs in one atomic step."""
        _check_mode(mode)
        with self._lock:
            b = self._behaviour
            b.mode = mode
            if content is not None:
                b.content = content
            if retry_after is not None:
                b.retry_after = retry_after
            if delay_s is not None:
                b.delay_s = delay_s
            if model is not None:
                b.model = model

    def behaviour(self) -> _Behaviour:
        """Snapshot of the current behaviour (a copy, safe to read without the lock)."""
        with self._lock:
            b = self._behaviour
            return _Behaviour(b.mode, b.content, b.retry_after, b.delay_s, b.model)

    # -- observations ---------------------------------------------------------------------------

    @property
    def connections(self) -> int:
        """Number of TCP connections accepted since start (or the last ``reset()``)."""
        with self._lock:
            return self._connections

    @property
    def requests(self) -> list[RecordedRequest]:
        """Copy of every request received, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """Only the chat-completion POSTs (ignores model listing / health probes)."""
        return [r for r in self.requests if r.method == "POST" and r.path.split("?", 1)[0] in _CHAT_PATHS]

    def reset(self) -> None:
        """Forget counted connections and recorded requests."""
        with self._lock:
            self._connections = 0
            self._requests.clear()

    # -- callbacks from the server thread -------------------------------------------------------

    def _on_accept(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections += 1
            self._open_sockets.add(conn)

    def _on_close(self, conn: Any) -> None:
        with self._lock:
            self._open_sockets.discard(cast(socket.socket, conn))

    def _on_request(self, rec: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(rec)

    def __repr__(self) -> str:
        where = self.base_url if self._server is not None else "stopped"
        return f"FaultyServer(mode={self.mode!r}, {where})"


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown FaultyServer mode {mode!r}; expected one of {MODES}")
