"""Benchmark shadow evaluation (``routing.shadow``): what it costs the served call, and what it teaches the router.

Two sections, both on loopback OpenAI-compatible servers (`tests.servers.scripted`)
whose answers depend on the prompt:

1. **Served-call latency**: two routers over the same servers, one with ``sample: 0``
   and one with ``sample: 1.0`` (every call offered for shadowing, ``max_concurrent``
   evaluations in flight nearly all the time), called in rotating blocks of five calls so
   machine noise hits both alike (the shadows still running are drained before a ``sample: 0``
   block, so no background work overlaps its calls), beside an A/A control (a second
   ``sample: 0`` router) that shows the noise floor. Reports the served-call p50 of each and their ratio
   (target <= 1.05), and the most shadow evaluations ever in flight (router count and
   the shadow server's own count; target <= ``max_concurrent``).
2. **The loop closes**: a scripted traffic mix of six prompt kinds; the cheap tier
   answers three kinds right and three wrong, the premium tier all right. The kinds
   are chosen so a generic difficulty scorer is misled (short arithmetic the cheap
   model gets wrong, long derivations it gets right). A router with ``sample: 1.0`` and
   ``judge: exact`` serves a training sample of the mix and writes its shadow outcomes;
   ``routed-llm train`` fits a scorer on them; then the default scorer (the config's
   ``learned``), the heuristic and the trained scorer rank a fresh sample of the mix,
   and their APGR is printed (RouteLLM's metric, `routed_llm.bench.routing_data`).

Usage, from the repository root::

    uv run python -m benchmarks.shadow [--rounds 150] [--train 240] [--test 240]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from routed_llm import Router  # noqa: E402
from tests.servers.scripted import ScriptedServer, last_user_text  # noqa: E402

HINTS = {"sensitivity": "public"}
#: Latency calls per block (section 1).
BLOCK = 5

# ---------------------------------------------------------------------------------------------- the traffic mix

_NAMES = ["Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Goran", "Hana", "Ivo", "Jun"]
_THINGS = ["the invoice", "the shipment", "the contract", "the meeting", "the refund", "the audit"]
_ADJ = ["great", "awful", "slow", "friendly", "broken", "excellent", "confusing", "reliable"]


def _sentiment(rng: random.Random) -> str:
    words = " ".join(rng.choice(_ADJ) for _ in range(rng.randint(4, 10)))
    return f"Classify the sentiment of this customer review as positive or negative: 'The service was {words}.'"


def _translate(rng: random.Random) -> str:
    return f"Translate into French: {rng.choice(_NAMES)} will send {rng.choice(_THINGS)} tomorrow morning."


def _derivation(rng: random.Random) -> str:
    n = rng.randint(2, 9)
    return (
        f"Explain step by step, with a rigorous derivation from the limit definition, why the derivative of "
        f"x^{n} is {n}x^{n - 1}, and discuss the convergence of the difference quotient in detail."
    )


def _arithmetic(rng: random.Random) -> str:
    return f"What is {rng.randint(1000, 9999)} * {rng.randint(1000, 9999)}?"


def _dates(rng: random.Random) -> str:
    month = rng.choice(["March", "June", "October", "December"])
    return f"Extract the date: '{rng.choice(_THINGS)} moved to {month} {rng.randint(1, 28)}'. Answer as YYYY-MM-DD."


def _backwards(rng: random.Random) -> str:
    word = rng.choice(["strawberry", "mississippi", "parallelogram", "bookkeeper", "onomatopoeia"])
    return f"Spell '{word}' backwards."


#: kind -> (prompt generator, whether the cheap tier answers it right)
KINDS: dict[str, tuple[Callable[[random.Random], str], bool]] = {
    "sentiment": (_sentiment, True),
    "translate": (_translate, True),
    "derivation": (_derivation, True),
    "arithmetic": (_arithmetic, False),
    "dates": (_dates, False),
    "backwards": (_backwards, False),
}


def traffic(n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` (kind, prompt) pairs, kinds in equal shares, in random order."""
    rng = random.Random(seed)
    kinds = list(KINDS)
    out = [(kinds[i % len(kinds)], KINDS[kinds[i % len(kinds)]][0](rng)) for i in range(n)]
    rng.shuffle(out)
    return out


def _reference(prompt: str) -> str:
    return f"answer-{zlib.crc32(prompt.encode())}"


class Mix:
    """The two scripted tiers: premium always right, the cheap tier right on the kinds it handles."""

    def __init__(self) -> None:
        self.kind: dict[str, str] = {}

    def premium(self, body: dict[str, Any]) -> str:
        """Answer right, whatever the prompt."""
        return _reference(last_user_text(body))

    def cheap(self, body: dict[str, Any]) -> str:
        """Answer right on the kinds the cheap tier handles, wrongly on the others."""
        prompt = last_user_text(body)
        ok = KINDS[self.kind[prompt]][1] if prompt in self.kind else True
        return _reference(prompt) if ok else "I am not sure."


def config(fast: str, premium: str, outcomes: Path, *, sample: float, max_concurrent: int = 2) -> dict[str, Any]:
    """Build a config: a cheap ``fast`` tier serving every call, shadowed on ``premium`` with ``judge: exact``."""

    def tier(url: str, price_in: float, price_out: float) -> dict[str, Any]:
        dep = {"model": "openai/m", "api_base": url, "api_key": "sk-bench"}
        return {"models": [{**dep, "input_cost_per_token": price_in, "output_cost_per_token": price_out}]}

    return {
        "tiers": {"fast": tier(fast, 1e-7, 4e-7), "premium": tier(premium, 3e-6, 1.5e-5)},
        "routing": {
            "default": "fast",
            "shadow": {
                "sample": sample,
                "tier": "premium",
                "judge": "exact",
                "outcomes": str(outcomes),
                "max_concurrent": max_concurrent,
            },
        },
    }


# ---------------------------------------------------------------------------------------------- 1. latency


def latency(rounds: int, served_delay_s: float, shadow_delay_s: float, max_concurrent: int) -> dict[str, Any]:
    """Section 1: served-call p50 with ``sample: 1.0`` against ``sample: 0``, and the shadows in flight."""
    mix = Mix()
    with (
        ScriptedServer(mix.cheap, delay_s=served_delay_s) as fast,
        ScriptedServer(mix.premium, delay_s=shadow_delay_s) as premium,
        tempfile.TemporaryDirectory() as tmp,
    ):
        off = Router(config(fast.base_url, premium.base_url, Path(tmp) / "off.jsonl", sample=0.0))
        control = Router(config(fast.base_url, premium.base_url, Path(tmp) / "aa.jsonl", sample=0.0))
        on = Router(
            config(fast.base_url, premium.base_url, Path(tmp) / "on.jsonl", sample=1.0, max_concurrent=max_concurrent)
        )
        prompts = [p for _, p in traffic(rounds + 10, seed=7)]
        assert on.shadow is not None
        sides = [("sample 0", off), ("sample 0 (A/A control)", control), ("sample 1.0", on)]
        times: dict[str, list[float]] = {name: [] for name, _ in sides}
        # Blocks of BLOCK calls, the sides in rotating order: noise of the machine hits all alike. Before a
        # sample-0 block the shadows still running are drained, so no background work overlaps its calls.
        # The A/A control (a second sample-0 router) shows how far two identical sides differ by noise alone.
        for b, start in enumerate(range(0, len(prompts), BLOCK)):
            for name, router in sides[b % 3 :] + sides[: b % 3]:
                if router is not on:
                    on.shadow.drain(30)
                for i, prompt in enumerate(prompts[start : start + BLOCK], start):
                    started = time.perf_counter()
                    router.complete(prompt, HINTS)
                    if i >= 10:  # warm-up calls are not counted
                        times[name].append(time.perf_counter() - started)
        stats = on.shadow.stats
        on.shadow.drain(30)
        for router in (on, control, off):
            router.close()
        p50 = {name: statistics.median(t) * 1000 for name, t in times.items()}
        return {
            "p50_ms": p50,
            "ratio": p50["sample 1.0"] / p50["sample 0"],
            "control_ratio": p50["sample 0 (A/A control)"] / p50["sample 0"],
            "peak_in_flight": stats.peak_in_flight,
            "server_peak_in_flight": premium.peak_in_flight,
            "sampled": stats.sampled,
            "busy": stats.busy,
            "graded": stats.graded,
            "max_concurrent": max_concurrent,
        }


# ---------------------------------------------------------------------------------------------- 2. APGR


def loop(train_n: int, test_n: int) -> dict[str, Any]:
    """Section 2: shadow outcomes of the mix, ``routed-llm train`` on them, APGR of each scorer on fresh prompts."""
    import numpy as np

    from routed_llm.bench.routing_data import routing_metrics
    from routed_llm.cli import main as cli
    from routed_llm.defaults import DEFAULT_CONFIG
    from routed_llm.scoring import open_scorer

    mix = Mix()
    with (
        ScriptedServer(mix.cheap) as fast,
        ScriptedServer(mix.premium) as premium,
        tempfile.TemporaryDirectory() as tmp,
    ):
        outcomes = Path(tmp) / "shadow.jsonl"
        started = time.perf_counter()
        with Router(config(fast.base_url, premium.base_url, outcomes, sample=1.0)) as router:
            assert router.shadow is not None
            for kind, prompt in traffic(train_n, seed=1):
                mix.kind[prompt] = kind
                router.complete(prompt, HINTS)
                router.shadow.drain(30)  # one at a time, so every call of the sample is graded
            graded = router.shadow.stats.graded
        served_s = time.perf_counter() - started
        scorer_path = Path(tmp) / "mine.npz"
        if cli(["train", "--data", str(outcomes), "--out", str(scorer_path)]) != 0:
            raise SystemExit("routed-llm train failed on the shadow outcomes")
        test = traffic(test_n, seed=2)
        weak = np.array([1.0 if KINDS[k][1] else 0.0 for k, _ in test])
        strong = np.ones(len(test))
        default_spec = str(DEFAULT_CONFIG["routing"].get("scorer", "heuristic"))
        scorers = {
            f"default ({default_spec})": open_scorer(default_spec),
            "heuristic": open_scorer("heuristic"),
            "trained on shadow outcomes": open_scorer(scorer_path),
        }
        apgr = {}
        for name, scorer in scorers.items():
            scores = np.array([scorer.score([{"role": "user", "content": p}]).value for _, p in test])
            apgr[name] = routing_metrics(scores, weak, strong).apgr
        apgr["oracle (perfect ranking)"] = routing_metrics(1.0 - weak, weak, strong).apgr
        return {"graded": graded, "train_rows": graded, "served_s": served_s, "apgr": apgr}


def main(argv: list[str] | None = None) -> int:
    """Run both sections and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=150, help="latency calls per side")
    parser.add_argument("--served-delay-ms", type=float, default=20.0, help="the served tier's answer time")
    parser.add_argument("--shadow-delay-ms", type=float, default=100.0, help="the shadow tier's answer time")
    parser.add_argument("--max-concurrent", type=int, default=2)
    parser.add_argument("--train", type=int, default=240, help="calls of the mix served (and shadowed) for training")
    parser.add_argument("--test", type=int, default=240, help="fresh prompts of the mix the scorers rank")
    args = parser.parse_args(argv)

    lat = latency(args.rounds, args.served_delay_ms / 1000, args.shadow_delay_ms / 1000, args.max_concurrent)
    print(
        f"1. served-call latency, {args.rounds} calls per side in rotating blocks (served tier answers in "
        f"{args.served_delay_ms:g} ms, shadow tier in {args.shadow_delay_ms:g} ms)"
    )
    for name, ms in lat["p50_ms"].items():
        print(f"   p50 {name:<24} {ms:7.2f} ms")
    print(
        f"   ratio sample 1.0 / sample 0: {lat['ratio']:.3f} (target <= 1.05); "
        f"A/A control / sample 0: {lat['control_ratio']:.3f} (noise alone)"
    )
    print(
        f"   shadow evaluations in flight at most: {lat['peak_in_flight']} (router), "
        f"{lat['server_peak_in_flight']} (shadow server); max_concurrent {lat['max_concurrent']}; "
        f"{lat['sampled']} started, {lat['busy']} not shadowed (busy), {lat['graded']} graded"
    )
    res = loop(args.train, args.test)
    print(
        f"2. the loop: {args.train} calls of the mix served by the cheap tier, {res['graded']} graded pairs "
        f"written in {res['served_s']:.1f} s; APGR on {args.test} fresh prompts of the mix (random ~0.50):"
    )
    for name, value in res["apgr"].items():
        print(f"   APGR {name:<28} {value:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
