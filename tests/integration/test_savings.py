"""Proof of savings on real loopback endpoints: every call priced at the baseline tier, to the cent.

Each tier is a `FaultyServer` on loopback, whose usage is deterministic (one token per
whitespace-separated word), so every expected amount below is computed by hand from
the prices in `config` and the word counts of `PROMPT` and `ANSWER`.
"""

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from routed_llm import Router, StreamEnd
from routed_llm.budget import RedisLedger, SpendEntry, SQLiteLedger
from routed_llm.cli import main
from tests.servers.faulty import FaultyServer
from tests.servers.otlp_receiver import OtlpReceiver

pytestmark = pytest.mark.servers

PROMPT = " ".join(f"w{i}" for i in range(40))  # 40 prompt tokens
ANSWER = " ".join(f"a{i}" for i in range(20))  # 20 completion tokens
HINTS = {"sensitivity": "public", "task": "chat", "complexity": "simple"}

# Per-token prices (USD): premium is the dearest tier, hence the default baseline.
PRICES = {"fast": (1e-4, 2e-4), "premium": (1e-3, 3e-3)}
# Hand-computed: 40 x price_in + 20 x price_out.
COST = {"local": 0.0, "fast": 40 * 1e-4 + 20 * 2e-4, "premium": 40 * 1e-3 + 20 * 3e-3}  # 0, $0.008, $0.10
BASELINE = 0.10


def tier(srv: FaultyServer, name: str) -> dict[str, Any]:
    dep: dict[str, Any] = {"model": f"openai/{name}-model", "api_base": srv.base_url, "api_key": "sk-test"}
    if name in PRICES:
        dep["input_cost_per_token"], dep["output_cost_per_token"] = PRICES[name]
    return {"models": [dep], **({"private": True} if name == "local" else {})}


def config(servers: dict[str, FaultyServer], **sections: Any) -> dict[str, Any]:
    routing = {"default": "fast", "fallbacks": {"premium": ["fast"]}, **sections.pop("routing", {})}
    return {"tiers": {n: tier(s, n) for n, s in servers.items()}, "routing": routing, **sections}


@pytest.fixture
def servers(faulty_server: Any) -> dict[str, FaultyServer]:
    return {name: faulty_server("ok", content=ANSWER) for name in ("local", "fast", "premium")}


def cents(x: float) -> float:
    return round(x, 2)


@pytest.mark.parametrize("name", ["local", "fast", "premium"])
def test_every_tier_is_priced_at_the_baseline_to_the_cent(servers: dict[str, FaultyServer], name: str) -> None:
    with Router(config(servers)) as r:
        info = r.complete(PROMPT, {**HINTS, "tier": name}).routing
    assert info.tier == name and (info.prompt_tokens, info.completion_tokens) == (40, 20)
    assert info.cost_usd == pytest.approx(COST[name], abs=1e-12)
    assert info.baseline_tier == "premium"
    assert info.baseline_cost_usd == pytest.approx(BASELINE, abs=1e-12)
    assert info.saved_usd == pytest.approx(BASELINE - COST[name], abs=1e-12)
    assert cents(info.saved_usd) == {"local": 0.10, "fast": 0.09, "premium": 0.0}[name]
    d = info.as_dict()
    assert (d["baseline_cost_usd"], d["saved_usd"], d["saved_by"]) == (
        info.baseline_cost_usd,
        info.saved_usd,
        "routing",
    )


def test_stream_and_async_calls_carry_savings_too(servers: dict[str, FaultyServer]) -> None:
    with Router(config(servers)) as r:
        end = list(r.stream(PROMPT, {**HINTS, "tier": "fast"}))[-1]
        assert isinstance(end, StreamEnd)
        assert end.routing.saved_usd == pytest.approx(BASELINE - COST["fast"], abs=1e-12)

        async def run() -> Any:
            done = await r.acomplete(PROMPT, {**HINTS, "tier": "local"})
            items = [i async for i in r.astream(PROMPT, {**HINTS, "tier": "premium"})]
            return done.routing, items[-1].routing

        local, premium = asyncio.run(run())
    assert local.saved_usd == pytest.approx(BASELINE, abs=1e-12)
    assert premium.saved_usd == pytest.approx(0.0, abs=1e-12) and premium.cost_usd == pytest.approx(BASELINE)


def test_after_a_fallback_the_call_is_priced_at_what_served_it(
    servers: dict[str, FaultyServer], faulty_server: Any
) -> None:
    servers["premium"] = faulty_server("error500")
    with Router(config(servers)) as r:
        info = r.complete(PROMPT, {**HINTS, "tier": "premium"}).routing
    assert info.tier == "fast" and [a["tier"] for a in info.attempts] == ["premium"]
    assert info.cost_usd == pytest.approx(COST["fast"], abs=1e-12)
    assert info.baseline_cost_usd == pytest.approx(BASELINE, abs=1e-12)  # the failed attempt billed nothing
    assert cents(info.saved_usd) == 0.09


def test_a_configured_baseline_can_make_savings_negative(servers: dict[str, FaultyServer]) -> None:
    with Router(config(servers, routing={"savings_baseline": "fast"})) as r:
        info = r.complete(PROMPT, {**HINTS, "tier": "premium"}).routing
    assert info.baseline_tier == "fast" and info.baseline_cost_usd == pytest.approx(COST["fast"], abs=1e-12)
    assert info.saved_usd == pytest.approx(COST["fast"] - BASELINE, abs=1e-12) and cents(info.saved_usd) == -0.09


def test_a_cached_answer_saves_the_whole_baseline_and_says_so(servers: dict[str, FaultyServer]) -> None:
    cfg = config(servers, cache={"store": "memory://"}, budgets={"store": "memory://"})
    with Router(cfg) as r:
        live = r.complete(PROMPT, {**HINTS, "tier": "fast"}).routing
        hit = r.complete(PROMPT, {**HINTS, "tier": "fast"}).routing
        replay = list(r.stream(PROMPT, {**HINTS, "tier": "fast"}))[-1].routing
        entries = r.budget.ledger.entries()
    assert servers["fast"].connections >= 1 and len(servers["fast"].requests) == 1  # one live call only
    assert live.as_dict()["saved_by"] == "routing"
    for info in (hit, replay):
        assert info.cached and info.cost_usd == 0
        assert info.baseline_cost_usd == pytest.approx(BASELINE, abs=1e-12) and cents(info.saved_usd) == 0.10
        assert info.as_dict()["saved_by"] == "cache"
    assert [(e.cached, round(e.baseline_usd or 0, 12)) for e in entries] == [(False, 0.1), (True, 0.1), (True, 0.1)]


def test_both_adapters_put_savings_in_routing_metadata(servers: dict[str, FaultyServer]) -> None:
    from llama_index.core.llms import ChatMessage
    from llama_index.llms.routed_llm import RoutedLLM

    from langchain_routed_llm import ChatRoutedLLM

    router = Router(config(servers))
    msg = ChatRoutedLLM(router=router).invoke(PROMPT, tier="fast", **{k: v for k, v in HINTS.items()})
    routing = msg.response_metadata["routing"]
    assert routing["baseline_cost_usd"] == pytest.approx(BASELINE, abs=1e-12)
    assert cents(routing["saved_usd"]) == 0.09 and routing["baseline_tier"] == "premium"
    reply = RoutedLLM(router=router, tier="local").chat([ChatMessage(role="user", content=PROMPT)])
    routing = reply.additional_kwargs["routing"]
    assert cents(routing["saved_usd"]) == 0.10 and routing["cost_usd"] == 0
    router.close()


def test_langfuse_metadata_carries_the_savings(
    servers: dict[str, FaultyServer], otlp_receiver: OtlpReceiver, langfuse_client: Any
) -> None:
    with Router(config(servers), langfuse=langfuse_client) as r:
        info = r.complete(PROMPT, {**HINTS, "tier": "fast"}).routing
        langfuse_client.flush()
    [gen] = otlp_receiver.generations()
    assert gen.metadata("baseline_cost_usd") == pytest.approx(BASELINE)
    assert gen.metadata("saved_usd") == pytest.approx(info.saved_usd) and gen.metadata("baseline_tier") == "premium"


def _report(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["report", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_report_savings_totals_equal_the_sum_of_the_calls(
    servers: dict[str, FaultyServer], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = f"sqlite:///{tmp_path / 'ledger.db'}"
    cfg = config(servers, budgets={"store": store}, cache={"store": "memory://"})
    # the cache key ignores metadata: both later "fast" calls are hits of the first
    calls = [("local", "a"), ("fast", "a"), ("fast", "b"), ("premium", "b"), ("fast", "b")]
    infos = []
    with Router(cfg) as r:
        for name, tag in calls:
            infos.append(r.complete(PROMPT, {**HINTS, "tier": name, "metadata": {"tags": [tag]}}).routing)
    assert [i.cached for i in infos] == [False, False, True, False, True]
    report = _report(capsys, "--savings", "--store", store, "--json", "--by", "tier", "--by", "tag", "--by", "day")
    total = report["total"]
    assert total["calls"] == 5 and total["cached_calls"] == 2
    assert total["cost_usd"] == pytest.approx(sum(i.cost_usd for i in infos), abs=1e-9)
    assert total["baseline_usd"] == pytest.approx(sum(i.baseline_cost_usd for i in infos), abs=1e-9)
    assert total["saved_usd"] == pytest.approx(sum(i.saved_usd for i in infos), abs=1e-9)
    # by hand: spend 0 + .008 + 0 + .10 + 0 = $0.108 against 5 x $0.10: $0.392 saved, 78.4%
    assert (cents(total["cost_usd"]), cents(total["saved_usd"])) == (0.11, 0.39)
    assert total["saved_share"] == pytest.approx(0.392 / 0.5)
    by_tier = {row["tier"]: row for row in report["by"]["tier"]}
    assert {t: (row["calls"], cents(row["saved_usd"])) for t, row in by_tier.items()} == {
        "local": (1, 0.10),
        "fast": (3, 0.29),  # a live call saving $0.092 and two hits saving $0.10 each
        "premium": (1, 0.0),
    }
    by_tag = {row["tag"]: row["saved_usd"] for row in report["by"]["tag"]}
    assert by_tag == pytest.approx({"a": 0.192, "b": 0.2})
    [day] = report["by"]["day"]
    assert day["saved_usd"] == pytest.approx(total["saved_usd"])
    png = tmp_path / "savings.png"
    assert main(["report", "--savings", "--store", store, "--png", str(png)]) == 0
    assert png.read_bytes().startswith(b"\x89PNG")
    text = " ".join(capsys.readouterr().out.split())  # rich wraps lines to the terminal
    assert "saved $0.392000 (78.4%) over 5 call(s), 2 from the cache" in text


def test_an_old_sqlite_ledger_is_migrated_in_place(tmp_path: Path) -> None:
    """A ledger written before savings keeps its rows, gains savings, and old writers still work on it."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE spend (id TEXT PRIMARY KEY, ts REAL NOT NULL, tier TEXT NOT NULL, model TEXT NOT NULL, "
        "provider TEXT NOT NULL, cost_nano INTEGER NOT NULL, cost_usd REAL NOT NULL, metadata TEXT NOT NULL)"
    )
    conn.execute("INSERT INTO spend VALUES ('old', 1.0, 'fast', 'openai/x', 'openai', 8000000, 0.008, '{}')")
    conn.commit()
    ledger = SQLiteLedger(path)
    assert ledger.record(SpendEntry("new", 2.0, "fast", "openai/x", "openai", 0.008, {}, 0.1, False), ["c"])
    ledger.close()
    # a process of the previous version, still running, inserts its 8 values as it always did
    conn.execute("INSERT INTO spend VALUES ('older-writer', 3.0, 'fast', 'openai/x', 'openai', 0, 0.0, '{}')")
    conn.commit()
    conn.close()
    old, new, other = SQLiteLedger(path).entries()
    assert (old.id, old.baseline_usd, old.cached) == ("old", None, False)
    assert (new.id, new.baseline_usd) == ("new", 0.1)
    assert (other.id, other.baseline_usd) == ("older-writer", None)


def test_redis_ledger_keeps_the_baseline(redis_url: str) -> None:
    import uuid

    ledger = RedisLedger(redis_url, namespace=f"test-savings-{uuid.uuid4().hex}")  # no other test's entries
    try:
        entry = SpendEntry("r1", 5.0, "fast", "openai/x", "openai", 0.008, {"tags": ["t"]}, 0.1, True)
        assert ledger.record(entry, ["c"])
        [back] = ledger.entries()
        assert back == entry
    finally:
        ledger.close()


def test_a_cascade_reports_its_savings_net_of_every_attempt(servers: dict[str, FaultyServer]) -> None:
    from routed_llm.chains import CascadeEngine
    from routed_llm.escalation import Attempt, Verdict

    class FirstNever:
        name = "first-never"

        def verify(self, question: str, attempt: Attempt, history: object) -> Verdict:
            return Verdict(attempt.tier != "fast", 0.9, "escalate once")

    with Router(config(servers)) as r:
        escalated = CascadeEngine(r, ["fast", "premium"], FirstNever()).invoke(PROMPT, "public")
        cheap = CascadeEngine(r, ["local", "premium"], FirstNever()).invoke(PROMPT, "public")
    # fast ($0.008) was tried, then premium ($0.10) answered: the run cost more than the baseline alone
    assert escalated.tier == "premium" and escalated.cost_usd == pytest.approx(COST["fast"] + BASELINE)
    assert escalated.baseline_cost_usd == pytest.approx(BASELINE, abs=1e-12)
    assert escalated.saved_usd == pytest.approx(-COST["fast"], abs=1e-12)
    assert escalated.as_dict()["saved_usd"] == escalated.saved_usd
    # local answered and was accepted: the whole baseline saved
    assert cheap.tier == "local" and cents(cheap.saved_usd or 0) == 0.10
