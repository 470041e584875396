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

One module per concern: `ledger` (the `Ledger` protocol, `SpendEntry`, windows and amounts),
`ledger_memory`, `ledger_sqlite` and `ledger_redis` (the three stores), `manager`
(`BudgetManager`, its closures and alerts, `make_ledger`) and `report` (``routed-llm report``).
This package re-exports their names, so ``from routed_llm.budget import X`` is the import to use.
"""

from __future__ import annotations

from routed_llm.budget.ledger import NANO as NANO
from routed_llm.budget.ledger import WINDOWS as WINDOWS
from routed_llm.budget.ledger import Ledger, SpendEntry, redact_url, sqlite_path, window_keys
from routed_llm.budget.ledger import provider_of as provider_of
from routed_llm.budget.ledger import to_nano as to_nano
from routed_llm.budget.ledger_memory import MemoryLedger
from routed_llm.budget.ledger_redis import RedisLedger
from routed_llm.budget.ledger_sqlite import SQLiteLedger
from routed_llm.budget.ledger_sqlite import accept_ledger_reset as accept_ledger_reset
from routed_llm.budget.ledger_sqlite import ledger_marker as ledger_marker
from routed_llm.budget.manager import BudgetAlert, BudgetManager, Closure, make_ledger
from routed_llm.budget.report import REPORT_KEYS as REPORT_KEYS
from routed_llm.budget.report import plot_savings, plot_spend, savings_report, spend_report

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
    "plot_savings",
    "plot_spend",
    "redact_url",
    "savings_report",
    "spend_report",
    "sqlite_path",
    "window_keys",
]
