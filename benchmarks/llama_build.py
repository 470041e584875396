r"""What the portable llama.cpp build costs, and what the crash guard costs.

The project builds llama-cpp-python without native CPU detection (pyproject's
``[tool.uv.extra-build-variables]``): a native build compiles every kernel the CPU
advertises, including AMX kernels that segfault on VMs which advertise AMX but do
not allow it. This prints SmolLM2-135M generation and prompt speed for this
interpreter's build and, side by side, for another interpreter's (e.g. a venv with a
native build), with the ratio; then the embedded guard's cost: the first call on a
machine (a subprocess generation), a later process (its verdict read from disk) and
later calls in the same process (a dict lookup).

    uv run python benchmarks/llama_build.py                       # this build + the guard
    uv run python benchmarks/llama_build.py --against /tmp/native/bin/python

Make a native build to compare with (5-12 minutes on 2 cores)::

    uv venv /tmp/native && CMAKE_ARGS="-DGGML_NATIVE=ON" uv pip install --python /tmp/native \\
        --no-cache llama-cpp-python==<the locked version>
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle. " * 4
RUNS = 3
GENERATE = 96


def measure(model_path: str, threads: int) -> dict[str, Any]:
    """Time prompt processing and generation on ``model_path`` (imports only llama_cpp: runs under any venv)."""
    import llama_cpp
    from llama_cpp import Llama, LogitsProcessorList

    llm = Llama(model_path=model_path, n_ctx=1024, n_threads=threads, verbose=False)
    eos = llm.token_eos()
    ban_eos = LogitsProcessorList([lambda _ids, logits: _banned(logits, eos)])  # exactly GENERATE tokens a run
    llm.create_completion("Hello", max_tokens=4, temperature=0.0)  # warm-up
    gen, prompt = [], []
    for _ in range(RUNS):
        llm.reset()
        start = time.perf_counter()
        out: Any = llm.create_completion(PROMPT, max_tokens=1, temperature=0.0)
        prompt.append(out["usage"]["prompt_tokens"] / (time.perf_counter() - start))
        llm.reset()
        start = time.perf_counter()
        out = llm.create_completion("Once upon a time", max_tokens=GENERATE, temperature=0.0, logits_processor=ban_eos)
        elapsed = time.perf_counter() - start
        gen.append(out["usage"]["completion_tokens"] / elapsed)
    system_info = llama_cpp.llama_print_system_info()
    return {
        "version": llama_cpp.__version__,
        "system_info": system_info.decode() if isinstance(system_info, bytes) else str(system_info),
        "generate_tok_s": statistics.median(gen),
        "prompt_tok_s": statistics.median(prompt),
    }


def _banned(logits: Any, token: int) -> Any:
    logits[token] = -float("inf")
    return logits


def _measure_in(python: str, model_path: str, threads: int) -> dict[str, Any]:
    done = subprocess.run(
        [python, __file__, "--measure-only", model_path, "--threads", str(threads)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{python} failed (exit {done.returncode}): {done.stderr[-1500:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _features(system_info: str) -> str:
    on = [part.split("=")[0].strip() for part in system_info.split("|") if part.strip().endswith("= 1")]
    return " ".join(f for f in on if f.startswith(("AVX", "AMX", "FMA", "F16C", "BMI"))) or "-"


def guard_cost(model_path: Path) -> dict[str, float]:
    """Seconds for the guard: first call on a machine, a later process, a later call in the same process."""
    from routed_llm.local_probe import LlamaCppProbe

    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        LlamaCppProbe(cache_dir=Path(cache)).ensure_runs(model_path)
        first = time.perf_counter() - start
        later_process = []
        for _ in range(20):
            start = time.perf_counter()
            probe = LlamaCppProbe(cache_dir=Path(cache))
            probe.ensure_runs(model_path)
            later_process.append(time.perf_counter() - start)
        same_process = []
        for _ in range(200):
            start = time.perf_counter()
            probe.ensure_runs(model_path)
            same_process.append(time.perf_counter() - start)
    return {
        "first": first,
        "later_process": statistics.median(later_process),
        "same_process": statistics.median(same_process),
    }


def main() -> None:
    """Print build speeds side by side, then the guard's cost."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", help="another Python whose llama-cpp-python build to compare (e.g. a native one)")
    parser.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2) // 2))
    parser.add_argument("--measure-only", metavar="GGUF", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_only:
        print(json.dumps(measure(args.measure_only, args.threads)))
        return

    from routed_llm.local_models import local_model_spec

    model = local_model_spec("smollm2-135m").locate()
    rows = [("this build", _measure_in(sys.executable, str(model), args.threads))]
    if args.against:
        rows.append((f"--against {args.against}", _measure_in(args.against, str(model), args.threads)))
    print(f"SmolLM2-135M Q4_1, {args.threads} thread(s), median of {RUNS}; {GENERATE} generated tokens per run\n")
    print(f"{'build':<34} {'generate tok/s':>15} {'prompt tok/s':>13}  CPU features used")
    for name, row in rows:
        print(
            f"{name:<34} {row['generate_tok_s']:>15.1f} {row['prompt_tok_s']:>13.1f}  {_features(row['system_info'])}"
        )
    if len(rows) == 2:
        base, other = rows[0][1], rows[1][1]
        print(
            f"{'ratio this / against':<34} {base['generate_tok_s'] / other['generate_tok_s']:>15.2f} "
            f"{base['prompt_tok_s'] / other['prompt_tok_s']:>13.2f}"
        )
    cost = guard_cost(model)
    print("\nCrash guard (routed_llm.local_probe) before the first in-process generation:")
    print(f"  first call on this machine (subprocess test generation): {cost['first'] * 1000:8.0f} ms")
    print(f"  a later process (verdict read from disk):               {cost['later_process'] * 1000:8.2f} ms")
    print(f"  a later call in the same process:                       {cost['same_process'] * 1e6:8.1f} us")


if __name__ == "__main__":
    main()
