"""RouteLLM's routing metrics and the outcome loaders behind `bench routing` and the scorer's training."""

from __future__ import annotations

import numpy as np
import pytest

from routed_llm.bench.cascade import BenchDataError, default_data_dir
from routed_llm.bench.routing import Curve, _random_curve, cross_validated_scores, difficulties, fold_indices
from routed_llm.bench.routing_data import Outcomes, load_gsm8k, load_mmlu, load_routerbench, routing_metrics
from routed_llm.scoring.learned import HAND_FEATURES, HASHED_DIMS

DATA = default_data_dir()
needs_data = pytest.mark.skipif(not (DATA / "routellm").is_dir(), reason=f"shared routing data not found at {DATA}")


def _pair(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    weak = (rng.random(n) < 0.6).astype(float)
    strong = np.maximum(weak, (rng.random(n) < 0.5).astype(float))
    return weak, strong


def test_random_scores_give_apgr_near_half_and_cpt_near_the_share() -> None:
    weak, strong = _pair()
    runs = [routing_metrics(np.random.default_rng(k).random(len(weak)), weak, strong) for k in range(20)]
    assert np.mean([r.apgr for r in runs]) == pytest.approx(0.5, abs=0.03)
    assert np.mean([r.cpt50 for r in runs]) == pytest.approx(50, abs=4)
    assert np.mean([r.cpt80 for r in runs]) == pytest.approx(80, abs=4)


def test_a_score_that_knows_the_gain_beats_random_and_one_that_inverts_it_loses() -> None:
    weak, strong = _pair()
    gain = strong - weak
    good = routing_metrics(gain + 1e-3 * np.random.default_rng(1).random(len(gain)), weak, strong)
    bad = routing_metrics(-gain + 1e-3 * np.random.default_rng(1).random(len(gain)), weak, strong)
    assert good.apgr > 0.85 and good.cpt50 < 15
    assert bad.apgr < 0.3
    assert [x for x, _ in good.curve] == sorted(x for x, _ in good.curve)


def test_folds_partition_the_rows_and_depend_on_the_seed() -> None:
    folds = fold_indices(103, seed=3)
    assert len(folds) == 5
    assert sorted(np.concatenate(folds).tolist()) == list(range(103))
    assert not all(np.array_equal(a, b) for a, b in zip(folds, fold_indices(103, seed=4), strict=True))


def test_random_routing_curve_is_the_upper_hull_of_the_single_tiers() -> None:
    quality = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0]] * 50)
    cost = np.array([[1.0, 5.0, 10.0]] * 100)
    curve = _random_curve(Outcomes("t", ["p"] * 100, quality, cost))
    # mid (50% quality at 50% cost) lies on the cheap-premium line: the hull skips nothing above it
    assert curve.at_budget(1.0) == pytest.approx(1.0)
    assert curve.at_budget(0.1) == pytest.approx(0.5)
    assert curve.at_budget(0.55) == pytest.approx(0.5 + 0.5 * (0.45 / 0.9))
    assert np.isnan(Curve("x", np.array([0.2, 1.0]), np.array([0.5, 1.0])).at_budget(0.1))


def test_missing_data_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BenchDataError, match="routellm"):
        load_mmlu(tmp_path)
    with pytest.raises(BenchDataError, match="routerbench"):
        load_routerbench(tmp_path, "mbpp", "train")


@needs_data
def test_the_shared_files_load_with_the_readme_figures() -> None:
    mmlu, gsm8k = load_mmlu(DATA), load_gsm8k(DATA)
    assert len(mmlu) == 14037 and len(gsm8k) == 1307
    assert mmlu.quality[:, 1].mean() == pytest.approx(0.6809, abs=1e-4)
    assert gsm8k.quality[:, 2].mean() == pytest.approx(0.8577, abs=1e-4)
    oracle = routing_metrics(
        mmlu.quality[:, 2] - mmlu.quality[:, 1] + 1e-9 * np.arange(len(mmlu)), mmlu.quality[:, 1], mmlu.quality[:, 2]
    )
    assert oracle.apgr == pytest.approx(1.27, abs=0.01)
    assert oracle.cpt50 == pytest.approx(6.2, abs=0.1)
    train = load_routerbench(DATA, "winograde", "train")
    assert len(train) == 887 and train.cost is not None and train.quality.shape == (887, 3)


def test_bench_routing_without_data_says_what_to_pass(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from routed_llm.cli import main

    assert main(["bench", "routing", "--data", str(tmp_path)]) != 0
    assert "--data" in capsys.readouterr().err


def test_routerbench_rows_carry_every_recorded_model_for_the_difficulty_target() -> None:
    train = load_routerbench(DATA, "winograde", "train")
    assert train.all_quality is not None and train.all_quality.shape == (887, 11)
    difficulty = difficulties({"winograde": train, "mmlu": load_gsm8k(DATA)})
    assert np.isnan(difficulty["mmlu"]).all()  # two models only: no difficulty, the gain alone is learned there
    solved_share = np.nanmean(train.all_quality, axis=1)
    assert np.corrcoef(difficulty["winograde"], solved_share)[0, 1] < -0.95


def test_held_out_scores_come_from_the_other_sets_alone() -> None:
    rng = np.random.default_rng(1)
    n_features = 8 + HASHED_DIMS + len(HAND_FEATURES)

    def synthetic(name: str, n: int) -> tuple[Outcomes, np.ndarray]:
        x = rng.normal(size=(n, n_features))
        needs_strong = rng.random(n) < 1 / (1 + np.exp(-3 * x[:, 0]))  # feature 0 says who needs the strong tier
        weak = np.where(needs_strong, 0.0, 1.0)
        quality = np.column_stack([weak, weak, np.ones(n)])
        return Outcomes(name, [f"{name} {i}" for i in range(n)], quality), x

    (a, xa), (b, xb) = synthetic("a", 400), synthetic("b", 300)
    sets, features = {"a": a, "b": b}, {"a": xa, "b": xb}
    unseen = cross_validated_scores(sets, features, "b", held_out=True, embedding_penalty=1.0, hashed_penalty=1e6)
    assert routing_metrics(unseen, b.quality[:, 1], b.quality[:, 2]).apgr > 0.7
    # fitted on "a" alone: the same scores whatever "b"'s own outcomes say
    shuffled = Outcomes("b", b.prompts, b.quality[rng.permutation(300)])
    again = cross_validated_scores(
        {"a": a, "b": shuffled}, features, "b", held_out=True, embedding_penalty=1.0, hashed_penalty=1e6
    )
    np.testing.assert_allclose(again, unseen)


# --------------------------------------------------------------------------- every set in shared/, mixed traffic


@needs_data
def test_every_shared_set_loads_with_quality_in_the_unit_interval() -> None:
    from routed_llm.bench.routing import load_all_sets

    sets = load_all_sets(DATA)
    assert list(sets) == [
        "mmlu",
        "gsm8k",
        "arc_challenge",
        "mbpp",
        "winograde",
        "llmrouter",
        "alpaca_eval",
        "arena_bench",
    ]
    for name, o in sets.items():
        q = o.quality
        assert q.shape == (len(o), 3), name
        known = q[~np.isnan(q)]
        assert ((known >= 0) & (known <= 1)).all(), name
        assert not np.isnan(q[:, 1:]).any(), name  # the APGR pair is known on every row
        assert q[:, 2].mean() > q[:, 1].mean(), name  # the strong tier is the stronger one
    assert len(sets["llmrouter"]) == 5408  # the train split only
    assert len(set(sets["llmrouter"].kinds or [])) == 13
    assert 0.5 < np.mean(sets["arena_bench"].quality[:, 2]) < 1  # ratings 1-10 mapped to (r - 1) / 9
    graded = sets["llmrouter"].quality[:, 2]
    assert ((graded > 0) & (graded < 1)).any()  # F1 / coverage stay graded, not rounded


def test_a_bad_row_in_a_jsonl_set_is_named(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from routed_llm.bench.routing_data import ARENA_TIERS, load_alpaca_eval, load_arena_bench

    (tmp_path / "arena_bench").mkdir()
    good = {"question_id": "a", "prompt": "hi", "rating": dict.fromkeys(ARENA_TIERS, 5.0)}
    bad = {"question_id": "b", "prompt": "yo", "rating": {**dict.fromkeys(ARENA_TIERS, 5.0), ARENA_TIERS[2]: 11.0}}
    path = tmp_path / "arena_bench" / "ratings.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(BenchDataError, match=r"ratings.jsonl: line 2, gpt-4-1106-preview: score 11.0 outside"):
        load_arena_bench(tmp_path)
    path.write_text(json.dumps(good) + "\nnot json\n")
    with pytest.raises(BenchDataError, match="line 2 is not JSON"):
        load_arena_bench(tmp_path)
    with pytest.raises(BenchDataError, match="alpaca_eval/preferences.jsonl: no such file"):
        load_alpaca_eval(tmp_path)


def test_mixed_metrics_weigh_each_set_alike() -> None:
    from routed_llm.bench.routing_data import mixed_metrics

    weak, strong = _pair(4000)
    scores = np.random.default_rng(2).random(4000)
    plain, even = routing_metrics(scores, weak, strong), mixed_metrics(scores, weak, strong)
    assert even.apgr == pytest.approx(plain.apgr, abs=0.01)
    # a small set where the strong tier is needed everywhere, and a big one where it never is: weighted
    # alike, the small set is half the stream, so a perfect score needs 50% strong calls to close the gap
    n_small, n_big = 100, 3000
    weak = np.r_[np.zeros(n_small), np.ones(n_big)]
    strong = np.ones(n_small + n_big)
    scores = np.r_[np.ones(n_small), np.zeros(n_big)] + 1e-6 * np.random.default_rng(3).random(n_small + n_big)
    weight = np.r_[np.full(n_small, 1 / n_small), np.full(n_big, 1 / n_big)]
    weighted = mixed_metrics(scores, weak, strong, weight)
    assert weighted.apgr == pytest.approx(0.75)
    assert [y for x, y in weighted.curve if abs(x - 50) < 1e-6] == [pytest.approx(1.0)]
    assert weighted.cpt50 == pytest.approx(25.0)
    assert mixed_metrics(scores, weak, strong).apgr > 0.9  # by rows, the small set is 3% of the stream


def test_mixed_unseen_kind_fits_never_see_the_held_out_set() -> None:
    from routed_llm.bench.routing import mixed_figures

    rng = np.random.default_rng(4)

    def synthetic(name: str, n: int) -> Outcomes:
        weak = (rng.random(n) < 0.6).astype(float)
        return Outcomes(name, [f"{name} {i}" for i in range(n)], np.column_stack([weak, weak, np.ones(n)]))

    sets = {"a": synthetic("a", 200), "b": synthetic("b", 150), "c": synthetic("c", 120)}
    seen: list[tuple[set[str], set[str]]] = []

    def fit(train, test):  # type: ignore[no-untyped-def]
        seen.append(({n for n, r in train.items() if len(r)}, set(test)))
        return {n: np.asarray(rows, dtype=float) for n, rows in test.items()}

    figures = mixed_figures(sets, fit, "probe")
    assert len(seen) == 5 + 3  # five folds, then one fit per held-out set
    assert all(trained == {"a", "b", "c"} for trained, _ in seen[:5])
    assert [trained for trained, _ in seen[5:]] == [{"b", "c"}, {"a", "c"}, {"a", "b"}]
    assert all(scored == {"a", "b", "c"} for _, scored in seen)
    assert set(figures.unseen) == {"a", "b", "c"} and np.isfinite(figures.unseen_mean)
