"""``routed-llm score``, ``calibrate`` and ``train``, and calibration itself."""

import io
import json
import random
from pathlib import Path
from typing import Any

import pytest

from routed_llm.cli import main
from routed_llm.errors import InvalidRequest
from routed_llm.scoring import HeuristicScorer
from routed_llm.scoring.calibration import calibrate_threshold, share_over
from routed_llm.scoring.commands import bundled_sample
from routed_llm.scoring.inputs import read_outcomes, read_prompts

HARD = "Prove the algorithm is correct under concurrency; discuss trade-offs, failure modes and edge cases."


def run(
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    stdin: str | None = None,
    monkeypatch: pytest.MonkeyPatch | None = None,
) -> tuple[int, str, str]:
    if stdin is not None:
        assert monkeypatch is not None
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_score_round_trips_json_lines_and_plain_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text(
        "What is 2 + 2?\n"
        + json.dumps({"id": "q2", "prompt": HARD})
        + "\n"
        + "\n"
        + json.dumps({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": HARD}]})
        + "\n"
        + "{not json, so plain text}\n"
    )
    code, out, _ = run(capsys, ["score", "--scorer", "heuristic", str(prompts)])
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["line"] for r in rows] == [1, 2, 4, 5]
    assert rows[1]["id"] == "q2" and "id" not in rows[0]
    expected = HeuristicScorer().score([{"role": "user", "content": HARD}]).value
    assert rows[0]["score"] == 0.0 and rows[1]["score"] == expected > 0 and rows[2]["score"] == expected
    assert all(r["scorer"] == "heuristic" and 0 <= r["score"] <= 1 for r in rows)


def test_score_reads_stdin_and_the_configs_scorer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "routing.yaml"
    cfg.write_text(
        "tiers: {cheap: {models: [{model: openai/a}]}, premium: {models: [{model: openai/b}]}}\n"
        "routing: {default: cheap, scorer: heuristic}\n"
    )
    code, out, _ = run(capsys, ["score", "--config", str(cfg), "-"], stdin=f"{HARD}\n", monkeypatch=monkeypatch)
    assert code == 0 and json.loads(out)["scorer"] == "heuristic"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"prompt": ""}', "line 2: 'prompt' is empty"),
        ('{"prompt": "   "}', "line 2: 'prompt' is empty"),
        ('{"prompt": 42}', "line 2: 'prompt' must be a string, got int"),
        ('{"prompt": null}', "line 2: 'prompt' must be a string, got NoneType"),
        ('{"messages": "hi"}', "line 2: 'messages' must be a non-empty list"),
        ('{"messages": [{"content": "hi"}]}', "line 2: messages[0] must be a mapping with a 'role'"),
        ('{"text": "hi"}', "line 2: a JSON object needs a 'prompt' string or a 'messages' list"),
    ],
)
def test_score_bad_input_is_invalid_request_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, message: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(f'{{"prompt": "fine"}}\n{line}\n')
    with pytest.raises(InvalidRequest, match=message.replace("[", r"\[").replace("]", r"\]")):
        list(read_prompts(path.read_text().splitlines(), source=str(path)))
    code, out, err = run(capsys, ["score", "--scorer", "heuristic", str(path)])
    assert code == 2 and out == "" and f"{path} {message}" in err


def test_score_with_a_missing_scorer_file_names_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, ["score", "--scorer", str(tmp_path / "gone.npz"), "-"])
    assert code == 2 and "gone.npz" in err


@pytest.mark.parametrize("share", [0.1, 0.3, 0.5, 0.8])
def test_calibration_hits_the_share_on_a_held_out_sample(share: float) -> None:
    rng = random.Random(7)
    # scores shaped like a real scorer's: a skewed mix, with ties at the rounded values
    draw = [round(rng.betavariate(2, 5), 3) if rng.random() < 0.7 else rng.random() for _ in range(20000)]
    calibration, held_out = draw[:10000], draw[10000:]
    cal = calibrate_threshold(calibration, share)
    assert abs(cal.share - share) <= 0.005
    assert abs(share_over(held_out, cal.threshold) - share) <= 0.02


def test_calibration_with_ties_gets_as_close_as_the_ties_allow() -> None:
    cal = calibrate_threshold([0.0] * 60 + [0.2] * 30 + [0.5] * 10, 0.3)
    assert cal.threshold == 0.1 and cal.share == 0.4  # 0.4 (over 0.1) is nearer 0.3 than 0.1 (over 0.35)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        calibrate_threshold([0.1], 1.0)


def test_calibrate_prints_a_config_snippet_that_routes_the_share(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    code, out, _ = run(capsys, ["calibrate", "--premium-share", "0.3", "--scorer", "heuristic"])
    assert code == 0
    snippet = yaml.safe_load(out)
    rule = snippet["routing"]["rules"][0]
    assert snippet["routing"]["scorer"] == "heuristic" and rule["tier"] == "premium"
    threshold = rule["when"]["score_over"]
    assert out.startswith("# routed-llm calibrate:") and "of 300 prompts" in out
    prompts = list(read_prompts(bundled_sample().read_text().splitlines()))
    scores = [HeuristicScorer().score(p.messages).value for p in prompts]
    assert f"{share_over(scores, threshold):.1%} of 300" in out
    # the snippet is valid routing config as printed
    from routed_llm import load_config

    cfg = {
        "tiers": {"local": {"models": [{"model": "openai/a"}]}, "premium": {"models": [{"model": "openai/b"}]}},
        "routing": {"default": "local", **snippet["routing"]},
    }
    assert load_config(cfg).routing.rules[0].when.score_over == threshold


def test_calibrate_on_the_users_prompts_and_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sample = tmp_path / "traffic.jsonl"
    sample.write_text("\n".join(["hi"] * 7 + [HARD] * 3))
    cfg = tmp_path / "routing.yaml"
    cfg.write_text(
        "tiers: {cheap: {models: [{model: openai/a}]}, gold: {models: [{model: openai/b}]}}\n"
        "routing: {default: cheap}\n"
    )
    code, out, _ = run(capsys, ["calibrate", "--premium-share", "0.3", "--prompts", str(sample), "--config", str(cfg)])
    assert code == 0 and "tier: gold" in out and "30.0% of 10 prompts" in out
    code, _, err = run(capsys, ["calibrate", "--premium-share", "1.5", "--prompts", str(sample)])
    assert code == 2 and "--premium-share" in err


def test_bundled_sample_is_300_public_prompts_mixed_like_typical_traffic() -> None:
    rows = [json.loads(line) for line in bundled_sample().read_text().splitlines()]
    assert len(rows) == 300 and all(r["prompt"].strip() for r in rows)
    sources = [r["source"].split(":")[0] for r in rows]
    assert set(sources) == {
        *("mmlu", "gsm8k", "mbpp", "arc_challenge", "winograde"),
        *("alpaca_eval", "arena_bench", "llmrouter"),
    }
    open_ended = sum(s in ("alpaca_eval", "arena_bench") for s in sources)
    assert open_ended >= 100  # open instructions and real chat: --premium-share is a share of traffic like this
    assert len({r["source"] for r in rows if r["source"].startswith("llmrouter:")}) == 13  # every QA/maths/code kind


# ---------------------------------------------------------------- train: the outcome file


def outcome(**row: Any) -> str:
    return json.dumps(row)


def test_outcomes_parse_tiers_in_first_row_order_or_as_given() -> None:
    lines = [
        outcome(prompt="easy", quality={"local": 1, "premium": True}, cost={"local": 0, "premium": 0.01}),
        outcome(
            messages=[{"role": "system", "content": "s"}, {"role": "user", "content": "hard"}],
            quality={"premium": 1.0, "local": 0.25},
            cost={"local": 0, "premium": 0.02},
        ),
    ]
    got = read_outcomes(lines)
    assert got.tier_names == ["local", "premium"] and got.texts == ["easy", "s\n\nhard"]
    assert got.quality == [[1.0, 1.0], [0.25, 1.0]] and got.cost == [[0.0, 0.01], [0.0, 0.02]]
    assert read_outcomes(lines, tiers=["premium", "local"]).quality == [[1.0, 1.0], [1.0, 0.25]]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("not json", "line 2: not valid JSON"),
        (outcome(prompt="x"), "line 2: 'quality' is missing"),
        (outcome(prompt="", quality={"a": 1, "b": 1}), "line 2: 'prompt' is empty"),
        (outcome(prompt=3, quality={"a": 1, "b": 1}), "line 2: 'prompt' must be a string"),
        (outcome(prompt="x", quality={"a": 1}), r"line 2: 'quality' has no value for tier\(s\) b"),
        (outcome(prompt="x", quality={"a": 1, "b": 1.5}), r"line 2: quality.b: must be a number in \[0.0, 1.0\]"),
        (outcome(prompt="x", quality={"a": 1, "b": "yes"}), "line 2: quality.b: must be a number"),
        (outcome(prompt="x", quality={"a": 1, "b": 1, "c": 0}), "line 2: quality names tier\\(s\\) c"),
        (
            outcome(prompt="x", quality={"a": 1, "b": 1}, cost={"a": -1, "b": 1}),
            "line 2: cost.a: must be a number >= 0",
        ),
        (outcome(prompt="x", quality={"a": 1, "b": 1}, cost={"a": 0, "b": 1}), "line 2: 'cost' is given but the first"),
    ],
)
def test_bad_outcome_rows_name_the_line_and_field(row: str, message: str) -> None:
    lines = [outcome(prompt="first", quality={"a": 0, "b": 1}), row]
    with pytest.raises(InvalidRequest, match=message):
        read_outcomes(lines, source="outcomes.jsonl")


def test_train_reports_bad_rows_before_training(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "outcomes.jsonl"
    data.write_text(
        outcome(prompt="a", quality={"x": 1, "y": 1}) + "\n" + outcome(prompt="b", quality={"x": 2, "y": 1})
    )
    code, _, err = run(capsys, ["train", "--data", str(data), "--out", str(tmp_path / "s.npz")])
    assert code == 2 and f"{data} line 2: quality.x: must be a number in [0.0, 1.0]" in err
    assert not (tmp_path / "s.npz").exists()


def test_explain_shows_the_score(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cfg = tmp_path / "routing.yaml"
    cfg.write_text(
        "tiers: {cheap: {models: [{model: openai/a, api_key: k}]},\n"
        "        premium: {models: [{model: openai/b, api_key: k}]}}\n"
        "routing: {default: cheap, threshold: {chain: [cheap, premium], thresholds: [0.45]}}\n"
    )
    code, out, _ = run(capsys, ["explain", HARD, "--config", str(cfg)])
    assert code == 0 and "tier       premium" in out and "score      0.600 by heuristic" in out
    code, out, _ = run(capsys, ["explain", "hello", "--config", str(cfg), "--json"])
    decision = json.loads(out)
    assert decision["score"] == 0.0 and decision["scorer"] == "heuristic" and decision["rule"] == "threshold"
