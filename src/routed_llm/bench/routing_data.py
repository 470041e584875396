"""Recorded routing outcomes and RouteLLM's metrics, shared by `bench routing` and the scorer's training script.

The files are read in place from ``../shared/data/routing`` (or ``--data``),
never copied into the project. The metrics follow that folder's README exactly:
thresholds at the 11 decile edges of the scores, a prompt goes to the strong
model when its score is at or above the threshold (strictly above at the last
edge), APGR is the area under the quality curve relative to the weak-strong
span, CPT(p) the share of strong calls that recovers ``p`` of the gap.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from routed_llm.bench.cascade import DATASETS as ROUTERBENCH_DATASETS
from routed_llm.bench.cascade import TIERS as ROUTERBENCH_MODELS
from routed_llm.bench.cascade import BenchDataError, load_frame

__all__ = [
    "ROUTELLM_STRONG",
    "ROUTELLM_WEAK",
    "ROUTERBENCH_DATASETS",
    "ROUTERBENCH_TIERS",
    "Outcomes",
    "RoutingMetrics",
    "ALPACA_TIERS",
    "ARENA_TIERS",
    "LLMROUTER_TIERS",
    "load_alpaca_eval",
    "load_arena_bench",
    "load_gsm8k",
    "load_llmrouter",
    "load_mmlu",
    "load_routerbench",
    "mixed_metrics",
    "routing_metrics",
]

ROUTELLM_WEAK = "mistralai/Mixtral-8x7B-Instruct-v0.1"
ROUTELLM_STRONG = "gpt-4-1106-preview"
#: The three RouterBench tiers the benchmarks use, cheapest first; the last two are RouteLLM's pair.
ROUTERBENCH_TIERS = ("mistral-7b-chat", "mixtral-8x7b-chat", "gpt-4-1106-preview")


@dataclass
class Outcomes:
    """Prompts and per-tier quality (0/1; NaN where the tier has no record), cheapest tier first."""

    name: str
    prompts: list[str]
    quality: np.ndarray
    cost: np.ndarray | None = None
    all_quality: np.ndarray | None = None
    """``[n, models]`` outcomes of every model recorded (RouterBench's eleven), NaN where missing."""
    kinds: list[str] | None = None
    """The task kind of each row where a set holds several (LLMRouter's task names, AlpacaEval's subsets)."""
    models: tuple[str, ...] = ()
    """The model of each ``all_quality`` column."""
    tier_models: tuple[str, ...] = ()
    """The model of each ``quality`` column (cheapest first)."""

    def __len__(self) -> int:
        return len(self.prompts)


def _contaminated(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    return {json.loads(line)["eval_prompt"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}


def _read_pair(files: Sequence[Path], contaminated: set[str], name: str) -> Outcomes:
    csv.field_size_limit(sys.maxsize)
    prompts: list[str] = []
    rows: list[tuple[float, float, float]] = []
    for file in files:
        with file.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = {"prompt", ROUTELLM_WEAK, ROUTELLM_STRONG} - set(reader.fieldnames or [])
            if missing:
                raise BenchDataError(f"{file}: missing columns {sorted(missing)}")
            for row in reader:
                if row["prompt"] in contaminated:
                    continue
                prompts.append(row["prompt"])
                weak, strong = (
                    row[c].strip().lower() in ("true", "1", "1.0") for c in (ROUTELLM_WEAK, ROUTELLM_STRONG)
                )
                rows.append((math.nan, float(weak), float(strong)))
    return Outcomes(name, prompts, np.array(rows, dtype=float), tier_models=("", ROUTELLM_WEAK, ROUTELLM_STRONG))


def _routellm_dir(data_dir: Path) -> Path:
    root = data_dir / "routellm"
    if not root.is_dir():
        raise BenchDataError(f"{root}: not found (pass --data <dir holding routellm/ and routerbench/>)")
    return root


def load_mmlu(data_dir: Path) -> Outcomes:
    """RouteLLM's MMLU outcomes (57 subjects), decontaminated. Column 0 (the 7B tier) is unknown (NaN)."""
    root = _routellm_dir(data_dir) / "mmlu"
    files = sorted((root / "responses").glob("mmlu_*.csv"))
    if not files:
        raise BenchDataError(f"{root / 'responses'}: no mmlu_*.csv files")
    return _read_pair(files, _contaminated(root / "contaminated_prompts.jsonl"), "mmlu")


def load_gsm8k(data_dir: Path) -> Outcomes:
    """RouteLLM's GSM8K outcomes, decontaminated. Column 0 (the 7B tier) is unknown (NaN)."""
    root = _routellm_dir(data_dir) / "gsm8k"
    file = root / "gsm8k_responses.csv"
    if not file.is_file():
        raise BenchDataError(f"{file}: no such file")
    return _read_pair([file], _contaminated(root / "contaminated_prompts.jsonl"), "gsm8k")


def load_routerbench(data_dir: Path, dataset: str, split: str) -> Outcomes:
    """One RouterBench split with the three `ROUTERBENCH_TIERS`' quality and cost."""
    root = data_dir / "routerbench"
    if not root.is_dir():
        raise BenchDataError(f"{root}: not found (pass --data <dir holding routerbench/>)")
    frame = load_frame(root / f"{dataset}_{split}.csv")
    return Outcomes(
        f"{dataset}_{split}",
        frame.prompts,
        frame.scores,
        frame.costs,
        frame.all_scores,
        models=frame.all_models,
        tier_models=ROUTERBENCH_MODELS,
    )


# --------------------------------------------------------------------------- the open-ended sets
# Each maps to three tiers, cheapest first, by one rule: column 2 is the set's GPT-4-class (or
# strongest) model, column 1 a mid model (RouteLLM's Mixtral where the set has it, else the nearest
# in strength), column 0 a 7-8B model. Column 1 vs column 2 is the pair every APGR is measured on.
# Quality is the recorded score as it is, in [0, 1]: graded F1 / coverage kept graded, a judge's
# preference kept as the preference, a 1-10 rating mapped linearly ((r - 1) / 9). ``all_quality``
# holds every recorded model's quality (the item-difficulty target), minus the models the README
# marks as noise.

#: LLMRouter: 7B / 8B / 51B. Its train split only (the 450 test rows are never read).
LLMROUTER_TIERS = ("mistral-7b-instruct-v0.3", "llama-3.1-8b-instruct", "llama-3.1-nemotron-51b-instruct")
#: LLMRouter models whose multiple-choice answers were not extracted (the data README: treat as noise).
LLMROUTER_NOISE = ("llama3-chatqa-1.5-70b", "llama3-chatqa-1.5-8b")
#: AlpacaEval 1.0 (preference over text-davinci-003): the README's pair, with Llama-2-7B as the cheap tier.
ALPACA_TIERS = ("llama-2-7b-chat-hf", "llama-2-70b-chat-hf", "gpt4")
#: arena-bench: RouteLLM's pair (Mixtral-8x7B, GPT-4-1106) and Mistral-7B.
ARENA_TIERS = (
    "mistralai/Mistral-7B-Instruct-v0.1",
    "mistralai/Mixtral-8x7B-Instruct-v0.1",
    "gpt-4-1106-preview",
)


def _jsonl(path: Path) -> list[dict[str, object]]:
    if not path.is_file():
        raise BenchDataError(f"{path}: no such file (pass --data <dir holding the routing outcome sets>)")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise BenchDataError(f"{path}: line {number} is not JSON ({e})") from e
        if not isinstance(row, dict):
            raise BenchDataError(f"{path}: line {number} is not a JSON object")
        rows.append(row)
    return rows


def _keys(rows: Sequence[dict[str, object]], field: str) -> list[str]:
    """Every model named in any row's ``field`` object, sorted."""
    return sorted({str(m) for r in rows if isinstance(value := r.get(field), dict) for m in value})


def _unit(value: object, where: str, *, low: float = 0.0, high: float = 1.0) -> float:
    """``value`` mapped from [low, high] to [0, 1]; NaN for null; a `BenchDataError` naming ``where`` otherwise."""
    if value is None or value == "":
        return math.nan
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as e:
        raise BenchDataError(f"{where}: score {value!r} is not a number") from e
    if math.isnan(v):
        return math.nan
    if not low <= v <= high:
        raise BenchDataError(f"{where}: score {v} outside [{low}, {high}]")
    return (v - low) / (high - low)


def load_llmrouter(data_dir: Path, split: str = "train") -> Outcomes:
    """LLMRouter's thirteen task kinds (one ``split``), graded scores as recorded, `LLMROUTER_TIERS`."""
    path = data_dir / "llmrouter" / "dcrouter.csv"
    if not path.is_file():
        raise BenchDataError(f"{path}: no such file (pass --data <dir holding llmrouter/>)")
    csv.field_size_limit(sys.maxsize)
    prompts, kinds, tiers, every = [], [], [], []
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields = list(reader.fieldnames or [])
        missing = sorted({"split", "task_name", "prompt", *LLMROUTER_TIERS} - set(fields))
        if missing:
            raise BenchDataError(f"{path}: missing columns {missing}")
        models = [c for c in fields if c not in ("split", "task_name", "metric", "prompt") and c not in LLMROUTER_NOISE]
        for number, row in enumerate(reader, 2):
            if row["split"] != split:
                continue
            where = f"{path}: row {number} ({row['task_name']})"
            scores = {m: _unit(row[m], f"{where}, {m}") for m in models}
            if not row["prompt"].strip() or any(math.isnan(scores[m]) for m in LLMROUTER_TIERS):
                raise BenchDataError(f"{where}: empty prompt or a tier without a score")
            prompts.append(row["prompt"])
            kinds.append(row["task_name"])
            tiers.append([scores[m] for m in LLMROUTER_TIERS])
            every.append([scores[m] for m in models])
    return Outcomes("llmrouter", prompts, np.array(tiers), None, np.array(every), kinds, tuple(models), LLMROUTER_TIERS)


def load_alpaca_eval(data_dir: Path) -> Outcomes:
    """AlpacaEval's 725 instructions; quality = GPT-4's preference over text-davinci-003 (`ALPACA_TIERS`)."""
    path = data_dir / "alpaca_eval" / "preferences.jsonl"
    prompts, kinds, tiers, every = [], [], [], []
    rows = _jsonl(path)
    models = _keys(rows, "vs_text_davinci_003")
    for number, row in enumerate(rows, 1):
        prefs = row.get("vs_text_davinci_003")
        text = row.get("instruction")
        if not isinstance(prefs, dict) or not isinstance(text, str) or not text.strip():
            raise BenchDataError(f"{path}: line {number} has no instruction or no vs_text_davinci_003 object")
        scores = {m: _unit(prefs.get(m), f"{path}: line {number}, {m}") for m in models}
        if any(math.isnan(scores.get(m, math.nan)) for m in ALPACA_TIERS[1:]):
            continue  # the APGR pair not both judged on this instruction (17 of 725): nothing to learn from
        prompts.append(text)
        kinds.append(str(row.get("dataset", "alpaca_eval")))
        tiers.append([scores[m] for m in ALPACA_TIERS])
        every.append([scores[m] for m in models])
    return Outcomes("alpaca_eval", prompts, np.array(tiers), None, np.array(every), kinds, tuple(models), ALPACA_TIERS)


def load_arena_bench(data_dir: Path) -> Outcomes:
    """arena-bench's 299 hard chat prompts; quality = GPT-4's 1-10 rating mapped to (r - 1) / 9 (`ARENA_TIERS`)."""
    path = data_dir / "arena_bench" / "ratings.jsonl"
    rows = _jsonl(path)
    models = _keys(rows, "rating")
    prompts, tiers, every = [], [], []
    for number, row in enumerate(rows, 1):
        ratings = row.get("rating")
        text = row.get("prompt")
        if not isinstance(ratings, dict) or not isinstance(text, str) or not text.strip():
            raise BenchDataError(f"{path}: line {number} has no prompt or no rating object")
        scores = {m: _unit(ratings.get(m), f"{path}: line {number}, {m}", low=1.0, high=10.0) for m in models}
        if any(math.isnan(scores.get(m, math.nan)) for m in ARENA_TIERS[1:]):
            continue  # the APGR pair has an unparsable rating here (a handful of rows)
        prompts.append(text)
        tiers.append([scores[m] for m in ARENA_TIERS])
        every.append([scores[m] for m in models])
    return Outcomes(
        "arena_bench",
        prompts,
        np.array(tiers),
        None,
        np.array(every),
        ["arena_bench"] * len(prompts),
        tuple(models),
        ARENA_TIERS,
    )


@dataclass(frozen=True)
class RoutingMetrics:
    """RouteLLM's summary of a strong-vs-weak routing score."""

    apgr: float
    cpt50: float
    cpt80: float
    curve: tuple[tuple[float, float], ...]
    """(% of prompts sent to strong, mean quality) at each threshold, ascending."""


def routing_metrics(scores: np.ndarray, weak: np.ndarray, strong: np.ndarray) -> RoutingMetrics:
    """APGR, CPT(50%) and CPT(80%) exactly as ``shared/data/routing/README.md`` defines them."""
    scores = np.asarray(scores, dtype=float)
    weak = np.asarray(weak, dtype=float)
    strong = np.asarray(strong, dtype=float)
    # pandas.qcut(scores, 10, retbins=True, duplicates="drop") bin edges: linear-interpolated deciles.
    edges = np.unique(np.quantile(scores, np.linspace(0.0, 1.0, 11)))
    xs, ys = [], []
    for k, t in enumerate(edges):
        to_strong = scores > t if k == len(edges) - 1 else scores >= t
        xs.append(100.0 * to_strong.mean())
        ys.append(float(np.where(to_strong, strong, weak).mean()))
    order = np.argsort(xs, kind="stable")
    x, y = np.array(xs)[order], np.array(ys)[order]
    auc = float(np.trapezoid(y, x / 100.0))
    span = (x.max() - x.min()) / 100.0
    w, s = float(weak.mean()), float(strong.mean())
    apgr = (auc - w * span) / (s * span - w * span) if span > 0 and s != w else float("nan")

    def cpt(p: float) -> float:
        return float(np.interp(w + p * (s - w), y, x))

    return RoutingMetrics(apgr, cpt(0.5), cpt(0.8), tuple(zip(x.tolist(), y.tolist(), strict=True)))


def _weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    cum = np.cumsum(w) - 0.5 * w
    return np.interp(qs, cum / w.sum(), v)


def mixed_metrics(
    scores: np.ndarray, weak: np.ndarray, strong: np.ndarray, weights: np.ndarray | None = None
) -> RoutingMetrics:
    """`routing_metrics` over a pooled stream whose rows weigh ``weights`` (each set equally: ``1 / len(set)``).

    Thresholds are the weighted deciles of the scores, shares and means are weighted; with equal
    weights this is `routing_metrics` up to how the deciles interpolate.
    """
    scores = np.asarray(scores, dtype=float)
    weak = np.asarray(weak, dtype=float)
    strong = np.asarray(strong, dtype=float)
    w = np.ones(len(scores)) if weights is None else np.asarray(weights, dtype=float)
    w = w / w.sum()
    edges = np.unique(_weighted_quantiles(scores, w, np.linspace(0.0, 1.0, 11)))
    xs, ys = [], []
    for k, t in enumerate(edges):
        to_strong = scores > t if k == len(edges) - 1 else scores >= t
        xs.append(100.0 * float(w[to_strong].sum()))
        ys.append(float((np.where(to_strong, strong, weak) * w).sum()))
    order = np.argsort(xs, kind="stable")
    x, y = np.array(xs)[order], np.array(ys)[order]
    auc = float(np.trapezoid(y, x / 100.0))
    span = (x.max() - x.min()) / 100.0
    lo, hi = float((weak * w).sum()), float((strong * w).sum())
    apgr = (auc - lo * span) / (hi * span - lo * span) if span > 0 and hi != lo else float("nan")

    def cpt(p: float) -> float:
        return float(np.interp(lo + p * (hi - lo), y, x))

    return RoutingMetrics(apgr, cpt(0.5), cpt(0.8), tuple(zip(x.tolist(), y.tolist(), strict=True)))
