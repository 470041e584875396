"""Build the calibration sample bundled with routed-llm (``routed-llm calibrate`` without ``--prompts``).

300 public prompts drawn with a fixed seed from the shared routing data (see
``../shared/data/routing/README.md``), mixed like typical traffic rather than a
benchmark suite: open instructions and real chat first, then question answering,
maths, code and multiple choice.

| source | prompts | what |
|---|---|---|
| ``alpaca_eval`` | 75 | open instructions (AlpacaEval: helpful_base, koala, oasst, selfinstruct; Apache-2.0) |
| ``arena_bench`` | 45 | hard real chat prompts, a third coding (arena-bench v1; Apache-2.0) |
| ``llmrouter`` | 80 | QA, science, maths, code and puzzle task kinds, train split (LLMRouter; MIT) |
| ``mmlu`` / ``gsm8k`` | 40 / 20 | RouteLLM's evaluation files (Apache-2.0; contaminated prompts dropped) |
| ``mbpp`` / ``arc_challenge`` / ``winograde`` | 15 / 15 / 10 | RouterBench ``*_train.csv`` (via RouterDC) |

LLMRouter's 80 are spread evenly over its task kinds (``source`` is ``llmrouter:<task>``).
Only the prompt text and its source are kept.

    python scripts/build_calibration_sample.py [--data ../shared/data/routing]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from routed_llm.bench.routing import load_all_sets

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "routed_llm" / "scoring" / "data" / "calibration_sample.jsonl"
SEED = 0
COUNTS = {
    "alpaca_eval": 75,
    "arena_bench": 45,
    "llmrouter": 80,
    "mmlu": 40,
    "gsm8k": 20,
    "mbpp": 15,
    "arc_challenge": 15,
    "winograde": 10,
}


def main() -> None:
    """Draw the sample and write it as JSON lines."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "routing")
    args = parser.parse_args()
    sets = load_all_sets(args.data)
    rng = random.Random(SEED)
    rows: list[dict[str, str]] = []
    for name, count in COUNTS.items():
        o = sets[name]
        if name == "llmrouter":
            kinds = sorted(set(o.kinds or []))
            pairs = list(zip(o.prompts, o.kinds or [], strict=True))
            per_kind = {k: sorted({p for p, kk in pairs if kk == k}) for k in kinds}
            share = [count // len(kinds) + (i < count % len(kinds)) for i in range(len(kinds))]
            for kind, n in zip(kinds, share, strict=True):
                rows += [{"prompt": p, "source": f"llmrouter:{kind}"} for p in rng.sample(per_kind[kind], n)]
            continue
        pool = sorted(set(o.prompts))
        rows += [{"prompt": p, "source": name} for p in rng.sample(pool, count)]
    rng.shuffle(rows)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} prompts to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
