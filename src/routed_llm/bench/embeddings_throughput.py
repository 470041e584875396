"""Deprecated location: this benchmark moved to ``benchmarks/embeddings_throughput.py`` in the routed-llm repository.

It needs the framework adapters (and, for embeddings, the test-suite's servers), which the
installed core does not have, so it no longer ships in the wheel. In a source checkout this
module still forwards to the new one for a release; run ``python -m benchmarks.embeddings_throughput`` instead.
"""

from __future__ import annotations

import warnings

_MOVED = (
    "routed_llm.bench.embeddings_throughput moved to benchmarks/embeddings_throughput.py in the routed-llm repository: "
    "run `uv run python -m benchmarks.embeddings_throughput` from the repository root"
)
warnings.warn(_MOVED, DeprecationWarning, stacklevel=2)

try:
    from benchmarks.embeddings_throughput import *  # noqa: F403
    from benchmarks.embeddings_throughput import main
except ModuleNotFoundError as e:  # an installed wheel: the benchmarks folder is not there
    if e.name != "benchmarks":
        raise
    raise ModuleNotFoundError(_MOVED) from e

if __name__ == "__main__":  # pragma: no cover
    main()
