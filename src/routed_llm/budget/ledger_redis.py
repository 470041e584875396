"""`RedisLedger`: spend shared by many hosts, each entry recorded by one Lua script."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from routed_llm.budget.ledger import SpendEntry, redact_url, to_nano
from routed_llm.errors import ConfigError, LedgerError

# Store the entry once (its id key is the guard), bump every counter, add it to the log (a sorted
# set by time) and drop log entries older than the cutoff. A log list left by an older version
# (KEYS[3]) gets no more entries: it is set to expire once its newest entry is past the cutoff.
_REDIS_RECORD = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
if ARGV[5] ~= '' then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[5])
  if redis.call('TTL', KEYS[3]) == -1 then redis.call('EXPIRE', KEYS[3], ARGV[6]) end
end
local nano = tonumber(ARGV[2])
if nano ~= 0 then
  for i = 4, #KEYS do
    redis.call('INCRBY', KEYS[i], nano)
    redis.call('EXPIRE', KEYS[i], ARGV[3])
  end
end
return 1
"""


class RedisLedger:
    """Redis, shared by every host: one Lua script per entry, so an entry and its counters are atomic.

    The entry log is a sorted set scored by time (``<namespace>:log``). With ``keep_entries_s`` set,
    the script that adds an entry also removes the entries older than that (``ZREMRANGEBYSCORE``,
    O(log n) plus what it removes), so the log stays bounded with no extra round trip or job. The
    unbounded list earlier versions appended to (``<namespace>:entries``) is still read, takes no
    new entries, and expires ``keep_entries_s`` after the first trim.
    """

    #: Counters and entry ids outlive the longest window (a month) with room to spare.
    KEEP_S = 400 * 86400

    def __init__(self, url: str, *, namespace: str = "routed_llm:ledger", keep_entries_s: float | None = None) -> None:
        try:
            import redis
        except ImportError as e:  # pragma: no cover - depends on the install
            raise ConfigError("  - budgets.store: a redis:// ledger needs the redis client: pip install redis") from e
        self._redis = redis
        self.url = redact_url(url)
        self._client: Any = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._script = self._client.register_script(_REDIS_RECORD)
        self.namespace = namespace
        self.keep_entries_s = keep_entries_s

    def _k(self, key: str) -> str:
        return f"{self.namespace}:{key}"

    def _fail(self, e: Exception, doing: str) -> LedgerError:
        return LedgerError(
            f"spend ledger {self.url} could not {doing}: {type(e).__name__}: {e}; is Redis running and reachable?"
        )

    def record(self, entry: SpendEntry, counters: Sequence[str]) -> bool:
        """Store the entry and bump its counters atomically (idempotent by entry id)."""
        keys = [
            self._k(f"entry:{entry.id}"),
            self._k("log"),
            self._k("entries"),
            *(self._k(f"c:{c}") for c in counters),
        ]
        keep = self.keep_entries_s
        cutoff = repr(time.time() - keep) if keep is not None else ""
        args: list[str | int] = [
            entry.to_json(),
            to_nano(entry.cost_usd),
            self.KEEP_S,
            repr(float(entry.ts)),
            cutoff,
            max(1, int(keep or 0)),
        ]
        try:
            return bool(self._script(keys=keys, args=args))
        except self._redis.RedisError as e:
            raise self._fail(e, "record spend") from e

    def totals(self, counters: Sequence[str]) -> dict[str, int]:
        """Counter values."""
        if not counters:
            return {}
        try:
            values = self._client.mget([self._k(f"c:{c}") for c in counters])
        except self._redis.RedisError as e:
            raise self._fail(e, "be read") from e
        return {c: int(v or 0) for c, v in zip(counters, values, strict=True)}

    def claim(self, key: str) -> bool:
        """Claim a key once across hosts."""
        try:
            return bool(self._client.set(self._k(f"claim:{key}"), "1", nx=True, ex=self.KEEP_S))
        except self._redis.RedisError as e:
            raise self._fail(e, "record an alert") from e

    def entries(self, since: float | None = None) -> list[SpendEntry]:
        """Entries, oldest first (a range read on the log; the old-format list, if any, is merged in)."""
        try:
            pipe = self._client.pipeline(transaction=False)  # one round trip
            pipe.zrangebyscore(self._k("log"), "-inf" if since is None else repr(float(since)), "+inf")
            pipe.lrange(self._k("entries"), 0, -1)
            raw, legacy = pipe.execute()
        except self._redis.RedisError as e:
            raise self._fail(e, "be read") from e
        out = [SpendEntry.from_json(r) for r in raw]
        out += [e for e in map(SpendEntry.from_json, legacy) if since is None or e.ts >= since]
        return sorted(out, key=lambda e: e.ts)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()
