"""A scripted agent model on loopback: a real OpenAI-compatible HTTP server that plays a tool-using model.

Agent loops (LangChain ``create_agent``, LlamaIndex ``FunctionAgent``) need a model that
calls tools on cue and answers once the results are in; a base model will not do that
reliably. This server reads a script from the conversation itself, so one server can
stand in for any tier and every request is answered deterministically:

- The latest user message may carry ``CALL name {json args}`` lines: the model calls those
  tools one per round, in order, then answers.
- ``STUCK name {json args}``: the model calls that tool with those arguments again and again
  while its result is an error, up to ``stuck_limit`` times. A server built with
  ``unsticks=True`` (a "stronger" tier) answers instead once it sees a failed result.
- Otherwise it answers ``"<name>: ok"`` in text.

Requests are recorded (``requests``), answers are streamed or not as asked (tool calls
as delta chunks, usage on the final chunk when ``stream_options.include_usage`` is set),
and usage carries ``prompt_tokens_details.cached_tokens`` when ``cached_tokens`` is set.
Standard library only.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from tests.servers.faulty import read_body

__all__ = ["ScriptedServer", "script_turn"]

_DIRECTIVE = re.compile(r"^\s*(CALL|STUCK)\s+([A-Za-z_][\w-]*)\s*(\{.*\})?\s*$", re.M)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text") or "") for p in content if isinstance(p, dict))
    return ""


def script_turn(messages: list[dict[str, Any]], *, unsticks: bool, stuck_limit: int) -> dict[str, Any]:
    """Decide the next assistant message for ``messages``: ``{"content"}`` or ``{"tool_calls"}``."""
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    user_text = _text(messages[last_user].get("content")) if last_user >= 0 else ""
    since = messages[last_user + 1 :]
    rounds = [m for m in since if m.get("role") == "assistant" and m.get("tool_calls")]
    results = [m for m in since if m.get("role") == "tool"]
    plan = [(kind, name, json.loads(args) if args else {}) for kind, name, args in _DIRECTIVE.findall(user_text)]
    if plan:
        kind, name, args = plan[min(len(rounds), len(plan) - 1)]
        if kind == "STUCK":
            failed = bool(results) and _text(results[-1].get("content")).lower().startswith("error")
            if len(rounds) < stuck_limit and not (unsticks and failed):
                return {"tool_calls": [(name, args)]}
            if failed:
                return {"content": f"{name} keeps failing; here is what I can say without it."}
        elif len(rounds) < len(plan):
            return {"tool_calls": [(name, args)]}
    summary = ", ".join(_text(r.get("content"))[:40] for r in results[-3:])
    return {"content": f"done: {summary}" if summary else f"answer to: {user_text[:60]}"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: ScriptedServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        return


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _event(self, payload: Any) -> None:
        data = b"data: " + json.dumps(payload).encode() + b"\n\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def do_GET(self) -> None:
        self._send_json(200, {"object": "list", "data": [{"id": self.server.owner.name, "object": "model"}]})

    def do_POST(self) -> None:
        raw = read_body(self)
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        owner = self.server.owner
        owner._record(body)
        messages = body.get("messages") or []
        turn = script_turn(messages, unsticks=owner.unsticks, stuck_limit=owner.stuck_limit)
        model = str(body.get("model") or owner.name)
        cid, created = f"chatcmpl-{owner.name}-{uuid.uuid4().hex[:10]}", int(time.time())
        calls = [
            {
                "id": f"call_{uuid.uuid4().hex[:12]}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)},
            }
            for name, args in turn.get("tool_calls", [])
        ]
        content = turn.get("content")
        prompt = sum(len(json.dumps(m)) for m in messages) // 4 + 1
        completion = max(1, len(content or json.dumps([c["function"] for c in calls])) // 4)
        usage: dict[str, Any] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        if owner.cached_tokens:
            usage["prompt_tokens_details"] = {"cached_tokens": min(owner.cached_tokens, prompt)}
        finish = "tool_calls" if calls else "stop"
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": content}
            if calls:
                message["tool_calls"] = calls
            self._send_json(
                200,
                {
                    "id": cid,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": usage,
                },
            )
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(delta: dict[str, Any] | None, finish_reason: str | None = None) -> dict[str, Any]:
            return {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
            }

        self._event(chunk({"role": "assistant", "content": ""}))
        if content:
            for i in range(0, len(content), 12):
                self._event(chunk({"content": content[i : i + 12]}))
        for index, call in enumerate(calls):
            self._event(chunk({"tool_calls": [{"index": index, **call}]}))
        self._event(chunk({}, finish))
        if (body.get("stream_options") or {}).get("include_usage"):
            self._event({**chunk(None), "usage": usage})
        data = b"data: [DONE]\n\n"
        self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data))
        self.wfile.flush()


class ScriptedServer:
    """A loopback OpenAI-compatible model that follows the script in the conversation (see the module doc)."""

    def __init__(
        self, name: str = "scripted", *, unsticks: bool = False, stuck_limit: int = 8, cached_tokens: int = 0
    ) -> None:
        self.name = name
        self.unsticks = unsticks
        self.stuck_limit = stuck_limit
        self.cached_tokens = cached_tokens
        self._lock = threading.Lock()
        self._requests: list[dict[str, Any]] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def _record(self, body: dict[str, Any]) -> None:
        with self._lock:
            self._requests.append(body)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Bodies of the chat requests received so far."""
        with self._lock:
            return list(self._requests)

    def reset(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self._requests.clear()

    def start(self) -> Self:
        """Serve in a daemon thread."""
        server = _Server(("127.0.0.1", 0), _Handler)
        server.owner = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop and free the port."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``."""
        assert self._server is not None, "not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
