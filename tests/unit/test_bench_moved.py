"""The old ``routed_llm.bench.<name>`` benchmark modules warn and forward to ``benchmarks/``."""

import importlib
import sys

import pytest


@pytest.mark.parametrize("name", ["overhead", "embeddings_throughput"])
def test_old_benchmark_modules_warn_and_forward(name: str) -> None:
    sys.modules.pop(f"routed_llm.bench.{name}", None)
    with pytest.warns(DeprecationWarning, match=f"benchmarks/{name}.py"):
        old = importlib.import_module(f"routed_llm.bench.{name}")
    new = importlib.import_module(f"benchmarks.{name}")
    assert all(getattr(old, k) is getattr(new, k) for k in new.__all__)
