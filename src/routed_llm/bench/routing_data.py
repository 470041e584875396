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
from routed_llm.bench.cascade import BenchDataError, load_frame

__all__ = [
    "ROUTELLM_STRONG",
    "ROUTELLM_WEAK",
    "ROUTERBENCH_DATASETS",
    "ROUTERBENCH_TIERS",
    "Outcomes",
    "RoutingMetrics",
    "load_gsm8k",
    "load_mmlu",
    "load_routerbench",
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
    return Outcomes(name, prompts, np.array(rows, dtype=float))


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
    return Outcomes(f"{dataset}_{split}", frame.prompts, frame.scores, frame.costs, frame.all_scores)


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
