"""Spend reports for ``routed-llm report``: totals grouped by day, tier, model, provider, user or tag, and a plot."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from routed_llm.budget.ledger import NANO, SpendEntry, _metadata_values, to_nano, window_keys
from routed_llm.errors import LedgerError

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
