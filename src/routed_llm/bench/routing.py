"""``routed-llm bench routing``: how well each routing score separates hard prompts from easy ones.

One run, side by side, on recorded outcomes (no LLM calls):

- RouteLLM MMLU and GSM8K, 5-fold: random, the heuristic, LiteLLM's
  ``complexity_router``, TF-IDF + logistic regression, and the learned scorer
  (refitted per fold with the shipped recipe), by APGR / CPT(50%) / CPT(80%).
- The RouterBench slice (fit on ``*_train``, scored on ``*_test``), three tiers
  mistral-7b / mixtral / gpt-4: quality and cost as shares of all-premium for the
  learned pre-router, the cascade replay, random routing and each single tier.
- Decision latency of the learned and heuristic paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from routed_llm.bench.routing_data import (
    ROUTERBENCH_DATASETS,
    Outcomes,
    load_gsm8k,
    load_mmlu,
    load_routerbench,
)

__all__ = ["cross_validated_scores", "fold_indices", "load_training_sets"]

FOLDS = 5


def load_training_sets(data_dir: Path) -> dict[str, Outcomes]:
    """Every training set the shipped scorer may see: RouteLLM MMLU, GSM8K and RouterBench ``*_train``."""
    sets = {"mmlu": load_mmlu(data_dir), "gsm8k": load_gsm8k(data_dir)}
    for dataset in ROUTERBENCH_DATASETS:
        sets[dataset] = load_routerbench(data_dir, dataset, "train")
    return sets


def fold_indices(n: int, *, folds: int = FOLDS, seed: int = 0) -> list[np.ndarray]:
    """A seeded shuffled split of ``range(n)`` into ``folds`` test folds."""
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(part) for part in np.array_split(order, folds)]


def cross_validated_scores(
    sets: Mapping[str, Outcomes],
    features: Mapping[str, np.ndarray],
    target: str,
    *,
    seed: int = 0,
    pooled: bool = True,
    **fit_kwargs: Any,
) -> np.ndarray:
    """Out-of-fold learned scores for ``target``: each fold is scored by a head fitted on the
    other folds (plus, when ``pooled``, every other data set), exactly as the shipped scorer is fitted.

    The score ranks by the predicted gain of the strong tier (column 2) over the mid tier (column 1).
    """
    from routed_llm.scoring.learned import fit_head

    n_embedding = next(iter(features.values())).shape[1] - _hand_count()
    x, q = features[target], sets[target].quality
    out = np.zeros(len(x))
    others = [name for name in sets if name != target] if pooled else []
    for test in fold_indices(len(x), seed=seed):
        train = np.setdiff1d(np.arange(len(x)), test)
        xs = [x[train], *(features[o] for o in others)]
        qs = [q[train], *(sets[o].quality for o in others)]
        groups = np.concatenate([np.full(len(part), k) for k, part in enumerate(xs)])
        quality = np.vstack(qs)
        targets = (quality[:, 2] - quality[:, 1])[:, None]
        head = fit_head(np.vstack(xs), targets, n_embedding=n_embedding, groups=groups, **fit_kwargs)
        out[test] = head.predict(x[test])[:, 0]
    return out


def _hand_count() -> int:
    from routed_llm.scoring.learned import HAND_FEATURES

    return len(HAND_FEATURES)
