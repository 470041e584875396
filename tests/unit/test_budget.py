"""Budgets offline: config errors, every limit kind (downgrade and raise), alerts, ledger trouble.

Calls use LiteLLM's ``mock_response`` (10 prompt + 20 completion tokens, no socket), so the
recorded cost is the engine's real accounting with the deployment's prices.
"""

import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from routed_llm import (
    BudgetAlert,
    BudgetExceeded,
    ConfigError,
    LedgerError,
    NoEligibleTier,
    Router,
    load_config,
)
from routed_llm.budget import MemoryLedger, SpendEntry, SQLiteLedger, window_keys
from tests.tiers import priced_cloud, unreachable_local

H = {"sensitivity": "public", "task": "chat", "complexity": "simple"}
# mock_response: 10 prompt + 20 completion tokens -> 10*1e-3 + 20*2e-3 = $0.05 per call on "cloud"
CALL_COST = 0.05


def cfg(budgets: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "tiers": {
            "local": unreachable_local(),
            "fast": {
                "models": [
                    {
                        "model": "groq/llama-fast",
                        "api_key": "k",
                        "input_cost_per_token": 1e-4,
                        "output_cost_per_token": 1e-4,
                    }
                ]
            },
            "cloud": priced_cloud(),
        },
        "routing": {"default": "cloud", "fallbacks": {"cloud": ["fast", "local"], "fast": ["local"]}},
        "budgets": {"store": "memory://", **(budgets or {})},
        **extra,
    }


def call(r: Router, hints: dict[str, Any] | None = None, **params: Any) -> Any:
    return r.complete("hello", {**H, **(hints or {})}, mock_response="hi there", **params)


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("budgets", "needle"),
    [
        ({"daily_usd": -1}, "budgets.daily_usd: Input should be greater than or equal to 0"),
        ({"daily_usd": "ten"}, "budgets.daily_usd: Input should be a valid number"),
        ({"weekly_usd": True}, "budgets.weekly_usd: expected an amount in USD, not a boolean"),
        ({"monthly_usd": float("inf")}, "budgets.monthly_usd: Input should be a finite number"),
        ({"per_metadata": {"user_id": {"daily_usd": "1$"}}}, "budgets.per_metadata.user_id.daily_usd"),
        ({"providers": {"anthropic": {"per_request_usd": -0.5}}}, "budgets.providers.anthropic.per_request_usd"),
        ({"tiers": {"nope": {"daily_usd": 1}}}, "budgets.tiers.nope: unknown tier 'nope'"),
        ({"store": "postgres://x"}, "budgets.store: expected sqlite:///path"),
        ({"alert_at": [1.5]}, "alert thresholds are fractions"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"on_exceeded": "explode"}, "budgets.on_exceeded"),
        ({"daly_usd": 5}, "budgets.daly_usd: unknown field"),
        ({"keep_entries_days": 0}, "budgets.keep_entries_days: Input should be greater than 0"),
        ({"keep_entries_days": -30}, "budgets.keep_entries_days: Input should be greater than 0"),
        ({"keep_entries_days": "a year"}, "budgets.keep_entries_days: Input should be a valid number"),
        ({"keep_entries_days": True}, "budgets.keep_entries_days: expected a number of days, not a boolean"),
        (
            {"per_metadata": {"user_id": {"daily_usd": 1, "overrides": {"alice": {"daily_usd": -20}}}}},
            "budgets.per_metadata.user_id.overrides.alice.daily_usd: Input should be greater than or equal to 0",
        ),
        (
            {"per_metadata": {"user_id": {"overrides": {"alice": {"daly_usd": 20}}}}},
            "budgets.per_metadata.user_id.overrides.alice.daly_usd: unknown field",
        ),
        (
            {"per_metadata": {"user_id": {"overrides": {"alice": 20}}}},
            "budgets.per_metadata.user_id.overrides.alice: Input should be a valid dictionary",
        ),
        (
            {"per_metadata": {"user_id": {"overrides": {"bob": {"monthly_usd": True}}}}},
            "budgets.per_metadata.user_id.overrides.bob.monthly_usd: expected an amount in USD, not a boolean",
        ),
        (
            {"per_metadata": {"user_id": {"overrides": {True: {"daily_usd": 1}}}}},
            "budgets.per_metadata.user_id.overrides: override key True is not text",
        ),
    ],
)
def test_bad_budget_config_names_the_field(budgets: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(cfg(budgets))
    assert needle in str(err.value)


def test_store_url_is_secret_in_repr() -> None:
    c = load_config(cfg({"store": "redis://:hunter2@127.0.0.1:6379/0"}))
    assert "hunter2" not in repr(c.budgets)


# --------------------------------------------------------------------------- recording


def test_calls_record_their_cost_with_metadata() -> None:
    r = Router(cfg({"record_metadata": ["user_id", "tags"]}))
    result = call(r, {"metadata": {"user_id": "alice", "tags": ["rag", "eval"], "secret": "x"}})
    assert result.routing.cost_usd == pytest.approx(CALL_COST)
    [entry] = r.budget.ledger.entries()
    assert (entry.tier, entry.model, entry.provider) == ("cloud", "anthropic/claude-x", "anthropic")
    assert entry.cost_usd == pytest.approx(CALL_COST)
    assert entry.metadata == {"user_id": "alice", "tags": ["rag", "eval"]}  # unlisted keys are not stored
    assert r.budget.spent_usd("day") == pytest.approx(CALL_COST)
    assert r.budget.spent_usd("month", "provider:anthropic") == pytest.approx(CALL_COST)


def test_stream_records_on_stream_end() -> None:
    r = Router(cfg())
    items = list(r.stream("hello", H, mock_response="hi there friend"))
    end = items[-1]
    assert end.routing.cost_usd > 0
    assert r.budget.spent_usd() == pytest.approx(end.routing.cost_usd)


async def test_async_calls_record() -> None:
    r = Router(cfg())
    await r.acomplete("hello", H, mock_response="hi")
    items = [i async for i in r.astream("hello", H, mock_response="hi there")]
    assert r.budget.spent_usd() == pytest.approx(0.05 + items[-1].routing.cost_usd)
    assert len(r.budget.ledger.entries()) == 2


def test_sqlite_ledger_threads_lose_no_update(tmp_path: Path) -> None:
    ledger = SQLiteLedger(tmp_path / "l.db")

    def work(n: int) -> None:
        for i in range(40):
            ledger.record(SpendEntry(f"{n}-{i}", 1.0, "cloud", "m", "p", 0.001 * (n + 1)), ["c"])

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ledger.totals(["c"]) == {"c": sum(40 * 1_000_000 * (n + 1) for n in range(8))}
    assert len(ledger.entries()) == 320


def aged(days: float, entry_id: str, usd: float = 0.25) -> SpendEntry:
    return SpendEntry(entry_id, time.time() - days * 86400, "cloud", "anthropic/claude-x", "anthropic", usd)


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_entry_log_is_trimmed_and_counters_are_not(kind: str, tmp_path: Path) -> None:
    def ledger(name: str, **kw: Any) -> SQLiteLedger | MemoryLedger:
        return SQLiteLedger(tmp_path / name, **kw) if kind == "sqlite" else MemoryLedger(**kw)

    keep = 10 * 86400
    trimming = ledger("every.db", keep_entries_s=keep, trim_every_s=0)  # trims on every write
    assert trimming.record(aged(20, "old"), ["c"]) is True
    assert trimming.record(aged(9, "recent"), ["c"]) is True
    assert [e.id for e in trimming.entries()] == ["recent"]
    assert trimming.totals(["c"]) == {"c": 500_000_000}  # both still counted
    # a journal replaying the trimmed entry: its month is still open, so its id is still known
    assert trimming.record(aged(20, "old"), ["c"]) is False
    assert trimming.totals(["c"]) == {"c": 500_000_000}

    # the default schedule: the first write of a ledger trims, later ones do not (no DELETE per call)
    hourly = ledger("hourly.db", keep_entries_s=keep)
    hourly.record(aged(21, "old"), ["c"])
    hourly.record(aged(9, "recent"), ["c"])
    hourly.record(aged(25, "late-replay"), ["c"])
    assert [e.id for e in hourly.entries()] == ["late-replay", "recent"]
    assert hourly.totals(["c"]) == {"c": 750_000_000}


def test_entry_log_keeps_everything_without_a_retention(tmp_path: Path) -> None:
    for ledger in (SQLiteLedger(tmp_path / "l.db", trim_every_s=0), MemoryLedger(trim_every_s=0)):
        ledger.record(aged(5000, "ancient"), ["c"])
        ledger.record(aged(0, "now"), ["c"])
        assert [e.id for e in ledger.entries()] == ["ancient", "now"]  # readers (report) never trim


def test_router_trims_the_sqlite_entry_log_and_report_still_works(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from routed_llm.cli import main

    store = f"sqlite:///{tmp_path}/ledger.db"
    now = time.time()
    # Noon (UTC) 40 days ago: the second spend, an hour later, falls in the same day window at any time of day.
    old, recent = (now // 86400 - 40) * 86400 + 12 * 3600, now - 2 * 86400
    before = Router(cfg({"store": store, "per_metadata": {"user_id": {"daily_usd": 100}}}))  # default: 400 days
    spend(before, 1.0, now=old, user_id="alice")
    spend(before, 2.0, now=old + 3600, user_id="bob")
    spend(before, 0.5, now=recent, user_id="alice")
    assert len(before.budget.ledger.entries()) == 3  # 40 days old is well within 400
    before.close()

    after = Router(cfg({"store": store, "keep_entries_days": 30}))  # another process, shorter retention
    spend(after, 0.25, now=now, user_id="carol")  # its first write trims
    assert [e.cost_usd for e in after.budget.ledger.entries()] == [0.5, 0.25]
    # the windows the trimmed entries fell in still hold their spend: limits never read the log
    assert after.budget.spent_usd("day", now=old) == pytest.approx(3.0)
    assert after.budget.spent_usd("day", "meta:user_id=alice", now=old) == pytest.approx(1.0)
    assert after.budget.spent_usd("day", now=recent) == pytest.approx(0.5)
    assert main(["report", "--store", store, "--json", "--by", "user"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["calls"] == 2 and out["total_usd"] == pytest.approx(0.75)
    assert out["by"]["user"] == [
        {"user": "alice", "calls": 1, "cost_usd": 0.5},
        {"user": "carol", "calls": 1, "cost_usd": 0.25},
    ]


def test_recording_an_entry_twice_counts_once(tmp_path: Path) -> None:
    for ledger in (SQLiteLedger(tmp_path / "l.db"), MemoryLedger()):
        entry = SpendEntry("same", 1.0, "cloud", "m", "p", 0.5)
        assert ledger.record(entry, ["c"]) is True
        assert ledger.record(entry, ["c"]) is False
        assert ledger.totals(["c"]) == {"c": 500_000_000}


# --------------------------------------------------------------------------- downgrade, each limit kind

DAY = datetime(2026, 11, 18, 12, tzinfo=UTC).timestamp()  # a Wednesday


def spend(
    r: Router, usd: float, *, tier: str = "cloud", model: str = "anthropic/claude-x", now: float = DAY, **metadata: Any
) -> None:
    r.budget.record(tier=tier, model=model, cost_usd=usd, metadata=metadata, now=now)


@pytest.mark.parametrize(
    ("budgets", "spent", "closed", "reason"),
    [
        ({"daily_usd": 10}, 10.02, {"cloud", "fast"}, "daily budget $10.00 spent ($10.02)"),
        ({"weekly_usd": 25}, 26, {"cloud", "fast"}, "weekly budget $25.00 spent ($26.00)"),
        ({"monthly_usd": 100}, 100, {"cloud", "fast"}, "monthly budget $100.00 spent ($100.00)"),
        ({"providers": {"anthropic": {"daily_usd": 5}}}, 5.1, {"cloud"}, "anthropic daily budget $5.00 spent ($5.10)"),
        ({"tiers": {"cloud": {"daily_usd": 2}}}, 3, {"cloud"}, "tier cloud daily budget $2.00 spent ($3.00)"),
    ],
)
def test_each_windowed_limit_closes_the_tiers_it_covers(
    budgets: dict[str, Any], spent: float, closed: set[str], reason: str
) -> None:
    r = Router(cfg(budgets))
    spend(r, spent / 2)
    assert r.budget.closures(now=DAY) == {}  # under the limit: nothing closed
    spend(r, spent / 2)
    closures = r.budget.closures(now=DAY)
    assert set(closures) == closed  # the private tier is never closed
    assert closures["cloud"].reason == reason


def test_windows_reset() -> None:
    r = Router(cfg({"daily_usd": 10, "weekly_usd": 25}))
    spend(r, 10, now=DAY)
    assert "daily" in r.budget.closures(now=DAY)["cloud"].reason
    next_day = DAY + 86400
    assert r.budget.closures(now=next_day) == {}  # new day, same week
    spend(r, 9, now=next_day)
    spend(r, 6, now=next_day + 86400)
    assert r.budget.closures(now=next_day + 86400)["cloud"].reason == "weekly budget $25.00 spent ($25.00)"
    monday = datetime(2026, 11, 23, 0, 30, tzinfo=UTC).timestamp()
    assert r.budget.closures(now=monday) == {}
    assert window_keys(monday, r.budget.tz)["week"] == "2026-W48"


def test_per_user_limit_applies_to_that_user_only() -> None:
    r = Router(cfg({"per_metadata": {"user_id": {"daily_usd": 1}}}))
    spend(r, 1.5, user_id="alice")
    assert set(r.budget.closures({"user_id": "alice"}, now=DAY)) == {"cloud", "fast"}
    assert (
        "user_id=alice daily budget $1.00 spent ($1.50)"
        in r.budget.closures({"user_id": "alice"}, now=DAY)["cloud"].reason
    )
    assert r.budget.closures({"user_id": "bob"}, now=DAY) == {}
    assert r.budget.closures({}, now=DAY) == {}


OVERRIDES = {
    "per_metadata": {
        "user_id": {
            "daily_usd": 1,
            "monthly_usd": 30,
            "overrides": {
                "alice": {"daily_usd": 20},
                "batch-bot": {"daily_usd": None, "monthly_usd": 300},
                42: {"daily_usd": 5},
            },
        }
    }
}


def test_per_metadata_override_raises_the_limit_for_that_value_only() -> None:
    r = Router(cfg(OVERRIDES))
    for user in ("alice", "bob", "batch-bot", "42"):
        spend(r, 1.5, user_id=user)
    bob = r.budget.closures({"user_id": "bob"}, now=DAY)
    assert bob["cloud"].reason == "user_id=bob daily budget $1.00 spent ($1.50)"  # the default, as before
    assert bob["cloud"].limit == "budgets.per_metadata.user_id.daily_usd"
    assert r.budget.closures({"user_id": "alice"}, now=DAY) == {}  # $20/day for alice
    assert r.budget.closures({"user_id": "batch-bot"}, now=DAY) == {}  # daily limit lifted by null
    assert r.budget.closures({"user_id": 42}, now=DAY) == {}  # YAML key 42: matches user_id 42
    spend(r, 3.5, user_id=42)
    assert r.budget.closures({"user_id": 42}, now=DAY)["cloud"].limit == (
        "budgets.per_metadata.user_id.overrides.42.daily_usd"
    )

    spend(r, 18.5, user_id="alice")
    closures = r.budget.closures({"user_id": "alice"}, now=DAY)
    assert set(closures) == {"cloud", "fast"}
    assert closures["cloud"].limit == "budgets.per_metadata.user_id.overrides.alice.daily_usd"
    assert closures["cloud"].reason == (
        "user_id=alice daily budget $20.00 spent ($20.00); limit budgets.per_metadata.user_id.overrides.alice.daily_usd"
    )
    assert r.budget.closures({"user_id": "bob"}, now=DAY + 86400) == {}  # others: their own windows


def test_per_metadata_override_inherits_the_windows_it_leaves_out() -> None:
    r = Router(cfg(OVERRIDES))
    spend(r, 19, user_id="alice")
    spend(r, 12, user_id="alice", now=DAY + 86400)  # $31 this month: the inherited $30/month
    closure = r.budget.closures({"user_id": "alice"}, now=DAY + 86400)["cloud"]
    assert closure.limit == "budgets.per_metadata.user_id.monthly_usd"
    assert closure.reason == "user_id=alice monthly budget $30.00 spent ($31.00)"
    spend(r, 299, user_id="batch-bot")
    assert r.budget.closures({"user_id": "batch-bot"}, now=DAY) == {}  # $300/month of its own
    spend(r, 1, user_id="batch-bot")
    assert r.budget.closures({"user_id": "batch-bot"}, now=DAY)["cloud"].limit == (
        "budgets.per_metadata.user_id.overrides.batch-bot.monthly_usd"
    )


def test_per_metadata_override_from_yaml_downgrades_and_says_which_limit(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text("""
tiers:
  local: {models: [{model: "ollama_chat/llama3.2:3b", api_base: "http://127.0.0.1:9"}], private: true}
  cloud: {models: [{model: anthropic/claude-x, api_key: k, input_cost_per_token: 0.001, output_cost_per_token: 0.002}]}
routing: {default: cloud, fallbacks: {cloud: [local]}}
budgets:
  store: "memory://"
  per_metadata:
    user_id:
      daily_usd: 1
      overrides: {alice: {daily_usd: 0.1}, batch-bot: {monthly_usd: 300}}
""")
    r = Router(load_config(path))
    alice = {"metadata": {"user_id": "alice"}}
    assert call(r, alice).routing.tier == "cloud"
    assert call(r, alice).routing.tier == "cloud"  # $0.10 spent
    result = call(r, alice)
    assert result.routing.tier == "local"
    assert (
        "closed by budget (user_id=alice daily budget $0.10 spent ($0.10); "
        "limit budgets.per_metadata.user_id.overrides.alice.daily_usd)"
    ) in result.routing.reason
    assert call(r, {"metadata": {"user_id": "bob"}}).routing.tier == "cloud"  # bob: the default $1


def test_per_metadata_per_request_limit_and_its_override() -> None:
    r = Router(
        cfg({"per_metadata": {"user_id": {"per_request_usd": 0.5, "overrides": {"alice": {"per_request_usd": 10}}}}})
    )
    # 2000 output tokens at $2e-3 = $4 on cloud
    d = r.route("hello", {**H, "metadata": {"user_id": "bob"}}, max_tokens=2000)
    assert d.tier == "fast" and "estimated cost $4.0080 > per-request limit $0.50" in d.reason
    assert r.route("hello", {**H, "metadata": {"user_id": "alice"}}, max_tokens=2000).tier == "cloud"
    d = r.route("hello", {**H, "metadata": {"user_id": "alice"}}, max_tokens=6000)  # $12 > alice's $10
    assert d.tier == "fast"
    assert (
        "estimated cost $12.0080 > per-request limit $10.00; "
        "limit budgets.per_metadata.user_id.overrides.alice.per_request_usd"
    ) in d.reason


def test_per_tag_limit_counts_each_tag() -> None:
    r = Router(cfg({"per_metadata": {"tags": {"daily_usd": 1}}}))
    spend(r, 0.6, tags=["rag", "eval"])
    spend(r, 0.6, tags=["rag"])
    assert set(r.budget.closures({"tags": ["rag"]}, now=DAY)) == {"cloud", "fast"}
    assert r.budget.closures({"tags": ["eval"]}, now=DAY) == {}


def test_downgrade_moves_the_call_and_says_why() -> None:
    r = Router(cfg({"daily_usd": 0.1}))
    assert call(r).routing.tier == "cloud"
    assert call(r).routing.tier == "cloud"  # $0.10 spent now
    result = call(r)
    assert result.routing.tier == "local"  # fast is paid too
    assert "skipped cloud: closed by budget (daily budget $0.10 spent ($0.10))" in result.routing.reason
    assert result.routing.cost_usd == 0
    assert r.budget.spent_usd() == pytest.approx(0.1)  # the free call added nothing


def test_per_request_estimate_downgrades_before_the_call() -> None:
    # seed 003: anthropic per_request $0.50. 2000 output tokens at $2e-3 = $4 on cloud.
    r = Router(cfg({"providers": {"anthropic": {"per_request_usd": 0.5}}}))
    d = r.route("hello", H, max_tokens=2000)
    assert d.tier == "fast"
    assert "estimated cost $4.0080 > per-request limit $0.50" in d.reason
    assert r.route("hello", H, max_tokens=100).tier == "cloud"  # $0.2 fits


def test_max_cost_usd_hint_still_applies() -> None:
    r = Router(cfg({}))
    d = r.route("hello", {**H, "max_cost_usd": 0.01}, max_tokens=100)
    assert d.tier == "local" and "max_cost_usd" in d.reason


def test_private_and_free_tiers_are_never_closed() -> None:
    r = Router(cfg({"daily_usd": 0}))
    assert set(r.budget.closures()) == {"cloud", "fast"}
    assert call(r).routing.tier == "local"


def test_unpriced_cloud_tier_counts_as_paid() -> None:
    c = cfg({"daily_usd": 0})
    c["tiers"]["hf"] = {"models": [{"model": "huggingface/some/unknown-model", "api_base": "http://hf.invalid"}]}
    c["tiers"]["freebie"] = {
        "models": [
            {
                "model": "openai/free",
                "api_base": "http://x.invalid",
                "input_cost_per_token": 0,
                "output_cost_per_token": 0,
            }
        ]
    }
    r = Router(c)
    assert "hf" in r.budget.paid_tiers and "freebie" not in r.budget.paid_tiers


def test_all_tiers_closed_gives_no_eligible_tier() -> None:
    c = cfg({"daily_usd": 0})
    del c["tiers"]["local"]
    c["routing"]["fallbacks"] = {"cloud": ["fast"]}
    with pytest.raises(NoEligibleTier) as err:
        Router(c).route("hello", H)
    assert "closed by budget (daily budget $0.00 spent ($0.00))" in str(err.value)


# --------------------------------------------------------------------------- raise


@pytest.mark.parametrize(
    ("budgets", "metadata", "limit", "limit_usd"),
    [
        ({"daily_usd": 1}, {}, "budgets.daily_usd", 1.0),
        ({"weekly_usd": 1}, {}, "budgets.weekly_usd", 1.0),
        ({"monthly_usd": 1}, {}, "budgets.monthly_usd", 1.0),
        ({"providers": {"anthropic": {"daily_usd": 1}}}, {}, "budgets.providers.anthropic.daily_usd", 1.0),
        ({"tiers": {"cloud": {"monthly_usd": 1}}}, {}, "budgets.tiers.cloud.monthly_usd", 1.0),
        (
            {"per_metadata": {"user_id": {"daily_usd": 1}}},
            {"user_id": "al"},
            "budgets.per_metadata.user_id.daily_usd",
            1.0,
        ),
        (
            {"per_metadata": {"user_id": {"daily_usd": 100, "overrides": {"al": {"daily_usd": 1}}}}},
            {"user_id": "al"},
            "budgets.per_metadata.user_id.overrides.al.daily_usd",
            1.0,
        ),
        (
            {"per_metadata": {"user_id": {"weekly_usd": 1, "overrides": {"al": {"daily_usd": 5}}}}},
            {"user_id": "al"},
            "budgets.per_metadata.user_id.weekly_usd",
            1.0,
        ),
    ],
)
def test_raise_at_each_limit_kind(
    budgets: dict[str, Any], metadata: dict[str, Any], limit: str, limit_usd: float
) -> None:
    r = Router(cfg({**budgets, "on_exceeded": "raise"}))
    spend(r, 1.25, now=datetime.now(UTC).timestamp(), **metadata)
    with pytest.raises(BudgetExceeded) as err:
        call(r, {"metadata": metadata})
    e = err.value
    assert (e.limit, e.limit_usd, e.spent_usd, e.tier) == (limit, limit_usd, 1.25, "cloud")
    assert "$1.25" in str(e) and limit in str(e) and "on_exceeded: downgrade" in str(e)
    assert r.budget.spent_usd("month") == pytest.approx(1.25)  # nothing more was spent


def test_raise_names_the_override_limit_once() -> None:
    r = Router(
        cfg(
            {
                "per_metadata": {"user_id": {"daily_usd": 100, "overrides": {"al": {"daily_usd": 1}}}},
                "on_exceeded": "raise",
            }
        )
    )
    call(r, {"metadata": {"user_id": "bob"}})
    spend(r, 1.25, now=datetime.now(UTC).timestamp(), user_id="al")
    call(r, {"metadata": {"user_id": "bob"}})  # bob: still the default $100
    with pytest.raises(BudgetExceeded) as err:
        call(r, {"metadata": {"user_id": "al"}})
    assert str(err.value).count("budgets.per_metadata.user_id.overrides.al.daily_usd") == 1
    assert str(err.value).startswith("user_id=al daily budget $1.00 spent ($1.25) (tier 'cloud', budgets.per_")


def test_raise_on_per_request_estimate() -> None:
    r = Router(cfg({"per_request_usd": 0.5, "on_exceeded": "raise"}))
    with pytest.raises(BudgetExceeded) as err:
        call(r, max_tokens=2000)
    assert err.value.limit == "budgets.per_request_usd" and err.value.spent_usd == pytest.approx(4.008)


def test_raise_mode_keeps_closed_tiers_out_of_fallbacks() -> None:
    r = Router(cfg({"tiers": {"fast": {"daily_usd": 0}}, "on_exceeded": "raise"}))
    d = r.route("hello", H)
    assert d.tier == "cloud" and d.fallbacks == ("local",)
    assert "closed by budget" in d.excluded["fast"]


@pytest.mark.parametrize("mode", ["complete", "stream"])
def test_raise_mode_still_serves_a_cached_answer_for_free(mode: str) -> None:
    r = Router(cfg({"daily_usd": 0.06, "on_exceeded": "raise"}, cache={"store": "memory://"}))
    first = call(r)  # $0.05 spent, answer cached
    spend(r, 0.05, now=datetime.now(UTC).timestamp())  # now over the daily limit
    if mode == "complete":
        again = call(r)
        assert (
            again.routing.cached
            and again.response.choices[0].message.content == first.response.choices[0].message.content
        )
    else:
        items = list(r.stream("hello", H, mock_response="hi there"))
        assert items[-1].routing.cached
    assert r.budget.spent_usd("day") == pytest.approx(0.10)  # the hit cost nothing
    with pytest.raises(BudgetExceeded):  # a new question is refused before any traffic
        r.complete("something else", H, mock_response="hi there")
    with pytest.raises(BudgetExceeded):
        r.route("hello", H)  # route() reports what a miss would do


# --------------------------------------------------------------------------- alerts


def test_alerts_fire_once_per_threshold_per_window(tmp_path: Path) -> None:
    c = cfg(
        {
            "store": f"sqlite:///{tmp_path}/ledger.db",
            "daily_usd": 1,
            "alert_at": [0.8, {"at": 0.95, "notify": ["operator_alpha", "operator_beta"]}],
        }
    )
    r1, r2 = Router(c), Router(c)  # two processes' worth of routers on one ledger
    seen: list[BudgetAlert] = []
    r1.budget.on_alert(seen.append)
    r2.budget.on_alert(seen.append)
    spend(r1, 0.5)
    assert seen == []
    spend(r1, 0.3)  # 80%
    spend(r2, 0.01)
    spend(r1, 0.01)
    assert [(a.threshold, a.limit) for a in seen] == [(0.8, "budgets.daily_usd")]
    spend(r2, 0.2)  # past 95%
    spend(r1, 0.2)
    assert [a.threshold for a in seen] == [0.8, 0.95]
    assert seen[1].notify == ("operator_alpha", "operator_beta") and seen[1].spent_usd == pytest.approx(1.02)
    spend(r1, 0.9, now=DAY + 86400)  # next day: fires again
    assert [a.threshold for a in seen] == [0.8, 0.95, 0.8]
    assert seen[2].window == "2026-11-19"


def test_alert_is_logged_and_a_failing_callback_does_not_break_the_call(caplog: pytest.LogCaptureFixture) -> None:
    r = Router(cfg({"daily_usd": 0.06, "alert_at": [0.5]}))

    @r.budget.on_alert
    def boom(alert: BudgetAlert) -> None:
        raise RuntimeError("pager down")

    assert call(r).routing.cost_usd == pytest.approx(CALL_COST)
    assert "budget alert: budgets.daily_usd at 83%" in caplog.text
    assert "pager down" in caplog.text


def test_downgrade_alert_action_throttles_before_the_limit() -> None:
    # seed 000: at 95% of the daily budget, throttle (to local).
    r = Router(cfg({"daily_usd": 50, "alert_at": [0.8, {"at": 0.95, "action": "downgrade"}]}))
    spend(r, 45)
    assert r.budget.closures(now=DAY) == {}
    spend(r, 2.5)
    closures = r.budget.closures(now=DAY)
    assert set(closures) == {"cloud", "fast"}
    assert closures["cloud"].reason == "daily budget at 95% ($47.50 of $50.00): throttled from 95%"


# --------------------------------------------------------------------------- ledger trouble


def test_corrupt_ledger_fails_closed_with_a_clear_reason(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    path.write_bytes(b"this is not a database" * 100)
    r = Router(cfg({"store": f"sqlite:///{path}", "daily_usd": 10}))
    d = r.route("hello", H)
    assert d.tier == "local"
    assert "spend ledger unavailable" in d.reason and "not a valid SQLite database" in d.reason
    assert "move it aside" in d.reason


def test_corrupt_ledger_fail_open_routes_normally_and_keeps_spend(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    path.write_bytes(b"garbage" * 200)
    r = Router(cfg({"store": f"sqlite:///{path}", "daily_usd": 10, "on_ledger_error": "fail_open"}))
    assert call(r).routing.tier == "cloud"
    assert r.budget.pending_usd == pytest.approx(CALL_COST)  # kept, not lost
    path.unlink()  # the operator moves the file aside
    r.budget.ledger.close()
    assert r.budget.flush() == 0
    assert r.budget.spent_usd() == pytest.approx(CALL_COST)


def test_raise_mode_ledger_error_raises_ledger_error(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    path.write_bytes(b"garbage" * 200)
    r = Router(cfg({"store": f"sqlite:///{path}", "daily_usd": 10, "on_exceeded": "raise"}))
    with pytest.raises(LedgerError, match="not a valid SQLite database"):
        r.route("hello", H)


def test_locked_ledger_keeps_spend_and_flushes_when_free(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    r = Router(cfg({"store": f"sqlite:///{path}", "daily_usd": 10, "lock_timeout_s": 0.2}))
    assert call(r).routing.tier == "cloud"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        result = call(r, {"tier": "cloud"})  # the answer is still returned
        assert result.routing.cost_usd == pytest.approx(CALL_COST)
        assert r.budget.pending_usd == pytest.approx(CALL_COST)
        d = r.route("hello", H)  # fail closed while spend cannot be recorded
        assert d.tier == "local" and "locked" in d.reason
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert r.route("hello", H).tier == "cloud"  # flushed on the next check
    assert r.budget.pending_usd == 0
    assert r.budget.spent_usd() == pytest.approx(2 * CALL_COST)


# --------------------------------------------------------------------------- seed configs

CONFIGS = Path(__file__).resolve().parents[2] / "examples" / "configs"
ENV = {"HF_ENDPOINT_URL": "http://hf.invalid", "HF_API_KEY": "hf_test", "GROQ_API_KEY": "gsk_test"}


def seed_router(name: str, tmp_path: Path) -> Router:
    c = load_config(CONFIGS / name, env=ENV)
    assert c.budgets is not None
    return Router(
        c.model_copy(
            update={
                "budgets": c.budgets.model_copy(update={"store": type(c.budgets.store)(f"sqlite:///{tmp_path}/l.db")})
            }
        )
    )


def test_seed000_budgets(tmp_path: Path) -> None:
    r = seed_router("seed000_kosmos.yaml", tmp_path)
    b = r.config.budgets
    assert (b.daily_usd, b.weekly_usd, b.monthly_usd) == (50, 250, 1000)
    assert [(a.at, a.notify, a.action) for a in b.alerts] == [
        (0.8, ["operator_alpha"], "notify"),
        (0.95, ["operator_alpha", "operator_beta"], "downgrade"),
    ]
    seen: list[BudgetAlert] = []
    r.budget.on_alert(seen.append)
    hints = {**H, "complexity": "complex"}
    assert r.route("x", hints).tier == "qwen-72b"
    spend(r, 40, tier="qwen-72b", model="huggingface/Qwen/Qwen2.5-72B-Instruct")
    assert [a.notify for a in seen] == [("operator_alpha",)]
    assert r.budget.closures(now=DAY) == {}
    spend(r, 7.5, tier="qwen-72b", model="huggingface/Qwen/Qwen2.5-72B-Instruct")
    assert [a.threshold for a in seen] == [0.8, 0.95]
    # throttle to local: every cloud tier closes, the Ollama tier serves
    closures = r.budget.closures(now=DAY)
    assert set(closures) == {"qwen-72b", "mistral-7b", "groq-llama"}
    # weekly: five days of $49 (under the daily limit) reach $245 -> 98% of weekly throttles too
    r2 = seed_router("seed000_kosmos.yaml", tmp_path / "w")
    monday = datetime(2026, 11, 16, 9, tzinfo=UTC).timestamp()
    for d in range(5):
        spend(r2, 40, tier="mistral-7b", model="huggingface/m", now=monday + d * 86400)
    assert "weekly budget at 80%" not in str(r2.budget.closures(now=monday + 4 * 86400))
    spend(r2, 40, tier="mistral-7b", model="huggingface/m", now=monday + 5 * 86400)
    assert "weekly budget at 96%" in r2.budget.closures(now=monday + 5 * 86400)["mistral-7b"].reason


def test_seed003_budgets(tmp_path: Path) -> None:
    r = seed_router("seed003_routing_strategy.yaml", tmp_path)
    b = r.config.budgets
    assert b.daily_usd == 10 and b.providers["anthropic"].daily_usd == 5
    assert b.providers["anthropic"].per_request_usd == 0.5 and b.providers["openai"].per_request_usd == 0.5
    hints = {"sensitivity": "public", "task": "reasoning", "complexity": "complex"}
    assert r.route("x", hints, max_tokens=1000).tier == "premium"
    # per request: 40k output tokens on Claude Sonnet = $0.60 > $0.50; GPT-4o $0.40 fits
    d = r.route("x", hints, max_tokens=40_000)
    assert d.tier == "premium-openai" and "per-request limit $0.50" in d.reason
    # anthropic daily $5: spent -> premium closes, GPT-4o takes over
    spend(r, 5.01, tier="premium", model="anthropic/claude-sonnet-4-20250514", now=datetime.now(UTC).timestamp())
    d = r.route("x", hints, max_tokens=1000)
    assert d.tier == "premium-openai" and "anthropic daily budget $5.00 spent ($5.01)" in d.reason
    # the whole $10 spent -> "Daily budget exceeded - using local LLM"
    spend(r, 5.0, tier="premium-openai", model="openai/gpt-4o", now=datetime.now(UTC).timestamp())
    d = r.route("x", hints, max_tokens=1000)
    assert r.profiles[d.tier].private
    assert "daily budget $10.00 spent ($10.01)" in d.reason


def test_window_keys_use_the_configured_timezone() -> None:
    from zoneinfo import ZoneInfo

    late = datetime(2026, 11, 30, 23, 30, tzinfo=UTC).timestamp()
    assert window_keys(late, ZoneInfo("UTC"))["month"] == "2026-11"
    assert window_keys(late, ZoneInfo("Europe/Berlin"))["month"] == "2026-12"
    assert window_keys(late + timedelta(hours=1).total_seconds(), ZoneInfo("UTC"))["day"] == "2026-12-01"


# --------------------------------------------------------------------------- the journal: no spend lost at exit


class FlakyLedger(MemoryLedger):
    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def record(self, entry: SpendEntry, counters: Any) -> bool:
        if self.down:
            raise LedgerError("ledger down (test)")
        return super().record(entry, counters)


def test_unrecorded_spend_survives_the_process_and_is_replayed_once(tmp_path: Path) -> None:
    import shutil

    from routed_llm.budget import BudgetManager
    from routed_llm.config import BudgetsConfig

    journal = tmp_path / "journal"
    config = BudgetsConfig.model_validate({"store": "memory://", "journal_dir": str(journal)})
    ledger = FlakyLedger()
    ledger.down = True
    crashed = BudgetManager(config, {}, ledger=ledger)
    crashed.record(tier="cloud", model="anthropic/x", cost_usd=0.75, now=DAY)
    crashed.record(tier="cloud", model="anthropic/x", cost_usd=0.5, now=DAY)
    files = list(journal.glob("*.jsonl"))
    assert len(files) == 1 and len(files[0].read_text().splitlines()) == 2
    backup = tmp_path / "copy.jsonl"
    shutil.copy(files[0], backup)
    del crashed  # the process dies without close()

    ledger.down = False
    heir = BudgetManager(config, {}, ledger=ledger)
    assert heir.pending_usd == pytest.approx(1.25)
    assert heir.flush() == 0
    assert ledger.totals(["day:2026-11-18|total"]) == {"day:2026-11-18|total": 1_250_000_000}
    assert list(journal.glob("*")) == []  # replayed and removed
    shutil.copy(backup, journal / "stale.jsonl")  # the same journal found again: counted once only
    BudgetManager(config, {}, ledger=ledger).flush()
    assert ledger.totals(["day:2026-11-18|total"]) == {"day:2026-11-18|total": 1_250_000_000}


def test_sqlite_journal_lives_next_to_the_ledger(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    path.write_bytes(b"garbage" * 200)
    r = Router(cfg({"store": f"sqlite:///{path}", "daily_usd": 10}))
    call(r, {"tier": "local"})
    r.budget.record(tier="cloud", model="anthropic/claude-x", cost_usd=0.3)
    assert len(list((tmp_path / "ledger.db.unrecorded").glob("*.jsonl"))) == 1
    path.unlink()
    r.budget.ledger.close()
    assert r.budget.flush() == 0
    assert list((tmp_path / "ledger.db.unrecorded").glob("*.jsonl")) == []
    assert r.budget.spent_usd() == pytest.approx(0.3)


def test_reading_creates_no_ledger_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "ledger.db"
    r = Router(cfg({"store": f"sqlite:///{path}", "daily_usd": 10}))
    assert r.route("hello", H).tier == "cloud"
    assert r.budget.ledger.entries() == [] and r.budget.spent_usd() == 0
    assert not path.exists()
    r.budget.record(tier="cloud", model="anthropic/claude-x", cost_usd=0.1)
    assert path.exists() and r.budget.spent_usd() == pytest.approx(0.1)


def test_redis_journal_directories_are_per_server_and_database_and_never_name_credentials() -> None:
    from routed_llm.budget.manager import redis_journal_name

    base = redis_journal_name("redis://cache.internal:6380/2")
    assert base.startswith("redis-cache.internal-6380-db2-")
    assert redis_journal_name("redis://user:s3cret@cache.internal:6380/2") == base  # a rotated password keeps it
    assert "s3cret" not in redis_journal_name("redis://:s3cret@cache.internal:6380/2")
    others = {
        redis_journal_name(u)
        for u in ("redis://cache.internal:6380/3", "redis://cache.internal:6379/2", "rediss://cache.internal:6380/2")
    }
    assert base not in others and len(others) == 3
    assert redis_journal_name("redis://localhost") == redis_journal_name("redis://localhost:6379/0")


def test_a_redis_journal_directory_is_one_path_component_whatever_the_url_holds() -> None:
    from routed_llm.budget.manager import redis_journal_name

    name = redis_journal_name("redis://cache.internal:6380/../../etc")
    assert Path(name).name == name and "/" not in name  # never escapes ~/.routed_llm/unrecorded/


def test_journal_keeps_savings_apart_so_an_older_reader_still_replays_the_spend(tmp_path: Path) -> None:
    import json

    from routed_llm.budget import BudgetManager
    from routed_llm.config import BudgetsConfig

    journal = tmp_path / "journal"
    config = BudgetsConfig.model_validate({"store": "memory://", "journal_dir": str(journal)})
    ledger = FlakyLedger()
    ledger.down = True
    crashed = BudgetManager(config, {}, ledger=ledger)
    crashed.record(tier="cloud", model="anthropic/x", cost_usd=0.25, baseline_usd=1.0, now=DAY)
    [line] = next(journal.glob("*.jsonl")).read_text().splitlines()
    item = json.loads(line)
    # what the previous version does with a journal line: SpendEntry(**item["entry"]) must still work
    old_fields = {"id", "ts", "tier", "model", "provider", "cost_usd", "metadata"}
    assert set(item["entry"]) == old_fields and item["savings"] == {"baseline_usd": 1.0, "cached": False}
    del crashed
    ledger.down = False
    heir = BudgetManager(config, {}, ledger=ledger)
    assert heir.flush() == 0
    [entry] = ledger.entries()
    assert (entry.cost_usd, entry.baseline_usd, entry.cached) == (0.25, 1.0, False)
