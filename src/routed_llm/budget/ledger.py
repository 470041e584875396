"""What every ledger shares: the `Ledger` protocol, `SpendEntry`, windows and nano-dollar amounts."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

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
    baseline_usd: float | None = None
    """What the call would have cost on the savings baseline tier (`routed_llm.savings`); ``None`` for
    spend that is no served call (shadow evaluation, tagged ``shadow``) and for entries from before savings."""
    cached: bool = False
    """The call was answered from the response cache (cost 0: it saved its whole baseline)."""

    def to_json(self) -> str:
        """Serialise for the ledger."""
        return json.dumps(self.__dict__, sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str | bytes) -> SpendEntry:
        """Parse what `to_json` wrote."""
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpendEntry:
        """Build from a stored mapping, ignoring fields this version does not know (a newer writer's)."""
        return cls(**{k: v for k, v in data.items() if k in _ENTRY_FIELDS})

    @property
    def shadow(self) -> bool:
        """Spend of shadow evaluation (tag ``shadow``), not of a served call."""
        return "shadow" in _metadata_values(self.metadata.get("tags"))


_ENTRY_FIELDS = frozenset(SpendEntry.__dataclass_fields__)


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
