"""The format-3 head: it ranks a mixed stream by kind, and its per-tier predictions are calibrated."""

from __future__ import annotations

import numpy as np
import pytest

from routed_llm.bench.routing_data import mixed_metrics
from routed_llm.scoring.learned import (
    LearnedScorer,
    expected_gain,
    fit_mixed_head,
    fit_scoring_head,
    isotonic,
)

N_EMB, N_HASH, N_HAND = 6, 4, 2
N_FEATURES = N_EMB + N_HASH + N_HAND


def _kinds_stream(seed: int, per_kind: int = 300) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three synthetic kinds, each its own data set, whose cheap tier fails at very different rates.

    Feature 0 tells the kind (noisily); the strong tier always succeeds. Within a kind nothing
    says which prompt the cheap tier fails: all the signal is *which kind* a prompt is.
    """
    rng = np.random.default_rng(seed)
    fail_rate = {0: 0.05, 1: 0.5, 2: 0.95}
    xs, qs, ks = [], [], []
    for kind, rate in fail_rate.items():
        x = rng.normal(size=(per_kind, N_FEATURES))
        x[:, 0] += 2.0 * kind
        weak = (rng.random(per_kind) >= rate).astype(float)
        xs.append(x)
        qs.append(np.column_stack([weak, weak, np.ones(per_kind)]))
        ks.append(np.full(per_kind, kind))
    return np.vstack(xs), np.vstack(qs), np.concatenate(ks)


def test_the_kind_head_ranks_a_mixed_stream_by_kind_where_per_set_intercepts_cannot() -> None:
    x, q, kinds = _kinds_stream(0)
    test_x, test_q, test_kinds = _kinds_stream(1)
    common = {"n_embedding": N_EMB, "n_hashed": N_HASH}
    mixed, _, _ = fit_mixed_head(x, q, gain_tiers=(1, 2), kinds=kinds, groups=kinds, tiers=False, **common)
    # format 2's recipe: one intercept per data set, and here every kind is its own data set
    per_set = fit_scoring_head(x, (q[:, 2] - q[:, 1])[:, None], groups=kinds, group_weight_power=1.0, **common)
    weak, strong = test_q[:, 1], test_q[:, 2]
    new_scores = mixed.predict(test_x)[:, 0]
    old_scores = per_set.predict(test_x)[:, 0]
    by_kind = [new_scores[test_kinds == k].mean() for k in range(3)]
    assert by_kind[0] < by_kind[1] < by_kind[2]
    new, old = mixed_metrics(new_scores, weak, strong).apgr, mixed_metrics(old_scores, weak, strong).apgr
    assert new > 0.62  # feature 0 tells the kinds apart only roughly: the kinds' tails overlap
    assert old < 0.5  # the intercepts took the kind signal away: no better than random


def test_without_kinds_the_score_is_the_predicted_gain() -> None:
    x, q, _ = _kinds_stream(2)
    head, _, _ = fit_mixed_head(x, q, n_embedding=N_EMB, n_hashed=N_HASH, gain_tiers=(1, 2), tiers=False)
    gain = q[:, 2] - q[:, 1]
    assert np.corrcoef(head.predict(x)[:, 0], gain)[0, 1] > 0.6


def test_tier_scores_are_calibrated_per_decile_on_a_held_out_fold() -> None:
    rng = np.random.default_rng(5)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(size=(n, N_FEATURES))
        # success is a steep logistic of feature 1: a linear head alone over- and under-shoots the ends
        p_small, p_strong = 1 / (1 + np.exp(-2.5 * x[:, 1])), 1 / (1 + np.exp(-2.5 * x[:, 1] - 2))
        q = np.column_stack([rng.random(n) < p_small, rng.random(n) < p_strong]).astype(float)
        return x, q

    x, q = draw(20000)
    held_x, held_q = draw(10000)
    head, cal_x, cal_y = fit_mixed_head(x, q, n_embedding=N_EMB, n_hashed=N_HASH, gain_tiers=(0, 1))
    assert (np.diff(cal_y, axis=1) >= -1e-12).all()  # isotonic: a higher raw prediction never maps lower
    scorer = LearnedScorer(
        embedding=LearnedScorer.load().embedding,
        head=head,
        tier_names=("small", "strong"),
        gain_quantiles=np.quantile(head.predict(x)[:, 0], np.linspace(0, 1, 101)),
        calibration=(cal_x, cal_y),
    )
    predicted = scorer.predict_features(held_x)[1]
    raw = np.clip(head.predict(held_x)[:, 1:], 0, 1)
    for j in range(2):
        order = np.argsort(predicted[:, j])
        deciles = np.array_split(order, 10)
        gaps = [abs(predicted[d, j].mean() - held_q[d, j].mean()) for d in deciles]
        raw_gaps = [abs(raw[d, j].mean() - held_q[d, j].mean()) for d in np.array_split(np.argsort(raw[:, j]), 10)]
        assert max(gaps) <= 0.05, gaps
        assert max(raw_gaps) > max(gaps)  # the calibration curve is what brings it within tolerance


def test_isotonic_regression_pools_violators_and_keeps_order() -> None:
    x = np.array([3.0, 1.0, 2.0, 4.0, 5.0])
    y = np.array([0.0, 1.0, 0.0, 1.0, 1.0])
    fitted = isotonic(x, y, np.ones(5))
    order = np.argsort(x)
    assert (np.diff(fitted[order]) >= 0).all()
    np.testing.assert_allclose(fitted[order], [1 / 3, 1 / 3, 1 / 3, 1.0, 1.0])


def test_expected_gain_follows_how_many_models_solve_an_item() -> None:
    # 10 models of rising ability; items solved by the k ablest models
    items = np.array([[1.0 if m >= 10 - k else 0.0 for m in range(10)] for k in range(11) for _ in range(4)])
    gain = expected_gain(items, weak=4, strong=9)
    assert np.isfinite(gain).all() and (gain >= -1e-9).all()  # the abler model is expected to do no worse
    by_k = [gain[4 * k : 4 * k + 4].mean() for k in range(11)]
    # largest where the strong model solves an item the weak one does not (1-5 solvers), small at the ends
    assert max(by_k) == pytest.approx(max(by_k[1:6]))
    assert by_k[0] < max(by_k) and by_k[10] < max(by_k)
