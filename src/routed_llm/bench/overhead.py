"""Deprecated location: this benchmark moved to ``benchmarks/overhead.py`` in the routed-llm repository.

It needs the framework adapters (and, for embeddings, the test-suite's servers), which the
installed core does not have, so it no longer ships in the wheel. In a source checkout this
module still forwards to the new one for a release; run ``python -m benchmarks.overhead`` instead.
"""

from __future__ import annotations

from routed_llm.bench._moved import forward

_new = forward("overhead", globals())

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(_new.main())
