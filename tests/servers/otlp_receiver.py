"""A loopback OTLP/HTTP trace receiver standing in for a Langfuse server.

The Langfuse SDK (v3+) exports OpenTelemetry spans as protobuf
``ExportTraceServiceRequest`` bodies to ``{host}/api/public/otel/v1/traces``.
Pointing the real SDK at this receiver shows exactly what would reach Langfuse:
span names, parent links and every attribute, decoded with opentelemetry-proto.

    with OtlpReceiver() as rx:
        langfuse = Langfuse(public_key="pk-test", secret_key="sk-test", host=rx.url)
        ...
        langfuse.flush()
        [gen] = rx.generations()
"""

from __future__ import annotations

import gzip
import json
import threading
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

__all__ = ["TRACES_PATH", "OtlpReceiver", "ReceivedSpan"]

TRACES_PATH = "/api/public/otel/v1/traces"


def _value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind)


@dataclass(frozen=True)
class ReceivedSpan:
    """One exported span, decoded: ids as hex, attributes as a plain dict."""

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str | None
    scope: str
    attributes: dict[str, Any] = field(default_factory=dict)
    status_code: int = 0

    @property
    def observation_type(self) -> str | None:
        """Langfuse's observation type (``generation``, ``span``, ...)."""
        return self.attributes.get("langfuse.observation.type")

    def json(self, key: str) -> Any:
        """Decode a JSON-encoded Langfuse attribute (``usage_details``, metadata values, input, output)."""
        raw = self.attributes.get(key)
        return json.loads(raw) if isinstance(raw, str) else raw

    def metadata(self, key: str) -> Any:
        """One ``langfuse.observation.metadata.<key>`` value, decoded."""
        return self.json(f"langfuse.observation.metadata.{key}")


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        encoding = (self.headers.get("Content-Encoding") or "").lower()
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        if self.path.split("?", 1)[0] != TRACES_PATH:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        self.server.owner._receive(request, {k.lower(): v for k, v in self.headers.items()})
        data = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: OtlpReceiver


class OtlpReceiver:
    """Collects the spans POSTed to ``TRACES_PATH``; `spans` / `generations` read them back."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._host = host
        self._lock = threading.Lock()
        self._spans: list[ReceivedSpan] = []
        self.headers: list[dict[str, str]] = []
        self.raw_bodies: list[bytes] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL to give the Langfuse SDK as ``host``."""
        assert self._server is not None, "receiver not started"
        return f"http://{self._host}:{self._server.server_address[1]}"

    def start(self) -> Self:
        """Serve in a daemon thread."""
        server = _Server((self._host, 0), _Handler)
        server.owner = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _receive(self, request: ExportTraceServiceRequest, headers: dict[str, str]) -> None:
        spans = []
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                for s in ss.spans:
                    spans.append(
                        ReceivedSpan(
                            name=s.name,
                            trace_id=s.trace_id.hex(),
                            span_id=s.span_id.hex(),
                            parent_span_id=s.parent_span_id.hex() or None,
                            scope=ss.scope.name,
                            attributes={kv.key: _value(kv.value) for kv in s.attributes},
                            status_code=int(s.status.code),
                        )
                    )
        with self._lock:
            self._spans.extend(spans)
            self.headers.append(headers)
            self.raw_bodies.append(request.SerializeToString())

    def spans(self) -> list[ReceivedSpan]:
        """Every span received so far, in arrival order."""
        with self._lock:
            return list(self._spans)

    def generations(self) -> list[ReceivedSpan]:
        """The spans Langfuse would show as generations."""
        return [s for s in self.spans() if s.observation_type == "generation"]

    def clear(self) -> None:
        """Forget what was received."""
        with self._lock:
            self._spans.clear()
            self.headers.clear()
            self.raw_bodies.clear()
