"""Benchmarks that need more than the core package: the framework adapters, their peers, the test servers.

Run them from the repository root as modules (``uv run python -m benchmarks.overhead``) so
``tests.servers`` and the workspace packages import; the core's own offline benchmarks stay
in ``routed_llm.bench`` behind ``routed-llm bench``.
"""
