"""`BudgetManager`: reads the limited windows' spend, closes paid tiers, fires alerts, journals unrecorded spend."""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from routed_llm.budget.ledger import (
    DAY_S,
    NANO,
    WINDOWS,
    Ledger,
    SpendEntry,
    _metadata_values,
    provider_of,
    redact_url,
    sqlite_path,
    window_keys,
)
from routed_llm.budget.ledger_memory import MemoryLedger
from routed_llm.budget.ledger_redis import RedisLedger
from routed_llm.budget.ledger_sqlite import SQLiteLedger
from routed_llm.catalog import TierProfile
from routed_llm.config import AlertConfig, BudgetLimits, BudgetsConfig, Tier
from routed_llm.errors import BudgetExceeded, ConfigError, LedgerError, LedgerTruncated
from routed_llm.policy import estimated_output_tokens
from routed_llm.types import RequestNeeds

#: One logger for the whole package, named as before the split, so logging configs keyed on it still apply.
logger = logging.getLogger("routed_llm.budget")

#: `SpendEntry` fields added with savings, journalled apart from the entry (see `_journal_write`).
_SAVINGS_FIELDS = ("baseline_usd", "cached")
_WINDOW_WORD = {"day": "daily", "week": "weekly", "month": "monthly"}
_FIELD = {"day": "daily_usd", "week": "weekly_usd", "month": "monthly_usd"}


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


#: Redis ledgers journal under here, one directory per Redis server and database.
_REDIS_JOURNAL_ROOT = "~/.routed_llm/unrecorded"


def redis_journal_name(url: str) -> str:
    """Name the journal directory of one Redis ledger: host, port and database, never credentials.

    Why per ledger: spend a ledger could not take must be replayed into *that* ledger.
    With one directory per host, a router on another Redis (another database, another
    team's server) adopted the journal and charged its spend to the wrong ledger. The
    name leaves out the user and password (secrets never reach the file system, and a
    rotated password still finds its journal) and ends in a short hash of the
    credential-free URL, so two URLs never share a directory.
    """
    parts = urlsplit(url)
    host = (parts.hostname or "localhost").lower()
    port = parts.port or 6379
    db = parts.path.strip("/") or "0"
    keyed = f"{parts.scheme.lower()}://{host}:{port}/{db}"
    digest = hashlib.sha256(keyed.encode()).hexdigest()[:8]

    def safe(text: str) -> str:  # one path component, whatever the URL holds ("..", "/")
        return "".join(c if c.isalnum() or c in ".-" else "_" for c in text)

    return f"redis-{safe(host)}-{port}-db{safe(db)}-{digest}"


_warned_roots: set[Path] = set()


def _warn_about_unkeyed_journals(root: Path) -> None:
    """Point (once per process) at journals from versions that shared one directory across Redis ledgers.

    They are not adopted: which ledger they belong to is unknown, and replaying them
    into the wrong one is the defect the per-ledger directories fix.
    """
    if root in _warned_roots:
        return
    _warned_roots.add(root)
    try:
        stale = [p for p in root.glob("*.jsonl") if p.is_file()]
    except OSError:
        return
    if stale:
        logger.warning(
            "budget: %d unrecorded-spend journal(s) in %s predate per-ledger journal directories and are not "
            "replayed; to replay them, start one router with budgets.journal_dir set to %s on the ledger they "
            "belong to",
            len(stale),
            root,
            root,
        )


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
            shared = Path(_REDIS_JOURNAL_ROOT).expanduser()
            _warn_about_unkeyed_journals(shared)
            return shared / redis_journal_name(url)
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
        data = json.loads(entry.to_json())
        # The savings fields travel beside the entry: a process of an older version adopting this
        # journal (a rollback) then still reads the entry, and never drops the spend as unreadable.
        savings = {k: data.pop(k) for k in _SAVINGS_FIELDS if k in data}
        line = (json.dumps({"entry": data, "savings": savings, "counters": list(counters)}) + "\n").encode()
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
                entry = SpendEntry.from_dict({**item["entry"], **(item.get("savings") or {})})
                out.append((entry, tuple(item["counters"])))
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
        baseline_usd: float | None = None,
        cached: bool = False,
    ) -> SpendEntry:
        """Record one call's cost; never raises for ledger trouble (the entry is kept and retried).

        ``baseline_usd`` is what the call would have cost on the savings baseline tier (for
        ``routed-llm report --savings``); ``cached`` marks a cache hit (cost 0, nothing is limited).
        Spend whose ``metadata["tags"]`` holds ``shadow`` keeps that tag whatever ``record_metadata`` says.
        """
        metadata = metadata or {}
        now = time.time() if now is None else now
        provider = provider_of(model)
        kept = {k: metadata[k] for k in self.config.record_metadata if k in metadata}
        if "shadow" in _metadata_values(metadata.get("tags")):
            kept["tags"] = metadata["tags"]
        entry = SpendEntry(
            uuid.uuid4().hex,
            now,
            tier,
            model,
            provider,
            float(cost_usd),
            kept,
            None if baseline_usd is None else float(baseline_usd),
            bool(cached),
        )
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
