"""Benchmark confidential detection: the confidential set's miss rate and the public set's false positives.

Reads the two sets kept as test data (``tests/data/privacy/confidential.jsonl`` and
``public.jsonl``; ``tests/unit/test_confidential_sets.py`` runs them as parametrised tests),
infers each request's sensitivity the way the router does (`classify_messages` over every
message field plus the tool definitions) and prints:

- the miss rate: confidential requests inferred as anything but confidential (target 0);
- the false-positive rate: public look-alikes inferred as confidential (target <= 2%);
- both by category and by the message field the data sits in, each miss or false positive
  by id with the classifier's reason (which names kinds, never values);
- the per-request CPU time of the classification (p50, p99).

Usage, from the repository root::

    uv run python -m benchmarks.privacy            # exit status 0 when both targets are met
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from routed_llm.classify import classify_messages
from routed_llm.classify.heuristic import tool_texts
from routed_llm.types import Sensitivity

__all__ = ["DATA", "MAX_FALSE_POSITIVE_RATE", "evaluate", "main"]

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "privacy"
"""Where the two sets live."""
MAX_FALSE_POSITIVE_RATE = 0.02
"""At most this share of the public look-alikes may be marked confidential."""


def _load(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def evaluate(cases: Sequence[dict[str, Any]]) -> tuple[list[tuple[dict[str, Any], bool, str]], list[float]]:
    """Classify every case; return (case, marked confidential, reason) triples and CPU times in µs."""
    results: list[tuple[dict[str, Any], bool, str]] = []
    times: list[float] = []
    for case in cases:
        extra = tool_texts(case.get("tools"))
        t0 = time.thread_time_ns()
        result = classify_messages(case["messages"], extra_texts=extra)
        times.append((time.thread_time_ns() - t0) / 1000.0)
        results.append((case, result.sensitivity is Sensitivity.CONFIDENTIAL, result.signals[2]))
    return results, times


def _breakdown(results: list[tuple[dict[str, Any], bool, str]], key: str, wanted: bool) -> str:
    total: Counter[str] = Counter(case[key] for case, _, _ in results)
    wrong: Counter[str] = Counter(case[key] for case, flagged, _ in results if flagged is not wanted)
    return ", ".join(f"{name} {wrong[name]}/{total[name]}" for name in sorted(total))


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100.0 * len(ordered)) - 1))]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return 0 when no confidential case is missed and false positives stay <= 2%."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DATA, help="folder holding confidential.jsonl and public.jsonl")
    parser.add_argument("--rounds", type=int, default=5, help="passes over both sets for the timing")
    args = parser.parse_args(argv)

    confidential = _load(args.data / "confidential.jsonl")
    public = _load(args.data / "public.jsonl")
    conf_results, conf_times = evaluate(confidential)
    pub_results, pub_times = evaluate(public)
    for _ in range(max(0, args.rounds - 1)):
        conf_times.extend(evaluate(confidential)[1])
        pub_times.extend(evaluate(public)[1])

    misses = [(c, reason) for c, flagged, reason in conf_results if not flagged]
    false_positives = [(c, reason) for c, flagged, reason in pub_results if flagged]
    miss_rate = len(misses) / len(confidential)
    fp_rate = len(false_positives) / len(public)
    langs = len({c["lang"] for c in confidential})
    print(f"confidential set: {len(confidential)} requests, {langs} languages")
    print(f"  missed (not inferred confidential): {len(misses)} = {miss_rate:.1%}  (target 0)")
    print(f"  by category: {_breakdown(conf_results, 'category', True)}")
    print(f"  by field:    {_breakdown(conf_results, 'field', True)}")
    for case, reason in misses:
        print(f"    miss {case['id']} ({case['category']}, {case['field']}): {reason}")
    print(f"public look-alike set: {len(public)} requests")
    print(f"  marked confidential: {len(false_positives)} = {fp_rate:.1%}  (target <= {MAX_FALSE_POSITIVE_RATE:.0%})")
    print(f"  by category: {_breakdown(pub_results, 'category', False)}")
    for case, reason in false_positives:
        print(f"    false positive {case['id']} ({case['category']}, {case['field']}): {reason}")
    times = conf_times + pub_times
    print(
        f"classify_messages CPU time per request ({len(times)} calls): "
        f"p50 {_percentile(times, 50):.1f} µs, p99 {_percentile(times, 99):.1f} µs, max {max(times):.1f} µs"
    )
    ok = not misses and fp_rate <= MAX_FALSE_POSITIVE_RATE
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
