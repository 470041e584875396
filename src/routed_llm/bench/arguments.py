"""Command-line options of the ``routed-llm bench`` subcommands, apart from the benchmarks themselves.

Every ``routed-llm`` command builds the whole parser; keeping the options here
means that building it imports no numpy (the benchmarks load only when run).
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_cascade_arguments", "add_routing_arguments"]


def add_cascade_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``routed-llm bench cascade`` (shared by the CLI and ``python -m``)."""
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="dir holding routerbench/ (needed outside a source checkout; default <repo>/../shared/data/routing)",
    )
    parser.add_argument("--png", type=Path, default=None, help="save the cost-quality curve to this PNG")
    parser.add_argument("--max-cost", type=float, default=0.35, help="cost budget, share of premium (default 0.35)")
    parser.add_argument(
        "--min-quality", type=float, default=0.97, help="quality target, share of premium (default 0.97)"
    )


def add_routing_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``routed-llm bench routing``."""
    parser.add_argument("--data", type=Path, default=None, help="dir holding routellm/ and routerbench/")
    parser.add_argument("--png", type=Path, default=None, help="save the curves to this PNG (needs matplotlib)")
    parser.add_argument("--repeats", type=int, default=200, help="latency samples per prompt size")
