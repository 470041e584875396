"""Build the calibration sample bundled with routed-llm (``routed-llm calibrate`` without ``--prompts``).

200 public benchmark prompts, drawn with a fixed seed from the shared routing
data (see ``../shared/data/routing/README.md``): 70 MMLU and 50 GSM8K prompts
from the RouteLLM evaluation files (lm-sys/RouteLLM, Apache-2.0; contaminated
prompts dropped), and 30 MBPP, 25 ARC-Challenge and 25 Winogrande prompts from
the RouterBench ``*_train.csv`` slice (as redistributed by RouterDC). Only the
prompt text and its source are kept.

    python scripts/build_calibration_sample.py [--data ../shared/data/routing]
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "routed_llm" / "scoring" / "data" / "calibration_sample.jsonl"
SEED = 0
COUNTS = {"mmlu": 70, "gsm8k": 50, "mbpp": 30, "arc_challenge": 25, "winograde": 25}


def _contaminated(path: Path) -> set[str]:
    return {json.loads(line)["eval_prompt"] for line in path.read_text().splitlines() if line.strip()}


def _routellm(data: Path) -> dict[str, list[str]]:
    mmlu_dir = data / "routellm" / "mmlu"
    bad = _contaminated(mmlu_dir / "contaminated_prompts.jsonl")
    mmlu = [
        row["prompt"]
        for path in sorted((mmlu_dir / "responses").glob("mmlu_*.csv"))
        for row in csv.DictReader(path.open(encoding="utf-8"))
        if row["prompt"] not in bad
    ]
    gsm_dir = data / "routellm" / "gsm8k"
    bad = _contaminated(gsm_dir / "contaminated_prompts.jsonl")
    gsm8k = [
        row["prompt"]
        for row in csv.DictReader((gsm_dir / "gsm8k_responses.csv").open(encoding="utf-8"))
        if row["prompt"] not in bad
    ]
    return {"mmlu": mmlu, "gsm8k": gsm8k}


def _routerbench(data: Path, name: str) -> list[str]:
    out = []
    for row in csv.DictReader((data / "routerbench" / f"{name}_train.csv").open(encoding="utf-8")):
        prompt = row["prompt"]
        if prompt.startswith("["):  # stored as the repr of a one-element list
            prompt = ast.literal_eval(prompt)[0]
        out.append(prompt)
    return out


def main() -> None:
    """Draw the sample and write it as JSON lines."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "routing")
    args = parser.parse_args()
    csv.field_size_limit(1 << 30)
    pools = _routellm(args.data)
    for name in ("mbpp", "arc_challenge", "winograde"):
        pools[name] = _routerbench(args.data, name)
    rng = random.Random(SEED)
    rows = []
    for name, count in COUNTS.items():
        pool = sorted(set(pools[name]))
        rows += [{"prompt": p, "source": name} for p in rng.sample(pool, count)]
    rng.shuffle(rows)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} prompts to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
