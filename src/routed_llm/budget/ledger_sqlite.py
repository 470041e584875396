"""`SQLiteLedger`: spend shared by the processes of one host (WAL), and the marker that detects a reset."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from routed_llm.budget.ledger import REMEMBER_IDS_S, TRIM_EVERY_S, SpendEntry, _Trimmer, to_nano
from routed_llm.errors import LedgerError, LedgerTruncated

#: One logger for the whole package, named as before the split, so logging configs keyed on it still apply.
logger = logging.getLogger("routed_llm.budget")


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
    # savings of an entry (routed-llm report --savings), beside `spend` rather than as new columns of it:
    # a ledger written before savings gains this table on open, and a process of an older version still
    # running on the same file keeps inserting its 8-value rows into an unchanged `spend` table
    "CREATE TABLE IF NOT EXISTS savings (id TEXT PRIMARY KEY, baseline_usd REAL, cached INTEGER NOT NULL DEFAULT 0)",
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
                if fresh and (entry.baseline_usd is not None or entry.cached):
                    conn.execute(
                        "INSERT OR REPLACE INTO savings VALUES (?, ?, ?)",
                        (entry.id, entry.baseline_usd, int(entry.cached)),
                    )
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
                    conn.execute("DELETE FROM savings WHERE id IN (SELECT id FROM spend WHERE ts < ?)", (cutoff,))
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
                "SELECT spend.id, ts, tier, model, provider, cost_usd, metadata, savings.baseline_usd, savings.cached "
                "FROM spend LEFT JOIN savings ON savings.id = spend.id WHERE ts >= ? ORDER BY ts",
                (since if since is not None else float("-inf"),),
            ).fetchall()
        except sqlite3.Error as e:
            raise self._fail(e, "be read") from e
        return [
            SpendEntry(i, ts, t, m, p, c, json.loads(md), b, bool(cached)) for i, ts, t, m, p, c, md, b, cached in rows
        ]

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
