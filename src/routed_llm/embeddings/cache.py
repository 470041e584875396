"""Persistent vector cache keyed by embedding space and text.

The user's notes say "cache embeddings aggressively": re-indexing a corpus that
barely changed should cost nothing. Keys are ``sha256(space id, embedded text)``,
so a vector is only ever served to a caller of the same space (a 256-dimension
nomic query never gets a 768-dimension document vector). Vectors are stored as
float32, the precision the embedder returns, so a hit equals a fresh result.

Writes are all-or-nothing per call: the embedder stores a call's vectors only once
every text of the call has been embedded and checked.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from array import array
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from routed_llm.config import EmbeddingCacheConfig
from routed_llm.errors import ConfigError

__all__ = [
    "EmbeddingCache",
    "MemoryEmbeddingCache",
    "RedisEmbeddingCache",
    "SQLiteEmbeddingCache",
    "cache_key",
    "make_cache",
]


def cache_key(space_id: str, text: str) -> str:
    """Key of ``text`` (as embedded, prefix included) in space ``space_id``."""
    return hashlib.sha256(f"{space_id}\x00{text}".encode()).hexdigest()


def _pack(vector: Sequence[float]) -> bytes:
    return array("f", vector).tobytes()


def _unpack(blob: bytes) -> list[float]:
    values = array("f")
    values.frombytes(blob)
    return values.tolist()


@runtime_checkable
class EmbeddingCache(Protocol):
    """What the embedder needs from a cache: batched reads and one batched, atomic write."""

    def get_many(self, keys: Sequence[str]) -> dict[str, list[float]]:
        """Return the cached vectors among ``keys`` (missing keys are absent)."""
        ...

    def put_many(self, items: Mapping[str, Sequence[float]]) -> None:
        """Store every item, or none of them."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class MemoryEmbeddingCache:
    """A dict in this process: for tests and short scripts."""

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def get_many(self, keys: Sequence[str]) -> dict[str, list[float]]:
        """Return the cached vectors among ``keys``."""
        with self._lock:
            return {k: _unpack(self._data[k]) for k in keys if k in self._data}

    def put_many(self, items: Mapping[str, Sequence[float]]) -> None:
        """Store every item."""
        packed = {k: _pack(v) for k, v in items.items()}
        with self._lock:
            self._data.update(packed)

    def __len__(self) -> int:
        return len(self._data)

    def close(self) -> None:
        """Nothing to release."""


class SQLiteEmbeddingCache:
    """One SQLite file, safe across threads and processes (WAL mode, one transaction per write)."""

    _CHUNK = 500  # stay under SQLite's bound-parameter limit

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._connect() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS embeddings (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")

    def _connect(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def get_many(self, keys: Sequence[str]) -> dict[str, list[float]]:
        """Return the cached vectors among ``keys``."""
        conn = self._connect()
        out: dict[str, list[float]] = {}
        for start in range(0, len(keys), self._CHUNK):
            chunk = list(keys[start : start + self._CHUNK])
            marks = ",".join("?" * len(chunk))
            for key, blob in conn.execute(f"SELECT key, vector FROM embeddings WHERE key IN ({marks})", chunk):
                out[key] = _unpack(blob)
        return out

    def put_many(self, items: Mapping[str, Sequence[float]]) -> None:
        """Store every item in one transaction."""
        if not items:
            return
        rows = [(k, _pack(v)) for k, v in items.items()]
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany("INSERT OR REPLACE INTO embeddings (key, vector) VALUES (?, ?)", rows)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def __len__(self) -> int:
        return int(self._connect().execute("SELECT COUNT(*) FROM embeddings").fetchone()[0])

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class RedisEmbeddingCache:
    """Redis, shared by every host of a deployment (``MGET`` reads, one ``MULTI`` write per call)."""

    def __init__(self, url: str, *, namespace: str = "routed_llm:emb", ttl_s: float | None = None) -> None:
        try:
            import redis
        except ImportError as e:  # pragma: no cover - depends on the install
            raise ConfigError(
                "  - embeddings.cache.backend: redis needs the redis client: pip install 'routed-llm[redis]'"
            ) from e
        self._client: Any = redis.Redis.from_url(url)
        self.namespace = namespace
        self.ttl_ms = int(ttl_s * 1000) if ttl_s else None

    def _key(self, key: str) -> str:
        return f"{self.namespace}:{key}"

    def get_many(self, keys: Sequence[str]) -> dict[str, list[float]]:
        """Return the cached vectors among ``keys``."""
        if not keys:
            return {}
        blobs = self._client.mget([self._key(k) for k in keys])
        return {k: _unpack(b) for k, b in zip(keys, blobs, strict=True) if b is not None}

    def put_many(self, items: Mapping[str, Sequence[float]]) -> None:
        """Store every item in one transaction."""
        if not items:
            return
        pipe = self._client.pipeline(transaction=True)
        for key, vector in items.items():
            pipe.set(self._key(key), _pack(vector), px=self.ttl_ms)
        pipe.execute()

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


def make_cache(config: EmbeddingCacheConfig) -> EmbeddingCache | None:
    """Build the cache the config asks for (``None`` for ``backend: none``)."""
    if config.backend == "none":
        return None
    if config.backend == "memory":
        return MemoryEmbeddingCache()
    if config.backend == "redis":
        assert config.url is not None  # checked by the config
        return RedisEmbeddingCache(config.url.get_secret_value(), namespace=config.namespace, ttl_s=config.ttl_s)
    return SQLiteEmbeddingCache(config.path)
