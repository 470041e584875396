"""``routed-llm report``: spend by day, tier, model and tag from a real SQLite ledger."""

import importlib.util
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from routed_llm.budget import MemoryLedger, SpendEntry, SQLiteLedger, spend_report
from routed_llm.cli import main

D1 = datetime(2026, 11, 20, 10, tzinfo=UTC).timestamp()
D2 = datetime(2026, 11, 21, 10, tzinfo=UTC).timestamp()
ENTRIES = [
    SpendEntry(
        "a", D1, "premium", "anthropic/claude-sonnet-4", "anthropic", 0.25, {"user_id": "alice", "tags": ["rag"]}
    ),
    SpendEntry("b", D1, "fast", "groq/llama-3.3-70b", "groq", 0.01, {"user_id": "bob", "tags": ["rag", "eval"]}),
    SpendEntry("c", D2, "premium", "anthropic/claude-sonnet-4", "anthropic", 0.5, {"user_id": "alice"}),
    SpendEntry("d", D2, "local", "ollama_chat/llama3.2:3b", "ollama_chat", 0.0, {}),
]


@pytest.fixture
def ledger_url(tmp_path: Path) -> str:
    ledger = SQLiteLedger(tmp_path / "ledger.db")
    for e in ENTRIES:
        ledger.record(e, ["total"])
    ledger.close()
    return f"sqlite:///{tmp_path}/ledger.db"


def test_spend_report_groupings() -> None:
    ledger = MemoryLedger()
    for e in ENTRIES:
        ledger.record(e, [])
    entries = ledger.entries()
    assert spend_report(entries, "day") == [
        {"day": "2026-11-20", "calls": 2, "cost_usd": 0.26},
        {"day": "2026-11-21", "calls": 2, "cost_usd": 0.5},
    ]
    assert [r["tier"] for r in spend_report(entries, "tier")] == ["premium", "fast", "local"]
    assert spend_report(entries, "tag") == [  # largest spend first; untagged calls under "-"
        {"tag": "-", "calls": 2, "cost_usd": 0.5},
        {"tag": "rag", "calls": 2, "cost_usd": 0.26},
        {"tag": "eval", "calls": 1, "cost_usd": 0.01},
    ]
    assert spend_report(entries, "user")[0] == {"user": "alice", "calls": 2, "cost_usd": 0.75}


def test_report_cli_json(ledger_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--store", ledger_url, "--json", "--by", "model", "--by", "day"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["calls"] == 4 and out["total_usd"] == pytest.approx(0.76)
    assert out["by"]["model"][0] == {"model": "anthropic/claude-sonnet-4", "calls": 2, "cost_usd": 0.75}
    assert [r["day"] for r in out["by"]["day"]] == ["2026-11-20", "2026-11-21"]


def test_report_cli_tables_and_config_store(
    tmp_path: Path, ledger_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "routing.yaml"
    cfg.write_text(
        "tiers: {local: {models: [{model: ollama_chat/x}], private: true}}\n"
        f"routing: {{default: local}}\nbudgets: {{store: '{ledger_url}', daily_usd: 10}}\n"
    )
    assert main(["report", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "$0.7600 over 4 call(s)" in out
    for title in ("by day", "by tier", "by model", "by tag"):
        assert title in out
    assert "groq/llama-3.3-70b" in out and "eval" in out


def test_report_cli_missing_ledger(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--store", f"sqlite:///{tmp_path}/none.db"]) == 2
    assert "no spend ledger at" in capsys.readouterr().err


def test_report_cli_png(ledger_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "spend.png"
    code = main(["report", "--store", ledger_url, "--png", str(png)])
    if importlib.util.find_spec("matplotlib") is None:
        assert code == 2
        assert "--png needs matplotlib" in capsys.readouterr().err
        assert not png.exists()
    else:
        assert code == 0
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_savings_report_keeps_shadow_and_unpriced_spend_apart() -> None:
    from routed_llm.budget import savings_report

    entries = [
        SpendEntry("s1", D1, "fast", "openai/f", "openai", 0.008, {"tags": ["rag"]}, 0.1),
        SpendEntry("s2", D2, "fast", "openai/f", "openai", 0.0, {"tags": ["rag", "eval"]}, 0.1, True),
        SpendEntry("s3", D2, "premium", "openai/p", "openai", 0.1, {}, 0.1),
        SpendEntry("sh", D2, "premium", "openai/p", "openai", 0.006, {"tags": ["shadow"]}),
        SpendEntry("old", D1, "fast", "openai/f", "openai", 0.5, {}),  # recorded before savings existed
    ]
    report = savings_report(entries, ["day", "tag"])
    assert report["total"] == {
        "calls": 3,
        "cached_calls": 1,
        "cost_usd": pytest.approx(0.108),
        "baseline_usd": pytest.approx(0.3),
        "saved_usd": pytest.approx(0.192),
        "saved_share": pytest.approx(0.64),
    }
    assert report["shadow"] == {"calls": 1, "cost_usd": pytest.approx(0.006)}
    assert report["net_saved_usd"] == pytest.approx(0.186)
    assert report["unpriced"] == {"calls": 1, "cost_usd": pytest.approx(0.5)}
    assert [(r["day"], r["calls"]) for r in report["by"]["day"]] == [("2026-11-20", 1), ("2026-11-21", 2)]
    tags = {r["tag"]: r["saved_usd"] for r in report["by"]["tag"]}
    assert tags == pytest.approx({"rag": 0.192, "eval": 0.1, "-": 0.0})
