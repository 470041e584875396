"""Shadow evaluation on real loopback endpoints: background shadow calls, judges, outcomes `train` accepts.

Every tier is a `ScriptedServer` (or a failing `FaultyServer`) on loopback whose answer
depends on the prompt: the cheap tier is right on "easy" prompts and wrong on "hard"
ones, the premium tier always right, and a judge tier grades by comparing the answers.
"""

import json
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from routed_llm import Router
from routed_llm.cli import main
from routed_llm.shadow import judge_rubric
from tests.servers.faulty import FaultyServer
from tests.servers.scripted import ScriptedServer, last_user_text

pytestmark = pytest.mark.servers

PUBLIC = {"sensitivity": "public", "task": "classification", "complexity": "simple"}


def right(body: dict[str, Any]) -> str:
    """The correct label: the last word of the prompt, upper-cased."""
    return last_user_text(body).split()[-1].upper()


def cheap(body: dict[str, Any]) -> str:
    return right(body) if "easy" in last_user_text(body) else "WRONG"


def judge(body: dict[str, Any]) -> str:
    text = last_user_text(body)
    a = re.search(r"ANSWER A \(served\):\n(.*?)\n\n", text, flags=re.DOTALL)
    b = re.search(r"ANSWER B \(reference\):\n(.*?)\n\n", text, flags=re.DOTALL)
    same = a is not None and b is not None and a.group(1).strip() == b.group(1).strip()
    return json.dumps({"as_good": same, "reason": "same label" if same else "different label"})


@pytest.fixture
def scripted() -> Iterator[Any]:
    started: list[ScriptedServer] = []

    def make(answer: Any, **kwargs: Any) -> ScriptedServer:
        server = ScriptedServer(answer, **kwargs).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def tier(url: str, price: tuple[float, float], *, private: bool = False) -> dict[str, Any]:
    dep = {"model": "openai/m", "api_base": url, "api_key": "sk-test"}
    dep["input_cost_per_token"], dep["output_cost_per_token"] = price
    return {"models": [dep], **({"private": True} if private else {})}


def config(urls: dict[str, str], outcomes: Path, **shadow: Any) -> dict[str, Any]:
    prices = {"local": (0.0, 0.0), "fast": (1e-4, 2e-4), "judge": (1e-4, 1e-4), "premium": (1e-3, 3e-3)}
    return {
        "tiers": {n: tier(u, prices[n], private=n == "local") for n, u in urls.items()},
        "routing": {
            "default": "fast",
            "savings_baseline": "premium",
            "shadow": {"sample": 1.0, "tier": "premium", "judge": "exact", "outcomes": str(outcomes), **shadow},
        },
    }


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_graded_pairs_are_written_in_train_format_and_train_accepts_them(
    scripted: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fast, premium = scripted(cheap), scripted(right)
    out = tmp_path / "shadow.jsonl"
    prompts = [f"{kind} question {i}: label {kind}{i}" for i in range(12) for kind in ("easy", "hard")]
    served = []
    with Router(config({"fast": fast.base_url, "premium": premium.base_url}, out)) as r:
        assert r.shadow is not None
        for p in prompts:
            served.append(r.complete(p, PUBLIC))
            r.shadow.drain(30)  # one at a time: none is dropped for max_concurrent
        assert r.shadow.stats.graded == len(prompts)
    assert all(s.routing.tier == "fast" for s in served)
    assert len(premium.requests) == len(prompts)
    lines = rows(out)
    assert len(lines) == len(prompts)
    by_prompt = {line["prompt"]: line for line in lines}
    for p in prompts:
        line = by_prompt[p]
        assert list(line["quality"]) == ["fast", "premium"]  # cheapest first, as train reads tiers
        assert line["quality"] == {"fast": 1.0 if p.startswith("easy") else 0.0, "premium": 1.0}
        words = len(p.split())  # the loopback servers count one token per word
        assert line["cost"]["fast"] == pytest.approx(words * 1e-4 + 1 * 2e-4)
        assert line["cost"]["premium"] == pytest.approx(words * 1e-3 + 1 * 3e-3)
        assert line["shadow"]["task"] == "classification" and line["shadow"]["judge"] == "exact"
    scorer = tmp_path / "mine.npz"
    assert main(["train", "--data", str(out), "--out", str(scorer)]) == 0
    assert scorer.stat().st_size > 0 and "on 24 rows, tiers fast, premium" in capsys.readouterr().out
    assert main(["report", "--shadow", "--outcomes", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["pairs"] == 24 and report["match_rate"] == 0.5
    assert [(row["tier"], row["task"], row["pairs"]) for row in report["by"]] == [("fast", "classification", 24)]


def test_an_llm_judge_grades_with_the_shipped_rubric(scripted: Any, tmp_path: Path) -> None:
    fast, premium, grader = scripted(cheap), scripted(right), scripted(judge)
    out = tmp_path / "shadow.jsonl"
    urls = {"fast": fast.base_url, "judge": grader.base_url, "premium": premium.base_url}
    with Router(config(urls, out, judge="judge")) as r:
        for p in ("easy one: label cat", "hard one: label dog"):
            r.complete(p, PUBLIC)
        r.shadow.drain(30)  # type: ignore[union-attr]
    assert len(grader.requests) == 2
    system = grader.requests[0]["messages"][0]
    assert system["role"] == "system" and system["content"] == judge_rubric()
    assert {line["prompt"]: line["quality"]["fast"] for line in rows(out)} == {
        "easy one: label cat": 1.0,
        "hard one: label dog": 0.0,
    }
    assert {line["shadow"]["reason"] for line in rows(out)} == {"same label", "different label"}


def test_a_stream_and_an_async_call_are_shadowed_too(scripted: Any, tmp_path: Path) -> None:
    import asyncio

    fast, premium = scripted(cheap), scripted(right)
    out = tmp_path / "shadow.jsonl"
    with Router(config({"fast": fast.base_url, "premium": premium.base_url}, out)) as r:
        list(r.stream("easy stream: label x", PUBLIC))
        asyncio.run(r.acomplete("hard async: label y", PUBLIC))
        r.shadow.drain(30)  # type: ignore[union-attr]
    assert {line["prompt"]: line["quality"]["fast"] for line in rows(out)} == {
        "easy stream: label x": 1.0,
        "hard async: label y": 0.0,
    }


@pytest.mark.parametrize("answer", ["I think the first one is fine.", '{"verdict": "yes"}', ""])
def test_a_garbage_verdict_records_nothing_and_says_why(
    scripted: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture, answer: str
) -> None:
    fast, premium, grader = scripted(cheap), scripted(right), scripted(lambda body: answer)
    out = tmp_path / "shadow.jsonl"
    urls = {"fast": fast.base_url, "judge": grader.base_url, "premium": premium.base_url}
    with caplog.at_level(logging.WARNING, logger="routed_llm.shadow"):
        with Router(config(urls, out, judge="judge")) as r:
            r.complete("easy: label a", PUBLIC)
            r.shadow.drain(30)  # type: ignore[union-attr]
            assert r.shadow.stats.graded == 0 and r.shadow.stats.failed == 1  # type: ignore[union-attr]
    assert len(grader.requests) == 1 and not out.exists()
    assert any("nothing recorded" in rec.getMessage() for rec in caplog.records)


def test_a_failing_judge_records_nothing_and_says_why(
    scripted: Any, faulty_server: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fast, premium, grader = scripted(cheap), scripted(right), faulty_server("error500")
    out = tmp_path / "shadow.jsonl"
    urls = {"fast": fast.base_url, "judge": grader.base_url, "premium": premium.base_url}
    with caplog.at_level(logging.WARNING, logger="routed_llm.shadow"):
        with Router(config(urls, out, judge="judge")) as r:
            assert r.complete("easy: label a", PUBLIC).routing.tier == "fast"  # the served call is untouched
            r.shadow.drain(30)  # type: ignore[union-attr]
    assert grader.connections >= 1 and not out.exists()
    [why] = [rec.getMessage() for rec in caplog.records if "nothing recorded" in rec.getMessage()]
    assert "AllTiersFailed" in why


def test_no_shadow_call_for_confidential_data_on_a_non_private_tier(scripted: Any, tmp_path: Path) -> None:
    local, premium = scripted(cheap), scripted(right)
    out = tmp_path / "shadow.jsonl"
    cfg = config({"local": local.base_url, "premium": premium.base_url}, out)
    cfg["routing"]["default"] = "local"
    with Router(cfg) as r:
        served = r.complete("easy: my salary is 90k, label a", {**PUBLIC, "sensitivity": "confidential"})
        r.complete("easy: label b", PUBLIC)  # a public call on the same router is shadowed
        r.shadow.drain(30)  # type: ignore[union-attr]
        skipped = dict(r.shadow.stats.skipped)  # type: ignore[union-attr]
    assert served.routing.tier == "local"
    assert [last_user_text(b) for b in premium.requests] == ["easy: label b"]
    assert [line["prompt"] for line in rows(out)] == ["easy: label b"]
    assert any(k.startswith("policy: shadow tier premium excluded") for k in skipped)


def test_a_private_shadow_tier_may_shadow_confidential_calls(scripted: Any, tmp_path: Path) -> None:
    small, big = scripted(cheap), scripted(right)
    out = tmp_path / "shadow.jsonl"
    cfg = config({"local": small.base_url, "premium": big.base_url}, out)
    cfg["tiers"]["premium"]["private"] = True
    cfg["routing"]["default"] = "local"
    with Router(cfg) as r:
        r.complete("hard: my salary is 90k, label a", {**PUBLIC, "sensitivity": "confidential"})
        r.shadow.drain(30)  # type: ignore[union-attr]
    assert len(big.requests) == 1 and rows(out)[0]["quality"] == {"local": 0.0, "premium": 1.0}


def test_no_shadow_call_once_the_budget_closed_the_shadow_tier(scripted: Any, tmp_path: Path) -> None:
    fast, premium = scripted(cheap), scripted(right)
    out = tmp_path / "shadow.jsonl"
    cfg = config({"fast": fast.base_url, "premium": premium.base_url}, out)
    cfg["budgets"] = {"store": "memory://", "tiers": {"premium": {"daily_usd": 0.01}}}
    with Router(cfg) as r:
        r.complete("easy: label a", PUBLIC)  # shadowed: premium spends $0.006 (3 words in, 1 word out)
        r.shadow.drain(30)  # type: ignore[union-attr]
        r.complete("easy: label b", PUBLIC)  # shadowed: premium reaches $0.012, over its $0.01
        r.shadow.drain(30)  # type: ignore[union-attr]
        r.complete("easy: label c", PUBLIC)  # premium is closed now: not shadowed
        r.shadow.drain(30)  # type: ignore[union-attr]
        entries = r.budget.ledger.entries()  # type: ignore[union-attr]
        skipped = dict(r.shadow.stats.skipped)  # type: ignore[union-attr]
    assert len(premium.requests) == 2 and len(rows(out)) == 2
    assert any("premium" in k and ("budget" in k or "excluded" in k) for k in skipped), skipped
    shadow_spend = [e for e in entries if e.shadow]
    assert [e.tier for e in shadow_spend] == ["premium", "premium"] and all(
        e.baseline_usd is None for e in shadow_spend
    )
    assert sum(e.cost_usd for e in shadow_spend) == pytest.approx(2 * (3 * 1e-3 + 3e-3))


def test_shadow_spend_is_reported_apart_from_the_savings(
    scripted: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fast, premium = scripted(cheap), scripted(right)
    out, store = tmp_path / "shadow.jsonl", f"sqlite:///{tmp_path / 'ledger.db'}"
    cfg = config({"fast": fast.base_url, "premium": premium.base_url}, out)
    cfg["budgets"] = {"store": store}
    with Router(cfg) as r:
        info = r.complete("easy: label a", PUBLIC).routing
        r.shadow.drain(30)  # type: ignore[union-attr]
    capsys.readouterr()
    assert main(["report", "--savings", "--store", store, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["total"]["calls"] == 1 and report["total"]["saved_usd"] == pytest.approx(info.saved_usd)
    assert report["shadow"] == {"calls": 1, "cost_usd": pytest.approx(3 * 1e-3 + 3e-3)}
    assert report["net_saved_usd"] == pytest.approx(info.saved_usd - 0.006)


def test_shadow_work_never_delays_the_served_answer_and_stays_bounded(scripted: Any, tmp_path: Path) -> None:
    fast, premium = scripted(cheap), scripted(right, delay_s=2.0)
    out = tmp_path / "shadow.jsonl"
    with Router(config({"fast": fast.base_url, "premium": premium.base_url}, out, max_concurrent=2)) as r:
        started = time.monotonic()
        for i in range(6):
            r.complete(f"easy {i}: label a", PUBLIC)
        served_s = time.monotonic() - started
        stats = r.shadow.stats  # type: ignore[union-attr]
        r.shadow.drain(30)  # type: ignore[union-attr]
    assert served_s < 1.5  # six served calls took less than one shadow call (2 s)
    assert premium.peak_in_flight <= 2 and stats.peak_in_flight <= 2
    assert stats.sampled == 2 and stats.busy == 4 and len(rows(out)) == 2


def test_a_call_served_by_the_shadow_tier_or_from_the_cache_is_not_shadowed(scripted: Any, tmp_path: Path) -> None:
    fast, premium = scripted(cheap), scripted(right)
    out = tmp_path / "shadow.jsonl"
    cfg = config({"fast": fast.base_url, "premium": premium.base_url}, out)
    cfg["cache"] = {"store": "memory://"}
    with Router(cfg) as r:
        r.complete("easy: label a", {**PUBLIC, "tier": "premium"})
        r.complete("easy: label b", PUBLIC)
        r.complete("easy: label b", PUBLIC)  # a cache hit
        r.shadow.drain(30)  # type: ignore[union-attr]
        skipped = dict(r.shadow.stats.skipped)  # type: ignore[union-attr]
    assert len(premium.requests) == 2  # the premium call itself, and one shadow
    assert skipped == {"served by the shadow tier": 1}  # a hit is never even offered
    assert len(rows(out)) == 1


def test_sample_zero_shadows_nothing(scripted: Any, tmp_path: Path) -> None:
    fast, premium = scripted(cheap), scripted(right)
    out = tmp_path / "shadow.jsonl"
    with Router(config({"fast": fast.base_url, "premium": premium.base_url}, out, sample=0)) as r:
        for i in range(5):
            r.complete(f"easy {i}: label a", PUBLIC)
    assert premium.requests == [] and not out.exists()


def test_faulty_shadow_tier_records_nothing(faulty_server: Any, scripted: Any, tmp_path: Path) -> None:
    fast, premium = scripted(cheap), faulty_server("error500")
    out = tmp_path / "shadow.jsonl"
    with Router(config({"fast": fast.base_url, "premium": premium.base_url}, out)) as r:
        assert r.complete("easy: label a", PUBLIC).routing.tier == "fast"
        r.shadow.drain(30)  # type: ignore[union-attr]
        assert r.shadow.stats.failed == 1  # type: ignore[union-attr]
    assert isinstance(premium, FaultyServer) and premium.connections >= 1 and not out.exists()


def test_one_outcomes_file_per_served_tier_each_trainable(
    scripted: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    local, fast, premium = scripted(cheap), scripted(cheap), scripted(right)
    template = tmp_path / "shadow-{served}.jsonl"
    urls = {"local": local.base_url, "fast": fast.base_url, "premium": premium.base_url}
    with Router(config(urls, template)) as r:
        for i in range(20):
            for name in ("local", "fast"):
                kind = "easy" if i % 2 else "hard"
                r.complete(f"{kind} {name} {i}: label x{i}", {**PUBLIC, "tier": name})
                r.shadow.drain(30)  # type: ignore[union-attr]
    files = sorted(p.name for p in tmp_path.glob("shadow-*.jsonl"))
    assert files == ["shadow-fast.jsonl", "shadow-local.jsonl"]
    for name in ("local", "fast"):
        lines = rows(tmp_path / f"shadow-{name}.jsonl")
        assert len(lines) == 20 and all(list(line["quality"]) == [name, "premium"] for line in lines)
        assert (
            main(["train", "--data", str(tmp_path / f"shadow-{name}.jsonl"), "--out", str(tmp_path / f"{name}.npz")])
            == 0
        )
    capsys.readouterr()
    assert main(["report", "--shadow", "--outcomes", str(template), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["pairs"] == 40 and {row["tier"]: row["match_rate"] for row in report["by"]} == {
        "fast": 0.5,
        "local": 0.5,
    }
