"""Spend recorded while the ledger is down is never lost (issue 11, HIGH 2).

Real stores only: a SQLite file that is garbage (corrupt), a real redis-server killed
and restarted mid-run, threads and forked processes recording at once, and a SQLite
ledger truncated behind the router's back.
"""

import multiprocessing
import threading
from pathlib import Path
from typing import Any

import pytest

from routed_llm import LedgerTruncated, Router
from routed_llm.budget import BudgetManager, to_nano
from routed_llm.cli import main as cli_main
from routed_llm.config import BudgetsConfig
from tests.integration.test_budget_ledger import OwnRedis
from tests.tiers import local_and_cloud

pytestmark = pytest.mark.servers

H = {"sensitivity": "public", "task": "chat", "complexity": "simple"}
THREADS, CALLS = 8, 100


def cost(worker: int, i: int) -> float:
    return 0.01 + worker * 1e-4 + i * 1e-6


def manager(store: str, journal: Path) -> BudgetManager:
    return BudgetManager(BudgetsConfig.model_validate({"store": store, "journal_dir": str(journal)}), {})


def record_from_threads(m: BudgetManager, worker_base: int = 0, *, flush_too: bool = True) -> None:
    """THREADS threads record CALLS entries each; half of them also flush, as checks do."""

    def work(t: int) -> None:
        for i in range(CALLS):
            m.record(tier="cloud", model="anthropic/claude", cost_usd=cost(worker_base + t, i))
            if flush_too and t % 2 and i % 3 == 0:
                try:
                    m.flush()
                except Exception:  # noqa: BLE001 - the ledger is down; flush must only keep entries
                    pass

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()


def expected_nano(workers: range) -> int:
    return sum(to_nano(cost(w, i)) for w in workers for i in range(CALLS))


def journal_lines(journal: Path) -> int:
    return sum(len(p.read_text().splitlines()) for p in journal.iterdir())


def test_threads_recording_into_a_corrupt_sqlite_ledger_lose_nothing(tmp_path: Path) -> None:
    db, journal = tmp_path / "ledger.db", tmp_path / "journal"
    db.write_bytes(b"not a database" * 100)
    m = manager(f"sqlite:///{db}", journal)
    record_from_threads(m)
    assert m.pending_usd == pytest.approx(expected_nano(range(THREADS)) / 1e9)
    assert journal_lines(journal) >= THREADS * CALLS  # every entry is on disk before record() returns
    m.close()  # cannot flush: the journal stays for the next router
    db.unlink()  # the operator moves the corrupt file aside
    heir = manager(f"sqlite:///{db}", journal)
    assert heir.flush() == 0
    assert round(heir.spent_usd() * 1e9) == expected_nano(range(THREADS))
    assert len(heir.ledger.entries()) == THREADS * CALLS
    assert list(journal.glob("*")) == []


def _record_in_process(store: str, journal: str, proc: int) -> None:
    m = manager(store, Path(journal))
    record_from_threads(m, worker_base=proc * THREADS)
    m.close()


def test_processes_recording_during_an_outage_lose_nothing_and_replay_once(tmp_path: Path) -> None:
    db, journal = tmp_path / "ledger.db", tmp_path / "journal"
    db.write_bytes(b"not a database" * 100)
    store, procs = f"sqlite:///{db}", 3
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_record_in_process, args=(store, str(journal), p)) for p in range(procs)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=300)
        assert w.exitcode == 0
    db.unlink()
    # two heirs start at once and race to adopt the journals: replay must count each entry once
    heirs: list[BudgetManager] = []
    starters = [threading.Thread(target=lambda: heirs.append(manager(store, journal))) for _ in range(2)]
    for s in starters:
        s.start()
    for s in starters:
        s.join()
    for h in heirs:
        assert h.flush() == 0
    assert round(heirs[0].spent_usd() * 1e9) == expected_nano(range(procs * THREADS))
    assert len(heirs[0].ledger.entries()) == procs * THREADS * CALLS


def test_redis_killed_mid_run_loses_nothing(tmp_path: Path) -> None:
    redis = OwnRedis(tmp_path)
    redis.start()
    try:
        journal = tmp_path / "journal"
        m = manager(redis.url, journal)
        stopper = threading.Timer(0.3, redis.stop)
        stopper.start()
        record_from_threads(m)  # Redis dies while these run
        stopper.join()
        redis.stop()
        record_from_threads(m, worker_base=THREADS, flush_too=False)  # all of these during the outage
        assert m.pending_usd > 0
        m.close()
        redis.start()
        heir = manager(redis.url, journal)
        assert heir.flush() == 0
        assert round(heir.spent_usd() * 1e9) == expected_nano(range(2 * THREADS))
        assert len(heir.ledger.entries()) == 2 * THREADS * CALLS
    finally:
        redis.stop()


def budget_router(store: str, journal: Path, **budgets: Any) -> Router:
    return Router(local_and_cloud(budgets={"store": store, "daily_usd": 10, "journal_dir": str(journal), **budgets}))


@pytest.mark.parametrize("how", ["truncated", "deleted"])
@pytest.mark.parametrize("on_ledger_error", ["fail_closed", "fail_open"])
def test_a_truncated_sqlite_ledger_fails_closed_until_the_reset_is_accepted(
    tmp_path: Path, how: str, on_ledger_error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db, journal = tmp_path / "ledger.db", tmp_path / "journal"
    store = f"sqlite:///{db}"
    first = budget_router(store, journal, on_ledger_error=on_ledger_error)
    first.budget.record(tier="cloud", model="anthropic/claude-x", cost_usd=9.5)
    assert first.route("hi", H).tier == "cloud"
    first.close()
    if how == "truncated":
        db.write_bytes(b"")
    else:
        db.unlink()
    later = budget_router(store, journal, on_ledger_error=on_ledger_error)  # a new process, in effect
    d = later.route("hi", H)
    assert d.tier == "local"
    assert "truncated or replaced" in d.reason and "accept-reset" in d.reason
    with pytest.raises(LedgerTruncated):
        later.budget.spent_usd()
    later.close()
    assert cli_main(["ledger", "accept-reset", "--store", store]) == 0
    assert "accepted" in capsys.readouterr().out
    accepted = budget_router(store, journal, on_ledger_error=on_ledger_error)
    assert accepted.route("hi", H).tier == "cloud" and accepted.budget.spent_usd() == 0
    accepted.close()


def test_a_redis_journal_is_replayed_into_its_own_ledger_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The default journal directory, under ~: one per Redis server and database, so spend
    # database 1 could not take is not adopted (and charged) by a router on database 0.
    monkeypatch.setenv("HOME", str(tmp_path))
    redis = OwnRedis(tmp_path)
    redis.start()
    try:

        def default_manager(db: int) -> BudgetManager:
            return BudgetManager(BudgetsConfig.model_validate({"store": f"redis://127.0.0.1:{redis.port}/{db}"}), {})

        team_b = default_manager(1)
        redis.stop()
        team_b.record(tier="cloud", model="anthropic/claude", cost_usd=0.25)
        assert team_b.pending_usd == pytest.approx(0.25)
        team_b.close()  # Redis is down: the spend stays in database 1's journal
        redis.start()
        team_a = default_manager(0)
        assert team_a.flush() == 0
        assert team_a.spent_usd() == 0.0
        assert team_a.journal_dir != team_b.journal_dir
        heir_b = default_manager(1)
        assert heir_b.flush() == 0
        assert heir_b.spent_usd() == pytest.approx(0.25)
    finally:
        redis.stop()
