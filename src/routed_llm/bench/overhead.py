"""Deprecated location: this benchmark moved to ``benchmarks/overhead.py`` in the routed-llm repository.

It needs the framework adapters (and, for embeddings, the test-suite's servers), which the
installed core does not have, so it no longer ships in the wheel. In a source checkout this
module still forwards to the new one for a release; run ``python -m benchmarks.overhead`` instead.
"""

from __future__ import annotations

import warnings

_MOVED = (
    "routed_llm.bench.overhead moved to benchmarks/overhead.py in the routed-llm repository: "
    "run `uv run python -m benchmarks.overhead` from the repository root"
)
warnings.warn(_MOVED, DeprecationWarning, stacklevel=2)

try:
    from benchmarks.overhead import *  # noqa: F403
    from benchmarks.overhead import main
except ModuleNotFoundError as e:  # an installed wheel: the benchmarks folder is not there
    if e.name != "benchmarks":
        raise
    raise ModuleNotFoundError(_MOVED) from e

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
