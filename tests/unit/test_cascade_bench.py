"""The offline cascade benchmark: metrics and replay on small synthetic frames, then the real data."""

from pathlib import Path

import numpy as np
import pytest

from routed_llm.bench import cascade as bench
from routed_llm.cli import main as cli_main
from routed_llm.escalation import AgreementVerifier, Attempt, LearnedVerifier

DATA = bench.default_data_dir()


def frame() -> bench.Frame:
    # 4 prompts: cheap/mid agree on 0 and 1; mid is wrong on 2 and 3, premium right on 2 only.
    return bench.Frame(
        "synthetic",
        prompts=["p0", "p1", "p2", "p3"],
        responses=[("A", "A", "A"), ("B", "B", "C"), ("A", "C", "B"), ("D", "A", "B")],
        scores=np.array([[1, 1, 1], [0, 1, 0], [0, 0, 1], [0, 0, 0]], float),
        costs=np.array([[1, 2, 10], [1, 2, 10], [1, 2, 10], [1, 2, 10]], float),
    )


def test_baselines_and_oracle() -> None:
    b = bench.baselines(frame())
    assert b["all-cheap"].quality == 0.25 and b["all-cheap"].cost == 4
    assert b["all-mid"].quality == 0.5 and b["all-premium"].quality == 0.5 and b["all-premium"].cost == 40
    # oracle: p0 cheap (1), p1 mid (2), p2 premium (10), p3 nobody right -> cheapest (1)
    assert b["oracle"].quality == 0.75 and b["oracle"].cost == 14 and b["oracle"].premium_calls == 0.25


def test_replay_charges_every_tier_visited() -> None:
    out, final, charged = bench.replay(frame(), AgreementVerifier())
    assert final.tolist() == [1, 1, 2, 2]  # agreement accepts the mid answer on p0, p1
    assert charged.tolist() == [3, 3, 13, 13]
    assert out.quality == 0.75 and out.cost == 32 and out.premium_calls == 0.5
    assert out.relative(bench.baselines(frame())["all-premium"]) == (1.5, 0.8)


def test_vectorised_curve_equals_the_loop_replay() -> None:
    f = frame()
    lv = LearnedVerifier({1: {"bias": -1.0, "agreement": 3.0, "answer_len": 0.5}}, {1: 0.5})
    p = np.array([lv.probability(q, Attempt("m", r[1]), [Attempt("c", r[0])]) for q, r in zip(f.prompts, f.responses)])
    for t in [0.0, 0.5, 0.9, np.inf]:
        q, c = bench.cascade_curve(f, p, np.array([t]))
        out, _, _ = bench.replay(f, LearnedVerifier(lv.weights, {1: float(t)}))
        assert (q[0], c[0]) == pytest.approx((out.quality, out.cost))


def test_random_at_cost_interpolates_between_mid_and_premium() -> None:
    f = frame()
    r = bench.random_at_cost(f, 12 + 20)  # cheap+mid for all (12) plus half the premium bill
    assert r.premium_calls == 0.5 and r.quality == pytest.approx(0.5) and r.cost == 32
    assert bench.random_at_cost(f, 0).premium_calls == 0.0


def test_select_threshold_prefers_budget_or_quality() -> None:
    q, c, t = np.array([0.8, 0.95, 0.98, 1.0]), np.array([0.1, 0.3, 0.5, 1.0]), np.array([0.1, 0.2, 0.3, 0.4])
    assert bench.select_threshold(q, c, t, max_cost=0.35, min_quality=0.97) == 0.2
    assert bench.select_threshold(q, c, t, max_cost=0.35, min_quality=0.97, prefer="quality") == 0.3
    assert bench.select_threshold(q, c, t, max_cost=0.6, min_quality=0.97) == 0.3
    assert bench.select_threshold(q, c, t, max_cost=0.05, min_quality=0.97) == 0.1


def test_fit_logistic_learns_the_sign() -> None:
    rng = np.random.default_rng(0)
    x1 = rng.normal(size=400)
    y = (x1 + 0.3 * rng.normal(size=400) > 0).astype(float)
    w = bench.fit_logistic(np.column_stack([np.ones(400), x1]), y, l2=0.1)
    assert w[1] > 2 and abs(w[0]) < 0.5


def test_load_frame_drops_nan_rows_and_checks_columns(tmp_path: Path) -> None:
    cols = ["sample_id", "prompt"]
    for m in bench.TIERS:
        cols += [m, f"{m}|model_response", f"{m}|total_cost"]
    rows = [["1", "['q1']"] + ["1.0", "['A\\n']", "0.1"] * 3, ["2", "['q2']"] + ["nan", "['B']", "0.1"] * 3]
    p = tmp_path / "x_test.csv"
    p.write_text("\n".join(",".join(f'"{v}"' for v in r) for r in [cols, *rows]))
    f = bench.load_frame(p)
    assert len(f) == 1 and f.dropped == 1 and f.prompts == ["q1"] and f.responses[0][0] == "A\n"
    (tmp_path / "bad.csv").write_text("prompt\nx\n")
    with pytest.raises(bench.BenchDataError, match="missing columns"):
        bench.load_frame(tmp_path / "bad.csv")
    with pytest.raises(bench.BenchDataError, match="no such file"):
        bench.load_frame(tmp_path / "nope.csv")


def test_cli_reports_missing_data_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["bench", "cascade", "--data", str(tmp_path)]) == 2
    assert "routerbench" in capsys.readouterr().err


def test_cli_without_data_outside_a_checkout_says_to_pass_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # As from an installed wheel: no source checkout, so no shared data beside it.
    monkeypatch.setattr(bench, "default_data_dir", lambda: tmp_path / "nowhere")
    assert cli_main(["bench", "cascade"]) == 2
    err = capsys.readouterr().err
    assert "needs --data DIR" in err and "routerbench/" in err


def test_bench_modules_needing_adapters_are_not_in_the_core_package() -> None:
    import routed_llm.bench

    shipped = {p.name for p in Path(routed_llm.bench.__file__).parent.glob("*.py")}
    assert {"cascade.py", "classify_speed.py", "verifier_bound.py"} <= shipped
    for moved in ("overhead.py", "embeddings_throughput.py"):
        # only the deprecation shim stays; it imports nothing from the adapters or tests/
        text = (Path(routed_llm.bench.__file__).parent / moved).read_text()
        assert "langchain" not in text and "tests." not in text


# ------------------------------------------------------------------ the real recorded outcomes

needs_data = pytest.mark.skipif(not (DATA / "routerbench").is_dir(), reason=f"shared routing data not found at {DATA}")


@pytest.fixture(scope="module")
def reports() -> list[bench.DatasetReport]:
    return bench.run(DATA)


@needs_data
def test_real_benchmark_prints_every_strategy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "curve.png"
    assert cli_main(["bench", "cascade", "--png", str(png)]) == 0
    out = capsys.readouterr().out
    for ds in bench.DATASETS:
        assert f"== {ds} (test" in out
    for name in ("all-cheap", "all-mid", "all-premium", *bench.CASCADES, "random escalation at", "oracle"):
        assert name in out
    assert "self_confidence, logprobs, judge" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_data
def test_real_data_figures_are_the_published_ones(reports: list[bench.DatasetReport]) -> None:
    by = {r.dataset: r for r in reports}
    # the data README: test accuracy cheap / mid / premium, and the Winogrande oracle
    assert by["winograde"].row("all-cheap").quality == pytest.approx(0.574, abs=1e-3)
    assert by["arc_challenge"].row("all-premium").quality == pytest.approx(0.957, abs=1e-3)
    assert by["mbpp"].row("all-mid").quality == pytest.approx(0.539, abs=1e-3)
    assert by["winograde"].premium.cost == pytest.approx(1.342, abs=1e-3)
    assert by["winograde"].row("oracle").quality == pytest.approx(0.932, abs=1e-3)
    assert by["winograde"].row("oracle").cost == pytest.approx(0.189, abs=1e-3)
    assert by["arc_challenge"].dropped > 0


@needs_data
@pytest.mark.parametrize("dataset", bench.DATASETS)
def test_learned_cascade_beats_random_escalation_at_the_same_cost(
    reports: list[bench.DatasetReport], dataset: str
) -> None:
    rep = next(r for r in reports if r.dataset == dataset)
    learned = rep.row(bench.LEARNED)
    rand = bench.random_at_cost(bench.load_frame(DATA / "routerbench" / f"{dataset}_test.csv"), learned.cost)
    assert learned.quality > rand.quality
    assert learned.cost < 0.5 * rep.premium.cost


@needs_data
@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="measured, not met: the train-chosen budget point reaches 95.0% of premium quality at 34.2% "
    "of its cost (ARC), 89.8% at 37.6% (MBPP), 88.3% at 33.1% (Winogrande) on the test sets; the "
    "replayable verifiers' AUC (0.56-0.64) is below what the target needs (see the test below)",
)
@pytest.mark.parametrize("dataset", bench.DATASETS)
def test_target_97_percent_quality_at_35_percent_cost(reports: list[bench.DatasetReport], dataset: str) -> None:
    rep = next(r for r in reports if r.dataset == dataset)
    assert any(rep.meets(name, max_cost=0.35, min_quality=0.97) for name in bench.CASCADES)


@needs_data
def test_the_replayable_verifiers_are_below_what_the_target_needs(reports: list[bench.DatasetReport]) -> None:
    """Why the 97%/35% target is not met on RouterBench: the recorded signal is too weak, not the fit."""
    by = {r.dataset: r for r in reports}
    for ds in ("arc_challenge", "mbpp", "winograde"):
        need = by[ds].bound.required_auc  # type: ignore[union-attr]
        assert need is not None
        assert all(auc < need for auc, _ in by[ds].verifier_signal.values())
    # MBPP: only a near-perfect verifier would do (ties broken by premium cost: 102.3% at AUC 1)
    assert by["mbpp"].bound.required_auc >= 0.95  # type: ignore[union-attr, operator]
    assert by["mbpp"].bound.perfect_quality == pytest.approx(1.023, abs=0.001)  # type: ignore[union-attr]
