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
    load_gsm8k,
    load_mmlu,
    load_routerbench,
    routing_metrics,
)

__all__ = [
    "add_arguments",
    "cross_validated_scores",
    "difficulties",
    "fold_indices",
    "load_training_sets",
    "main",
    "routellm_table",
    "routerbench_table",
]

FOLDS = 5


def load_training_sets(data_dir: Path) -> dict[str, Outcomes]:
    """Every training set the shipped scorer may see: RouteLLM MMLU, GSM8K and RouterBench ``*_train``."""
    sets = {"mmlu": load_mmlu(data_dir), "gsm8k": load_gsm8k(data_dir)}
    for dataset in ROUTERBENCH_DATASETS:
        sets[dataset] = load_routerbench(data_dir, dataset, "train")
    return sets


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


# --------------------------------------------------------------------------- RouteLLM: MMLU and GSM8K

RANDOM_SEEDS = 10


def _heuristic_scores(prompts: Sequence[str]) -> np.ndarray:
    from routed_llm.scoring.heuristic import HeuristicScorer

    scorer = HeuristicScorer()
    return np.array([scorer.score([{"role": "user", "content": p}]).value for p in prompts])


def _litellm_scores(prompts: Sequence[str]) -> np.ndarray:
    """LiteLLM's ``complexity_router`` weighted keyword score, used as a routing score."""
    from litellm.router_strategy.complexity_router.complexity_router import ComplexityRouter

    router = ComplexityRouter(model_name="bench", litellm_router_instance=None, derive_savings_baseline=False)  # type: ignore[arg-type]
    return np.array([float(router.classify(p)[1]) for p in prompts])


def _tfidf_scores(outcomes: Outcomes, *, seed: int = 0) -> np.ndarray:
    """TF-IDF + logistic regression on "the strong model wins", 5-fold within the data set (scikit-learn)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    wins = (outcomes.quality[:, 2] > outcomes.quality[:, 1]).astype(int)
    out = np.zeros(len(outcomes))
    prompts = np.array(outcomes.prompts, dtype=object)
    for test in fold_indices(len(outcomes), seed=seed):
        train = np.setdiff1d(np.arange(len(outcomes)), test)
        vectorizer = TfidfVectorizer(min_df=2, ngram_range=(1, 2), sublinear_tf=True)
        x = vectorizer.fit_transform(prompts[train])
        model = LogisticRegression(C=1.0, max_iter=1000).fit(x, wins[train])
        out[test] = model.predict_proba(vectorizer.transform(prompts[test]))[:, 1]
    return out


@dataclass
class RouterRow:
    """One router's metrics on one data set."""

    router: str
    metrics: RoutingMetrics
    note: str = ""


def routellm_table(
    sets: Mapping[str, Outcomes], features: Mapping[str, np.ndarray], *, targets: Sequence[str] = ("mmlu", "gsm8k")
) -> dict[str, list[RouterRow]]:
    """Every router's APGR / CPT on each target, side by side (learned: 5-fold, refitted per fold)."""
    from routed_llm.scoring.learned import LearnedScorer

    fit = LearnedScorer.load().meta.get("hyper_parameters", {})
    hard = difficulties(sets) if fit.get("difficulty_weight") else None
    table: dict[str, list[RouterRow]] = {}
    for name in targets:
        o = sets[name]
        weak, strong = o.quality[:, 1], o.quality[:, 2]
        rows: list[RouterRow] = []
        randoms = [routing_metrics(np.random.default_rng(k).random(len(o)), weak, strong) for k in range(RANDOM_SEEDS)]
        rows.append(
            RouterRow(
                "random",
                RoutingMetrics(
                    float(np.mean([r.apgr for r in randoms])),
                    float(np.mean([r.cpt50 for r in randoms])),
                    float(np.mean([r.cpt80 for r in randoms])),
                    randoms[0].curve,
                ),
                f"mean of {RANDOM_SEEDS} seeds",
            )
        )
        candidates: list[tuple[str, Callable[[], np.ndarray], str]] = [
            ("routed-llm heuristic", lambda: _heuristic_scores(o.prompts), "complexity points, no fitting"),
            ("LiteLLM complexity_router", lambda: _litellm_scores(o.prompts), "keyword score, no fitting"),
            ("TF-IDF + LR", lambda: _tfidf_scores(o), "5-fold, this data set only"),
            (
                "routed-llm learned",
                lambda: cross_validated_scores(sets, features, name, difficulty=hard, **fit),
                "5-fold; each fold + the other training sets",
            ),
            (
                "routed-llm learned, unseen set",
                lambda: cross_validated_scores(sets, features, name, difficulty=hard, held_out=True, **fit),
                "fitted on the other training sets only",
            ),
        ]
        for router, compute, note in candidates:
            try:
                scores = compute()
            except ImportError as e:
                print(f"  {router}: skipped ({e})", file=sys.stderr)
                continue
            rows.append(RouterRow(router, routing_metrics(scores, weak, strong), note))
        table[name] = rows
    return table


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
    fit = {k: v for k, v in scorer.meta.get("hyper_parameters", {}).items() if k in head_keys}
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
    routellm: Mapping[str, list[RouterRow]],
    routerbench: Mapping[str, tuple[list[BenchRow], list[Curve]]],
    latency: Sequence[tuple[str, int, float, float]],
) -> str:
    """Plain-text tables."""
    lines = ["Routing scores on RouteLLM outcomes (Mixtral-8x7B weak, GPT-4-1106 strong)", ""]
    for name, router_rows in routellm.items():
        lines.append(f"== {name}")
        lines.append(f"{'router':28} {'APGR':>6} {'CPT50':>7} {'CPT80':>7}  how")
        for r in router_rows:
            m = r.metrics
            lines.append(f"{r.router:28} {m.apgr:6.3f} {m.cpt50:6.1f}% {m.cpt80:6.1f}%  {r.note}")
        lines.append("")
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
    routellm: Mapping[str, list[RouterRow]], routerbench: Mapping[str, tuple[list[BenchRow], list[Curve]]], path: Path
) -> None:
    """Quality-vs-strong-share curves (RouteLLM) and quality-vs-cost curves (RouterBench), one panel each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = len(routellm) + len(routerbench)
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.8))
    for ax, (name, rows) in zip(axes, routellm.items(), strict=False):
        for r in rows:
            x, y = zip(*r.metrics.curve, strict=True)
            ax.plot(x, y, marker=".", label=f"{r.router} ({r.metrics.apgr:.2f})")
        ax.set(title=f"{name} (5-fold)", xlabel="% calls to strong", ylabel="accuracy")
        ax.legend(fontsize=6)
    for ax, (dataset, (_, curves)) in zip(axes[len(routellm) :], routerbench.items(), strict=False):
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
    sets = load_training_sets(data)
    embedding = LearnedScorer.load().embedding
    features = {name: embedding_features(embedding, o.prompts) for name, o in sets.items()}
    routellm = routellm_table(sets, features)
    routerbench = routerbench_table(data, sets, features)
    latency = latency_table(args.repeats)
    print(format_all(routellm, routerbench, latency))
    if args.png is not None:
        save_png(routellm, routerbench, args.png)
        print(f"curves: {args.png}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    p = argparse.ArgumentParser(prog="python -m routed_llm.bench.routing", description=__doc__)
    add_arguments(p)
    sys.exit(main(p.parse_args()))
