"""`MemoryLedger`: spend kept in this process only, for tests and scripts."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from routed_llm.budget.ledger import REMEMBER_IDS_S, TRIM_EVERY_S, SpendEntry, _Trimmer, to_nano


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
