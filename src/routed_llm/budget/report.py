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


def _pyplot() -> Any:
    """Return ``matplotlib.pyplot`` on the file-only Agg backend, or say how to install it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise LedgerError(
            "--png needs matplotlib, which is not installed: pip install matplotlib (the text report works without it)"
        ) from None
    return plt


def plot_spend(entries: Sequence[SpendEntry], path: str | Path, *, tz: ZoneInfo | None = None) -> None:
    """Write a PNG chart of spend per day, stacked by tier (needs matplotlib)."""
    plt = _pyplot()
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


def _savings_row(entries: Sequence[SpendEntry]) -> dict[str, Any]:
    cost = sum(to_nano(e.cost_usd) for e in entries)
    baseline = sum(to_nano(e.baseline_usd or 0.0) for e in entries)
    saved = baseline - cost
    return {
        "calls": len(entries),
        "cached_calls": sum(1 for e in entries if e.cached),
        "cost_usd": cost / NANO,
        "baseline_usd": baseline / NANO,
        "saved_usd": saved / NANO,
        "saved_share": saved / baseline if baseline else 0.0,
    }


def savings_report(
    entries: Iterable[SpendEntry], by: Sequence[str] = (), *, tz: ZoneInfo | None = None
) -> dict[str, Any]:
    """Spend, baseline and saved (with the share saved) over the served calls, in total and grouped.

    Served calls are the entries priced at the baseline (``baseline_usd`` set), cache hits included
    (cost 0, their whole baseline saved). Shadow-evaluation spend (tag ``shadow``) is no served call:
    it is totalled apart under ``shadow`` (and ``net_saved_usd`` subtracts it), as are entries recorded
    before savings existed (``unpriced``). Amounts are summed in integer nano-dollars, so the totals
    equal the sum of the calls' ``routing["saved_usd"]`` to the nano-dollar.
    """
    tz = tz or ZoneInfo("UTC")
    items = list(entries)
    served = [e for e in items if not e.shadow and e.baseline_usd is not None]
    shadow = [e for e in items if e.shadow]
    unpriced = [e for e in items if not e.shadow and e.baseline_usd is None]
    total = _savings_row(served)
    shadow_nano = sum(to_nano(e.cost_usd) for e in shadow)
    out: dict[str, Any] = {
        "total": total,
        "shadow": {"calls": len(shadow), "cost_usd": shadow_nano / NANO},
        "net_saved_usd": (to_nano(total["saved_usd"]) - shadow_nano) / NANO,
        "unpriced": {"calls": len(unpriced), "cost_usd": sum(to_nano(e.cost_usd) for e in unpriced) / NANO},
        "by": {},
    }
    for key in by:
        groups: dict[str, list[SpendEntry]] = {}
        for e in served:
            for k in _report_keys(e, key, tz):
                groups.setdefault(k, []).append(e)
        rows = [{key: k, **_savings_row(g)} for k, g in groups.items()]
        rows.sort(key=(lambda r: r[key]) if key == "day" else (lambda r: (-r["saved_usd"], r[key])))
        out["by"][key] = rows
    return out


def plot_savings(entries: Sequence[SpendEntry], path: str | Path, *, tz: ZoneInfo | None = None) -> None:
    """Write a PNG chart per day of spend and saved (stacked: together they reach the baseline)."""
    plt = _pyplot()
    rows = savings_report(entries, ["day"], tz=tz)["by"]["day"]
    days = [r["day"] for r in rows]
    spend = [r["cost_usd"] for r in rows]
    saved = [r["saved_usd"] for r in rows]
    fig, ax = plt.subplots(figsize=(max(6, len(days) * 0.6), 4))
    ax.bar(days, spend, label="spend")
    ax.bar(days, saved, bottom=spend, label="saved (to the baseline)")
    ax.set_ylabel("USD")
    ax.set_title("routed-llm spend and savings per day")
    ax.legend()
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
