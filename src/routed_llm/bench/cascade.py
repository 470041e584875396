"""Offline proof of the cascade: replay recorded model outcomes through `routed_llm.escalation`.

No LLM is called. RouterBench recorded, for every prompt, each model's answer,
whether it was right and what it cost. We replay those answers through the very
cascade loop the live chains run (`routed_llm.escalation.cascade`) with three
tiers, cheap ``mistralai/mistral-7b-chat`` -> mid ``mistralai/mixtral-8x7b-chat``
-> premium ``gpt-4-1106-preview``, charging every tier a prompt visits, and
compare with all-cheap, all-mid, all-premium, random escalation at the same cost
and the per-prompt oracle.

Only verifiers that can run on recorded text are replayed: agreement between
the cheap and mid answers, and the learned verifier (logistic regression on
`routed_llm.escalation.cascade_features`). Self-confidence, log-probabilities
and a judge need a live model, so the replay cannot score them; the output says so.

Everything learned (weights, and the threshold of each verifier) is fitted on
``*_train.csv`` only, thresholds on out-of-fold train predictions; ``*_test.csv``
is only scored.

Usage::

    routed-llm bench cascade [--data DIR] [--png curve.png] [--max-cost 0.35] [--min-quality 0.97]
"""

from __future__ import annotations

import argparse
import ast
import csv
import math
import struct
import sys
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from routed_llm.bench.arguments import add_cascade_arguments as add_arguments
from routed_llm.bench.verifier_bound import Bound, best_within_budget, required_auc, roc_auc
from routed_llm.errors import RoutedLLMError
from routed_llm.escalation import (
    AgreementVerifier,
    Attempt,
    LearnedVerifier,
    Verifier,
    agreement,
    cascade,
    cascade_features,
)

__all__ = [
    "AGREEMENT",
    "CASCADES",
    "DATASETS",
    "LEARNED",
    "LEARNED_Q",
    "TIERS",
    "BenchDataError",
    "DatasetReport",
    "Frame",
    "Outcome",
    "add_arguments",
    "baselines",
    "cascade_curve",
    "default_data_dir",
    "resolve_data_dir",
    "fit_logistic",
    "load_frame",
    "main",
    "random_at_cost",
    "replay",
    "run",
    "select_threshold",
    "train_learned_verifier",
]

#: The three tiers, cheapest first, as RouterBench names the models.
TIERS: tuple[str, str, str] = ("mistralai/mistral-7b-chat", "mistralai/mixtral-8x7b-chat", "gpt-4-1106-preview")
DATASETS: tuple[str, ...] = ("arc_challenge", "mbpp", "winograde")
LIVE_ONLY = ("self_confidence", "logprobs", "judge")
AGREEMENT = "cascade: agreement (cheap vs mid)"
LEARNED = "cascade: learned, budget point"
LEARNED_Q = "cascade: learned, quality point"
CASCADES = (AGREEMENT, LEARNED, LEARNED_Q)


class BenchDataError(RoutedLLMError):
    """The recorded-outcome files are missing or malformed."""


def _repo_root() -> Path:
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for p in (start, *start.parents):
            if (p / "pyproject.toml").is_file() and (p / "src" / "routed_llm").is_dir():
                return p
    return Path.cwd()


def default_data_dir() -> Path:
    """``<repo>/../shared/data/routing``: the shared data is read in place, never copied into the project."""
    return _repo_root().parent / "shared" / "data" / "routing"


def resolve_data_dir(data: Path | None) -> Path:
    """Return the ``--data`` directory, or the source checkout's shared data when that exists.

    The data is not part of the package: from an installed wheel there is no checkout to
    fall back to, so a missing ``--data`` is a clear error rather than a path that never was.
    """
    if data is not None:
        return data
    default = default_data_dir()
    if (default / "routerbench").is_dir():
        return default
    raise BenchDataError(
        "bench cascade needs --data DIR: the directory holding routerbench/ (RouterBench's recorded "
        f"outcomes, *_train.csv and *_test.csv); no --data given and none at the checkout default {default}"
    )


@dataclass
class Frame:
    """Recorded outcomes of the three tiers on one dataset split (NaN rows dropped)."""

    name: str
    prompts: list[str]
    responses: list[tuple[str, str, str]]
    scores: np.ndarray  # (n, 3) 0/1
    costs: np.ndarray  # (n, 3) USD
    dropped: int = 0
    all_scores: np.ndarray | None = None
    """(n, models) 0/1 of every model the file records (NaN where one has none), in `all_models` order."""
    all_models: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.prompts)


def _first_text(cell: str) -> str:
    """RouterBench stores responses as a Python list literal: take its first element."""
    try:
        value = ast.literal_eval(cell)
    except (ValueError, SyntaxError):
        return cell
    if isinstance(value, list | tuple):
        return str(value[0]) if value else ""
    return str(value)


def load_frame(path: Path) -> Frame:
    """Read one RouterBench CSV; rows with a NaN score or cost are dropped, as the data README says."""
    if not path.is_file():
        raise BenchDataError(f"{path}: no such file (pass --data <dir holding routerbench/>)")
    csv.field_size_limit(sys.maxsize)
    prompts, responses, scores, costs, every, dropped = [], [], [], [], [], 0
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        have = set(reader.fieldnames or [])
        models = tuple(c.removesuffix("|total_cost") for c in reader.fieldnames or [] if c.endswith("|total_cost"))
        missing = [c for m in TIERS for c in (m, f"{m}|model_response", f"{m}|total_cost") if c not in have]
        if missing:
            raise BenchDataError(f"{path}: missing columns {missing}")
        for row in reader:
            try:
                s = [float(row[m]) for m in TIERS]
                c = [float(row[f"{m}|total_cost"]) for m in TIERS]
            except ValueError:
                dropped += 1
                continue
            if any(math.isnan(v) for v in s + c):
                dropped += 1
                continue
            prompts.append(_first_text(row["prompt"]))
            r = tuple(_first_text(row[f"{m}|model_response"]) for m in TIERS)
            responses.append((r[0], r[1], r[2]))
            scores.append(s)
            costs.append(c)
            every.append([_score_or_nan(row.get(m)) for m in models])
    return Frame(
        path.stem,
        prompts,
        responses,
        np.array(scores, float),
        np.array(costs, float),
        dropped,
        np.array(every, float).reshape(len(prompts), len(models)),
        models,
    )


def _score_or_nan(value: str | None) -> float:
    try:
        return float(value) if value not in (None, "") else math.nan
    except ValueError:
        return math.nan


# --------------------------------------------------------------------------- replay and metrics


@dataclass(frozen=True)
class Outcome:
    """Aggregate quality and cost of one strategy on one frame."""

    name: str
    quality: float  # mean score
    cost: float  # total USD
    premium_calls: float = 0.0  # share of prompts that reached the premium tier

    def relative(self, premium: Outcome) -> tuple[float, float]:
        """(quality / premium quality, cost / premium cost)."""
        return self.quality / premium.quality, self.cost / premium.cost


def replay(frame: Frame, verifier: Verifier, *, name: str = "cascade") -> tuple[Outcome, np.ndarray, np.ndarray]:
    """Run every prompt through `routed_llm.escalation.cascade` on its recorded answers.

    Returns the outcome plus, per prompt, the index of the tier whose answer was
    returned and the cost charged (every tier visited).
    """
    final = np.zeros(len(frame), int)
    charged = np.zeros(len(frame))
    for i, (prompt, resp) in enumerate(zip(frame.prompts, frame.responses, strict=True)):
        row_costs = frame.costs[i]

        def answer(
            tier: str, history: Sequence[Attempt], resp: tuple[str, str, str] = resp, c: Any = row_costs
        ) -> Attempt:
            k = TIERS.index(tier)
            return Attempt(tier=tier, text=resp[k], model=tier, cost_usd=float(c[k]))

        result = cascade(prompt, TIERS, answer, verifier)
        final[i] = TIERS.index(result.answer.tier)
        charged[i] = result.cost_usd
    quality = frame.scores[np.arange(len(frame)), final]
    return Outcome(name, float(quality.mean()), float(charged.sum()), float((final == 2).mean())), final, charged


def cascade_curve(frame: Frame, mid_scores: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised replay of cheap -> mid -> premium where the verifier defers on the cheap tier.

    The mid answer is accepted when its score reaches the threshold; every prompt
    pays cheap + mid, escalated ones premium too. Returns (mean quality, total
    cost) per threshold. Equal to `replay` with the same verifier (tested).
    """
    accept = mid_scores[None, :] >= thresholds[:, None]  # (t, n)
    s, c = frame.scores, frame.costs
    quality = np.where(accept, s[:, 1], s[:, 2]).mean(axis=1)
    cost = (c[:, 0] + c[:, 1]).sum() + (~accept * c[:, 2]).sum(axis=1)
    return quality, cost


def random_at_cost(frame: Frame, cost: float) -> Outcome:
    """Return the expected outcome of a cheap -> mid cascade that escalates a random share of prompts, at ``cost``."""
    s, c = frame.scores, frame.costs
    base = (c[:, 0] + c[:, 1]).sum()
    share = float(np.clip((cost - base) / c[:, 2].sum(), 0.0, 1.0))
    q = (1 - share) * s[:, 1].mean() + share * s[:, 2].mean()
    return Outcome(f"random escalation at {share:.0%}", float(q), base + share * c[:, 2].sum(), share)


def baselines(frame: Frame) -> dict[str, Outcome]:
    """All-cheap, all-mid, all-premium and the per-prompt oracle (cheapest correct tier, paying only it)."""
    s, c = frame.scores, frame.costs
    out = {
        name: Outcome(name, float(s[:, k].mean()), float(c[:, k].sum()), float(k == 2))
        for k, name in enumerate(("all-cheap", "all-mid", "all-premium"))
    }
    masked = np.where(s > 0, c, np.inf)
    pick = np.where(np.isfinite(masked.min(axis=1)), masked.argmin(axis=1), c.argmin(axis=1))
    rows = np.arange(len(frame))
    out["oracle"] = Outcome(
        "oracle", float(s[rows, pick].mean()), float(c[rows, pick].sum()), float((pick == 2).mean())
    )
    return out


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 3.0, iterations: int = 25) -> np.ndarray:
    """L2-regularised logistic regression by Newton's method (no scikit-learn needed).

    The bias (column 0) is not penalised.
    """
    w = np.zeros(x.shape[1])
    reg = np.full(x.shape[1], l2)
    reg[0] = 1e-6
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -50, 50)))
        grad = x.T @ (p - y) + reg * w
        hess = (x * (p * (1 - p))[:, None]).T @ x + np.diag(reg)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-6:
            break
    return w


def _mid_features(frame: Frame, words: int = 0) -> list[dict[str, float]]:
    return [
        cascade_features(p, Attempt(TIERS[1], r[1]), [Attempt(TIERS[0], r[0])], words=words)
        for p, r in zip(frame.prompts, frame.responses, strict=True)
    ]


def _matrix(feats: list[dict[str, float]], vocab: dict[str, int]) -> np.ndarray:
    x = np.zeros((len(feats), len(vocab)))
    for i, f in enumerate(feats):
        for k, v in f.items():
            j = vocab.get(k)
            if j is not None:
                x[i, j] = v
    return x


Prefer = Literal["budget", "quality"]


def select_threshold(
    quality: np.ndarray,
    cost: np.ndarray,
    thresholds: np.ndarray,
    *,
    max_cost: float,
    min_quality: float,
    prefer: Prefer = "budget",
) -> float:
    """Pick an operating threshold (on training data): the cheapest reaching ``min_quality`` within ``max_cost``.

    ``quality`` and ``cost`` are relative to premium. When no threshold meets both,
    ``prefer="budget"`` takes the best quality within ``max_cost`` (else the
    cheapest); ``prefer="quality"`` the cheapest reaching ``min_quality`` whatever
    it costs (else the best quality).
    """
    if prefer == "quality":
        good = quality >= min_quality
        if good.any():
            idx = np.flatnonzero(good)
            return float(thresholds[idx[np.argmin(cost[idx])]])
        return float(thresholds[int(np.argmax(quality))])
    within = cost <= max_cost
    both = within & (quality >= min_quality)
    if both.any():
        idx = np.flatnonzero(both)
        return float(thresholds[idx[np.argmin(cost[idx])]])
    if within.any():
        idx = np.flatnonzero(within)
        return float(thresholds[idx[np.argmax(quality[idx])]])
    return float(thresholds[int(np.argmin(cost))])


def _thresholds(scores: np.ndarray) -> np.ndarray:
    return np.unique(np.concatenate([scores, [np.inf]]))


def train_learned_verifier(
    train: Frame,
    *,
    max_cost: float = 0.35,
    min_quality: float = 0.97,
    prefer: Prefer = "budget",
    folds: int = 5,
    words: int = 0,
) -> LearnedVerifier:
    """Fit P(mid answer correct) on ``train`` and choose its threshold on out-of-fold predictions.

    The cheap step is left untrained (the verifier defers to the mid tier to get a
    second answer to compare with), which is what the replay and the live chains
    both run.
    """
    feats = _mid_features(train, words)
    vocab: dict[str, int] = {"bias": 0}
    for f in feats:
        for name in f:
            vocab.setdefault(name, len(vocab))
    x = _matrix(feats, vocab)
    y = train.scores[:, 1]
    fold = np.arange(len(train)) % folds
    oof = np.zeros(len(train))
    for k in range(folds):
        w = fit_logistic(x[fold != k], y[fold != k])
        oof[fold == k] = 1.0 / (1.0 + np.exp(-np.clip(x[fold == k] @ w, -50, 50)))
    ts = _thresholds(oof)
    q, c = cascade_curve(train, oof, ts)
    threshold = select_threshold(
        q / train.scores[:, 2].mean(),
        c / train.costs[:, 2].sum(),
        ts,
        max_cost=max_cost,
        min_quality=min_quality,
        prefer=prefer,
    )
    w = fit_logistic(x, y)
    # The final model is fitted on all of train, so its probabilities are sharper than the
    # out-of-fold ones: carry over the chosen *acceptance rate*, not the raw probability.
    accept_rate = float((oof >= threshold).mean())
    full = np.sort(1.0 / (1.0 + np.exp(-np.clip(x @ w, -50, 50))))
    if accept_rate <= 0.0:
        threshold = float("inf")
    else:
        threshold = float(full[int(round((1.0 - accept_rate) * len(full)))] if accept_rate < 1.0 else full[0])
    names = list(vocab)
    weights = {names[j]: float(w[j]) for j in range(len(names)) if w[j] != 0.0}
    return LearnedVerifier({1: weights}, {1: threshold}, words=words)


@dataclass
class DatasetReport:
    """Everything printed for one dataset's test split."""

    dataset: str
    n_test: int
    dropped: int
    rows: list[Outcome]
    premium: Outcome
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    #: per replayable verifier: (ROC AUC on the mid answers, best quality within budget at an ideal threshold)
    verifier_signal: dict[str, tuple[float, float]] = field(default_factory=dict)
    bound: Bound | None = None

    def row(self, name: str) -> Outcome:
        """Return the outcome called ``name``."""
        return next(r for r in self.rows if r.name == name)

    def meets(self, name: str, *, max_cost: float, min_quality: float) -> bool:
        """Whether strategy ``name`` reaches the target on this test set."""
        q, c = self.row(name).relative(self.premium)
        return q >= min_quality and c <= max_cost


def run(data_dir: Path, *, max_cost: float = 0.35, min_quality: float = 0.97) -> list[DatasetReport]:
    """Train on each ``*_train.csv``, replay each ``*_test.csv``; return one report per dataset."""
    root = data_dir / "routerbench"
    if not root.is_dir():
        raise BenchDataError(f"{root}: not found (pass --data <dir holding routerbench/>)")
    reports = []
    for ds in DATASETS:
        train, test = load_frame(root / f"{ds}_train.csv"), load_frame(root / f"{ds}_test.csv")
        base = baselines(test)
        premium = base["all-premium"]
        learned = train_learned_verifier(train, max_cost=max_cost, min_quality=min_quality)
        learned_q = train_learned_verifier(train, max_cost=max_cost, min_quality=min_quality, prefer="quality")
        agree_t = 0.5  # a fixed rule (same letter; for code, most identifiers shared): nothing to fit
        agree_out, _, _ = replay(test, AgreementVerifier(threshold=agree_t), name=AGREEMENT)
        learned_out, _, _ = replay(test, learned, name=LEARNED)
        learned_q_out, _, _ = replay(test, learned_q, name=LEARNED_Q)
        mid_p = np.array(
            [
                learned.probability(p, Attempt(TIERS[1], r[1]), [Attempt(TIERS[0], r[0])]) or 0.0
                for p, r in zip(test.prompts, test.responses, strict=True)
            ]
        )
        ts = _thresholds(mid_p)
        agree_scores = np.array([agreement(r[1], r[0]) for r in test.responses])
        signal = {
            name: (
                roc_auc(scores, test.scores[:, 1]),
                best_within_budget(scores, test.scores, test.costs, max_cost=max_cost),
            )
            for name, scores in (("learned", mid_p), ("agreement", agree_scores))
        }
        rows = [
            base["all-cheap"],
            base["all-mid"],
            premium,
            agree_out,
            learned_out,
            random_at_cost(test, learned_out.cost),
            learned_q_out,
            random_at_cost(test, learned_q_out.cost),
            base["oracle"],
        ]
        reports.append(
            DatasetReport(
                ds,
                len(test),
                test.dropped,
                rows,
                premium,
                curves={"learned": cascade_curve(test, mid_p, ts)},
                thresholds={
                    "agreement": agree_t,
                    "learned": learned.thresholds[1],
                    "learned_quality": learned_q.thresholds[1],
                },
                verifier_signal=signal,
                bound=required_auc(test.scores, test.costs, max_cost=max_cost, min_quality=min_quality),
            )
        )
    return reports


def format_reports(reports: Sequence[DatasetReport], *, max_cost: float, min_quality: float) -> str:
    """Plain-text tables, one per test set."""
    lines = [
        f"Cascade replay on recorded RouterBench outcomes: {' -> '.join(TIERS)}",
        "Every tier a prompt visits is charged. Weights and thresholds fitted on *_train.csv only.",
        f"Target: quality >= {min_quality:.0%} of premium at cost <= {max_cost:.0%} of premium.",
        f"Not replayable offline (need a live model): {', '.join(LIVE_ONLY)} verifiers.",
        "",
    ]
    for rep in reports:
        lines.append(
            f"== {rep.dataset} (test, {rep.n_test} prompts, {rep.dropped} NaN rows dropped; "
            f"thresholds: agreement (fixed) {rep.thresholds['agreement']:.3f}, "
            f"learned {rep.thresholds['learned']:.3f} / {rep.thresholds['learned_quality']:.3f})"
        )
        lines.append(f"{'strategy':34} {'accuracy':>8} {'quality%':>9} {'cost $':>9} {'cost%':>7} {'premium':>8}")
        for r in rep.rows:
            q, c = r.relative(rep.premium)
            lines.append(f"{r.name:34} {r.quality:8.3f} {q:9.1%} {r.cost:9.4f} {c:7.1%} {r.premium_calls:8.1%}")
        for name in CASCADES:
            ok = rep.meets(name, max_cost=max_cost, min_quality=min_quality)
            lines.append(f"   target {'MET' if ok else 'NOT met'} by {name}")
        lines.extend(_signal_lines(rep, max_cost=max_cost))
        lines.append("")
    return "\n".join(lines)


def _signal_lines(rep: DatasetReport, *, max_cost: float) -> list[str]:
    """Describe what the verifiers' signal allows: measured AUC, ideal-threshold quality, the AUC needed."""
    out = [f"   mid-answer verifiers on test (ROC AUC; best quality within {max_cost:.0%} at an ideal threshold):"]
    for name, (auc, best) in rep.verifier_signal.items():
        out.append(f"     {name:10} AUC {auc:.3f}; {best:.1%}")
    if rep.bound is not None:
        if rep.bound.required_auc is None:
            perfect = rep.bound.perfect_quality
            need = f"is out of reach for any mid-answer verifier (a perfect one reaches {perfect:.1%})"
        else:
            need = f"needs AUC >= {rep.bound.required_auc:.2f} (simulated verifiers, ideal threshold)"
        out.append(f"     the target {need}")
        low, mean, high = rep.bound.tie_spread
        out.append(
            f"     a perfect verifier reaches {rep.bound.perfect_quality:.1%} (ties by premium cost); "
            f"{low:.1%}-{high:.1%}, mean {mean:.1%}, with ties in random order"
        )
    return out


# --------------------------------------------------------------------------- the curve as a PNG


def _png_bytes(width: int, height: int, pixels: bytearray) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(pixels[y * width * 3 : (y + 1) * width * 3]) for y in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


_COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44)]


def _plain_png(reports: Sequence[DatasetReport], path: Path) -> None:
    """Draw the curves without matplotlib: x = cost % of premium, y = quality % of premium (no labels)."""
    w, h, m = 640, 480, 40
    px = bytearray(b"\xff" * (w * h * 3))

    def put(x: float, y: float, colour: tuple[int, int, int], r: int = 1) -> None:
        cx, cy = int(m + x * (w - 2 * m)), int(h - m - (y - 0.5) / 0.6 * (h - 2 * m))  # y axis 50%..110%
        for dx in range(-r, r + 1):
            for dy in range(-r, r + 1):
                if 0 <= cx + dx < w and 0 <= cy + dy < h:
                    i = ((cy + dy) * w + cx + dx) * 3
                    px[i : i + 3] = bytes(colour)

    for t in np.linspace(0, 1, 400):
        put(float(t), 0.5, (0, 0, 0), 0)
        put(0.0, 0.5 + 0.6 * float(t), (0, 0, 0), 0)
        put(0.35, 0.5 + 0.6 * float(t), (150, 150, 150), 0)  # the cost budget
        put(float(t), 0.97, (150, 150, 150), 0)  # the quality target
    for rep, colour in zip(reports, _COLOURS, strict=False):
        q, c = rep.curves["learned"]
        for qi, ci in zip(q / rep.premium.quality, c / rep.premium.cost, strict=True):
            put(float(ci), float(qi), colour)
        for r in rep.rows:
            qq, cc = r.relative(rep.premium)
            put(min(cc, 1.0), qq, colour, 3)
    path.write_bytes(_png_bytes(w, h, px))


def save_png(reports: Sequence[DatasetReport], path: Path, *, max_cost: float, min_quality: float) -> str:
    """Save the cost-quality curve; matplotlib when installed, otherwise an unlabelled plain PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        _plain_png(reports, path)
        return "matplotlib is not installed: wrote an unlabelled plot (x cost%, y quality% of premium)"
    fig, axes = plt.subplots(1, len(reports), figsize=(5 * len(reports), 4), squeeze=False)
    for ax, rep in zip(axes[0], reports, strict=True):
        q, c = rep.curves["learned"]
        ax.plot(c / rep.premium.cost * 100, q / rep.premium.quality * 100, label="learned verifier sweep")
        for r in rep.rows:
            qq, cc = r.relative(rep.premium)
            ax.scatter([cc * 100], [qq * 100], label=r.name, s=20)
        ax.axvline(max_cost * 100, color="grey", ls=":")
        ax.axhline(min_quality * 100, color="grey", ls=":")
        ax.set(title=rep.dataset, xlabel="cost % of premium", ylabel="quality % of premium")
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return "saved with matplotlib"


def main(args: argparse.Namespace) -> int:
    """Run the benchmark and print the tables (and save the PNG when asked)."""
    data = resolve_data_dir(args.data)
    reports = run(data, max_cost=args.max_cost, min_quality=args.min_quality)
    print(format_reports(reports, max_cost=args.max_cost, min_quality=args.min_quality))
    if args.png is not None:
        how = save_png(reports, args.png, max_cost=args.max_cost, min_quality=args.min_quality)
        print(f"curve: {args.png} ({how})")
    return 0


if __name__ == "__main__":  # pragma: no cover
    p = argparse.ArgumentParser(prog="python -m routed_llm.bench.cascade", description=__doc__)
    add_arguments(p)
    sys.exit(main(p.parse_args()))
