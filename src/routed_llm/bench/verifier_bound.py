"""How good must a cascade's verifier be? A bound to set beside the measured verifiers.

A cheap -> mid -> premium cascade that checks the mid answer can only be as good
as its verifier's ranking: which mid answers it trusts and which it escalates.
This module answers two questions on one dataset split, without any LLM call:

* `best_within_budget`: the best quality a given verifier score reaches within
  a cost budget when the acceptance threshold is chosen *ideally* (on the very
  data being scored). It is an upper bound on what that verifier can do.
* `required_auc`: the smallest ROC AUC (P(a right mid answer scores above a
  wrong one)) a verifier needs for that ideal threshold to reach the target.
  It is found by simulating verifiers of known AUC under the textbook
  equal-variance Gaussian model (score = d * correct + N(0, 1), AUC =
  Phi(d / sqrt 2)), with the same noise at every AUC so the scan is monotone.

Comparing the measured AUC of the replayable verifiers with the required one
says whether a target is out of reach for the signal, rather than for the fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

__all__ = ["Bound", "best_within_budget", "required_auc", "roc_auc", "simulated_quality", "tie_order_spread"]


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) formula; ties count one half. NaN without both classes."""
    scores, labels = np.asarray(scores, float), np.asarray(labels) > 0
    pos, neg = int(labels.sum()), int((~labels).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    # 1-based ranks, ties sharing the mean of the ranks they span
    _, index, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2)[index]
    return float((ranks[labels].sum() - pos * (pos + 1) / 2) / (pos * neg))


def best_within_budget(scores: np.ndarray, outcome: np.ndarray, costs: np.ndarray, *, max_cost: float) -> float:
    """Best relative quality within ``max_cost`` of cheap -> mid -> premium, accepting mid answers above a threshold.

    ``outcome`` and ``costs`` are (n, 3) per-tier scores and USD; every prompt
    pays cheap + mid, escalated ones premium too (as `cascade_curve` charges).
    The threshold is the best one for this very data, so this is a ceiling.
    Returns quality relative to all-premium; ``-inf`` when even accepting every
    mid answer exceeds the budget.

    Ties: among prompts the verifier trusts equally, those whose premium call
    costs most are accepted first (each acceptance then saves the most budget).
    A stated rule, not the rows' order in the CSV: a perfect verifier's 0/1
    scores are all ties, and row order alone moved MBPP's bound by 11 points
    (see `tie_order_spread`).
    """
    scores = np.asarray(scores, float)
    order = np.lexsort((-costs[:, 2], -scores))  # most trusted first; ties: dearest premium call first
    mid, premium = outcome[order, 1], outcome[order, 2]
    premium_cost = costs[order, 2]
    n = len(order)
    # k = number of accepted prompts, 0..n: accepted take the mid score, the rest premium's.
    accepted_quality = np.concatenate([[0.0], np.cumsum(mid)])
    escalated_quality = premium.sum() - np.concatenate([[0.0], np.cumsum(premium)])
    escalated_cost = premium_cost.sum() - np.concatenate([[0.0], np.cumsum(premium_cost)])
    quality = (accepted_quality + escalated_quality) / n / outcome[:, 2].mean()
    cost = ((costs[:, 0] + costs[:, 1]).sum() + escalated_cost) / costs[:, 2].sum()
    within = cost <= max_cost + 1e-12
    return float(quality[within].max()) if within.any() else float("-inf")


def tie_order_spread(
    scores: np.ndarray, outcome: np.ndarray, costs: np.ndarray, *, max_cost: float, draws: int = 200, seed: int = 0
) -> tuple[float, float, float]:
    """(min, mean, max) of `best_within_budget` when ties in ``scores`` are broken in random orders instead.

    Shows how much of a bound is the tie rule rather than the verifier's ranking.
    """
    rng = np.random.default_rng(seed)
    scores = np.asarray(scores, float)
    values = []
    for _ in range(draws):
        jitter = rng.random(len(scores)) * 1e-9  # below any real score gap: a random order among ties only
        values.append(best_within_budget(scores + jitter, outcome, costs, max_cost=max_cost))
    return float(np.min(values)), float(np.mean(values)), float(np.max(values))


def simulated_quality(
    outcome: np.ndarray, costs: np.ndarray, auc: float, *, max_cost: float, draws: int = 200, seed: int = 0
) -> float:
    """Mean `best_within_budget` of simulated mid-step verifiers whose AUC is ``auc``."""
    d = np.sqrt(2.0) * NormalDist().inv_cdf(min(max(auc, 0.5), 1 - 1e-9))
    noise = np.random.default_rng(seed).standard_normal((draws, len(outcome)))
    correct = outcome[:, 1]
    return float(np.mean([best_within_budget(correct * d + z, outcome, costs, max_cost=max_cost) for z in noise]))


@dataclass(frozen=True)
class Bound:
    """The verifier AUC a target needs on one split, and the quality a perfect ranking would give."""

    required_auc: float | None  # None: not reached even by a perfect verifier
    perfect_quality: float  # relative quality of a verifier that knows which mid answers are right
    tie_spread: tuple[float, float, float] = (float("nan"),) * 3
    """(min, mean, max) of the perfect verifier's quality with its ties in random orders."""


def required_auc(
    outcome: np.ndarray,
    costs: np.ndarray,
    *,
    max_cost: float,
    min_quality: float,
    draws: int = 200,
    step: float = 0.01,
) -> Bound:
    """Find the smallest AUC (``step`` grid from 0.5) whose simulated verifiers reach the target within budget."""
    perfect = best_within_budget(outcome[:, 1], outcome, costs, max_cost=max_cost)
    spread = tie_order_spread(outcome[:, 1], outcome, costs, max_cost=max_cost, draws=draws)
    if perfect < min_quality:
        return Bound(None, perfect, spread)
    for auc in np.arange(0.5, 1.0 + step / 2, step):
        if simulated_quality(outcome, costs, float(auc), max_cost=max_cost, draws=draws) >= min_quality:
            return Bound(round(float(auc), 4), perfect, spread)
    return Bound(1.0, perfect, spread)
