"""Forwarding for benchmark modules that moved out of the wheel to the repository's ``benchmarks/``.

One implementation for every old ``routed_llm.bench.<name>`` location: warn once on import,
then re-export the new module's public names from a source checkout, or fail with the
message that says where it went when the wheel is installed without the repository.
"""

from __future__ import annotations

import importlib
import warnings
from types import ModuleType
from typing import Any


def forward(name: str, namespace: dict[str, Any]) -> ModuleType:
    """Warn that ``routed_llm.bench.<name>`` moved, copy ``benchmarks.<name>``'s public names into ``namespace``."""
    moved = (
        f"routed_llm.bench.{name} moved to benchmarks/{name}.py in the routed-llm repository: "
        f"run `uv run python -m benchmarks.{name}` from the repository root"
    )
    warnings.warn(moved, DeprecationWarning, stacklevel=3)  # points at the code importing the old module
    try:
        module = importlib.import_module(f"benchmarks.{name}")
    except ModuleNotFoundError as e:  # an installed wheel: the benchmarks folder is not there
        if e.name != "benchmarks":
            raise
        raise ModuleNotFoundError(moved) from e
    public = getattr(module, "__all__", None) or [k for k in vars(module) if not k.startswith("_")]
    namespace.update({k: getattr(module, k) for k in public})
    return module
