"""Agent sessions benchmark: real agent loops over three loopback tiers, sessions on and off.

Two real agent frameworks drive the calls: LangChain's ``create_agent`` (a LangGraph loop,
one ``thread_id`` per task, an in-memory checkpointer so later turns see the history) and
LlamaIndex's ``FunctionAgent`` (one ``Context`` and ``session_id`` per task). Three
`tests.servers.scripted_agent.ScriptedServer` endpoints stand in for the tiers ``local``
(private, free), ``fast`` and ``premium``; they play a tool-using model that follows the
``CALL`` / ``STUCK`` script in each user message (fast and premium give up on a failing tool
and answer; local keeps calling it).
Routing alone is a routing score in ``threshold`` mode (the heuristic scorer; local below
0.25, fast below 0.55, premium above), as in the issue's report: a hard first turn, its tool
results (which move the score) and an "ok thanks" follow-up route differently.

Each task is a few user turns: tool calls, follow-ups, and in some a tool that keeps
failing. For every framework and both ``routing.sessions.affinity`` settings
(``escalate_only`` and ``off``) it prints the tier sequence of each task, the tier switches
inside a tool loop (a call whose last message is a tool result served by another tier than
the call before it), the downward switches within a task, stall escalations (and the calls
they took), and the cost against sending every call to premium.

Usage, from the repository root::

    uv run --frozen python -m benchmarks.agent_sessions            # all 24 tasks
    uv run --frozen python -m benchmarks.agent_sessions --tasks 6  # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from routed_llm import Router  # noqa: E402
from routed_llm.engine import RoutingInfo  # noqa: E402
from routed_llm.sessions import SessionCall  # noqa: E402
from tests.servers.scripted_agent import ScriptedServer  # noqa: E402

__all__ = ["TASKS", "main"]

ORDER = ("local", "fast", "premium")
#: USD per million tokens (input, output): a small cloud model and a frontier one; local is free.
PRICES = {"local": (0.0, 0.0), "fast": (0.15, 0.6), "premium": (3.0, 15.0)}

HARD = [
    "Analyze the quarterly revenue of every region, compare it with last year and explain step by step "
    "which factors drove the trend; justify each conclusion.",
    "Design a forecasting approach for next quarter's sales per region, discuss the trade-offs between "
    "the candidate models and derive a recommendation with its assumptions.",
    "Investigate why the churn rate rose in the enterprise segment: analyze the cohorts, compare the "
    "retention curves and explain the root causes in detail.",
]
MEDIUM = [
    "Summarize the sales of the north region and list the top three products.",
    "Write a short SQL query that totals the orders per customer for last month.",
    "Extract the dates and amounts of the invoices for the west region.",
]
FOLLOW = ["ok thanks, now do the same for the south region", "thanks!", "great, and the east region?", "ok"]


def _call(name: str, **args: Any) -> str:
    return f"CALL {name} {json.dumps(args)}"


def _build_tasks() -> list[list[str]]:
    """24 scripted multi-turn tasks: a hard or medium opener with tools, follow-ups; every 4th a stuck tool."""
    tasks: list[list[str]] = []
    for i in range(24):
        region = ["north", "south", "east", "west"][i % 4]
        if i % 4 == 3:  # a simple request whose tool keeps failing: the small tier gets stuck on it
            turns = [f"fetch the audit report for the {region} region\nSTUCK fetch_report {json.dumps({'report': i})}"]
        else:
            opener = (HARD if i % 2 == 0 else MEDIUM)[i % 3]
            turns = [f"{opener}\n{_call('get_sales', region=region)}\n{_call('get_targets', region=region)}"]
        turns.append(f"{FOLLOW[i % len(FOLLOW)]}\n{_call('get_sales', region='south')}")
        turns.append(FOLLOW[(i + 1) % len(FOLLOW)])
        tasks.append(turns)
    return tasks


TASKS = _build_tasks()


def get_sales(region: str) -> str:
    """Sales figures of a region."""
    return f"{region}: 120 units, $48k"


def get_targets(region: str) -> str:
    """Quarterly targets of a region."""
    return f"{region}: target $50k"


def fetch_report(report: int) -> str:
    """Fetch an audit report by number."""
    return f"Error: the report service timed out fetching report {report}"


TOOLS: list[Callable[..., str]] = [get_sales, get_targets, fetch_report]


# --------------------------------------------------------------------------- recording


@dataclass
class Call:
    task: int
    tier: str
    rule: str | None
    continuation: bool
    cost: float
    premium_cost: float


@dataclass
class Run:
    calls: list[Call] = field(default_factory=list)
    task: int = -1


class RecordingRouter(Router):
    """A `Router` that notes each served call (tier, rule, cost) for the report."""

    run: Run
    premium_price: tuple[float, float]

    def _finish_session(self, session: SessionCall | None, info: RoutingInfo) -> None:
        super()._finish_session(session, info)
        d = info.decision
        p_in, p_out = self.premium_price
        self.run.calls.append(
            Call(
                task=self.run.task,
                tier=info.tier,
                rule=d.rule if d else None,
                continuation=bool(d and d.rule in ("session:tool_loop", "session:stall")) or self._last_is_tool,
                cost=info.cost_usd,
                premium_cost=info.prompt_tokens * p_in + info.completion_tokens * p_out,
            )
        )

    _last_is_tool = False

    def _prepare(self, messages: Any, hints: Any, params: Any) -> Any:
        self._last_is_tool = not isinstance(messages, str) and bool(messages) and messages[-1].get("role") == "tool"
        return super()._prepare(messages, hints, params)


def make_config(servers: dict[str, ScriptedServer], affinity: str, store: str) -> dict[str, Any]:
    tiers: dict[str, Any] = {}
    for name, server in servers.items():
        p_in, p_out = PRICES[name]
        tiers[name] = {
            "models": [
                {
                    "model": f"openai/{name}-model",
                    "api_base": server.base_url,
                    "api_key": "sk-bench",
                    "context_window": 128000,
                    "max_tokens": 256,
                    "input_cost_per_token": p_in / 1e6,
                    "output_cost_per_token": p_out / 1e6,
                    "capabilities": {"tools": True},
                }
            ],
            **({"private": True} if name == "local" else {}),
        }
    return {
        "tiers": tiers,
        "routing": {
            "default": "local",
            # the setting: a routing score in threshold mode picks each call's tier
            "scorer": "heuristic",
            "threshold": {"chain": list(ORDER), "thresholds": [0.25, 0.55]},
            "fallbacks": {"premium": ["fast", "local"], "fast": ["local"]},
            "sessions": {"affinity": affinity, "store": store},
        },
    }


# --------------------------------------------------------------------------- the agents


def run_langchain(router: RecordingRouter, tasks: list[list[str]]) -> None:
    from langchain.agents import create_agent
    from langchain_core.messages import HumanMessage
    from langgraph.checkpoint.memory import InMemorySaver

    from langchain_routed_llm import ChatRoutedLLM

    agent = create_agent(ChatRoutedLLM(router=router), tools=TOOLS, checkpointer=InMemorySaver())
    for i, turns in enumerate(tasks):
        router.run.task = i
        config = {"configurable": {"thread_id": f"lc-task-{i}-{time.time_ns()}"}, "recursion_limit": 60}
        for text in turns:
            agent.invoke({"messages": [HumanMessage(text)]}, config)  # type: ignore[call-overload]


def run_llamaindex(router: RecordingRouter, tasks: list[list[str]]) -> None:
    from llama_index.core.agent.workflow import FunctionAgent
    from llama_index.core.tools import FunctionTool
    from llama_index.core.workflow import Context
    from llama_index.llms.routed_llm import RoutedLLM

    tools: list[Any] = [FunctionTool.from_defaults(fn) for fn in TOOLS]

    async def go() -> None:
        for i, turns in enumerate(tasks):
            router.run.task = i
            llm = RoutedLLM(router=router, session_id=f"li-task-{i}-{time.time_ns()}")
            agent = FunctionAgent(tools=tools, llm=llm, system_prompt="You are a data analyst.")
            ctx = Context(agent)
            for text in turns:
                await agent.run(text, ctx=ctx, max_iterations=60)

    asyncio.run(go())


# --------------------------------------------------------------------------- report


def summarize(run: Run, n_tasks: int) -> dict[str, Any]:
    by_task: dict[int, list[Call]] = {}
    for c in run.calls:
        by_task.setdefault(c.task, []).append(c)
    mid_loop = down = stalls = 0
    stall_positions: list[int] = []
    for calls in by_task.values():
        failed_run = 0
        for prev, cur in zip(calls, calls[1:], strict=False):
            if cur.continuation and cur.tier != prev.tier and cur.rule != "session:stall":
                mid_loop += 1
            if ORDER.index(cur.tier) < ORDER.index(prev.tier):
                down += 1
        for c in calls:
            failed_run = failed_run + 1 if c.continuation else 0
            if c.rule == "session:stall":
                stalls += 1
                stall_positions.append(failed_run)
    cost = sum(c.cost for c in run.calls)
    premium = sum(c.premium_cost for c in run.calls)
    return {
        "tasks": n_tasks,
        "calls": len(run.calls),
        "mid_loop_switches": mid_loop,
        "downward_switches": down,
        "stall_escalations": stalls,
        "stall_after_calls": stall_positions,
        "cost_usd": cost,
        "all_premium_usd": premium,
        "sequences": {t: "".join(c.tier[0].upper() for c in calls) for t, calls in by_task.items()},
    }


def bench(framework: str, affinity: str, tasks: list[list[str]], servers: dict[str, ScriptedServer]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = make_config(servers, affinity, f"sqlite:///{tmp}/sessions.db")
        router = RecordingRouter(cfg)
        try:
            router.run = Run()
            router.premium_price = (PRICES["premium"][0] / 1e6, PRICES["premium"][1] / 1e6)
            runner: Callable[[RecordingRouter, list[list[str]]], None] = (
                run_langchain if framework == "langchain" else run_llamaindex
            )
            start = time.perf_counter()
            runner(router, tasks)
            out = summarize(router.run, len(tasks))
            out["seconds"] = time.perf_counter() - start
            return out
        finally:
            router.close()


def main(argv: list[str] | None = None) -> None:
    """Run every framework with sessions on and off, and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=len(TASKS), help="how many of the scripted tasks to run")
    parser.add_argument("--sequences", action="store_true", help="print every task's tier sequence")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    tasks = TASKS[: args.tasks]
    servers = {
        "local": ScriptedServer("local"),
        "fast": ScriptedServer("fast", unsticks=True),
        "premium": ScriptedServer("premium", unsticks=True),
    }
    for s in servers.values():
        s.start()
    results: dict[str, Any] = {}
    try:
        for framework in ("langchain", "llamaindex"):
            for affinity in ("escalate_only", "off"):
                results[f"{framework}/{affinity}"] = bench(framework, affinity, tasks, servers)
    finally:
        for s in servers.values():
            s.stop()
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{len(tasks)} tasks; tiers L=local F=fast P=premium; one letter per model call")
    print(
        f"{'run':28} {'calls':>5} {'mid-loop':>8} {'down':>5} {'stalls':>6} {'cost $':>10} {'premium $':>10} "
        f"{'saved':>6}"
    )
    for name, r in results.items():
        saved = 1 - r["cost_usd"] / r["all_premium_usd"] if r["all_premium_usd"] else 0.0
        print(
            f"{name:28} {r['calls']:>5} {r['mid_loop_switches']:>8} {r['downward_switches']:>5} "
            f"{r['stall_escalations']:>6} {r['cost_usd']:>10.5f} {r['all_premium_usd']:>10.5f} {saved:>6.0%}"
        )
    for name, r in results.items():
        if r["stall_after_calls"]:
            print(f"{name}: stall escalations after {r['stall_after_calls']} consecutive tool-loop calls")
    for name, r in results.items():
        shown = r["sequences"] if args.sequences else dict(list(r["sequences"].items())[:6])
        print(f"\n{name} tier sequences" + ("" if args.sequences else " (first 6 tasks; --sequences for all)"))
        for t, seq in shown.items():
            print(f"  task {t:>2}: {seq}")


if __name__ == "__main__":
    main()
