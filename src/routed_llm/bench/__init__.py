"""Micro-benchmarks for routed-llm components."""
