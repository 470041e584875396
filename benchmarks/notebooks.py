"""Wall time of each example notebook, run offline on the embedded defaults, against the two-minute target.

Each notebook runs in a fresh kernel with no keys and no Ollama (as a reader with a
fresh clone would run it), with the same environment as the test that executes
them (tests/integration/test_notebooks.py). That test checks they run; this script
measures how long they take, because wall time on a shared machine is a
benchmark's figure, not a test's assertion. Run from the repository root::

    uv run python -m benchmarks.notebooks [--repeat 1] [NOTEBOOK ...]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

__all__ = ["NOTEBOOKS", "TARGET_S", "execute", "main", "offline_env"]

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "examples" / "notebooks").glob("*.ipynb"))
#: Each notebook should run in under two minutes on a 2-core machine.
TARGET_S = 120.0
#: A cell that runs longer than this is hung, not slow.
CELL_TIMEOUT_S = 600
_KEYS = ("GROQ_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_API_KEY")


@contextmanager
def offline_env(home: Path) -> Iterator[None]:
    """Unset cloud keys, point Ollama at a closed port and keep ledgers and caches under ``home``."""
    saved = dict(os.environ)
    for key in _KEYS:
        os.environ.pop(key, None)
    os.environ["OLLAMA_BASE_URL"] = "http://127.0.0.1:9"  # nothing listens: the embedded tier serves
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    os.environ["HF_HOME"] = saved.get("HF_HOME", str(Path.home() / ".cache" / "huggingface"))
    os.environ["HOME"] = str(home)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def execute(path: Path, workdir: Path) -> tuple[object, float]:
    """Run one notebook in a fresh kernel inside ``workdir``; return the executed notebook and its wall time."""
    import nbformat
    from nbclient import NotebookClient

    book = nbformat.read(path, as_version=4)
    client = NotebookClient(
        book, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    )
    started = time.monotonic()
    client.execute()
    return book, time.monotonic() - started


def main(argv: Sequence[str] | None = None) -> int:
    """Time each notebook and print its best wall time against the target; always returns 0 (a report)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to time (default: all in examples/)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per notebook; the best is reported")
    args = parser.parse_args(argv)
    paths = args.notebooks or NOTEBOOKS
    print(f"{'notebook':<40} {'best s':>8} {'target s':>9} {'ratio':>6}")
    worst = 0.0
    for path in paths:
        times = []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp, offline_env(Path(tmp)):
                times.append(execute(path, Path(tmp))[1])
        best = min(times)
        worst = max(worst, best / TARGET_S)
        print(f"{path.name:<40} {best:>8.1f} {TARGET_S:>9.0f} {best / TARGET_S:>6.2f}")
    print(f"slowest notebook at {worst:.2f} of the target ({'met' if worst < 1 else 'missed'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
