"""``routed-llm bench routing``: how well each routing score separates hard prompts from easy ones.

One run, side by side, on recorded outcomes (no LLM calls):

- Mixed traffic over every set in ``../shared/data/routing`` (`load_all_sets`): random, the
  heuristic, LiteLLM's ``complexity_router``, pooled TF-IDF + logistic regression, the format-2
  recipe (``learned:default@2``: per-set intercepts) and the shipped recipe, each refitted per
  fold, by two figures (`mixed_figures`): *mixed 5-fold* (every set's held-out fold pooled into
  one stream, each set weighing the same, APGR over the stream) and *mixed unseen-kind* (fitted
  without one set, that set ranked pooled with the held-out fold of the others; mean over sets),
  plus each set's own APGR / CPT from the mixed 5-fold scores.

- The RouterBench slice (fit on ``*_train``, scored on ``*_test``), three tiers
  mistral-7b / mixtral / gpt-4: quality and cost as shares of all-premium for the
  learned pre-router, the cascade replay, random routing and each single tier.
- Decision latency of the learned and heuristic paths.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from routed_llm.bench.arguments import add_routing_arguments as add_arguments
from routed_llm.bench.cascade import BenchDataError, default_data_dir
from routed_llm.bench.routing_data import (
    ROUTERBENCH_DATASETS,
    Outcomes,
    RoutingMetrics,
    load_alpaca_eval,
    load_arena_bench,
    load_gsm8k,
    load_llmrouter,
    load_mmlu,
    load_routerbench,
    mixed_metrics,
    routing_metrics,
)

__all__ = [
    "add_arguments",
    "cross_validated_scores",
    "difficulties",
    "expected_gains",
    "fold_indices",
    "load_all_sets",
    "load_training_sets",
    "mixed_figures",
    "mixed_table",
    "main",
    "routerbench_table",
]

FOLDS = 5


def load_training_sets(data_dir: Path) -> dict[str, Outcomes]:
    """Every training set the shipped scorer may see: RouteLLM MMLU, GSM8K and RouterBench ``*_train``."""
    sets = {"mmlu": load_mmlu(data_dir), "gsm8k": load_gsm8k(data_dir)}
    for dataset in ROUTERBENCH_DATASETS:
        sets[dataset] = load_routerbench(data_dir, dataset, "train")
    return sets


def load_all_sets(data_dir: Path) -> dict[str, Outcomes]:
    """Every set in shared/ the scorer is chosen and trained on, each mapped to three tiers.

    `load_training_sets` plus LLMRouter's train split, AlpacaEval and arena-bench (their quality
    rules: `routed_llm.bench.routing_data`). Never RouterBench's or LLMRouter's test split.
    """
    sets = load_training_sets(data_dir)
    sets["llmrouter"] = load_llmrouter(data_dir, "train")
    sets["alpaca_eval"] = load_alpaca_eval(data_dir)
    sets["arena_bench"] = load_arena_bench(data_dir)
    return sets


def set_kinds(sets: Mapping[str, Outcomes]) -> dict[str, np.ndarray]:
    """Each row's task kind: the set's own kinds where it records them (LLMRouter, AlpacaEval), else its name."""
    return {name: np.array(o.kinds if o.kinds is not None else [name] * len(o)) for name, o in sets.items()}


def expected_gains(sets: Mapping[str, Outcomes]) -> dict[str, np.ndarray]:
    """Per row, the mid-to-strong gain a Rasch model of every recorded model expects (NaN with two models)."""
    from routed_llm.scoring.learned import expected_gain

    out = {}
    for name, o in sets.items():
        if o.all_quality is None or not o.models or not o.tier_models:
            out[name] = np.full(len(o), np.nan)
            continue
        weak, strong = (list(o.models).index(m) for m in o.tier_models[1:])
        out[name] = expected_gain(o.all_quality, weak, strong)
    return out


def fold_indices(n: int, *, folds: int = FOLDS, seed: int = 0) -> list[np.ndarray]:
    """Split ``range(n)`` into ``folds`` shuffled, seeded test folds."""
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(part) for part in np.array_split(order, folds)]


def difficulties(sets: Mapping[str, Outcomes]) -> dict[str, np.ndarray]:
    """Each set's item difficulty (`item_difficulty` of every recorded model), NaN for sets with two models."""
    from routed_llm.scoring.learned import item_difficulty

    return {
        name: item_difficulty(o.all_quality) if o.all_quality is not None else np.full(len(o), np.nan)
        for name, o in sets.items()
    }


def cross_validated_scores(
    sets: Mapping[str, Outcomes],
    features: Mapping[str, np.ndarray],
    target: str,
    *,
    seed: int = 0,
    pooled: bool = True,
    difficulty: Mapping[str, np.ndarray] | None = None,
    held_out: bool = False,
    **fit_kwargs: Any,
) -> np.ndarray:
    """Return out-of-fold learned scores for ``target``, fitted as the shipped scorer is.

    Each fold is scored by a head fitted on the other folds (plus, when ``pooled``,
    every other data set, each with its own intercept). With ``held_out`` the whole
    of ``target`` is scored by a head fitted on the other sets alone: how the scorer
    ranks a data set it has never seen.

    The score ranks by the predicted gain of the strong tier (column 2) over the mid
    tier (column 1), blended with the predicted ``difficulty`` when given (see
    `routed_llm.scoring.learned.fit_scoring_head`).
    """
    from routed_llm.scoring.learned import HAND_FEATURES, HASHED_DIMS, fit_scoring_head

    n_embedding = next(iter(features.values())).shape[1] - HASHED_DIMS - len(HAND_FEATURES)
    x = features[target]
    out = np.zeros(len(x))
    others = [name for name in sets if name != target] if pooled or held_out else []
    folds = [np.arange(len(x))] if held_out else fold_indices(len(x), seed=seed)
    for test in folds:
        train = np.setdiff1d(np.arange(len(x)), test)
        parts = [(target, train)] if len(train) else []
        parts += [(o, np.arange(len(sets[o]))) for o in others]
        xs = [features[name][rows] for name, rows in parts]
        quality = np.vstack([sets[name].quality[rows] for name, rows in parts])
        groups = np.concatenate([np.full(len(rows), k) for k, (_, rows) in enumerate(parts)])
        hard = None if difficulty is None else np.concatenate([difficulty[name][rows] for name, rows in parts])
        head = fit_scoring_head(
            np.vstack(xs),
            (quality[:, 2] - quality[:, 1])[:, None],
            n_embedding=n_embedding,
            n_hashed=HASHED_DIMS,
            difficulty=hard,
            groups=groups,
            **fit_kwargs,
        )
        out[test] = head.predict(x[test])[:, 0]
    return out


# --------------------------------------------------------------------------- mixed traffic

#: ``fit(train, test) -> scores``: train a router on ``train`` (row indexes per set) and score
#: ``test`` (row indexes per set, possibly a set absent from ``train``); scores per set.
Fitter = Callable[[Mapping[str, np.ndarray], Mapping[str, np.ndarray]], Mapping[str, np.ndarray]]


@dataclass
class MixedFigures:
    """One router's mixed-traffic figures (see `mixed_figures`)."""

    router: str
    mixed: RoutingMetrics
    unseen: dict[str, RoutingMetrics]
    within: dict[str, RoutingMetrics]
    note: str = ""

    @property
    def unseen_mean(self) -> float:
        """Mean mixed unseen-kind APGR over the held-out sets."""
        return float(np.mean([m.apgr for m in self.unseen.values()]))


def _pooled(
    sets: Mapping[str, Outcomes], scores: Mapping[str, np.ndarray], rows: Mapping[str, np.ndarray]
) -> RoutingMetrics:
    names = [n for n in sets if len(rows[n])]
    s = np.concatenate([scores[n] for n in names])
    weak = np.concatenate([sets[n].quality[rows[n], 1] for n in names])
    strong = np.concatenate([sets[n].quality[rows[n], 2] for n in names])
    weight = np.concatenate([np.full(len(rows[n]), 1.0 / len(rows[n])) for n in names])
    return mixed_metrics(s, weak, strong, weight)


def mixed_figures(
    sets: Mapping[str, Outcomes], fit: Fitter, router: str, *, seed: int = 0, note: str = ""
) -> MixedFigures:
    """*Mixed 5-fold*, *mixed unseen-kind* and within-set figures of one router.

    - mixed 5-fold: for each of 5 seeded folds (per set), fit on every set's other folds and
      score every set's held-out fold; all out-of-fold scores form one stream in which each
      set weighs the same (rows ``1 / len(set)``), and APGR is taken over that stream.
    - mixed unseen-kind: for each set, fit on fold 1-4 of the *other* sets (rows whose exact
      text also occurs in the held-out set left out: LLMRouter repeats some MMLU, MBPP and ARC
      prompts) and score the held-out set whole, pooled with fold 0 of the others; the mean
      over sets is the figure. One fit per set keeps the bench short.
    - within: each set's own APGR / CPT from the mixed 5-fold scores.
    """
    folds = {n: fold_indices(len(o), seed=seed) for n, o in sets.items()}
    out = {n: np.zeros(len(o)) for n, o in sets.items()}
    for k in range(FOLDS):
        test = {n: folds[n][k] for n in sets}
        train = {n: np.setdiff1d(np.arange(len(o)), folds[n][k]) for n, o in sets.items()}
        for n, sc in fit(train, test).items():
            out[n][test[n]] = sc
    every = {n: np.arange(len(o)) for n, o in sets.items()}
    mixed = _pooled(sets, out, every)
    within = {n: routing_metrics(out[n], o.quality[:, 1], o.quality[:, 2]) for n, o in sets.items()}
    unseen = {}
    for held in sets:
        held_texts = {p.strip() for p in sets[held].prompts}
        train = {
            n: np.array(
                [i for i in np.setdiff1d(np.arange(len(o)), folds[n][0]) if o.prompts[i].strip() not in held_texts],
                dtype=int,
            )
            for n, o in sets.items()
            if n != held
        }
        test = {n: (every[n] if n == held else folds[n][0]) for n in sets}
        unseen[held] = _pooled(sets, fit(train, test), test)
    return MixedFigures(router, mixed, unseen, within, note)


def _fixed(scores: Mapping[str, np.ndarray]) -> Fitter:
    """Wrap scores that need no fitting as a `Fitter` (its scores, looked up)."""

    def fit(train: Mapping[str, np.ndarray], test: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {n: scores[n][rows] for n, rows in test.items()}

    return fit


def _stack(
    sets: Mapping[str, Outcomes], features: Mapping[str, np.ndarray], rows: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, quality and set index of the chosen rows of every set, stacked."""
    names = [n for n in rows if len(rows[n])]
    x = np.vstack([features[n][rows[n]] for n in names])
    q = np.vstack([sets[n].quality[rows[n]] for n in names])
    g = np.concatenate([np.full(len(rows[n]), list(sets).index(n)) for n in names])
    return x, q, g


def mixed_fitter(
    sets: Mapping[str, Outcomes], features: Mapping[str, np.ndarray], n_embedding: int, **params: Any
) -> Fitter:
    """Refit the shipped recipe (`routed_llm.scoring.learned.fit_mixed_head`, score column only) per call."""
    from routed_llm.scoring.learned import HASHED_DIMS, fit_mixed_head

    kinds = set_kinds(sets)
    smooth = expected_gains(sets)

    def fit(train: Mapping[str, np.ndarray], test: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        x, q, g = _stack(sets, features, train)
        names = [n for n in train if len(train[n])]
        head, _, _ = fit_mixed_head(
            x,
            q,
            n_embedding=n_embedding,
            n_hashed=HASHED_DIMS,
            gain_tiers=(1, 2),
            kinds=np.concatenate([kinds[n][train[n]] for n in names]),
            groups=g,
            within_gain=np.concatenate([smooth[n][train[n]] for n in names]),
            tiers=False,
            **params,
        )
        return {n: head.predict(features[n][rows])[:, 0] for n, rows in test.items()}

    return fit


def format2_fitter(sets: Mapping[str, Outcomes], features: Mapping[str, np.ndarray], n_embedding: int) -> Fitter:
    """Refit ``learned:default@2``'s recipe per call: per-set intercepts, gain blended with Rasch difficulty."""
    from routed_llm.scoring.learned import HASHED_DIMS, fit_scoring_head

    hard = difficulties(sets)

    def fit(train: Mapping[str, np.ndarray], test: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        x, q, g = _stack(sets, features, train)
        names = [n for n in train if len(train[n])]
        head = fit_scoring_head(
            x,
            (q[:, 2] - q[:, 1])[:, None],
            n_embedding=n_embedding,
            n_hashed=HASHED_DIMS,
            difficulty=np.concatenate([hard[n][train[n]] for n in names]),
            difficulty_weight=0.5,
            groups=g,
            group_weight_power=0.75,
            embedding_penalty=1000.0,
        )
        return {n: head.predict(features[n][rows])[:, 0] for n, rows in test.items()}

    return fit


def tfidf_fitter(sets: Mapping[str, Outcomes]) -> Fitter:
    """Refit pooled TF-IDF + logistic regression on "the strong tier does better" per call (sklearn; bench only)."""

    def fit(train: Mapping[str, np.ndarray], test: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        texts = [sets[n].prompts[i] for n in train for i in train[n]]
        wins = np.concatenate([sets[n].quality[train[n], 2] > sets[n].quality[train[n], 1] for n in train])
        vectorizer = TfidfVectorizer(min_df=2, ngram_range=(1, 2), sublinear_tf=True, max_features=200_000)
        model = LogisticRegression(C=1.0, max_iter=1000).fit(vectorizer.fit_transform(texts), wins.astype(int))
        return {
            n: model.predict_proba(vectorizer.transform([sets[n].prompts[i] for i in rows]))[:, 1]
            for n, rows in test.items()
        }

    return fit


def mixed_table(
    sets: Mapping[str, Outcomes], features: Mapping[str, np.ndarray], n_embedding: int
) -> list[MixedFigures]:
    """Every router's mixed-traffic figures, side by side, in one run."""
    rows: list[MixedFigures] = []
    randoms = [
        mixed_figures(sets, _fixed({n: np.random.default_rng(k).random(len(o)) for n, o in sets.items()}), "random")
        for k in range(3)
    ]
    rows.append(
        MixedFigures(
            "random",
            _mean_metrics([r.mixed for r in randoms]),
            {n: _mean_metrics([r.unseen[n] for r in randoms]) for n in sets},
            {n: _mean_metrics([r.within[n] for r in randoms]) for n in sets},
            "mean of 3 seeds",
        )
    )
    candidates: list[tuple[str, Callable[[], Fitter], str]] = [
        (
            "routed-llm heuristic",
            lambda: _fixed({n: _heuristic_scores(o.prompts) for n, o in sets.items()}),
            "complexity points, no fitting",
        ),
        (
            "LiteLLM complexity_router",
            lambda: _fixed({n: _litellm_scores(o.prompts) for n, o in sets.items()}),
            "keyword score, no fitting",
        ),
        ("TF-IDF + LR, pooled", lambda: tfidf_fitter(sets), "every set pooled, refitted per fold"),
        (
            "learned:default@2 recipe",
            lambda: format2_fitter(sets, features, n_embedding),
            "per-set intercepts + difficulty, refitted per fold",
        ),
        (
            "learned (shipped recipe)",
            lambda: mixed_fitter(sets, features, n_embedding),
            "kind head + within head, refitted per fold",
        ),
    ]
    for router, make, note in candidates:
        try:
            rows.append(mixed_figures(sets, make(), router, note=note))
        except ImportError as e:
            print(f"  {router}: skipped ({e})", file=sys.stderr)
    return rows


def _mean_metrics(items: Sequence[RoutingMetrics]) -> RoutingMetrics:
    return RoutingMetrics(
        float(np.mean([m.apgr for m in items])),
        float(np.mean([m.cpt50 for m in items])),
        float(np.mean([m.cpt80 for m in items])),
        items[0].curve,
    )


def format_mixed(rows: Sequence[MixedFigures]) -> str:
    """Render the mixed-traffic tables: mixed 5-fold and unseen-kind APGR, then each set's own APGR / CPT50."""
    names = list(rows[0].unseen)
    short = [n[:7] for n in names]
    lines = [
        "Mixed traffic: every set in shared/ pooled, each set weighing the same (weak/strong per set:",
        "its mid and GPT-4-class tier). unseen-kind: fitted without the set, scored pooled with the others",
        "",
        f"{'router':27} {'mixed5':>6} {'unseen':>6}  " + " ".join(f"{s:>7}" for s in short) + "  how",
    ]
    for r in rows:
        lines.append(
            f"{r.router:27} {r.mixed.apgr:6.3f} {r.unseen_mean:6.3f}  "
            + " ".join(f"{r.unseen[n].apgr:7.3f}" for n in names)
            + f"  {r.note}"
        )
    lines += ["", "Within each set (APGR / CPT50), from the mixed 5-fold scores", ""]
    lines.append(f"{'router':27} " + " ".join(f"{s:>12}" for s in short))
    for r in rows:
        lines.append(f"{r.router:27} " + " ".join(f"{r.within[n].apgr:6.3f}/{r.within[n].cpt50:4.1f}%" for n in names))
    return "\n".join(lines)


# --------------------------------------------------------------------------- scores that need no fitting


def _heuristic_scores(prompts: Sequence[str]) -> np.ndarray:
    from routed_llm.scoring.heuristic import HeuristicScorer

    scorer = HeuristicScorer()
    return np.array([scorer.score([{"role": "user", "content": p}]).value for p in prompts])


def _litellm_scores(prompts: Sequence[str]) -> np.ndarray:
    """LiteLLM's ``complexity_router`` weighted keyword score, used as a routing score."""
    from litellm.router_strategy.complexity_router.complexity_router import ComplexityRouter

    router = ComplexityRouter(model_name="bench", litellm_router_instance=None, derive_savings_baseline=False)  # type: ignore[arg-type]
    return np.array([float(router.classify(p)[1]) for p in prompts])


# --------------------------------------------------------------------------- RouterBench: three tiers


@dataclass
class Curve:
    """Quality and cost as shares of all-premium, one point per operating point, cost ascending."""

    name: str
    cost: np.ndarray
    quality: np.ndarray

    def at_budget(self, budget: float) -> float:
        """Best quality reachable at cost share <= ``budget`` (interpolating between operating points)."""
        order = np.argsort(self.cost)
        c, q = self.cost[order], np.maximum.accumulate(self.quality[order])
        if budget < c[0]:
            return float("nan")
        return float(np.interp(budget, c, q))

    def area(self, lo: float, hi: float) -> float:
        """Mean best-quality-within-budget over budgets in ``[lo, hi]``."""
        grid = np.linspace(lo, hi, 201)
        return float(np.nanmean([self.at_budget(b) for b in grid]))


def _random_curve(test: Outcomes) -> Curve:
    """Random routing: every mix of the single tiers' (cost, quality); its upper hull."""
    q = test.quality.mean(axis=0)
    c = test.cost.sum(axis=0)  # type: ignore[union-attr]
    points = sorted(zip(c / c[2], q / q[2], strict=True))
    hull: list[tuple[float, float]] = []
    for p in points:
        while len(hull) >= 2 and (hull[-1][1] - hull[-2][1]) * (p[0] - hull[-2][0]) <= (p[1] - hull[-2][1]) * (
            hull[-1][0] - hull[-2][0]
        ):
            hull.pop()
        hull.append(p)
    return Curve("random routing", np.array([h[0] for h in hull]), np.array([h[1] for h in hull]))


def _prerouter_curve(test: Outcomes, success: np.ndarray, tier_cost: np.ndarray) -> Curve:
    """Trace the learned pre-router: each prompt to the tier maximising predicted success - lambda * cost.

    ``success`` comes from a head fitted on the data set's ``*_train`` split (see `routerbench_table`).
    """
    q_all = test.quality
    c_all = test.cost
    assert c_all is not None
    premium_q, premium_c = q_all[:, 2].mean(), c_all[:, 2].sum()
    rows = np.arange(len(test))
    costs, quals = [], []
    for lam in np.concatenate([[0.0], np.geomspace(1e-2, 1e5, 300) / tier_cost.max()]):
        pick = np.argmax(success - lam * tier_cost[None, :], axis=1)
        costs.append(c_all[rows, pick].sum() / premium_c)
        quals.append(q_all[rows, pick].mean() / premium_q)
    return Curve("learned pre-router", np.array(costs), np.array(quals))


@dataclass
class BenchRow:
    """One strategy on one RouterBench test set."""

    name: str
    at30: float
    at50: float
    area: float
    point: tuple[float, float] | None = None


def routerbench_table(
    data_dir: Path, sets: Mapping[str, Outcomes], features: Mapping[str, np.ndarray]
) -> dict[str, tuple[list[BenchRow], list[Curve]]]:
    """Learned pre-router, cascade replay, random routing and single tiers on each ``*_test`` set.

    ``sets`` and ``features`` are `load_training_sets` and their `embedding_features`, as
    `main` computes them once for every section.
    """
    from routed_llm.bench import cascade
    from routed_llm.scoring.learned import HASHED_DIMS, LearnedScorer, embedding_features, fit_head

    scorer = LearnedScorer.load()
    embedding = scorer.embedding
    head_keys = ("embedding_penalty", "hashed_penalty", "hand_penalty", "group_weight_power")
    # format 2's per-tier head settings (the format-3 file's hyper-parameters are the mixed head's)
    fit: dict[str, Any] = {"embedding_penalty": 1000.0, "group_weight_power": 0.75}
    fit.update({k: v for k, v in scorer.meta.get("hyper_parameters", {}).items() if k in head_keys})
    all_x = np.vstack(list(features.values()))
    all_q = np.vstack([o.quality for o in sets.values()])
    groups = np.concatenate([np.full(len(o), name) for name, o in sets.items()])
    reports = {r.dataset: r for r in cascade.run(data_dir)}
    out: dict[str, tuple[list[BenchRow], list[Curve]]] = {}
    for dataset in ROUTERBENCH_DATASETS:
        train = sets[dataset]  # the *_train split
        test = load_routerbench(data_dir, dataset, "test")
        assert train.cost is not None and test.cost is not None
        tier_cost = train.cost.mean(axis=0)  # known before routing: the tiers' typical price on this task
        # Per-tier success on this task: the shipped recipe (every training set, one intercept per set),
        # predicting with this task's own intercepts: the shipped head averages them over data sets,
        # which ranks prompts within a set but does not calibrate tiers against each other on any one.
        head = fit_head(
            all_x,
            all_q,
            n_embedding=embedding.table.shape[1],
            n_hashed=HASHED_DIMS,
            groups=groups,
            intercept_of=dataset,
            **fit,
        )
        success = head.predict(embedding_features(embedding, test.prompts))
        rep = reports[dataset]
        premium_q, premium_c = rep.premium.quality, rep.premium.cost
        cq, cc = rep.curves["learned"]
        curves = [
            _prerouter_curve(test, success, tier_cost),
            Curve("cascade replay (learned verifier)", cc / premium_c, cq / premium_q),
            _random_curve(test),
        ]
        lo = float(test.cost[:, 0].sum() / premium_c)
        rows = [BenchRow(c.name, c.at_budget(0.30), c.at_budget(0.50), c.area(lo, 1.0)) for c in curves]
        for k, tier in enumerate(("cheap", "mid", "premium")):
            point = (float(test.cost[:, k].sum() / premium_c), float(test.quality[:, k].mean() / premium_q))
            rows.append(BenchRow(f"all-{tier}", float("nan"), float("nan"), float("nan"), point))
        out[dataset] = (rows, curves)
    return out


# --------------------------------------------------------------------------- decision latency


def latency_table(repeats: int = 200) -> list[tuple[str, int, float, float]]:
    """Return p50 / p99 scoring time (ms), learned and heuristic, for prompts of ~20, 200, 500 and 2,000 tokens."""
    from routed_llm.scoring.heuristic import HeuristicScorer
    from routed_llm.scoring.learned import LearnedScorer

    learned, heuristic = LearnedScorer.load(), HeuristicScorer()
    sentence = "Janet has 16 eggs and sells the remainder at $2 each; how much does she make per week? "
    rows = []
    for words in (15, 150, 400, 1500):
        text = " ".join((sentence * (words // 15 + 1)).split()[:words])
        messages = [{"role": "user", "content": text}]
        tokens = len(learned.embedding.tokenizer.encode(text, add_special_tokens=False).ids)
        for name, scorer in (("learned", learned), ("heuristic", heuristic)):
            scorer.score(messages)  # warm
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                scorer.score(messages)
                times.append((time.perf_counter() - t0) * 1000)
            rows.append((name, tokens, float(np.percentile(times, 50)), float(np.percentile(times, 99))))
    return rows


# --------------------------------------------------------------------------- output


def format_all(
    mixed: Sequence[MixedFigures],
    routerbench: Mapping[str, tuple[list[BenchRow], list[Curve]]],
    latency: Sequence[tuple[str, int, float, float]],
) -> str:
    """Plain-text tables."""
    lines = [format_mixed(mixed), ""]
    lines.append("RouterBench test sets, mistral-7b / mixtral-8x7b / gpt-4-1106 (fitted on *_train only)")
    lines.append("quality as a share of all-premium at a cost budget (share of all-premium's cost); area = mean")
    lines.append("quality over budgets from all-cheap's cost to 100%")
    for dataset, (bench_rows, _) in routerbench.items():
        lines.append(f"== {dataset}")
        lines.append(f"{'strategy':36} {'@30%':>7} {'@50%':>7} {'area':>7}")
        for b in bench_rows:
            if b.point is not None:
                lines.append(f"{b.name:36} quality {b.point[1]:.1%} at cost {b.point[0]:.1%}")
            else:
                lines.append(f"{b.name:36} {b.at30:7.1%} {b.at50:7.1%} {b.area:7.1%}")
        lines.append("")
    lines.append("Decision latency (ms, this machine)")
    lines.append(f"{'scorer':10} {'tokens':>7} {'p50':>8} {'p99':>8}")
    for name, tokens, p50, p99 in latency:
        lines.append(f"{name:10} {tokens:7d} {p50:8.3f} {p99:8.3f}")
    return "\n".join(lines)


def save_png(
    mixed: Sequence[MixedFigures], routerbench: Mapping[str, tuple[list[BenchRow], list[Curve]]], path: Path
) -> None:
    """Quality-vs-strong-share curves (the mixed stream) and quality-vs-cost curves (RouterBench), one panel each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 1 + len(routerbench)
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.8))
    for r in mixed:
        x, y = zip(*r.mixed.curve, strict=True)
        axes[0].plot(x, y, marker=".", label=f"{r.router} ({r.mixed.apgr:.2f})")
    axes[0].set(title="mixed traffic (5-fold)", xlabel="% calls to strong", ylabel="mean quality")
    axes[0].legend(fontsize=6)
    for ax, (dataset, (_, curves)) in zip(axes[1:], routerbench.items(), strict=False):
        for c in curves:
            order = np.argsort(c.cost)
            ax.plot(c.cost[order], c.quality[order], marker=".", markersize=2, label=c.name)
        ax.set(title=f"{dataset} test", xlabel="cost / all-premium", ylabel="quality / all-premium", xlim=(0, 1.05))
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(args: argparse.Namespace) -> int:
    """Run every section and print the tables."""
    from routed_llm.scoring.learned import LearnedScorer, embedding_features

    data = args.data if args.data is not None else default_data_dir()
    if not (data / "routellm").is_dir():
        raise BenchDataError(
            f"bench routing needs --data DIR: the directory holding routellm/ and routerbench/ (recorded outcomes); "
            f"{data} has no routellm/"
        )
    sets = load_all_sets(data)
    embedding = LearnedScorer.load().embedding
    features = {name: embedding_features(embedding, o.prompts) for name, o in sets.items()}
    mixed = mixed_table(sets, features, embedding.table.shape[1])
    training = load_training_sets(data)
    routerbench = routerbench_table(data, training, {n: features[n] for n in training})
    latency = latency_table(args.repeats)
    print(format_all(mixed, routerbench, latency))
    if args.png is not None:
        save_png(mixed, routerbench, args.png)
        print(f"curves: {args.png}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    p = argparse.ArgumentParser(prog="python -m routed_llm.bench.routing", description=__doc__)
    add_arguments(p)
    sys.exit(main(p.parse_args()))
