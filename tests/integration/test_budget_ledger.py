"""Budgets against real stores and real sockets: processes and threads on one SQLite file and
one Redis, Redis going away mid-run, and the per-request estimate refusing before any traffic."""

import multiprocessing
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from routed_llm import BudgetExceeded, NoEligibleTier, Router
from routed_llm.budget import BudgetManager, to_nano
from routed_llm.config import BudgetsConfig, load_config
from tests.servers.fixtures import FaultyServerFactory
from tests.tiers import cloud_at, local_and_cloud

pytestmark = pytest.mark.servers

H = {"sensitivity": "public", "task": "chat", "complexity": "simple"}
PROCS, THREADS, CALLS = 4, 3, 25


def cost_of(proc: int, thread: int, i: int) -> float:
    return (proc + 1) * 1e-3 + thread * 1e-5 + i * 1e-7


def _spender(store: str, proc: int, journal: str) -> None:
    config = BudgetsConfig.model_validate({"store": store, "daily_usd": 1e6, "journal_dir": journal})
    manager = BudgetManager(config, {})

    def work(thread: int) -> None:
        for i in range(CALLS):
            manager.record(
                tier="cloud",
                model="anthropic/claude",
                cost_usd=cost_of(proc, thread, i),
                metadata={"user_id": f"u{proc}"},
            )

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert manager.pending_usd == 0
    manager.close()


def spend_from_processes(store: str, journal: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_spender, args=(store, p, str(journal))) for p in range(PROCS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0


def expected_nano() -> int:
    return sum(to_nano(cost_of(p, t, i)) for p in range(PROCS) for t in range(THREADS) for i in range(CALLS))


def check_totals(store: str, journal: Path) -> None:
    assert not journal.exists()  # nothing ever failed to record
    manager = BudgetManager(BudgetsConfig.model_validate({"store": store, "journal_dir": str(journal)}), {})
    for window in ("day", "week", "month"):
        assert round(manager.spent_usd(window) * 1e9) == expected_nano()
    assert round(manager.spent_usd("day", "provider:anthropic") * 1e9) == expected_nano()
    entries = manager.ledger.entries()
    assert len(entries) == PROCS * THREADS * CALLS
    assert len({e.id for e in entries}) == len(entries)
    assert {e.metadata["user_id"] for e in entries} == {f"u{p}" for p in range(PROCS)}
    manager.close()


def test_processes_and_threads_on_one_sqlite_ledger(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/ledger.db"
    spend_from_processes(store, tmp_path / "journal")
    check_totals(store, tmp_path / "journal")


def test_processes_and_threads_on_one_redis_ledger(redis_url: str, tmp_path: Path) -> None:
    store = redis_url.rsplit("/", 1)[0] + "/3"
    import redis

    redis.Redis.from_url(store).flushdb()
    spend_from_processes(store, tmp_path / "journal")
    check_totals(store, tmp_path / "journal")


# --------------------------------------------------------------------------- Redis going away


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OwnRedis:
    """A redis-server this test may stop and restart (append-only file, so data survives)."""

    def __init__(self, workdir: Path) -> None:
        self.port = _free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed (apt-get install -y redis-server)")
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def budget_router(store: str, **budgets: Any) -> Router:
    budgets.setdefault("journal_dir", tempfile.mkdtemp(prefix="routed-llm-journal-"))  # never the home directory
    return Router(local_and_cloud(budgets={"store": store, "daily_usd": 10, **budgets}))


def test_redis_going_away_fails_closed_and_loses_no_spend(own_redis: OwnRedis) -> None:
    r = budget_router(own_redis.url)
    r.budget.record(tier="cloud", model="anthropic/claude-x", cost_usd=1.5)
    assert r.route("hi", H).tier == "cloud"
    own_redis.stop()
    d = r.route("hi", H)
    assert d.tier == "local" and "spend ledger unavailable" in d.reason and "is Redis running" in d.reason
    # a call that was already served while Redis is down: its spend is kept, not lost
    r.budget.record(tier="cloud", model="anthropic/claude-x", cost_usd=2.25)
    assert r.budget.pending_usd == pytest.approx(2.25)
    assert len(list(Path(r.config.budgets.journal_dir).glob("*.jsonl"))) == 1  # on disk too
    own_redis.start()
    assert r.route("hi", H).tier == "cloud"  # the check flushes the pending spend first
    assert r.budget.pending_usd == 0
    assert r.budget.spent_usd() == pytest.approx(3.75)
    assert len(r.budget.ledger.entries()) == 2


def test_redis_going_away_fail_open_keeps_routing(own_redis: OwnRedis) -> None:
    r = budget_router(own_redis.url, on_ledger_error="fail_open")
    own_redis.stop()
    assert r.route("hi", H).tier == "cloud"
    r.budget.record(tier="cloud", model="anthropic/claude-x", cost_usd=0.5)
    own_redis.start()
    r.budget.record(tier="cloud", model="anthropic/claude-x", cost_usd=0.25)  # flushes the earlier one first
    assert r.budget.spent_usd() == pytest.approx(0.75)


# --------------------------------------------------------------------------- real HTTP


def faulty_router(base_url: str, tmp_path: Path, **budgets: Any) -> Router:
    return Router(
        load_config(
            {
                "tiers": {"cloud": cloud_at(base_url)},
                "routing": {"default": "cloud"},
                "budgets": {"store": f"sqlite:///{tmp_path}/ledger.db", **budgets},
            }
        )
    )


@pytest.mark.parametrize("on_exceeded", ["raise", "downgrade"])
def test_per_request_estimate_refuses_before_any_network_traffic(
    faulty_server: FaultyServerFactory, tmp_path: Path, on_exceeded: str
) -> None:
    srv = faulty_server("ok")
    r = faulty_router(srv.base_url, tmp_path, per_request_usd=0.01, on_exceeded=on_exceeded)
    # 1000 output tokens at $3e-5 = $0.03 > $0.01
    expected = BudgetExceeded if on_exceeded == "raise" else NoEligibleTier
    with pytest.raises(expected, match=r"estimated cost \$0\.03\d+ > per-request limit \$0\.01"):
        r.complete("Say hello", H, max_tokens=1000)
    assert srv.connections == 0
    assert r.budget.spent_usd() == 0


def test_served_call_records_the_real_usage_cost(faulty_server: FaultyServerFactory, tmp_path: Path) -> None:
    srv = faulty_server("ok")
    r = faulty_router(srv.base_url, tmp_path, per_request_usd=0.01)
    result = r.complete("Say hello", H, max_tokens=100)  # estimate $0.003: allowed
    assert srv.connections >= 1 and len(srv.chat_requests) == 1
    info = result.routing
    assert info.completion_tokens > 0
    assert info.cost_usd == pytest.approx(info.prompt_tokens * 1e-5 + info.completion_tokens * 3e-5)
    assert r.budget.spent_usd() == pytest.approx(info.cost_usd)
    chunks = list(r.stream("Say hello", H, max_tokens=100))
    assert r.budget.spent_usd() == pytest.approx(info.cost_usd + chunks[-1].routing.cost_usd)
    # a second router (another process's view) reads the same ledger
    other = faulty_router(srv.base_url, tmp_path)
    assert other.budget.spent_usd() == pytest.approx(r.budget.spent_usd())


def test_alerts_fire_once_across_routers_on_redis(redis_url: str) -> None:
    import redis

    store = redis_url.rsplit("/", 1)[0] + "/5"
    redis.Redis.from_url(store).flushdb()
    routers = [budget_router(store, alert_at=[0.5, 0.9]) for _ in range(3)]
    fired: list[float] = []
    for r in routers:
        r.budget.on_alert(lambda a: fired.append(a.threshold))

    def spend(r: Router) -> None:
        for _ in range(20):
            r.budget.record(tier="cloud", model="anthropic/claude-x", cost_usd=0.25)

    threads = [threading.Thread(target=spend, args=(r,)) for r in routers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(fired) == [0.5, 0.9]  # $15 of $10 spent by three routers: each threshold once
    assert routers[0].budget.spent_usd() == pytest.approx(15.0)
    assert routers[0].route("hi", H).tier == "local"


def test_report_reads_a_redis_ledger(redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    import redis

    from routed_llm.cli import main

    store = redis_url.rsplit("/", 1)[0] + "/6"
    redis.Redis.from_url(store).flushdb()
    r = budget_router(store)
    r.budget.record(tier="cloud", model="anthropic/claude-x", cost_usd=0.4, metadata={"tags": ["rag"]})
    r.budget.record(tier="local", model="ollama_chat/llama3.2:3b", cost_usd=0.0)
    assert main(["report", "--store", store, "--json", "--by", "tier", "--by", "tag"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["calls"] == 2 and out["total_usd"] == pytest.approx(0.4)
    assert out["by"]["tier"][0] == {"tier": "cloud", "calls": 1, "cost_usd": 0.4}
    assert out["by"]["tag"][0] == {"tag": "rag", "calls": 1, "cost_usd": 0.4}


# --------------------------------------------------------------------------- a bounded entry log


def _redis_db(redis_url: str, db: int) -> tuple[str, Any]:
    import redis

    store = redis_url.rsplit("/", 1)[0] + f"/{db}"
    client = redis.Redis.from_url(store)
    client.flushdb()
    return store, client


def test_redis_entry_log_is_trimmed_with_each_write(redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from routed_llm.budget import SpendEntry
    from routed_llm.cli import main

    store, client = _redis_db(redis_url, 7)
    now = time.time()
    old, recent = (now // 86400 - 40) * 86400 + 12 * 3600, now - 2 * 86400  # noon: old + 60 is the same day
    before = budget_router(store)  # the default keeps 400 days
    before.budget.record(tier="cloud", model="anthropic/claude-x", cost_usd=1.0, metadata={"user_id": "alice"}, now=old)
    before.budget.record(
        tier="cloud", model="anthropic/claude-x", cost_usd=2.0, metadata={"user_id": "bob"}, now=old + 60
    )
    before.budget.record(
        tier="cloud", model="anthropic/claude-x", cost_usd=0.5, metadata={"user_id": "alice"}, now=recent
    )
    assert client.zcard("routed_llm:ledger:log") == 3

    after = budget_router(store, keep_entries_days=30)  # another host, shorter retention
    after.budget.record(tier="cloud", model="anthropic/claude-x", cost_usd=0.25, metadata={"user_id": "carol"})
    assert client.type("routed_llm:ledger:log") == b"zset" and client.zcard("routed_llm:ledger:log") == 2
    assert [e.cost_usd for e in after.budget.ledger.entries()] == [0.5, 0.25]
    assert [e.cost_usd for e in after.budget.ledger.entries(since=now - 86400)] == [0.25]
    # the windows of the trimmed entries keep their spend: limits read counters, never the log
    assert after.budget.spent_usd("day", now=old) == pytest.approx(3.0)
    assert after.budget.spent_usd("day", "provider:anthropic", now=old) == pytest.approx(3.0)
    assert after.budget.spent_usd("day", now=recent) == pytest.approx(0.5)

    assert main(["report", "--store", store, "--json", "--by", "user"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["calls"] == 2 and out["total_usd"] == pytest.approx(0.75)
    assert out["by"]["user"] == [
        {"user": "alice", "calls": 1, "cost_usd": 0.5},
        {"user": "carol", "calls": 1, "cost_usd": 0.25},
    ]

    # an entry older than the retention (a late journal replay) is counted once, never logged, never re-counted
    stale = SpendEntry("stale", old, "cloud", "anthropic/claude-x", "anthropic", 0.125)
    assert after.budget.ledger.record(stale, ["c"]) is True
    assert after.budget.ledger.record(stale, ["c"]) is False
    assert after.budget.ledger.totals(["c"]) == {"c": 125_000_000}
    assert client.zcard("routed_llm:ledger:log") == 2


def test_redis_trimming_under_concurrent_writers_loses_no_spend(redis_url: str) -> None:
    store, client = _redis_db(redis_url, 8)
    routers = [budget_router(store, keep_entries_days=30, daily_usd=1e6) for _ in range(4)]
    now = time.time()

    def work(n: int) -> None:
        for i in range(50):  # every other entry is older than the retention
            when = now - (45 * 86400 if i % 2 else 60)
            routers[n].budget.record(tier="cloud", model="anthropic/claude-x", cost_usd=0.01, now=when)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert client.zcard("routed_llm:ledger:log") == 100
    assert all(e.ts > now - 86400 for e in routers[0].budget.ledger.entries())
    assert routers[0].budget.spent_usd("month", now=now) == pytest.approx(1.0)
    assert routers[0].budget.spent_usd("day", now=now - 45 * 86400) == pytest.approx(1.0)


def test_redis_log_left_by_an_older_version_is_read_then_expires(redis_url: str) -> None:
    from routed_llm.budget import SpendEntry

    store, client = _redis_db(redis_url, 9)
    now = time.time()
    for entry_id, age in (("legacy-old", 50), ("legacy-new", 3)):  # what earlier versions RPUSHed
        entry = SpendEntry(entry_id, now - age * 86400, "cloud", "anthropic/claude-x", "anthropic", 0.5)
        client.rpush("routed_llm:ledger:entries", entry.to_json())
    r = budget_router(store, keep_entries_days=30)
    assert [e.id for e in r.budget.ledger.entries()] == ["legacy-old", "legacy-new"]
    new = r.budget.record(tier="cloud", model="anthropic/claude-x", cost_usd=0.25)
    assert [e.id for e in r.budget.ledger.entries()] == ["legacy-old", "legacy-new", new.id]
    assert [e.id for e in r.budget.ledger.entries(since=now - 10 * 86400)] == ["legacy-new", new.id]
    assert client.llen("routed_llm:ledger:entries") == 2  # takes no new entries
    assert 30 * 86400 - 60 < client.ttl("routed_llm:ledger:entries") <= 30 * 86400  # gone with its newest entry
