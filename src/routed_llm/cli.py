"""The ``routed-llm`` command line: explain decisions and score prompts without calling any model."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from routed_llm.bench.arguments import add_cascade_arguments, add_routing_arguments
from routed_llm.errors import RoutedLLMError
from routed_llm.router import Router
from routed_llm.types import RouteHints

__all__ = ["main"]


def _parse_hints(items: Sequence[str]) -> dict[str, Any]:
    hints: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise RoutedLLMError(f"--hint {item!r}: expected key=value, e.g. --hint sensitivity=confidential")
        key = key.strip()
        if key.startswith("metadata."):
            hints.setdefault("metadata", {})[key.split(".", 1)[1]] = value
        elif key not in RouteHints.model_fields:
            allowed = ", ".join(k for k in RouteHints.model_fields)
            raise RoutedLLMError(f"--hint {item!r}: unknown hint {key!r}; allowed: {allowed}, metadata.<key>")
        else:
            hints[key] = value
    return hints


def _explain(args: argparse.Namespace, console: Console) -> int:
    router = Router(args.config)
    router.score_every_call = True  # explain shows the score even when no rule reads it
    params: dict[str, Any] = {}
    if args.max_tokens:
        params["max_tokens"] = args.max_tokens
    decision = router.route(args.prompt, _parse_hints(args.hint), **params)
    if args.json:
        console.print_json(json.dumps(decision.model_dump(mode="json")))
        return 0
    console.print(f"[bold]tier[/bold]       {decision.tier}  ({', '.join(router.profiles[decision.tier].models)})")
    console.print(f"[bold]fallbacks[/bold]  {', '.join(decision.fallbacks) or '-'}")
    console.print(f"[bold]rule[/bold]       {decision.rule}")
    console.print(f"[bold]reason[/bold]     {decision.reason}")
    if decision.score is not None:
        tier_scores = (
            " (" + ", ".join(f"{t}={p:.2f}" for t, p in decision.tier_scores.items()) + ")"
            if decision.tier_scores
            else ""
        )
        console.print(f"[bold]score[/bold]      {decision.score:.3f} by {decision.scorer}{tier_scores}")
    inferred = set(decision.inferred)
    console.print(
        "[bold]request[/bold]    "
        + ", ".join(
            f"{k}={getattr(decision, k).value}{' (inferred)' if k in inferred else ''}"
            for k in ("task", "complexity", "sensitivity")
        )
        + f", prompt_tokens={decision.needs.prompt_tokens}"
    )
    table = Table(title="tiers and constraints")
    for col in ("tier", "private", "context", "tools", "json_schema", "vision", "status"):
        table.add_column(col)
    for name, p in router.profiles.items():
        status = decision.excluded.get(
            name, "chosen" if name == decision.tier else "fallback" if name in decision.fallbacks else "eligible"
        )
        table.add_row(
            name, str(p.private), str(p.context_window), str(p.tools), str(p.json_schema), str(p.vision), status
        )
    console.print(table)
    return 0


def _bench_routing(args: argparse.Namespace, console: Console) -> int:
    # Imported lazily: numpy, and scikit-learn for the TF-IDF baseline (the `bench` extra).
    from routed_llm.bench.routing import main as bench_main

    return bench_main(args)


def _bench_cascade(args: argparse.Namespace, console: Console) -> int:
    # Imported lazily: the benchmark needs numpy, which the plain install does not.
    from routed_llm.bench.cascade import main as bench_main

    return bench_main(args)


def _report(args: argparse.Namespace, console: Console) -> int:
    import time
    from zoneinfo import ZoneInfo

    from routed_llm.budget import make_ledger, plot_spend, redact_url, spend_report, sqlite_path
    from routed_llm.config import BudgetsConfig, load_config

    if args.shadow:
        return _report_shadow(args, console)
    budgets = BudgetsConfig()
    if args.config:
        budgets = load_config(args.config).budgets or budgets
    store = args.store or budgets.store.get_secret_value()
    if store.startswith("sqlite:") and not sqlite_path(store).exists():
        raise RoutedLLMError(f"no spend ledger at {sqlite_path(store)}: nothing has been recorded there yet")
    tz = ZoneInfo(budgets.timezone)
    ledger = make_ledger(store)
    try:
        since = time.time() - args.days * 86400 if args.days else None
        entries = ledger.entries(since)
    finally:
        ledger.close()
    if args.savings:
        return _report_savings(args, console, entries, store, tz)
    groupings = args.by or ["day", "tier", "model", "tag"]
    reports = {by: spend_report(entries, by, tz=tz) for by in groupings}
    total = sum(e.cost_usd for e in entries)
    if args.json:
        console.print_json(
            json.dumps({"store": redact_url(store), "calls": len(entries), "total_usd": total, "by": reports})
        )
    else:
        console.print(f"[bold]spend[/bold] ${total:.4f} over {len(entries)} call(s) in {redact_url(store)}")
        for by, rows in reports.items():
            table = Table(title=f"by {by}")
            for col in (by, "calls", "cost_usd"):
                table.add_column(col, justify="left" if col == by else "right")
            for row in rows:
                table.add_row(str(row[by]), str(row["calls"]), f"{row['cost_usd']:.6f}")
            console.print(table)
    if args.png:
        plot_spend(entries, args.png, tz=tz)
        console.print(f"wrote {args.png}")
    return 0


def _report_savings(args: argparse.Namespace, console: Console, entries: Any, store: str, tz: Any) -> int:
    """``report --savings``: spend, baseline and saved, with the share saved, in total and grouped."""
    from routed_llm.budget import plot_savings, redact_url, savings_report

    report = savings_report(entries, args.by or ["tier"], tz=tz)
    if args.json:
        console.print_json(json.dumps({"store": redact_url(store), **report}))
    else:
        t = report["total"]
        console.print(
            f"[bold]savings[/bold] spent ${t['cost_usd']:.6f} against a baseline of ${t['baseline_usd']:.6f}: "
            f"saved ${t['saved_usd']:.6f} ({t['saved_share']:.1%}) over {t['calls']} call(s), "
            f"{t['cached_calls']} from the cache, in {redact_url(store)}"
        )
        shadow = report["shadow"]
        if shadow["calls"]:
            console.print(
                f"[bold]shadow evaluation[/bold] ${shadow['cost_usd']:.6f} over {shadow['calls']} call(s) "
                f"(reported apart); net of it: saved ${report['net_saved_usd']:.6f}"
            )
        if report["unpriced"]["calls"]:
            console.print(f"{report['unpriced']['calls']} call(s) recorded before savings existed are left out")
        for by, rows in report["by"].items():
            table = Table(title=f"savings by {by}")
            for col in (by, "calls", "cost_usd", "baseline_usd", "saved_usd", "saved"):
                table.add_column(col, justify="left" if col == by else "right")
            for row in rows:
                table.add_row(
                    str(row[by]),
                    str(row["calls"]),
                    f"{row['cost_usd']:.6f}",
                    f"{row['baseline_usd']:.6f}",
                    f"{row['saved_usd']:.6f}",
                    f"{row['saved_share']:.1%}",
                )
            console.print(table)
    if args.png:
        plot_savings(entries, args.png, tz=tz)
        console.print(f"wrote {args.png}")
    return 0


def _report_shadow(args: argparse.Namespace, console: Console) -> int:
    """``report --shadow``: how often the served answer matched the shadow tier's, by tier and task."""
    from routed_llm.config import ShadowConfig, load_config
    from routed_llm.shadow import shadow_report

    path = args.outcomes
    if path is None:
        shadow = load_config(args.config).routing.shadow if args.config else None
        path = (shadow or ShadowConfig()).outcomes
    report = shadow_report(path)
    if args.json:
        console.print_json(json.dumps(report))
        return 0
    console.print(
        f"[bold]shadow evaluation[/bold] {report['pairs']} graded pair(s) in {path}: the served answer was as "
        f"good as the shadow tier's in {report['match_rate']:.1%}"
    )
    table = Table(title="match rate by served tier and task")
    for col in ("tier", "task", "shadow_tier", "pairs", "match_rate", "cost_usd", "shadow_cost_usd"):
        table.add_column(col, justify="left" if col in ("tier", "task", "shadow_tier") else "right")
    for row in report["by"]:
        table.add_row(
            row["tier"],
            row["task"],
            row["shadow_tier"],
            str(row["pairs"]),
            f"{row['match_rate']:.1%}",
            f"{row['cost_usd']:.6f}",
            f"{row['shadow_cost_usd']:.6f}",
        )
    console.print(table)
    return 0


def _accept_reset(args: argparse.Namespace, console: Console) -> int:
    """Accept that a SQLite ledger restarts empty after it was truncated (see `LedgerTruncated`)."""
    from routed_llm.budget import accept_ledger_reset, sqlite_path
    from routed_llm.config import BudgetsConfig, load_config

    budgets = BudgetsConfig()
    if args.config:
        budgets = load_config(args.config).budgets or budgets
    store = args.store or budgets.store.get_secret_value()
    if not store.startswith("sqlite:"):
        raise RoutedLLMError("ledger accept-reset applies to sqlite:// ledgers only (budgets.store)")
    marker = accept_ledger_reset(sqlite_path(store))
    console.print(f"accepted: {sqlite_path(store)} is used as it is from now on (removed {marker})")
    return 0


def _config_reference(args: argparse.Namespace, console: Console) -> int:
    from pathlib import Path

    from routed_llm.config_reference import check_readme, render_reference, replace_block

    if args.check:
        if check_readme(args.check):
            print(f"{args.check}: config reference is up to date")
            return 0
        print(
            f"{args.check}: config reference differs from the models; "
            f"run routed-llm config-reference --write {args.check}",
            file=sys.stderr,
        )
        return 1
    if args.write:
        path = Path(args.write)
        path.write_text(replace_block(path.read_text(encoding="utf-8"), args.write), encoding="utf-8")
        print(f"wrote the config reference into {args.write}")
        return 0
    print(render_reference())
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(prog="routed-llm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    explain = sub.add_parser("explain", help="show where a prompt would be routed and why")
    explain.add_argument("prompt")
    explain.add_argument("--config", "-c", default=None, help="routing YAML (default: embedded defaults)")
    explain.add_argument(
        "--hint",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="routing hint, e.g. --hint sensitivity=confidential (repeatable)",
    )
    explain.add_argument("--max-tokens", type=int, default=None, help="output tokens the call would request")
    explain.add_argument("--json", action="store_true", help="print the decision as JSON")
    explain.set_defaults(func=_explain)
    report = sub.add_parser("report", help="show recorded spend by day, tier, model and tag")
    report.add_argument("--config", "-c", default=None, help="routing YAML whose budgets.store to read")
    report.add_argument("--store", default=None, help="ledger URL (overrides the config), e.g. sqlite:///ledger.db")
    report.add_argument("--days", type=int, default=None, help="only the last N days")
    report.add_argument(
        "--by",
        action="append",
        choices=["day", "tier", "model", "provider", "user", "tag"],
        help="grouping (repeatable; default: day, tier, model, tag)",
    )
    report.add_argument("--json", action="store_true", help="print the report as JSON")
    report.add_argument("--png", default=None, metavar="FILE", help="also write a chart of spend per day (matplotlib)")
    kind = report.add_mutually_exclusive_group()
    kind.add_argument(
        "--savings",
        action="store_true",
        help="spend, baseline (routing.savings_baseline) and saved, with the share saved (default --by tier)",
    )
    kind.add_argument(
        "--shadow", action="store_true", help="shadow evaluation: match rate of the served answers by tier and task"
    )
    report.add_argument(
        "--outcomes", default=None, metavar="FILE", help="with --shadow: the outcomes file (default: routing.shadow)"
    )
    report.set_defaults(func=_report)
    ledger = sub.add_parser("ledger", help="maintain the spend ledger")
    ledger_sub = ledger.add_subparsers(dest="ledger", required=True)
    accept = ledger_sub.add_parser(
        "accept-reset", help="accept that a truncated or replaced SQLite ledger restarts empty (reopens paid tiers)"
    )
    accept.add_argument("--config", "-c", default=None, help="routing YAML whose budgets.store to accept")
    accept.add_argument("--store", default=None, help="ledger URL (overrides the config), e.g. sqlite:///ledger.db")
    accept.set_defaults(func=_accept_reset)
    from routed_llm.scoring.commands import add_parsers as add_scoring_parsers

    add_scoring_parsers(sub)
    bench = sub.add_parser("bench", help="offline benchmarks on recorded model outcomes")
    bench_sub = bench.add_subparsers(dest="bench", required=True)
    bench_cascade = bench_sub.add_parser("cascade", help="replay recorded RouterBench answers through the cascade")
    add_cascade_arguments(bench_cascade)
    bench_cascade.set_defaults(func=_bench_cascade)
    bench_routing = bench_sub.add_parser(
        "routing", help="routing scores side by side on recorded outcomes (APGR, CPT, cost-quality, latency)"
    )
    add_routing_arguments(bench_routing)
    bench_routing.set_defaults(func=_bench_routing)
    reference = sub.add_parser(
        "config-reference", help="print every config key with its type, default and meaning (Markdown)"
    )
    target = reference.add_mutually_exclusive_group()
    target.add_argument("--write", metavar="FILE", help="replace the block between the config-reference markers")
    target.add_argument("--check", metavar="FILE", help="exit 1 if that block differs from the models")
    reference.set_defaults(func=_config_reference)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``routed-llm`` command."""
    args = build_parser().parse_args(argv)
    console = Console()
    try:
        return int(args.func(args, console))
    except RoutedLLMError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
