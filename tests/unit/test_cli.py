from pathlib import Path

import pytest

from routed_llm.cli import main

SEED003 = Path(__file__).resolve().parents[2] / "examples" / "configs" / "seed003_routing_strategy.yaml"


def test_explain_prints_decision_constraints_and_reason(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "explain",
            "Refactor this module",
            "--config",
            str(SEED003),
            "--hint",
            "task=code",
            "--hint",
            "complexity=complex",
            "--hint",
            "sensitivity=confidential",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "tier       local-code-large" in out
    assert "rule       complex-code" in out
    assert "skipped premium: not private (sensitivity=confidential)" in out
    assert "not private" in out and "chosen" in out  # the constraints table


def test_explain_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "Classify: great phone!", "--config", str(SEED003), "--json"]) == 0
    out = capsys.readouterr().out
    assert '"tier": "local"' in out and '"task": "classification"' in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--hint", "colour=blue"], "unknown hint 'colour'"),
        (["--hint", "nonsense"], "expected key=value"),
        (["--hint", "tier=gpu"], "unknown tier 'gpu'; configured tiers: local"),
        (["--hint", "complexity=extreme"], "unknown complexity 'extreme'"),
        (["--config", "/nonexistent.yaml"], "file not found"),
    ],
)
def test_explain_bad_input_is_a_clear_error(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    config = [] if "--config" in argv else ["--config", str(SEED003)]
    assert main(["explain", "hello", *config, *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
