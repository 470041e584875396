"""The real learned scorer behind the seam: the packaged file, `routed-llm train`, and routing on it.

No test double here: these tests load the scorer file shipped in the wheel or one
trained by ``routed-llm train`` on a small synthetic outcome file.
"""

import json
import random
from pathlib import Path

import pytest

from routed_llm import Router
from routed_llm.cli import main
from routed_llm.errors import ConfigError
from routed_llm.scoring import FallbackScorer, clear_scorer_cache, load_scorer, open_scorer

TOPICS = ["a farm", "a bakery", "the library", "a train trip", "the garden", "a football match", "the weather"]


def synthetic_prompt(rng: random.Random, hard: bool) -> str:
    topic = rng.choice(TOPICS)
    if hard:
        return (
            f"Evaluate the integral of x^{rng.randint(2, 9)} * sin({rng.randint(2, 7)}x) dx, a question about {topic}."
        )
    return f"Write one friendly sentence about {topic} number {rng.randint(1, 99)}."


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scorer trained by the CLI on outcomes where every 'integral' prompt fails the cheap tier."""
    rng = random.Random(3)
    rows = []
    for i in range(120):
        hard = i % 2 == 0
        rows.append(
            {
                "prompt": synthetic_prompt(rng, hard),
                "quality": {"cheap": 0 if hard else 1, "strong": 1},
                "cost": {"cheap": 0.0001, "strong": 0.002},
            }
        )
    folder = tmp_path_factory.mktemp("train")
    data = folder / "outcomes.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = folder / "scorer.npz"
    assert main(["train", "--data", str(data), "--out", str(out)]) == 0
    return out


def test_train_separates_the_synthetic_outcomes(trained: Path) -> None:
    scorer = open_scorer(trained)
    rng = random.Random(99)  # held-out prompts, not in the training file
    hard = [scorer.score([{"role": "user", "content": synthetic_prompt(rng, True)}]) for _ in range(20)]
    easy = [scorer.score([{"role": "user", "content": synthetic_prompt(rng, False)}]) for _ in range(20)]
    assert min(s.value for s in hard) > max(s.value for s in easy)
    assert hard[0].tier_scores is not None and list(hard[0].tier_scores) == ["cheap", "strong"]


def test_a_trained_scorer_file_routes_through_a_score_rule(trained: Path, tmp_path: Path) -> None:
    clear_scorer_cache()
    config = tmp_path / "routing.yaml"
    config.write_text(
        "tiers: {cheap: {models: [{model: openai/a, api_key: k}]}, strong: {models: [{model: openai/b, api_key: k}]}}\n"
        f"routing: {{default: cheap, scorer: {trained.name}, rules: [{{when: {{score_over: 0.5}}, tier: strong}}]}}\n"
    )
    (tmp_path / trained.name).write_bytes(trained.read_bytes())
    router = Router(config)
    hints = {"sensitivity": "public", "task": "chat"}
    hard = router.route("Evaluate the integral of x^3 * sin(2x) dx, a question about the garden.", hints)
    easy = router.route("Write one friendly sentence about a bakery number 12.", hints)
    assert (hard.tier, easy.tier) == ("strong", "cheap")
    assert hard.scorer is not None and hard.scorer.startswith("learned:") and "heuristic" not in hard.reason


def test_packaged_scorer_loads_once_and_scores_deterministically() -> None:
    clear_scorer_cache()
    scorer = load_scorer("learned")
    assert isinstance(scorer, FallbackScorer)
    msgs = [{"role": "user", "content": "Prove that there are infinitely many primes of the form 4k+3."}]
    first = scorer.score(msgs)
    assert first.scorer.startswith("learned:") and first.note is None and 0 <= first.value <= 1
    assert [scorer.score(msgs) for _ in range(3)] == [first] * 3
    assert load_scorer("learned") is scorer


def test_the_real_loader_names_a_missing_or_corrupt_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.npz"):
        open_scorer(tmp_path / "nope.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 truncated zip")
    with pytest.raises(ConfigError, match="bad.npz"):
        open_scorer(bad)


def test_score_cli_with_the_learned_scorer_prints_tier_scores(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text("What is 2 + 2?\nSolve x^2 - 5x + 6 = 0 and prove the roots are integers.\n")
    assert main(["score", "--scorer", "learned", str(prompts)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 2 and all(r["scorer"].startswith("learned:") and r["tier_scores"] for r in rows)


@pytest.fixture(scope="module")
def recombined_scores() -> list[float]:
    """Packaged-scorer scores of 16,000 prompts recombined from the lines of the bundled public prompts."""
    from routed_llm.scoring.commands import bundled_sample

    lines = [
        line
        for row in bundled_sample().read_text().splitlines()
        for line in json.loads(row)["prompt"].splitlines()
        if line.strip()
    ]
    rng = random.Random(5)
    texts = [" ".join(rng.sample(lines, rng.randint(1, 3))) for _ in range(16000)]
    scores: list[float] = open_scorer("learned").score_texts(texts).tolist()  # type: ignore[attr-defined]
    return scores


@pytest.mark.parametrize("share", [0.1, 0.3, 0.5, 0.8])
def test_calibration_with_the_packaged_scorer_holds_on_a_held_out_sample(
    recombined_scores: list[float], share: float
) -> None:
    from routed_llm.scoring.calibration import calibrate_threshold, share_over

    calibration, held_out = recombined_scores[:8000], recombined_scores[8000:]
    cal = calibrate_threshold(calibration, share)
    assert abs(cal.share - share) <= 0.01
    assert abs(share_over(held_out, cal.threshold) - share) <= 0.02
