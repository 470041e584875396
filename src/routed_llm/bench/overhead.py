"""Benchmark what routing costs on top of calling LiteLLM directly.

Runs the same calls through ``ChatRoutedLLM.ainvoke`` and directly through
``litellm.acompletion`` against the same local OpenAI-compatible server,
interleaved so machine noise hits both sides alike, and prints median latencies
and their ratio (target <= 1.05). It also times the routing decision alone
(classifier + token count + policy; target p99 < 1 ms).

Usage::

    python -m routed_llm.bench.overhead                      # built-in echo server: overhead only
    python -m routed_llm.bench.overhead --api-base http://127.0.0.1:18080/v1 --max-tokens 8
                                                             # a real server, e.g. llama.cpp

The built-in echo server answers instantly, so its ratio is the worst case: all
of the difference is routing overhead. Against a real model the same absolute
overhead is a far smaller share.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm  # noqa: E402

from routed_llm.router import Router  # noqa: E402

__all__ = ["main"]

PROMPTS = [
    "What is the capital of France?",
    "Classify the sentiment of this review: the battery died after two days.",
    "Summarize the following meeting notes in three bullet points: we agreed to ship on Friday, "
    "QA needs two more days, marketing wants a blog post.",
    "Write a Python function that merges two sorted lists and explain its complexity.",
    "Design a rate limiter for a multi-region API. Discuss trade-offs, failure modes and how you "
    "would test it step by step.",
    "Extract the names and dates from: Alice met Bob on 3 May; Carol joined on 9 June.",
]


class _EchoHandler(BaseHTTPRequestHandler):
    """Minimal OpenAI chat-completions endpoint that answers at once (benchmark baseline)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else Nagle + delayed ACK add ~40 ms per keep-alive response

    def log_message(self, format: str, *args: Any) -> None:  # silence per-request logging
        return

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
        payload = json.dumps(
            {
                "id": "chatcmpl-bench",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "echo"),
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
            }
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@contextmanager
def echo_server() -> Iterator[str]:
    """Serve `_EchoHandler` on a loopback port for the duration of the block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def decision_times(router: Router, rounds: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds per ``router.route`` call (the heuristic path: every hint inferred).

    CPU time is reported beside wall time because on a shared machine the wall
    clock's tail is mostly time spent waiting for a core, not routing work.
    """
    wall, cpu = [], []
    for i in range(rounds):
        prompt = PROMPTS[i % len(PROMPTS)]
        start, start_cpu = time.perf_counter(), time.thread_time()
        router.route(prompt)
        cpu.append(time.thread_time() - start_cpu)
        wall.append(time.perf_counter() - start)
    return wall, cpu


async def call_times(api_base: str, model: str, calls: int, max_tokens: int) -> tuple[list[float], list[float]]:
    """Interleave direct LiteLLM calls and routed LangChain calls; return both latency lists."""
    from langchain_routed_llm import ChatRoutedLLM

    router = Router(
        {
            "tiers": {
                "local": {
                    "models": [{"model": model, "api_base": api_base, "api_key": "sk-bench", "context_window": 8192}],
                    "private": True,
                }
            },
            "routing": {"default": "local"},
        }
    )
    llm = ChatRoutedLLM(router=router, max_tokens=max_tokens)
    direct: list[float] = []
    routed: list[float] = []

    async def run_direct(prompt: str) -> None:
        start = time.perf_counter()
        await litellm.acompletion(
            model=model,
            api_base=api_base,
            api_key="sk-bench",
            messages=[{"role": "user", "content": prompt}],
            max_tokens=max_tokens,
        )
        direct.append(time.perf_counter() - start)

    async def run_routed(prompt: str) -> None:
        start = time.perf_counter()
        await llm.ainvoke(prompt)
        routed.append(time.perf_counter() - start)

    for i in range(5):  # warm both paths (connection pools, lazy imports)
        await run_direct(PROMPTS[i % len(PROMPTS)])
        await run_routed(PROMPTS[i % len(PROMPTS)])
    direct.clear()
    routed.clear()
    for i in range(calls):
        prompt = PROMPTS[i % len(PROMPTS)]
        first, second = (run_direct, run_routed) if i % 2 == 0 else (run_routed, run_direct)
        await first(prompt)
        await second(prompt)
    return direct, routed


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures; exit 0 (figures, not a pass/fail gate)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api-base", default=None, help="OpenAI-compatible server (default: built-in echo)")
    parser.add_argument("--model", default="openai/bench-model", help="LiteLLM model string for that server")
    parser.add_argument("--calls", type=int, default=200, help="calls per side")
    parser.add_argument("--max-tokens", type=int, default=8)
    parser.add_argument("--decisions", type=int, default=5000, help="routing decisions to time")
    args = parser.parse_args(argv)
    litellm.disable_aiohttp_transport = True  # one HTTP stack for both sides

    router = Router(
        {
            "tiers": {
                "local": {"models": [{"model": "ollama_chat/llama3.2:3b", "context_window": 8192}], "private": True},
                "fast": {"models": [{"model": "openai/gpt-4o-mini"}]},
                "premium": {"models": [{"model": "openai/gpt-4o"}]},
            },
            "routing": {
                "default": "fast",
                "rules": [
                    {"when": {"task": "classification"}, "tier": "local"},
                    {"when": {"complexity": "complex"}, "tier": "premium"},
                ],
                "fallbacks": {"premium": ["fast", "local"], "fast": ["local"]},
            },
        }
    )
    decision_times(router, 200)  # warm-up
    wall, cpu = decision_times(router, args.decisions)
    print(
        f"routing decision ({args.decisions} calls, heuristic path, all hints inferred; "
        f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores):"
    )
    for label, values in (("wall", wall), ("cpu ", cpu)):
        d = [t * 1e6 for t in values]
        print(
            f"  {label}  p50 {_pct(d, 50):7.1f} us   p90 {_pct(d, 90):7.1f} us   p99 {_pct(d, 99):7.1f} us"
            f"   -> p99 target < 1000 us: {'PASS' if _pct(d, 99) < 1000 else 'FAIL'}"
        )

    def report(label: str, direct: list[float], routed: list[float]) -> None:
        md, mr = statistics.median(direct) * 1e3, statistics.median(routed) * 1e3
        print(f"{label} ({len(direct)} calls per side, interleaved):")
        print(f"  litellm.acompletion       median {md:8.2f} ms   p90 {_pct(direct, 90) * 1e3:8.2f} ms")
        print(f"  ChatRoutedLLM.ainvoke     median {mr:8.2f} ms   p90 {_pct(routed, 90) * 1e3:8.2f} ms")
        print(f"  overhead: +{mr - md:.2f} ms per call, ratio {mr / md:.3f} (target <= 1.05)")

    if args.api_base:
        report(
            f"server {args.api_base}", *asyncio.run(call_times(args.api_base, args.model, args.calls, args.max_tokens))
        )
    else:
        with echo_server() as base:
            report(
                "built-in echo server (answers instantly: worst case, pure overhead)",
                *asyncio.run(call_times(base, args.model, args.calls, args.max_tokens)),
            )
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
