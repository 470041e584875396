"""Budgets: a spend ledger shared by every adapter, limits that close paid tiers, alerts.

Every routed call's cost (``RoutingInfo.cost_usd``: LiteLLM's price map with the
config's per-deployment overrides, zero on private tiers) is recorded in a ledger
that all processes on a host (SQLite, WAL) or on many hosts (Redis) share. Before
each call the `BudgetManager` reads the spend of the windows the config limits and
closes the paid tiers whose limit is spent; the policy then routes around them and
says why (``RouterState.closed_tiers``), or the router raises `BudgetExceeded`.

Why counters and integers: each entry adds its cost, in nano-dollars, to one
counter per (window, scope) in the same transaction that stores the entry, so a
limit check is one indexed read, sums are exact (no float drift over millions of
calls), and an entry replayed after a ledger failure is recognised by its id and
never counted twice. The counters also let the entry log be bounded: entries older
than ``budgets.keep_entries_days`` are trimmed as new ones are written (they only
feed ``routed-llm report``), and no limit reads them.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from routed_llm.catalog import TierProfile
from routed_llm.config import AlertConfig, BudgetLimits, BudgetsConfig, Tier
from routed_llm.errors import BudgetExceeded, ConfigError, LedgerError, LedgerTruncated
from routed_llm.policy import estimated_output_tokens
from routed_llm.types import RequestNeeds

__all__ = [
    "BudgetAlert",
    "BudgetManager",
    "Closure",
    "Ledger",
    "MemoryLedger",
    "RedisLedger",
    "SQLiteLedger",
    "SpendEntry",
    "make_ledger",
    "plot_spend",
    "redact_url",
    "spend_report",
    "sqlite_path",
    "window_keys",
]

logger = logging.getLogger(__name__)

#: Ledger amounts are integer nano-dollars: exact sums, and 9.2e9 USD of headroom in an int64.
NANO = 1_000_000_000
WINDOWS = ("day", "week", "month")
DAY_S = 86400.0
#: The SQLite and memory ledgers trim their entry log at most this often (a DELETE per write would
#: cost every call an index range scan; an hour late is nothing against a retention of days).
TRIM_EVERY_S = 3600.0
#: How long a trimmed entry's id is still remembered, so a late journal replay is not counted twice
#: in a window that is still open: longer than any window (a month, plus a day for time zones).
REMEMBER_IDS_S = 35 * 86400.0
_WINDOW_WORD = {"day": "daily", "week": "weekly", "month": "monthly"}
_FIELD = {"day": "daily_usd", "week": "weekly_usd", "month": "monthly_usd"}


def to_nano(usd: float) -> int:
    """USD -> integer nano-dollars (rounded)."""
    return int(round(usd * NANO))


def redact_url(url: str) -> str:
    """``redis://user:pw@host`` -> ``redis://***@host``: store URLs in messages never carry passwords."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def sqlite_path(url: str) -> Path:
    """``sqlite:///~/x.db`` -> ``~/x.db`` expanded; ``sqlite:////abs/x.db`` -> ``/abs/x.db``."""
    return Path(url.split("://", 1)[1].removeprefix("/")).expanduser()


def window_keys(ts: float, tz: ZoneInfo) -> dict[str, str]:
    """Calendar windows ``ts`` falls in: ``{"day": "2026-11-22", "week": "2026-W47", "month": "2026-11"}``."""
    dt = datetime.fromtimestamp(ts, tz)
    year, week, _ = dt.isocalendar()
    return {"day": dt.strftime("%Y-%m-%d"), "week": f"{year}-W{week:02d}", "month": dt.strftime("%Y-%m")}


def provider_of(model: str) -> str:
    """LiteLLM provider prefix of a model string (``openai`` for a bare name)."""
    return model.split("/", 1)[0].lower() if "/" in model else "openai"


def _metadata_values(value: Any) -> list[str]:
    items = value if isinstance(value, list | tuple | set) else [value]
    return [str(v)[:200] for v in items if isinstance(v, str | int | float | bool)]


@dataclass(frozen=True)
class SpendEntry:
    """One routed call's cost as stored in the ledger."""

    id: str
    ts: float
    """Unix time of the call's end."""
    tier: str
    model: str
    provider: str
    cost_usd: float
    metadata: dict[str, Any] = field(default_factory=dict)
    """The call-metadata keys listed in ``budgets.record_metadata`` (e.g. ``user_id``, ``tags``)."""

    def to_json(self) -> str:
        """Serialise for the ledger."""
        return json.dumps(self.__dict__, sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str | bytes) -> SpendEntry:
        """Parse what `to_json` wrote."""
        return cls(**json.loads(text))


@dataclass(frozen=True)
class BudgetAlert:
    """An alert threshold crossed; passed to every callback once per limit, window and threshold."""

    limit: str
    """Config field of the limit, e.g. ``budgets.daily_usd`` or ``budgets.providers.anthropic.daily_usd``."""
    window: str
    """Window key, e.g. ``2026-11-22``."""
    threshold: float
    limit_usd: float
    spent_usd: float
    notify: tuple[str, ...] = ()
    action: str = "notify"

    def message(self) -> str:
        """Human-readable one-liner, as logged."""
        return (
            f"budget alert: {self.limit} at {self.spent_usd / self.limit_usd:.0%} "
            f"(${self.spent_usd:.2f} of ${self.limit_usd:.2f}, {self.window}; threshold {self.threshold:.0%})"
            + (f"; notify {', '.join(self.notify)}" if self.notify else "")
        )


@dataclass(frozen=True)
class Closure:
    """Why a tier is closed right now, with the limit that closed it."""

    reason: str
    limit: str
    limit_usd: float
    spent_usd: float
    ledger_error: bool = False

    def error(self, tier: str) -> BudgetExceeded | LedgerError:
        """Build the exception ``on_exceeded: raise`` raises for a call that needs ``tier``."""
        if self.ledger_error:
            return LedgerError(f"{self.reason}; tier {tier!r} is closed until the ledger works again")
        return BudgetExceeded(  # the exception names the limit itself: no second copy from the reason
            self.reason.removesuffix(f"; limit {self.limit}"),
            limit=self.limit,
            limit_usd=self.limit_usd,
            spent_usd=self.spent_usd,
            tier=tier,
        )


# --------------------------------------------------------------------------- ledgers


class Ledger(Protocol):
    """Storage for spend entries and counters. Every method may raise `LedgerError`."""

    def record(self, entry: SpendEntry, counters: Sequence[str]) -> bool:
        """Store ``entry`` and add its cost to each counter, atomically; ``False`` if already stored."""
        ...

    def totals(self, counters: Sequence[str]) -> dict[str, int]:
        """Return the value (nano-dollars) of each counter; absent ones are 0."""
        ...

    def claim(self, key: str) -> bool:
        """Claim ``key`` once across every process sharing the ledger (alert de-duplication)."""
        ...

    def entries(self, since: float | None = None) -> list[SpendEntry]:
        """Return stored entries, oldest first, optionally only those at or after ``since``."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class _Trimmer:
    """When an entry log is due for trimming: once per ``every_s`` per ledger object (so per process).

    The first write of each process trims, so a short-lived script still keeps the log bounded.
    """

    def __init__(self, keep_entries_s: float | None, every_s: float) -> None:
        self.keep_entries_s = keep_entries_s
        self.every_s = every_s
        self._last = float("-inf")

    def due(self) -> float | None:
        """Return the cutoff (Unix time; older entries go) if a trim is due now, else ``None``."""
        if self.keep_entries_s is None:
            return None
        tick = time.monotonic()
        if tick - self._last < self.every_s:
            return None
        self._last = tick  # racing threads may both trim: harmless, the second deletes nothing
        return time.time() - self.keep_entries_s


class MemoryLedger:
    """A ledger in this process only: for tests and scripts.

    ``keep_entries_s`` bounds the entry log as in the other ledgers (``None``: keep every entry).
    """

    def __init__(self, *, keep_entries_s: float | None = None, trim_every_s: float = TRIM_EVERY_S) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, SpendEntry] = {}
        self._counters: dict[str, int] = {}
        self._claims: set[str] = set()
        self._trim = _Trimmer(keep_entries_s, trim_every_s)
        self._trimmed: dict[str, float] = {}

    def record(self, entry: SpendEntry, counters: Sequence[str]) -> bool:
        """Store the entry and bump its counters; trim old entries when due."""
        with self._lock:
            if entry.id in self._entries or entry.id in self._trimmed:
                return False
            self._entries[entry.id] = entry
            for key in counters:
                self._counters[key] = self._counters.get(key, 0) + to_nano(entry.cost_usd)
            cutoff = self._trim.due()
            if cutoff is not None:
                forget = time.time() - REMEMBER_IDS_S
                for e in self._entries.values():
                    if e.ts < cutoff:
                        self._trimmed[e.id] = e.ts
                self._entries = {k: e for k, e in self._entries.items() if e.ts >= cutoff}
                self._trimmed = {k: ts for k, ts in self._trimmed.items() if ts >= forget}
            return True

    def totals(self, counters: Sequence[str]) -> dict[str, int]:
        """Counter values."""
        with self._lock:
            return {k: self._counters.get(k, 0) for k in counters}

    def claim(self, key: str) -> bool:
        """Claim a key once."""
        with self._lock:
            if key in self._claims:
                return False
            self._claims.add(key)
            return True

    def entries(self, since: float | None = None) -> list[SpendEntry]:
        """Entries, oldest first."""
        with self._lock:
            out = [e for e in self._entries.values() if since is None or e.ts >= since]
        return sorted(out, key=lambda e: e.ts)

    def close(self) -> None:
        """Nothing to release."""


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS spend (id TEXT PRIMARY KEY, ts REAL NOT NULL, tier TEXT NOT NULL, "
    "model TEXT NOT NULL, provider TEXT NOT NULL, cost_nano INTEGER NOT NULL, cost_usd REAL NOT NULL, "
    "metadata TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS spend_ts ON spend (ts)",
    "CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, nano INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, ts REAL NOT NULL)",
    # ids of trimmed entries, kept REMEMBER_IDS_S: the spend row was the replay guard
    "CREATE TABLE IF NOT EXISTS trimmed (id TEXT PRIMARY KEY, ts REAL NOT NULL)",
    # the ledger's identity, mirrored in the marker file beside it (see SQLiteLedger._check_identity)
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)


def ledger_marker(path: Path) -> Path:
    """Return the file beside a SQLite ledger that remembers its id: ``ledger.db`` -> ``ledger.db.id``."""
    return path.with_name(path.name + ".id")


def accept_ledger_reset(path: str | Path) -> Path:
    """Accept that the SQLite ledger at ``path`` restarts empty (it was truncated or replaced).

    Removes the marker that made the ledger fail closed (`LedgerTruncated`); the next router
    adopts the file as it is. Also ``routed-llm ledger accept-reset --config routing.yaml``.
    Returns the marker path that was removed.
    """
    marker = ledger_marker(Path(path).expanduser())
    marker.unlink(missing_ok=True)
    return marker


class SQLiteLedger:
    """One SQLite file shared by every thread and process on a host.

    WAL mode lets readers run beside the one writer; each entry is one ``BEGIN
    IMMEDIATE`` transaction (entry + counters), so concurrent writers queue on the
    lock instead of losing updates. A writer that waits longer than
    ``lock_timeout_s`` gets a `LedgerError` (and the manager keeps the entry).

    With ``keep_entries_s`` set, entries older than that are deleted inside a write
    transaction at most once per ``trim_every_s`` per process (an indexed range delete
    on ``ts``); counters, which the limits read, are left alone. A deleted entry's id
    is kept ``REMEMBER_IDS_S`` longer (table ``trimmed``), since its row was what made a
    replay of it count once: a short retention then still never counts an entry twice
    in an open window.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        lock_timeout_s: float = 10.0,
        keep_entries_s: float | None = None,
        trim_every_s: float = TRIM_EVERY_S,
    ) -> None:
        self.path = Path(path).expanduser()
        self.lock_timeout_s = lock_timeout_s
        self._trim = _Trimmer(keep_entries_s, trim_every_s)
        self._local = threading.local()
        self._ready = False
        self._init_lock = threading.Lock()

    def _fail(self, e: sqlite3.Error, doing: str) -> LedgerError:
        text = str(e)
        if "locked" in text or "busy" in text:
            hint = (
                f"another process held the write lock for more than {self.lock_timeout_s:g} s "
                "(raise budgets.lock_timeout_s if that is expected)"
            )
        elif isinstance(e, sqlite3.DatabaseError) and ("not a database" in text or "malformed" in text):
            hint = (
                "the file is not a valid SQLite database (corrupt?): move it aside and a new ledger is created "
                "(if it held spend, accept the restart with `routed-llm ledger accept-reset`)"
            )
        else:
            hint = "check the path and its permissions (budgets.store)"
        return LedgerError(f"spend ledger {self.path} could not {doing}: {type(e).__name__}: {text}; {hint}")

    def _connect(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self.lock_timeout_s, isolation_level=None)
            try:
                with self._init_lock:
                    if not self._ready:
                        # Once per ledger, not per thread: WAL mode is persistent in the file, and
                        # connections switching it concurrently get "database is locked" at once
                        # (SQLite does not wait on the busy timeout there).
                        conn.execute("PRAGMA journal_mode=WAL")
                        self._check_identity(conn)
                        self._ready = True
                conn.execute("PRAGMA synchronous=NORMAL")
            except (sqlite3.Error, LedgerError):
                conn.close()
                raise
        except OSError as e:
            raise LedgerError(f"spend ledger {self.path} could not be opened: {e}; check budgets.store") from e
        except sqlite3.Error as e:
            raise self._fail(e, "be opened") from e
        self._local.conn = conn
        return conn

    def _check_identity(self, conn: sqlite3.Connection) -> None:
        """Create the schema, and refuse a ledger file that lost its contents.

        A truncated (or replaced) file opens as a valid, empty database: without a check the
        ledger would silently restart at $0 and every budget would reopen. The ledger's id is
        kept both inside the file (table ``meta``) and in a marker file beside it; a marker
        whose id the file no longer holds means the spend history is gone, and that raises
        `LedgerTruncated` (paid tiers stay closed) until the reset is accepted.
        """
        had_schema = bool(
            conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'spend'").fetchone()
        )
        for stmt in _SCHEMA:
            conn.execute(stmt)
        row = conn.execute("SELECT value FROM meta WHERE key = 'ledger_id'").fetchone()
        marker = ledger_marker(self.path)
        try:
            expected = marker.read_text(encoding="utf-8").strip() if marker.exists() else None
        except OSError:
            expected = None
        if expected and (row is None or row[0] != expected):
            raise LedgerTruncated(
                f"spend ledger {self.path} lost its history: it was truncated or replaced (it no longer holds "
                f"ledger {expected}{', it holds no spend at all' if not had_schema else ''}). Spend recorded "
                "before is gone, so paid tiers stay closed instead of restarting the budgets at $0. Restore the "
                "file from a backup, or accept the empty ledger: `routed-llm ledger accept-reset --config "
                f"<your routing.yaml>` (or delete {marker})."
            )
        if row is None:
            ledger_id = uuid.uuid4().hex
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('ledger_id', ?)", (ledger_id,))
            row = conn.execute("SELECT value FROM meta WHERE key = 'ledger_id'").fetchone()
        if expected != row[0]:
            try:
                tmp = marker.with_name(f"{marker.name}.{os.getpid()}.tmp")
                tmp.write_text(row[0], encoding="utf-8")
                os.replace(tmp, marker)
            except OSError as e:
                logger.warning("budget: could not write ledger marker %s: %s", marker, e)

    def record(self, entry: SpendEntry, counters: Sequence[str]) -> bool:
        """Store the entry and bump its counters in one transaction."""
        conn = self._connect()
        nano = to_nano(entry.cost_usd)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if conn.execute("SELECT 1 FROM trimmed WHERE id = ?", (entry.id,)).fetchone():
                    conn.execute("ROLLBACK")
                    return False
                cur = conn.execute(
                    "INSERT OR IGNORE INTO spend VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        entry.id,
                        entry.ts,
                        entry.tier,
                        entry.model,
                        entry.provider,
                        nano,
                        entry.cost_usd,
                        json.dumps(entry.metadata, sort_keys=True, default=str),
                    ),
                )
                fresh = cur.rowcount == 1
                if fresh and nano:
                    conn.executemany(
                        "INSERT INTO counters (key, nano) VALUES (?, ?) "
                        "ON CONFLICT(key) DO UPDATE SET nano = nano + excluded.nano",
                        [(k, nano) for k in counters],
                    )
                cutoff = self._trim.due()
                if cutoff is not None:
                    forget = time.time() - REMEMBER_IDS_S
                    conn.execute("DELETE FROM trimmed WHERE ts < ?", (forget,))
                    conn.execute(
                        "INSERT OR IGNORE INTO trimmed SELECT id, ts FROM spend WHERE ts < ? AND ts >= ?",
                        (cutoff, forget),
                    )
                    conn.execute("DELETE FROM spend WHERE ts < ?", (cutoff,))
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return fresh
        except sqlite3.Error as e:
            raise self._fail(e, "record spend") from e

    def _absent(self) -> bool:
        """Tell whether no ledger file exists yet.

        Reads then see zero spend and create nothing: ``routed-llm explain`` must not leave a ledger behind.
        """
        return (
            not self._ready
            and getattr(self._local, "conn", None) is None
            and not self.path.exists()
            and not ledger_marker(self.path).exists()  # a vanished ledger file must be noticed, not read as $0
        )

    def totals(self, counters: Sequence[str]) -> dict[str, int]:
        """Counter values."""
        out = dict.fromkeys(counters, 0)
        if not counters or self._absent():
            return out
        conn = self._connect()
        marks = ",".join("?" * len(counters))
        try:
            for key, nano in conn.execute(f"SELECT key, nano FROM counters WHERE key IN ({marks})", list(counters)):
                out[key] = int(nano)
        except sqlite3.Error as e:
            raise self._fail(e, "be read") from e
        return out

    def claim(self, key: str) -> bool:
        """Claim a key once across processes."""
        conn = self._connect()
        try:
            cur = conn.execute("INSERT OR IGNORE INTO claims VALUES (?, ?)", (key, time.time()))
        except sqlite3.Error as e:
            raise self._fail(e, "record an alert") from e
        return cur.rowcount == 1

    def entries(self, since: float | None = None) -> list[SpendEntry]:
        """Entries, oldest first."""
        if self._absent():
            return []
        conn = self._connect()
        try:
            rows = conn.execute(
                "SELECT id, ts, tier, model, provider, cost_usd, metadata FROM spend WHERE ts >= ? ORDER BY ts",
                (since if since is not None else float("-inf"),),
            ).fetchall()
        except sqlite3.Error as e:
            raise self._fail(e, "be read") from e
        return [SpendEntry(i, ts, t, m, p, c, json.loads(md)) for i, ts, t, m, p, c, md in rows]

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


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

    def __init__(
        self, url: str, *, namespace: str = "routed_llm:ledger", keep_entries_s: float | None = None
    ) -> None:
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


def make_ledger(url: str, *, lock_timeout_s: float = 10.0, keep_entries_s: float | None = None) -> Ledger:
    """Build the ledger a ``budgets.store`` URL names; ``keep_entries_s=None`` never trims (readers)."""
    scheme = url.split("://", 1)[0].lower()
    if scheme == "memory":
        return MemoryLedger(keep_entries_s=keep_entries_s)
    if scheme in ("redis", "rediss"):
        return RedisLedger(url, keep_entries_s=keep_entries_s)
    if scheme == "sqlite":
        return SQLiteLedger(sqlite_path(url), lock_timeout_s=lock_timeout_s, keep_entries_s=keep_entries_s)
    raise ConfigError(f"  - budgets.store: unsupported ledger URL {redact_url(url)!r}")


# --------------------------------------------------------------------------- manager


def _pid_alive(pid: str) -> bool:
    """Whether process ``pid`` (as text) still runs, so a journal it is adopting is left to it."""
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class _LimitScope:
    """One place the config sets limits (everything, a provider, a tier, a metadata value), resolved for a call.

    Windowed limits and the per-request cap are both read from here, so the two walk
    the same scopes, cover the same tiers and name the same config paths.
    """

    limits: BudgetLimits
    prefix: str  # config path of its fields, e.g. "budgets.providers.anthropic"
    scope: str  # ledger counter scope, e.g. "provider:anthropic"
    label: str  # words naming it in a reason, e.g. "anthropic "
    tiers: frozenset[str]  # paid tiers it covers
    override_prefix: str = ""  # a per_metadata value's override, e.g. "budgets.per_metadata.user_id.overrides.al"
    taken: frozenset[str] = frozenset()  # fields that override set

    def field(self, name: str) -> tuple[str, bool]:
        """Config path of limit ``name`` here, and whether a per-value override set it."""
        if name in self.taken:
            return f"{self.override_prefix}.{name}", True
        return f"{self.prefix}.{name}", False


@dataclass(frozen=True)
class _Limit:
    """One windowed limit on one scope, and the tiers it covers."""

    field: str
    scope: str
    label: str
    window: str
    usd: float
    tiers: frozenset[str]
    override: bool = False
    """Set by a ``per_metadata`` override: reasons then name ``field``, since the amount alone does not
    say whether the value's own limit or the key's default applied."""

    def reason(self, text: str) -> str:
        """``text`` (why the limit closes tiers), naming the override field when there is one."""
        return f"{text}; limit {self.field}" if self.override else text


class BudgetManager:
    """Reads spend before each call (which paid tiers are closed) and records it after.

    Shared by every adapter over one `Router`; thread-safe. Spend that cannot be
    recorded is kept in memory (``pending_usd``) and written first, before each check
    and each record, until the ledger takes it; until then ``fail_closed`` keeps the
    paid tiers closed, and `close` logs what is still unrecorded.
    """

    def __init__(
        self,
        config: BudgetsConfig,
        profiles: Mapping[str, TierProfile],
        *,
        tiers: Mapping[str, Tier] | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        self.config = config
        self.profiles = dict(profiles)
        self.ledger: Ledger = ledger or make_ledger(
            config.store.get_secret_value(),
            lock_timeout_s=config.lock_timeout_s,
            keep_entries_s=config.keep_entries_days * DAY_S,
        )
        self.tz = ZoneInfo(config.timezone)
        self._callbacks: list[Callable[[BudgetAlert], None]] = []
        self._pending: list[tuple[SpendEntry, tuple[str, ...]]] = []
        self._claimed: set[str] = set()
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self.paid_tiers = frozenset(n for n, p in self.profiles.items() if self._is_paid(p, (tiers or {}).get(n)))
        """Tiers spend can close: not private and not priced at zero in the config. A cloud tier with no
        known price counts as paid: closing it is the safe side."""
        self._tier_providers = {n: {provider_of(d.model) for d in p.deployments} for n, p in self.profiles.items()}
        self.journal_dir = self._journal_dir(config)
        self._journal = (
            self.journal_dir / f"{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl" if self.journal_dir is not None else None
        )
        self._adopt_journals()

    @staticmethod
    def _journal_dir(config: BudgetsConfig) -> Path | None:
        if config.journal_dir is not None:
            return Path(config.journal_dir).expanduser()
        url = config.store.get_secret_value()
        scheme = url.split("://", 1)[0].lower()
        if scheme == "sqlite":
            path = sqlite_path(url)
            return path.with_name(path.name + ".unrecorded")
        if scheme in ("redis", "rediss"):
            return Path("~/.routed_llm/unrecorded").expanduser()
        return None

    def _journal_write(self, entry: SpendEntry, counters: Sequence[str]) -> None:
        """Append an unrecorded entry to this manager's journal, durably, so it outlives the process.

        One line per entry, written whole under an exclusive ``flock`` and fsynced before
        returning. Another process may adopt (rename away) the journal at any time; the
        writer re-checks after locking that it holds the file the path names, so no line
        lands in a file that was already read.
        """
        if self._journal is None:
            return
        line = (json.dumps({"entry": json.loads(entry.to_json()), "counters": list(counters)}) + "\n").encode()
        try:
            self._journal.parent.mkdir(parents=True, exist_ok=True)
            for _ in range(10):
                fd = os.open(self._journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                    try:
                        same = os.fstat(fd).st_ino == os.stat(self._journal).st_ino
                    except FileNotFoundError:
                        same = False
                    if not same:  # adopted (renamed away) between our open and our lock: reopen
                        continue
                    os.write(fd, line)
                    os.fsync(fd)
                    return
                finally:
                    os.close(fd)  # also releases the lock
            raise OSError("journal kept being renamed away while writing")
        except OSError as e:
            logger.error("budget: could not journal unrecorded spend to %s: %s", self._journal, e)

    @staticmethod
    def _read_journal(path: Path) -> list[tuple[SpendEntry, tuple[str, ...]]]:
        """Entries of a journal file; a torn last line (a crash mid-write) is skipped, the rest kept."""
        out = []
        with path.open("rb") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)  # wait for a writer still appending to this file
            data = f.read()
        for n, raw in enumerate(data.splitlines(), 1):
            if not raw.strip():
                continue
            try:
                item = json.loads(raw)
                out.append((SpendEntry(**item["entry"]), tuple(item["counters"])))
            except (ValueError, TypeError, KeyError) as e:
                logger.error("budget: journal %s line %d is unreadable and skipped: %s", path, n, e)
        return out

    def _adopt_journals(self) -> None:
        """Take over spend other (possibly dead) processes could not record; it is retried with ours.

        Entries carry ids and the ledgers ignore an id they already hold, so adopting a
        journal whose entries were (partly) recorded, or adopting it twice, counts nothing twice.
        """
        if self.journal_dir is None or not self.journal_dir.is_dir():
            return
        patterns = ("*.jsonl", "*.adopting-*")
        paths = sorted({p for pattern in patterns for p in self.journal_dir.glob(pattern)})
        for path in paths:
            if path == self._journal:
                continue
            if ".adopting-" in path.name and _pid_alive(path.name.rsplit("-", 1)[-1]):
                continue  # a live process is adopting it right now
            claimed = self.journal_dir / f"{path.stem}.adopting-{os.getpid()}"
            try:
                os.replace(path, claimed)  # only one process wins each file
            except OSError:
                continue
            try:
                items = self._read_journal(claimed)
            except OSError as e:
                logger.error("budget: unrecorded-spend journal %s is unreadable, left in place: %s", claimed, e)
                continue
            with self._lock:
                for entry, counters in items:
                    self._pending.append((entry, counters))
                    self._journal_write(entry, counters)  # ours now: durable before the claimed file goes
            claimed.unlink(missing_ok=True)
        if self._pending:
            logger.warning("budget: replaying $%.6f of spend recorded in a journal", self.pending_usd)

    @staticmethod
    def _is_paid(profile: TierProfile, tier: Tier | None) -> bool:
        if profile.private:
            return False
        if profile.input_cost_per_token or profile.output_cost_per_token:
            return True
        if tier is None:
            return False
        # Priced at zero: free only if the config says so for every deployment. (LiteLLM's map is no
        # witness: litellm.Router registers every deployment there, unpriced ones at zero.)
        return not all(d.input_cost_per_token == 0 and d.output_cost_per_token == 0 for d in tier.models)

    # ------------------------------------------------------------------ plumbing

    def on_alert(self, callback: Callable[[BudgetAlert], None]) -> Callable[[BudgetAlert], None]:
        """Register ``callback`` for alerts (usable as a decorator); it runs in the calling thread."""
        self._callbacks.append(callback)
        return callback

    @property
    def pending_usd(self) -> float:
        """Spend not yet in the ledger (the ledger failed); retried on every check and record."""
        with self._lock:
            return sum(e.cost_usd for e, _ in self._pending)

    def flush(self) -> int:
        """Write pending entries to the ledger; return how many remain. Raises `LedgerError` if it still fails.

        One flush at a time (``_flush_lock``): the journal is removed only by the flush that
        leaves nothing pending while no other flush holds entries, so an entry is always in
        the journal until the ledger has it.
        """
        with self._flush_lock:
            with self._lock:
                pending, self._pending = self._pending, []
            try:
                while pending:
                    entry, counters = pending[0]
                    self.ledger.record(entry, counters)
                    pending.pop(0)
            finally:
                with self._lock:
                    if pending:
                        self._pending[:0] = pending
                    elif not self._pending and self._journal is not None:
                        self._journal.unlink(missing_ok=True)
            return len(pending)

    def close(self) -> None:
        """Try once more to record pending spend, then release the ledger."""
        try:
            self.flush()
        except LedgerError as e:
            logger.error(
                "budget: $%.6f of spend could not be recorded (kept in %s for the next router): %s",
                self.pending_usd,
                self._journal,
                e,
            )
        self.ledger.close()

    def _scopes(self, tier: str, provider: str, metadata: Mapping[str, Any]) -> list[str]:
        scopes = ["total", f"provider:{provider}", f"tier:{tier}"]
        for key in self.config.per_metadata:
            scopes += [f"meta:{key}={v}" for v in _metadata_values(metadata.get(key))]
        return scopes

    def _limit_scopes(
        self, metadata: Mapping[str, Any], providers: Iterable[str] | None = None
    ) -> Iterator[_LimitScope]:
        """Every scope whose limits apply to a call with ``metadata`` (provider scopes only ``providers``)."""
        paid = self.paid_tiers
        yield _LimitScope(self.config.total, "budgets", "total", "", paid)
        for name, limits in self.config.providers.items():
            if providers is not None and name not in providers:
                continue
            covered = frozenset(t for t in paid if name in self._tier_providers[t])
            yield _LimitScope(limits, f"budgets.providers.{name}", f"provider:{name}", f"{name} ", covered)
        for name, limits in self.config.tiers.items():
            covered = frozenset({name}) & paid
            yield _LimitScope(limits, f"budgets.tiers.{name}", f"tier:{name}", f"tier {name} ", covered)
        for key, meta_limits in self.config.per_metadata.items():
            prefix = f"budgets.per_metadata.{key}"
            for value in _metadata_values(metadata.get(key)):
                limits, taken = meta_limits.for_value(value)
                scope, label = f"meta:{key}={value}", f"{key}={value} "
                yield _LimitScope(limits, prefix, scope, label, paid, f"{prefix}.overrides.{value}", taken)

    def _limits(self, metadata: Mapping[str, Any], providers: Iterable[str] | None = None) -> list[_Limit]:
        """Windowed limits that apply to a call with ``metadata``."""
        out: list[_Limit] = []
        for sc in self._limit_scopes(metadata, providers):
            for window, usd in sc.limits.windowed().items():
                field_name, overridden = sc.field(_FIELD[window])
                out.append(_Limit(field_name, sc.scope, sc.label, window, usd, sc.tiers, override=overridden))
        return out

    def _counter(self, window_key: str, window: str, scope: str) -> str:
        return f"{window}:{window_key}|{scope}"

    def _spent(self, limits: Sequence[_Limit], now: float) -> dict[str, int]:
        """Nano-dollars spent per limit counter, pending spend included."""
        windows = window_keys(now, self.tz)
        keys = sorted({self._counter(windows[lim.window], lim.window, lim.scope) for lim in limits})
        if self._pending:
            self.flush()  # raises LedgerError while the ledger is still down
        return self.ledger.totals(keys)

    # ------------------------------------------------------------------ before a call

    def closures(
        self, metadata: Mapping[str, Any] | None = None, needs: RequestNeeds | None = None, *, now: float | None = None
    ) -> dict[str, Closure]:
        """Paid tiers closed for a call with ``metadata`` and ``needs``, each with the limit that closed it."""
        if not self.paid_tiers:
            return {}
        metadata = metadata or {}
        now = time.time() if now is None else now
        closed: dict[str, Closure] = {}
        if needs is not None:
            self._per_request(needs, metadata, closed)
        limits = self._limits(metadata)
        if not limits:
            return closed
        try:
            spent = self._spent(limits, now)
        except LedgerError as e:
            # A ledger that lost its history fails closed even under fail_open: spend is known to be missing.
            if self.config.on_ledger_error == "fail_open" and not isinstance(e, LedgerTruncated):
                logger.warning("budget: %s; limits are not enforced (on_ledger_error: fail_open)", e)
                return closed
            why = f"spend ledger unavailable, paid tiers closed (on_ledger_error: fail_closed): {e}"
            for tier in self.paid_tiers:
                closed.setdefault(tier, Closure(why, "budgets.store", 0.0, self.pending_usd, ledger_error=True))
            return closed
        windows = window_keys(now, self.tz)
        throttle = [a for a in self.config.alerts if a.action == "downgrade"]
        for lim in limits:
            usd = spent.get(self._counter(windows[lim.window], lim.window, lim.scope), 0) / NANO
            closure: Closure | None = None
            if usd >= lim.usd:
                closure = Closure(
                    lim.reason(f"{lim.label}{_WINDOW_WORD[lim.window]} budget ${lim.usd:.2f} spent (${usd:.2f})"),
                    lim.field,
                    lim.usd,
                    usd,
                )
            else:
                hit = [a for a in throttle if lim.usd and usd >= a.at * lim.usd]
                if hit:
                    closure = Closure(
                        lim.reason(
                            f"{lim.label}{_WINDOW_WORD[lim.window]} budget at {usd / lim.usd:.0%} "
                            f"(${usd:.2f} of ${lim.usd:.2f}): throttled from {hit[-1].at:.0%}"
                        ),
                        lim.field,
                        lim.usd,
                        usd,
                    )
            if closure is not None:
                for tier in lim.tiers:
                    closed.setdefault(tier, closure)
        return closed

    def _per_request(self, needs: RequestNeeds, metadata: Mapping[str, Any], closed: dict[str, Closure]) -> None:
        caps: list[tuple[str, float, frozenset[str]]] = []
        named: set[str] = set()  # override fields, named in the reason as for windowed limits
        for sc in self._limit_scopes(metadata):
            if sc.limits.per_request_usd is None:
                continue
            field_name, overridden = sc.field("per_request_usd")
            caps.append((field_name, sc.limits.per_request_usd, sc.tiers))
            if overridden:
                named.add(field_name)
        for field_name, cap, tiers in caps:
            for tier in sorted(tiers & self.paid_tiers):
                profile = self.profiles[tier]
                estimate = profile.estimate_cost(needs.prompt_tokens, estimated_output_tokens(needs, profile))
                if estimate > cap:
                    closed.setdefault(
                        tier,
                        Closure(
                            f"estimated cost ${estimate:.4f} > per-request limit ${cap:.2f}"
                            + (f"; limit {field_name}" if field_name in named else ""),
                            field_name,
                            cap,
                            estimate,
                        ),
                    )

    # ------------------------------------------------------------------ after a call

    def record(
        self,
        *,
        tier: str,
        model: str,
        cost_usd: float,
        metadata: Mapping[str, Any] | None = None,
        now: float | None = None,
    ) -> SpendEntry:
        """Record one call's cost; never raises for ledger trouble (the entry is kept and retried)."""
        metadata = metadata or {}
        now = time.time() if now is None else now
        provider = provider_of(model)
        kept = {k: metadata[k] for k in self.config.record_metadata if k in metadata}
        entry = SpendEntry(uuid.uuid4().hex, now, tier, model, provider, float(cost_usd), kept)
        windows = window_keys(now, self.tz)
        counters = tuple(
            self._counter(windows[w], w, scope) for w in WINDOWS for scope in self._scopes(tier, provider, metadata)
        )
        try:
            if self._pending:
                self.flush()
            self.ledger.record(entry, counters)
        except LedgerError as e:
            with self._lock:
                self._pending.append((entry, counters))
                self._journal_write(entry, counters)
            logger.error("budget: spend of $%.6f on tier %s is kept in memory and retried: %s", cost_usd, tier, e)
            return entry
        if cost_usd > 0 and self.config.alerts:
            self._alerts(metadata, provider, now)
        return entry

    def _alerts(self, metadata: Mapping[str, Any], provider: str, now: float) -> None:
        limits = [lim for lim in self._limits(metadata, providers=[provider])]
        alerts: list[AlertConfig] = self.config.alerts
        try:
            spent = self._spent(limits, now)
            windows = window_keys(now, self.tz)
            for lim in limits:
                wkey = windows[lim.window]
                usd = spent.get(self._counter(wkey, lim.window, lim.scope), 0) / NANO
                for alert in alerts:
                    if lim.usd and usd >= alert.at * lim.usd:
                        claim = f"{lim.window}:{wkey}|{lim.field}|{lim.scope}|{alert.at}"
                        if claim in self._claimed:  # settled: no write per call once past a threshold
                            continue
                        self._claimed.add(claim)
                        if not self.ledger.claim(claim):
                            continue
                        event = BudgetAlert(lim.field, wkey, alert.at, lim.usd, usd, tuple(alert.notify), alert.action)
                        logger.warning(event.message())
                        for callback in self._callbacks:
                            try:
                                callback(event)
                            except Exception:  # an alert hook must never break the call that paid
                                logger.exception("budget alert callback %r failed", callback)
        except LedgerError as e:
            logger.error("budget: alerts not checked: %s", e)

    # ------------------------------------------------------------------ reading

    def spent_usd(self, window: str = "day", scope: str = "total", *, now: float | None = None) -> float:
        """Spend in the current ``window`` (``day``/``week``/``month``) for ``scope``.

        Scopes: ``total``, ``provider:<name>``, ``tier:<name>``, ``meta:<key>=<value>``.
        """
        now = time.time() if now is None else now
        key = self._counter(window_keys(now, self.tz)[window], window, scope)
        return self.ledger.totals([key]).get(key, 0) / NANO


# --------------------------------------------------------------------------- reports

REPORT_KEYS = ("day", "tier", "model", "provider", "user", "tag")


def _report_keys(entry: SpendEntry, by: str, tz: ZoneInfo) -> list[str]:
    if by == "day":
        return [window_keys(entry.ts, tz)["day"]]
    if by == "tier":
        return [entry.tier]
    if by == "model":
        return [entry.model]
    if by == "provider":
        return [entry.provider]
    if by == "user":
        return _metadata_values(entry.metadata.get("user_id")) or ["-"]
    if by == "tag":
        return _metadata_values(entry.metadata.get("tags")) or ["-"]
    raise ValueError(f"unknown report grouping {by!r}; choose from {', '.join(REPORT_KEYS)}")


def spend_report(entries: Iterable[SpendEntry], by: str, *, tz: ZoneInfo | None = None) -> list[dict[str, Any]]:
    """Group entries by ``day``/``tier``/``model``/``provider``/``user``/``tag``: calls and USD per group.

    Rows are sorted by day (for ``day``) or by spend, largest first. A call with two tags
    counts in both tag rows, so tag rows may add up to more than the total.
    """
    tz = tz or ZoneInfo("UTC")
    calls: dict[str, int] = {}
    nano: dict[str, int] = {}
    for e in entries:
        for key in _report_keys(e, by, tz):
            calls[key] = calls.get(key, 0) + 1
            nano[key] = nano.get(key, 0) + to_nano(e.cost_usd)
    keys = sorted(calls) if by == "day" else sorted(calls, key=lambda k: (-nano[k], k))
    return [{by: k, "calls": calls[k], "cost_usd": nano[k] / NANO} for k in keys]


def plot_spend(entries: Sequence[SpendEntry], path: str | Path, *, tz: ZoneInfo | None = None) -> None:
    """Write a PNG chart of spend per day, stacked by tier (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise LedgerError(
            "--png needs matplotlib, which is not installed: pip install matplotlib (the text report works without it)"
        ) from None
    tz = tz or ZoneInfo("UTC")
    days = sorted({window_keys(e.ts, tz)["day"] for e in entries})
    tiers = sorted({e.tier for e in entries})
    fig, ax = plt.subplots(figsize=(max(6, len(days) * 0.6), 4))
    bottom = [0.0] * len(days)
    for tier in tiers:
        values = [
            sum(e.cost_usd for e in entries if e.tier == tier and window_keys(e.ts, tz)["day"] == d) for d in days
        ]
        ax.bar(days, values, bottom=bottom, label=tier)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_ylabel("USD")
    ax.set_title("routed-llm spend per day")
    ax.legend()
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
