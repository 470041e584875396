"""The learned scorer: the shipped file, its validation, determinism, training and truncation."""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routed_llm.errors import ConfigError, InvalidRequest
from routed_llm.scoring.learned import (
    DIFFICULTY_EMBEDDING_PENALTY,
    DIFFICULTY_HASHED_PENALTY,
    FORMAT_VERSION,
    HAND_FEATURES,
    HASHED_DIMS,
    MAX_TOKENS,
    LearnedScorer,
    default_scorer_path,
    fit_head,
    fit_scoring_head,
    hashed_ngrams,
    item_difficulty,
    prompt_text,
    train_scorer,
)

EASY = "What is the capital of France?"
HARD = (
    "A train leaves at 3:15 pm travelling 84 km/h; a second leaves 40 minutes later at 96 km/h on a parallel track. "
    "Each stops for 12 minutes every 150 km. After how many hours does the second train overtake the first, and "
    "how far from the station are they? Prove that the answer is unique."
)


@pytest.fixture(scope="module")
def scorer() -> LearnedScorer:
    return LearnedScorer.load()


def test_the_shipped_file_is_small_and_loads(scorer: LearnedScorer) -> None:
    assert default_scorer_path().stat().st_size < 50_000_000
    assert scorer.name == f"learned:default@{FORMAT_VERSION}"
    assert scorer.tier_names == ("small", "mid", "strong")
    assert scorer.meta["hand_features"] == list(HAND_FEATURES)
    assert "winograde (887 rows)" in scorer.meta["trained_on"]  # *_train only: the test splits stay unseen
    assert not any("test" in t for t in scorer.meta["trained_on"])
    trained_on = " ".join(scorer.meta["trained_on"])
    assert all(name in trained_on for name in ("mmlu", "gsm8k", "llmrouter", "alpaca_eval", "arena_bench"))


def test_scores_are_deterministic_bounded_and_rank_hard_above_easy(scorer: LearnedScorer) -> None:
    first = scorer.score([{"role": "user", "content": HARD}])
    again = LearnedScorer.load().score([{"role": "user", "content": HARD}])
    easy = scorer.score([{"role": "user", "content": EASY}])
    assert first.value == again.value
    assert 0.0 <= easy.value <= 1.0 and 0.0 <= first.value <= 1.0
    assert first.value > easy.value
    assert first.tier_scores is not None and set(first.tier_scores) == set(scorer.tier_names)
    assert all(0.0 <= p <= 1.0 for p in first.tier_scores.values())
    # the strong reference tier is predicted to do at least as well as the cheap one on a hard prompt
    assert first.tier_scores["strong"] >= first.tier_scores["mid"]


def test_batch_and_single_scores_agree(scorer: LearnedScorer) -> None:
    batch = scorer.score_texts([EASY, HARD])
    assert batch.shape == (2,)
    assert batch[1] == pytest.approx(scorer.score([{"role": "user", "content": HARD}]).value)


def test_prompt_text_reads_system_and_last_user_message() -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "an answer"},
        {"role": "user", "content": [{"type": "text", "text": "second"}, {"type": "image_url", "image_url": {}}]},
    ]
    assert prompt_text(messages) == "You are terse.\n\nsecond"
    assert prompt_text([{"role": "assistant", "content": "only this"}]) == "only this"


def test_long_prompts_are_truncated_to_their_first_and_last_tokens(scorer: LearnedScorer) -> None:
    head = "alpha " * MAX_TOKENS
    tail = "omega " * MAX_TOKENS
    middle = "integral derivative eigenvalue " * 3000
    other_middle = "aaaaaaaa bbbbbbbbbb cccccccccc " * 3000  # as many characters and words: length features agree
    assert len(middle) == len(other_middle)
    scores = scorer.score_texts([head + middle + tail, head + other_middle + tail])
    assert scores[0] == pytest.approx(scores[1], abs=1e-9)  # what lies between the kept head and tail is not read


@pytest.mark.parametrize("bad", ["", "   ", None, 42])
def test_empty_or_non_string_prompts_are_invalid_requests(scorer: LearnedScorer, bad: object) -> None:
    with pytest.raises(InvalidRequest, match="prompt 0"):
        scorer.score_texts([bad])  # type: ignore[list-item]


def test_a_missing_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.npz"
    with pytest.raises(ConfigError, match="nope.npz"):
        LearnedScorer.load(missing)


def test_a_corrupt_file_is_a_config_error_naming_it(tmp_path: Path) -> None:
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip at all")
    with pytest.raises(ConfigError, match="broken.npz"):
        LearnedScorer.load(broken)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(default_scorer_path().read_bytes()[:50_000])
    with pytest.raises(ConfigError, match="truncated.npz"):
        LearnedScorer.load(truncated)


def test_a_file_missing_an_array_or_of_another_version_is_refused(tmp_path: Path) -> None:
    with np.load(default_scorer_path()) as data:
        arrays = {k: data[k] for k in data.files}
    partial = tmp_path / "partial.npz"
    np.savez(partial, **{k: v for k, v in arrays.items() if k != "weights"})
    with pytest.raises(ConfigError, match="partial.npz.*corrupt"):
        LearnedScorer.load(partial)
    newer = tmp_path / "newer.npz"
    np.savez(newer, **{**arrays, "format_version": np.array(FORMAT_VERSION + 1)})
    with pytest.raises(ConfigError, match="format version"):
        LearnedScorer.load(newer)
    assert zipfile.is_zipfile(newer)


def test_a_format_2_file_still_loads_and_clips_its_tier_predictions(scorer: LearnedScorer, tmp_path: Path) -> None:
    with np.load(default_scorer_path()) as data:
        arrays = {k: data[k] for k in data.files if not k.startswith("tier_calibration")}
    older = tmp_path / "older.npz"
    np.savez(older, **{**arrays, "format_version": np.array(2)})
    loaded = LearnedScorer.load(older)
    assert loaded.name == "learned:default@2"
    texts = [EASY, HARD]
    np.testing.assert_allclose(loaded.score_texts(texts), scorer.score_texts(texts), atol=1e-9)
    raw = loaded.predict_features(loaded.features(texts))[1]
    assert ((raw >= 0) & (raw <= 1)).all()


def test_save_and_load_round_trip(scorer: LearnedScorer, tmp_path: Path) -> None:
    path = tmp_path / "copy.npz"
    scorer.save(path)
    assert not path.with_name("copy.npz.tmp").exists()
    again = LearnedScorer.load(path)
    texts = [EASY, HARD, "Write a haiku about autumn."]
    np.testing.assert_allclose(again.score_texts(texts), scorer.score_texts(texts), atol=1e-3)


def test_training_on_outcomes_separates_what_the_cheap_tier_fails(scorer: LearnedScorer, tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    topics = ["integral of a rational function", "eigenvalues of a symmetric matrix", "limit of a sequence"]
    easy = ["favourite colour", "capital city", "a greeting", "the weather today"]
    texts, quality = [], []
    for i in range(120):
        hard = i % 2 == 0
        subject = topics[i % 3] if hard else easy[i % 4]
        texts.append(f"Question {i}: tell me about the {subject} ({rng.integers(1000)}).")
        quality.append([0.0 if hard else 1.0, 1.0])
    trained = train_scorer(texts, np.array(quality), ["cheap", "strong"], base=scorer, name="mine")
    assert trained.name == f"learned:mine@{FORMAT_VERSION}"
    held_out_hard = [
        f"Question {i}: tell me about the {t} ({i * 7})." for i, t in zip((501, 503), topics, strict=False)
    ]
    held_out_easy = [f"Question {i}: tell me about the {t} ({i * 7})." for i, t in zip((502, 504), easy, strict=False)]
    hard_scores = trained.score_texts(held_out_hard)
    easy_scores = trained.score_texts(held_out_easy)
    assert hard_scores.min() >= 0.5 > easy_scores.max()  # percentiles: half the training prompts were hard
    tiers = trained.predict(held_out_hard + held_out_easy)[1]
    assert (tiers[:2, 0] < tiers[2:, 0]).all()  # the cheap tier is predicted to fail the hard ones
    path = tmp_path / "mine.npz"
    trained.save(path)
    assert LearnedScorer.load(path).meta["gain_between"] == ["cheap", "strong"]


def test_training_rejects_bad_shapes(scorer: LearnedScorer) -> None:
    with pytest.raises(InvalidRequest, match="at least two tiers"):
        train_scorer(["a"] * 30, np.ones((30, 1)), ["only"], base=scorer)
    with pytest.raises(InvalidRequest, match="one row per prompt"):
        train_scorer(["a"] * 30, np.ones((29, 2)), ["a", "b"], base=scorer)
    with pytest.raises(InvalidRequest, match="at least 20"):
        train_scorer(["a"] * 5, np.ones((5, 2)), ["a", "b"], base=scorer)


def test_the_learned_path_never_imports_torch_or_sklearn() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from routed_llm.scoring.learned import LearnedScorer\n"
        "LearnedScorer.load().score([{'role': 'user', 'content': 'Solve x^2 = 2 over the rationals.'}])\n"
        "heavy = sorted(m for m in ('torch', 'sklearn', 'sentence_transformers', 'transformers') if m in sys.modules)\n"
        "print(','.join(heavy) or 'none')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip().splitlines()[-1] == "none"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(min_size=1, max_size=3000).filter(str.strip))
def test_any_text_gets_a_finite_score_in_range(scorer: LearnedScorer, text: str) -> None:
    # control characters, lone surrogates' neighbours, emoji, RTL text, code: never NaN, never an error
    score = scorer.score([{"role": "user", "content": text}])
    assert 0.0 <= score.value <= 1.0
    assert score.tier_scores is not None
    assert all(np.isfinite(p) and 0.0 <= p <= 1.0 for p in score.tier_scores.values())


def test_hashed_ngrams_are_deterministic_signed_buckets_of_unit_length() -> None:
    v = hashed_ngrams("Prove that the sum of two odd numbers is even.")
    assert v.shape == (HASHED_DIMS,)
    assert np.linalg.norm(v) == pytest.approx(1.0)
    np.testing.assert_array_equal(v, hashed_ngrams("PROVE that the sum of two odd numbers is even!"))  # case, punct.
    h = zlib.crc32(b"prove")
    assert np.sign(hashed_ngrams("prove")[h % HASHED_DIMS]) == (1.0 if h >> 31 else -1.0)
    assert not hashed_ngrams("你好啊集团").any()  # no ASCII words: the block is empty, the embedding reads it
    assert not np.allclose(v, hashed_ngrams("Write a haiku about autumn leaves."))


def test_item_difficulty_orders_items_by_how_many_models_solve_them() -> None:
    rng = np.random.default_rng(3)
    solvers = np.repeat(np.arange(12), 5)  # 0..11 of 11 models solve each item (11 = all)
    outcomes = np.array([[1.0 if m < k else 0.0 for m in range(11)] for k in solvers])
    outcomes[rng.random(outcomes.shape) < 0.05] = np.nan  # a missing record is left out, not a failure
    difficulty = item_difficulty(outcomes)
    assert np.isfinite(difficulty).all()  # the prior keeps all-solved and none-solved items finite
    by_solvers = [difficulty[solvers == k].mean() for k in range(12)]
    assert all(a > b for a, b in zip(by_solvers, by_solvers[1:], strict=False))


def test_the_score_column_blends_the_standardised_gain_and_difficulty_heads() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 20))
    gain = (x[:, 0] + rng.normal(scale=0.5, size=300))[:, None]
    difficulty = x[:, 1] + rng.normal(scale=0.5, size=300)
    difficulty[:100] = np.nan  # known on some rows only (RouterBench), like the shipped training data
    groups = np.repeat([0, 1, 2], 100)
    common = {"n_embedding": 10, "n_hashed": 5, "groups": groups, "group_weight_power": 0.75}
    plain = fit_head(x, gain, **common)
    assert np.allclose(fit_scoring_head(x, gain, **common).weights, plain.weights)  # no difficulty: the gain
    blended = fit_scoring_head(x, gain, difficulty=difficulty, difficulty_weight=0.5, **common)
    hard = fit_head(
        x,
        difficulty[:, None],
        embedding_penalty=DIFFICULTY_EMBEDDING_PENALTY,
        hashed_penalty=DIFFICULTY_HASHED_PENALTY,
        **common,
    )
    g, d = plain.predict(x)[:, 0], hard.predict(x)[:, 0]
    expected = 0.5 * (g - g.mean()) / g.std() + 0.5 * (d - d.mean()) / d.std()
    np.testing.assert_allclose(blended.predict(x)[:, 0], expected, atol=1e-9)
    assert np.corrcoef(blended.predict(x)[:, 0], x[:, 1])[0, 1] > np.corrcoef(g, x[:, 1])[0, 1]


def test_a_file_whose_head_does_not_fit_its_features_is_refused(tmp_path: Path) -> None:
    with np.load(default_scorer_path()) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(bytes(arrays["meta"]).decode())
    wrong = tmp_path / "wrong.npz"
    bad_meta = json.dumps({**meta, "hashed_dims": meta["hashed_dims"] + 1}).encode()
    np.savez(wrong, **{**arrays, "meta": np.frombuffer(bad_meta, dtype=np.uint8)})
    with pytest.raises(ConfigError, match="wrong.npz.*does not fit"):
        LearnedScorer.load(wrong)
