"""Deprecated location: this benchmark moved to ``benchmarks/embeddings_throughput.py`` in the routed-llm repository.

It needs the framework adapters (and, for embeddings, the test-suite's servers), which the
installed core does not have, so it no longer ships in the wheel. In a source checkout this
module still forwards to the new one for a release; run ``python -m benchmarks.embeddings_throughput`` instead.
"""

from __future__ import annotations

from routed_llm.bench._moved import forward

_new = forward("embeddings_throughput", globals())

if __name__ == "__main__":  # pragma: no cover
    _new.main()
