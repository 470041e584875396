"""Response cache at the router, so LangChain and LlamaIndex callers share every hit.

A call is a hit only on an exact match of everything that shapes the answer: the
messages, tools, response format, the decisive parameters (temperature, max_tokens,
stop, seed, ...: every parameter except transport ones such as ``timeout``), the
call's sensitivity and the tier chain the policy chose. A hit costs nothing, is not
recorded as spend, and says ``cached: True`` in the routing metadata; streaming
replays the cached answer as chunks, then a `StreamEnd`.

Confidential calls are cached only in stores marked ``private: true``: a shared
Redis in someone else's cloud must not hold the answers to confidential prompts.
A cache that fails (corrupt file, Redis down) never fails the call: it is logged and
treated as a miss.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from routed_llm.config import CacheConfig
from routed_llm.engine import RoutedCompletion, RoutingInfo, StreamEnd
from routed_llm.errors import ConfigError
from routed_llm.types import RouteDecision, Sensitivity

if TYPE_CHECKING:  # LiteLLM is imported when a cached answer is replayed, not with the cache
    import litellm
    from litellm.types.utils import ModelResponseStream

__all__ = [
    "CacheStore",
    "CachedAnswer",
    "MemoryCacheStore",
    "RedisCacheStore",
    "ResponseCache",
    "SQLiteCacheStore",
    "StreamRecorder",
]

logger = logging.getLogger(__name__)

#: Parameters that do not change the answer (transport, streaming, bookkeeping).
NON_DECISIVE = frozenset(
    {"timeout", "stream", "stream_options", "metadata", "drop_params", "num_retries", "extra_headers", "user"}
)
#: Characters per replayed chunk: small enough that a UI streams, large enough to be cheap.
REPLAY_CHUNK_CHARS = 16


def _canonical(value: Any) -> Any:
    """JSON-able form for hashing: pydantic classes by schema, models by data, the rest by repr."""
    if isinstance(value, type) and issubclass(value, BaseModel):
        return {"$schema": value.model_json_schema()}
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)


@dataclass
class CachedAnswer:
    """One cached answer: the assistant message, how it finished, and who produced it."""

    content: str | None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str | None = None
    tier: str = ""
    model: str = ""
    deployment: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    created: float = field(default_factory=time.time)

    def to_json(self) -> str:
        """Serialise for a store."""
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, text: str | bytes) -> CachedAnswer:
        """Parse what `to_json` wrote."""
        return cls(**json.loads(text))

    @classmethod
    def from_response(cls, response: Any, info: RoutingInfo) -> CachedAnswer | None:
        """Capture a non-streamed response (``None`` if it is not a single-choice chat answer)."""
        choices = getattr(response, "choices", None) or []
        if len(choices) != 1 or getattr(choices[0], "message", None) is None:
            return None
        msg = choices[0].message
        if not (getattr(msg, "content", None) or getattr(msg, "tool_calls", None)):
            return None  # an empty answer is a failure, never something to replay
        calls = [
            {
                "id": tc.id,
                "type": "function",
                "function": {"name": tc.function.name, "arguments": tc.function.arguments},
            }
            for tc in (getattr(msg, "tool_calls", None) or [])
        ]
        return cls(
            content=getattr(msg, "content", None),
            tool_calls=calls,
            finish_reason=choices[0].finish_reason,
            tier=info.tier,
            model=info.model,
            deployment=info.deployment,
            prompt_tokens=info.prompt_tokens,
            completion_tokens=info.completion_tokens,
        )

    def response(self) -> litellm.ModelResponse:
        """Rebuild a LiteLLM response (the usage is the original call's)."""
        import litellm

        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = self.tool_calls
        return litellm.ModelResponse(
            model=self.model,
            choices=[{"index": 0, "message": message, "finish_reason": self.finish_reason}],
            usage={
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens,
            },
        )

    def chunks(self) -> Iterator[ModelResponseStream]:
        """Replay as stream chunks: the text in small pieces, then the tool calls, then the finish."""
        from litellm.types.utils import Delta, ModelResponseStream, StreamingChoices

        text = self.content or ""
        for start in range(0, len(text), REPLAY_CHUNK_CHARS):
            piece = text[start : start + REPLAY_CHUNK_CHARS]
            yield ModelResponseStream(model=self.model, choices=[StreamingChoices(index=0, delta=Delta(content=piece))])
        if self.tool_calls:
            calls = [{"index": i, **tc} for i, tc in enumerate(self.tool_calls)]
            yield ModelResponseStream(
                model=self.model, choices=[StreamingChoices(index=0, delta=Delta(content=None, tool_calls=calls))]
            )
        yield ModelResponseStream(
            model=self.model,
            choices=[StreamingChoices(index=0, delta=Delta(content=None), finish_reason=self.finish_reason or "stop")],
        )


class StreamRecorder:
    """Rebuilds the answer of a live stream from its chunks, so the stream can be cached too."""

    def __init__(self) -> None:
        self._text: list[str] = []
        self._calls: dict[int, dict[str, Any]] = {}
        self.usable = True

    def add(self, chunk: Any) -> None:
        """Take in one LiteLLM chunk."""
        choices = getattr(chunk, "choices", None) or []
        if len(choices) > 1:
            self.usable = False
        for choice in choices[:1]:
            delta = getattr(choice, "delta", None)
            if delta is None:
                continue
            if getattr(delta, "content", None):
                self._text.append(delta.content)
            for position, tc in enumerate(getattr(delta, "tool_calls", None) or []):
                index = getattr(tc, "index", None)
                index = position if index is None else index
                call = self._calls.setdefault(
                    index, {"id": None, "type": "function", "function": {"name": None, "arguments": ""}}
                )
                fn = getattr(tc, "function", None)
                call["id"] = call["id"] or getattr(tc, "id", None)
                if fn is not None:
                    call["function"]["name"] = call["function"]["name"] or getattr(fn, "name", None)
                    args = getattr(fn, "arguments", None)
                    # Some servers repeat the whole arguments on every chunk; keep them once.
                    if args and not call["function"]["arguments"].endswith(args):
                        call["function"]["arguments"] += args

    def answer(self, end: StreamEnd) -> CachedAnswer | None:
        """Return the finished stream as a `CachedAnswer` (``None`` if it cannot be replayed faithfully)."""
        if not self.usable or not (self._text or self._calls):
            return None  # an empty stream is a failure, never something to replay
        info = end.routing
        return CachedAnswer(
            content="".join(self._text) or None,
            tool_calls=[self._calls[i] for i in sorted(self._calls)],
            finish_reason=end.finish_reason,
            tier=info.tier,
            model=info.model,
            deployment=info.deployment,
            prompt_tokens=info.prompt_tokens,
            completion_tokens=info.completion_tokens,
        )


# --------------------------------------------------------------------------- stores


class CacheStore(Protocol):
    """Key-value storage with expiry. Methods may raise; `ResponseCache` turns that into a miss."""

    def get(self, key: str) -> str | None:
        """Return the value, or ``None`` if absent or expired."""
        ...

    def set(self, key: str, value: str, ttl_s: float | None) -> None:
        """Store ``value`` for ``ttl_s`` seconds (forever if ``None``)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class MemoryCacheStore:
    """A dict in this process (tests, scripts)."""

    def __init__(self) -> None:
        self._data: dict[str, tuple[str, float | None]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        """Return the live value."""
        with self._lock:
            item = self._data.get(key)
        if item is None or (item[1] is not None and item[1] <= time.time()):
            return None
        return item[0]

    def set(self, key: str, value: str, ttl_s: float | None) -> None:
        """Store the value."""
        with self._lock:
            self._data[key] = (value, time.time() + ttl_s if ttl_s else None)

    def close(self) -> None:
        """Nothing to release."""


class SQLiteCacheStore:
    """One SQLite file (WAL) shared by the processes of a host; expired rows are ignored and pruned.

    ``table`` lets another key-value use (sessions) share this code in a table of its own;
    ``fsync_each_write=False`` (``synchronous=NORMAL``) suits values whose last write may
    be lost to a power cut.
    """

    def __init__(self, path: str | Path, *, table: str = "responses", fsync_each_write: bool = True) -> None:
        self.path = Path(path).expanduser()
        self.table = table
        self._fsync_each_write = fsync_each_write
        self._local = threading.local()

    def _connect(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=5, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            if not self._fsync_each_write:
                conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {self.table} (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires REAL)"
            )
            self._local.conn = conn
        return conn

    def get(self, key: str) -> str | None:
        """Return the live value."""
        row = (
            self._connect()
            .execute(
                f"SELECT value FROM {self.table} WHERE key = ? AND (expires IS NULL OR expires > ?)", (key, time.time())
            )
            .fetchone()
        )
        return None if row is None else str(row[0])

    def set(self, key: str, value: str, ttl_s: float | None) -> None:
        """Store the value (and prune expired rows now and then)."""
        conn = self._connect()
        now = time.time()
        conn.execute(
            f"INSERT OR REPLACE INTO {self.table} VALUES (?, ?, ?)", (key, value, now + ttl_s if ttl_s else None)
        )
        if int(now * 1000) % 100 == 0:
            conn.execute(f"DELETE FROM {self.table} WHERE expires IS NOT NULL AND expires <= ?", (now,))

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class RedisCacheStore:
    """Redis, shared by many hosts; expiry is Redis's own."""

    def __init__(self, url: str, *, namespace: str) -> None:
        try:
            import redis
        except ImportError as e:  # pragma: no cover - depends on the install
            raise ConfigError("  - cache.store: a redis:// cache needs the redis client: pip install redis") from e
        self._client: Any = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.namespace = namespace

    def get(self, key: str) -> str | None:
        """Return the live value."""
        value = self._client.get(f"{self.namespace}:{key}")
        return None if value is None else value.decode() if isinstance(value, bytes) else str(value)

    def set(self, key: str, value: str, ttl_s: float | None) -> None:
        """Store the value with Redis expiry."""
        self._client.set(f"{self.namespace}:{key}", value, px=int(ttl_s * 1000) if ttl_s else None)

    def close(self) -> None:
        """Close the pool."""
        self._client.close()


def _make_store(config: CacheConfig) -> CacheStore:
    url = config.store.get_secret_value()
    scheme = url.split("://", 1)[0].lower()
    if scheme == "memory":
        return MemoryCacheStore()
    if scheme in ("redis", "rediss"):
        return RedisCacheStore(url, namespace=config.namespace)
    return SQLiteCacheStore(Path(url.split("://", 1)[1].removeprefix("/")))


# --------------------------------------------------------------------------- the cache


class ResponseCache:
    """What the `Router` asks: may this call be cached, is it cached, remember this answer."""

    def __init__(self, config: CacheConfig, store: CacheStore | None = None) -> None:
        self.config = config
        self.store = store or _make_store(config)

    def key(
        self, decision: RouteDecision, messages: Sequence[Mapping[str, Any]], params: Mapping[str, Any]
    ) -> str | None:
        """Cache key of a call, or ``None`` if the call must not be cached (confidential on a shared store)."""
        if decision.sensitivity is Sensitivity.CONFIDENTIAL and not self.config.private:
            return None
        if int(params.get("n") or 1) != 1:
            return None
        material = {
            "messages": list(messages),
            "params": {k: v for k, v in params.items() if k not in NON_DECISIVE and v is not None},
            "tiers": list(decision.tiers),
            "sensitivity": decision.sensitivity.value,
        }
        blob = json.dumps(_canonical(material), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    def get(self, key: str) -> CachedAnswer | None:
        """Return the cached answer, or ``None`` (a failing store counts as a miss)."""
        try:
            raw = self.store.get(key)
            return None if raw is None else CachedAnswer.from_json(raw)
        except Exception as e:  # a cache must never fail the call
            logger.warning("response cache read failed (treated as a miss): %s: %s", type(e).__name__, e)
            return None

    def put(self, key: str, answer: CachedAnswer | None) -> None:
        """Remember an answer (failures are logged, never raised)."""
        if answer is None:
            return
        try:
            self.store.set(key, answer.to_json(), self.config.ttl_s)
        except Exception as e:  # a cache must never fail the call
            logger.warning("response cache write failed: %s: %s", type(e).__name__, e)

    @staticmethod
    def info(answer: CachedAnswer, decision: RouteDecision) -> RoutingInfo:
        """Routing info of a hit: the tier and model that produced the answer, zero cost, ``cached=True``."""
        age = max(0.0, time.time() - answer.created)
        return RoutingInfo(
            tier=answer.tier,
            model=answer.model,
            reason=f"{decision.reason}; cache hit (answered by tier {answer.tier} {age:.0f} s ago)",
            rule=decision.rule,
            fallbacks=decision.fallbacks,
            deployment=answer.deployment,
            cost_usd=0.0,
            cached=True,
            decision=decision,
        )

    def completion(self, answer: CachedAnswer, decision: RouteDecision) -> RoutedCompletion:
        """Serve a hit as a `RoutedCompletion`."""
        return RoutedCompletion(response=answer.response(), routing=self.info(answer, decision))

    def replay(self, answer: CachedAnswer, decision: RouteDecision) -> Iterator[Any]:
        """Serve a hit as a stream: chunks, then a `StreamEnd`."""
        yield from answer.chunks()
        yield StreamEnd(routing=self.info(answer, decision), finish_reason=answer.finish_reason or "stop")

    def close(self) -> None:
        """Release the store."""
        self.store.close()
