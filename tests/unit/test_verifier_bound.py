"""The verifier bound: AUC, ideal-threshold quality, and the AUC a cascade target needs."""

import itertools
from statistics import NormalDist

import numpy as np
import pytest

from routed_llm.bench import cascade as bench
from routed_llm.bench.verifier_bound import best_within_budget, required_auc, roc_auc, simulated_quality


def random_frame(n: int = 300, seed: int = 1) -> bench.Frame:
    """Per-tier accuracy .5 / .7 / .9; costs 1 / 3 / 30 per prompt."""
    rng = np.random.default_rng(seed)
    scores = (rng.random((n, 3)) < np.array([0.5, 0.7, 0.9])).astype(float)
    costs = np.tile([1.0, 3.0, 30.0], (n, 1))
    return bench.Frame("random", [f"p{i}" for i in range(n)], [("A", "A", "A")] * n, scores, costs)


def test_roc_auc_matches_the_pairwise_definition_with_ties() -> None:
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, 60).astype(float)  # many ties
    labels = rng.random(60) < 0.4
    pairs = [
        1.0 if a > b else 0.5 if a == b else 0.0
        for (a, la), (b, lb) in itertools.product(zip(scores, labels), repeat=2)
        if la and not lb
    ]
    assert roc_auc(scores, labels) == pytest.approx(np.mean(pairs))
    assert roc_auc(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1])) == 1.0
    assert roc_auc(np.array([0.9, 0.8, 0.2, 0.1]), np.array([0, 0, 1, 1])) == 0.0
    assert np.isnan(roc_auc(np.array([0.1, 0.2]), np.array([1, 1])))


def test_best_within_budget_is_the_best_point_of_the_replayed_curve() -> None:
    f = random_frame()
    scores = np.random.default_rng(2).random(len(f))  # distinct scores: every split is a threshold
    q, c = bench.cascade_curve(f, scores, np.concatenate([np.sort(scores), [np.inf]]))
    q, c = q / f.scores[:, 2].mean(), c / f.costs[:, 2].sum()
    for budget in (0.2, 0.35, 0.6, 1.2):
        assert best_within_budget(scores, f.scores, f.costs, max_cost=budget) == pytest.approx(q[c <= budget].max())
    # cheap + mid alone cost 4/30 of premium: a smaller budget has no point at all
    assert best_within_budget(scores, f.scores, f.costs, max_cost=0.1) == float("-inf")


def test_simulated_verifiers_have_the_asked_auc_and_better_auc_means_better_quality() -> None:
    f = random_frame()
    low, high = (simulated_quality(f.scores, f.costs, a, max_cost=0.4, draws=100) for a in (0.55, 0.95))
    perfect = best_within_budget(f.scores[:, 1], f.scores, f.costs, max_cost=0.4)
    assert low < high <= perfect + 1e-9
    # the generated scores really have the requested AUC (the simulation's premise)
    d = np.sqrt(2) * NormalDist().inv_cdf(0.8)  # equal-variance Gaussian: AUC = Phi(d / sqrt 2)
    rng = np.random.default_rng(3)
    aucs = [roc_auc(f.scores[:, 1] * d + rng.standard_normal(len(f)), f.scores[:, 1]) for _ in range(200)]
    assert np.mean(aucs) == pytest.approx(0.8, abs=0.01)


def test_required_auc_grows_with_the_target_and_is_none_when_no_ranking_suffices() -> None:
    f = random_frame()
    easy = required_auc(f.scores, f.costs, max_cost=0.5, min_quality=0.85, draws=50)
    hard = required_auc(f.scores, f.costs, max_cost=0.5, min_quality=0.95, draws=50)
    assert easy.required_auc is not None and hard.required_auc is not None
    assert easy.required_auc < hard.required_auc
    # all-mid is already 0.7 / 0.9 of premium: a 0.75 target needs no verifier signal at all
    assert required_auc(f.scores, f.costs, max_cost=0.5, min_quality=0.75, draws=20).required_auc == 0.5
    impossible = required_auc(f.scores, f.costs, max_cost=0.5, min_quality=1.2, draws=20)
    assert impossible.required_auc is None and impossible.perfect_quality < 1.2


def test_ties_are_broken_by_premium_cost_and_the_spread_shows_what_order_alone_does() -> None:
    from routed_llm.bench.verifier_bound import tie_order_spread

    # Two equally trusted right mid answers; only one acceptance fits the budget: the one that saves the
    # dearer premium call must be taken, whatever the rows' order.
    outcome = np.array([[0, 1, 1], [0, 1, 1], [0, 0, 1]], float)
    for premium in ([1.0, 9.0, 9.0], [9.0, 1.0, 9.0]):
        costs = np.c_[np.zeros(3), np.zeros(3), premium]
        budget = (sum(premium) - max(premium[:2])) / sum(premium)
        assert best_within_budget(np.array([1.0, 1.0, 0.0]), outcome, costs, max_cost=budget) == pytest.approx(1.0)
    # all three tied: the rule accepts the right answer with the dearest premium call (row 1) and fits the
    # budget at full quality; a random order may accept the wrong mid answer (row 2) first
    costs = np.c_[np.zeros(3), np.zeros(3), [1.0, 9.0, 8.0]]
    tied = np.ones(3)
    assert best_within_budget(tied, outcome, costs, max_cost=0.5) == pytest.approx(1.0)
    low, mean, high = tie_order_spread(tied, outcome, costs, max_cost=0.5, draws=50)
    assert low < 1.0 == high and low < mean < high
