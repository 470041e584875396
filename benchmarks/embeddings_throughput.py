"""Throughput of `RoutedLLMEmbeddings` against ``langchain_ollama.OllamaEmbeddings`` on one Ollama server.

Both embed the same 2,000 documents with ``nomic-embed-text`` on the same server;
the figure is texts per second and the ratio of routed-llm to langchain-ollama,
cold (empty cache) and warm (the cache filled by the cold run, as when re-indexing a
corpus that did not change). Targets: at least 1.0 cold, at least 10 warm.

By default the server is the Ollama emulator from the test-suite (run from the
repository root); ``--url`` points both at a real Ollama instead. The emulator
serves MiniLM under the name ``nomic-embed-text`` (384 dimensions), so routed-llm is
told ``native_dimensions: 384`` there. routed-llm sends nomic's
``search_document:`` prefix and langchain-ollama does not, so routed-llm embeds
slightly longer texts: the comparison is, if anything, tilted against it.

It lives outside the installed package because it needs the LangChain adapter,
``langchain-ollama`` and the test-suite's emulator. Run from the repository root::

    uv run python -m benchmarks.embeddings_throughput [--docs 2000] [--repeat 3] [--url http://localhost:11434]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

__all__ = ["main", "make_documents", "run"]

_WORDS = (
    "router model tier budget latency token cache vector index query document cloud local private "
    "fallback stream tool schema cost embedding space prefix batch server request answer context "
    "retrieval chunk policy rule fast premium cheap quality network machine host deployment"
).split()


def make_documents(n: int, seed: int = 7) -> list[str]:
    """``n`` distinct pseudo-documents of 12 to 60 words (deterministic for a seed)."""
    rng = random.Random(seed)
    return [f"Document {i}: " + " ".join(rng.choices(_WORDS, k=rng.randint(12, 60))) + "." for i in range(n)]


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _server(url: str | None) -> AbstractContextManager[Any]:
    if url is not None:
        return nullcontext(url)
    try:
        from tests.servers.ollama_emulator import OllamaEmulator
    except ImportError:
        sys.exit(
            "the Ollama emulator lives in the repository's tests/: run `python -m benchmarks.embeddings_throughput`"
            " from the repository root, or pass --url"
        )
    return OllamaEmulator()


def run(docs: list[str], url: str | None, *, repeat: int, batch_size: int, concurrency: int) -> dict[str, float]:
    """Time both clients ``repeat`` times (alternating) and return the best texts/s of each."""
    from langchain_ollama import OllamaEmbeddings

    from langchain_routed_llm.embeddings import RoutedLLMEmbeddings

    with _server(url) as server:
        base = server if isinstance(server, str) else server.base_url
        deployment: dict[str, Any] = {"model": "ollama/nomic-embed-text", "api_base": base}
        if url is None:
            deployment["native_dimensions"] = 384  # the emulator's nomic-embed-text is MiniLM
        baseline = OllamaEmbeddings(model="nomic-embed-text", base_url=base)
        baseline.embed_documents(["warm up: load the model"])
        best = {"langchain_ollama": 0.0, "routed_cold": 0.0, "routed_warm": 0.0}
        with tempfile.TemporaryDirectory(prefix="routed-llm-bench-") as tmp:
            for i in range(repeat):
                cache = {"backend": "sqlite", "path": str(Path(tmp) / f"cache-{i}.db")}
                config = {
                    "deployments": [deployment],
                    "batch_size": batch_size,
                    "max_concurrency": concurrency,
                    "cache": cache,
                    "show_progress": False,
                }
                seconds, base_vectors = _timed(lambda: baseline.embed_documents(docs))
                best["langchain_ollama"] = max(best["langchain_ollama"], len(docs) / seconds)
                routed = RoutedLLMEmbeddings(config=config)
                seconds, cold_vectors = _timed(lambda: routed.embed_documents(docs))  # noqa: B023
                best["routed_cold"] = max(best["routed_cold"], len(docs) / seconds)
                warm = RoutedLLMEmbeddings(config=config)  # a new process would see the same file
                seconds, warm_vectors = _timed(lambda: warm.embed_documents(docs))  # noqa: B023
                best["routed_warm"] = max(best["routed_warm"], len(docs) / seconds)
                assert len(base_vectors) == len(cold_vectors) == len(docs) and warm_vectors == cold_vectors
                assert warm.core.stats.requests == 0, "the warm run must not reach the server"
    return best


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: print texts/s and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=2000, help="number of documents (default 2000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per client; the best is kept (default 3)")
    parser.add_argument("--url", default=None, help="a real Ollama to use instead of the emulator")
    parser.add_argument("--batch-size", type=int, default=64, help="routed-llm texts per request (default 64)")
    parser.add_argument("--concurrency", type=int, default=4, help="routed-llm requests in flight (default 4)")
    args = parser.parse_args(argv)
    docs = make_documents(args.docs)
    best = run(docs, args.url, repeat=args.repeat, batch_size=args.batch_size, concurrency=args.concurrency)
    base = best["langchain_ollama"]
    where = args.url or "the Ollama emulator (MiniLM served as nomic-embed-text)"
    print(f"{len(docs)} documents on {where}, best of {args.repeat}")
    print(f"  langchain_ollama.OllamaEmbeddings : {base:8.1f} texts/s")
    cold, warm = best["routed_cold"], best["routed_warm"]
    print(f"  RoutedLLMEmbeddings, cold cache   : {cold:8.1f} texts/s  ratio {cold / base:6.2f}")
    print(f"  RoutedLLMEmbeddings, warm cache   : {warm:8.1f} texts/s  ratio {warm / base:6.2f}")


if __name__ == "__main__":
    main()
