"""Sessions, tool loops and stalls against real loopback servers standing in for three tiers.

Each tier is a `ScriptedServer` (a real OpenAI-compatible HTTP endpoint that plays a
tool-using model), so every assertion about "which tier served the call" is read from the
requests each server actually received, not only from the routing metadata.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from routed_llm import Router
from tests.servers.scripted_agent import ScriptedServer

TOOL = {
    "type": "function",
    "function": {
        "name": "get_sales",
        "description": "Sales figures of a region",
        "parameters": {"type": "object", "properties": {"region": {"type": "string"}}, "required": ["region"]},
    },
}


@pytest.fixture(scope="module")
def tiers() -> Iterator[dict[str, ScriptedServer]]:
    servers = {
        "local": ScriptedServer("local"),
        "fast": ScriptedServer("fast"),
        "premium": ScriptedServer("premium", unsticks=True),
    }
    for s in servers.values():
        s.start()
    yield servers
    for s in servers.values():
        s.stop()


@pytest.fixture(autouse=True)
def _fresh(tiers: dict[str, ScriptedServer]) -> None:
    for s in tiers.values():
        s.reset()


def _deployment(server: ScriptedServer, window: int, price: float) -> dict[str, Any]:
    return {
        "model": f"openai/{server.name}-model",
        "api_base": server.base_url,
        "api_key": "sk-test",
        "context_window": window,
        "max_tokens": 64,
        "input_cost_per_token": price,
        "output_cost_per_token": 2 * price,
        "capabilities": {"tools": True},
    }


def config(tiers: dict[str, ScriptedServer], store: str = "memory://", **sessions: Any) -> dict[str, Any]:
    """Three tiers; complexity hints pick the tier (medium -> fast, complex -> premium, else local)."""
    return {
        "tiers": {
            "local": {"models": [_deployment(tiers["local"], 4096, 0.0)], "private": True},
            "fast": {"models": [_deployment(tiers["fast"], 8192, 1e-6)]},
            "premium": {"models": [_deployment(tiers["premium"], 200000, 1e-5)]},
        },
        "routing": {
            "default": "local",
            "rules": [
                {"name": "medium-fast", "when": {"complexity": "medium"}, "tier": "fast"},
                {"name": "complex-premium", "when": {"complexity": "complex"}, "tier": "premium"},
            ],
            "fallbacks": {"fast": ["local"], "premium": ["fast", "local"]},
            "sessions": {"store": store, **sessions},
        },
    }


def tool_result(content: str, call: dict[str, Any]) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call["id"], "content": content}


def assistant_of(result: Any) -> dict[str, Any]:
    msg = result.response.choices[0].message
    out: dict[str, Any] = {"role": "assistant", "content": msg.content or ""}
    if msg.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.function.name, "arguments": c.function.arguments}}
            for c in msg.tool_calls
        ]
    return out


# --------------------------------------------------------------------------- raw OpenAI through Router


def run_tool_loop(router: Router, first_hints: dict[str, Any], later_hints: dict[str, Any]) -> list[str]:
    """A user question with tools, the model's tool call, the tool result: return the tier of each call."""
    msgs: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a data analyst."},
        {"role": "user", "content": 'Compare the regions.\nCALL get_sales {"region": "north"}'},
    ]
    first = router.complete(msgs, first_hints, tools=[TOOL])
    msgs.append(assistant_of(first))
    assert msgs[-1].get("tool_calls"), "the scripted model calls the tool first"
    msgs.append(tool_result("north: 120", msgs[-1]["tool_calls"][0]))
    second = router.complete(msgs, later_hints, tools=[TOOL])
    return [first.routing.tier, second.routing.tier, second.routing.reason, json.dumps(second.routing.session)]


def test_raw_openai_tool_loop_stays_on_the_issuing_tier(tiers: dict[str, ScriptedServer], tmp_path: Path) -> None:
    """No session key, no routing marker in the messages: the store keyed by the conversation carries it."""
    with Router(config(tiers, f"sqlite:///{tmp_path}/s.db")) as router:
        first, second, reason, session = run_tool_loop(router, {"complexity": "medium"}, {"complexity": "simple"})
    assert (first, second) == ("fast", "fast")
    assert "tool loop" in reason
    assert len(tiers["fast"].requests) == 2 and not tiers["local"].requests
    assert json.loads(session)["pinned_tier"] == "fast"
    # the marker never reaches a provider
    assert all("routing" not in m for body in tiers["fast"].requests for m in body["messages"])


def test_with_sessions_off_the_same_loop_switches_tier(tiers: dict[str, ScriptedServer]) -> None:
    """The control: routed per call, the tool result goes where its hints say (here: down to local)."""
    with Router(config(tiers, affinity="off")) as router:
        first, second, _, session = run_tool_loop(router, {"complexity": "medium"}, {"complexity": "simple"})
    assert (first, second) == ("fast", "local")
    assert session == "null"


def test_routing_marker_in_the_messages_wins_over_the_store(tiers: dict[str, ScriptedServer]) -> None:
    with Router(config(tiers)) as router:
        msgs: list[dict[str, Any]] = [
            {"role": "user", "content": "Sum it up."},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "get_sales", "arguments": "{}"}}
                ],
                "routing": {"tier": "premium", "deployment": "premium/0"},
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "42"},
        ]
        result = router.complete(msgs, {"complexity": "simple"}, tools=[TOOL])
    assert result.routing.tier == "premium" and len(tiers["premium"].requests) == 1
    assert "routing" not in json.dumps(tiers["premium"].requests[0]["messages"])


# --------------------------------------------------------------------------- affinity


def session_tiers(router: Router, sid: str, complexities: list[str], **extra: Any) -> list[Any]:
    out = []
    for c in complexities:
        r = router.complete(f"turn at {c}", {"complexity": c, "session_id": sid, **extra})
        out.append(r.routing)
    return out


def test_escalate_only_never_goes_down_and_stays_up(tiers: dict[str, ScriptedServer]) -> None:
    with Router(config(tiers)) as router:
        infos = session_tiers(router, "s-esc", ["medium", "simple", "complex", "simple", "medium"])
        other = router.complete("hi", {"complexity": "simple", "session_id": "another"})
    assert [i.tier for i in infos] == ["fast", "fast", "premium", "premium", "premium"]
    assert infos[1].session == {
        "id": "s-esc",
        "pinned_tier": "fast",
        "reason": "escalate_only: kept fast rather than local",
    }
    assert "session stays on fast" in infos[1].reason and infos[1].rule == "session:escalate_only"
    assert infos[3].session is not None and infos[3].session["pinned_tier"] == "premium"
    assert other.routing.tier == "local"  # sessions do not leak into each other
    assert [len(tiers[t].requests) for t in ("local", "fast", "premium")] == [1, 2, 3]


def test_sticky_keeps_the_first_tier(tiers: dict[str, ScriptedServer]) -> None:
    with Router(config(tiers, affinity="sticky")) as router:
        infos = session_tiers(router, "s-sticky", ["medium", "complex", "simple"])
    assert [i.tier for i in infos] == ["fast", "fast", "fast"]
    assert "sticky" in infos[1].reason


def test_confidential_turn_mid_session_goes_private_and_says_why(tiers: dict[str, ScriptedServer]) -> None:
    with Router(config(tiers)) as router:
        before = session_tiers(router, "s-conf", ["medium"])
        secret = router.complete(
            "my salary details", {"complexity": "simple", "session_id": "s-conf", "sensitivity": "confidential"}
        )
        after = session_tiers(router, "s-conf", ["simple"])
    assert before[0].tier == "fast"
    assert secret.routing.tier == "local"
    assert "not private (sensitivity=confidential)" in secret.routing.reason
    assert "the hard constraint wins" in secret.routing.reason
    assert secret.routing.session is not None and "hard constraint wins" in secret.routing.session["reason"]
    assert secret.routing.session["pinned_tier"] == "fast"  # the exception does not lower the session
    assert after[0].tier == "fast"
    assert len(tiers["local"].requests) == 1


def test_context_overflow_escalates_and_the_session_stays_up(tiers: dict[str, ScriptedServer]) -> None:
    with Router(config(tiers)) as router:
        session_tiers(router, "s-long", ["medium"])
        long = router.complete(
            "numbers " + "1234 5678 " * 6000, {"complexity": "simple", "session_id": "s-long"}, max_tokens=16
        )
        after = session_tiers(router, "s-long", ["simple"])
    assert long.routing.tier == "premium"
    assert "context window 8192" in long.routing.reason and "hard constraint wins" in long.routing.reason
    assert after[0].tier == "premium"


def test_ttl_expiry_forgets_the_session(tiers: dict[str, ScriptedServer], tmp_path: Path) -> None:
    with Router(config(tiers, f"sqlite:///{tmp_path}/ttl.db", ttl_s=0.5)) as router:
        assert session_tiers(router, "s-ttl", ["medium", "simple"])[1].tier == "fast"
        time.sleep(0.7)
        assert session_tiers(router, "s-ttl", ["simple"])[0].tier == "local"


# --------------------------------------------------------------------------- stalls


def test_a_stuck_failing_tool_escalates_within_stall_repeats(tiers: dict[str, ScriptedServer]) -> None:
    """The same failing call again and again: after 3 the loop moves up one tier, and the session stays there."""
    with Router(config(tiers)) as router:
        msgs: list[dict[str, Any]] = [
            {"role": "user", "content": 'Fetch the report.\nSTUCK fetch_report {"id": 7}'},
        ]
        tiers_seen = []
        reasons = []
        for _ in range(6):
            r = router.complete(msgs, {"session_id": "s-stall"}, tools=[TOOL])
            tiers_seen.append(r.routing.tier)
            reasons.append(r.routing.reason)
            msgs.append(assistant_of(r))
            if not msgs[-1].get("tool_calls"):
                break
            msgs.append(tool_result("Error: report service unavailable", msgs[-1]["tool_calls"][0]))
        follow_up = router.complete("thanks", {"session_id": "s-stall", "complexity": "simple"})
    assert tiers_seen[:4] == ["local", "local", "local", "fast"]
    assert "stall (the same tool call 3 times in a row): moved up from local to fast" in reasons[3]
    assert follow_up.routing.tier == "fast"


# --------------------------------------------------------------------------- deployments


def test_a_session_keeps_its_deployment(tmp_path: Path) -> None:
    with ScriptedServer("a") as a, ScriptedServer("b") as b:
        cfg = {
            "tiers": {
                "pool": {
                    "models": [_deployment(a, 8192, 1e-6), _deployment(b, 8192, 1e-6)],
                }
            },
            "routing": {"default": "pool", "sessions": {"store": "memory://"}},
        }
        with Router(cfg) as router:
            deployments = {router.complete(f"q{i}", {"session_id": "s-dep"}).routing.deployment for i in range(8)}
            counts = sorted([len(a.requests), len(b.requests)])
            free = {router.complete(f"q{i}").routing.deployment for i in range(16)}
    assert len(deployments) == 1
    assert counts == [0, 8]  # every call of the session reached the same server
    assert free == {"pool/0", "pool/1"}  # without a session LiteLLM balances across both


# --------------------------------------------------------------------------- processes share a session

CHILD = textwrap.dedent(
    """
    import json, sys
    from routed_llm import Router
    cfg = json.loads(sys.argv[1])
    with Router(cfg) as router:
        r = router.complete("first turn", {"complexity": "medium", "session_id": sys.argv[2]})
        print(r.routing.tier)
    """
)


def _shared_session(tiers: dict[str, ScriptedServer], store: str, sid: str) -> tuple[str, Any]:
    cfg = config(tiers, store)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(cfg), sid], capture_output=True, text=True, timeout=120, check=True
    )
    with Router(cfg) as router:
        later = router.complete("ok thanks", {"complexity": "simple", "session_id": sid})
    return out.stdout.strip().splitlines()[-1], later.routing


def test_two_processes_share_a_session_through_sqlite(tiers: dict[str, ScriptedServer], tmp_path: Path) -> None:
    child_tier, later = _shared_session(tiers, f"sqlite:///{tmp_path}/shared.db", "s-proc-sqlite")
    assert child_tier == "fast"
    assert later.tier == "fast" and later.session["pinned_tier"] == "fast"


def test_two_processes_share_a_session_through_redis(tiers: dict[str, ScriptedServer], redis_url: str) -> None:
    child_tier, later = _shared_session(tiers, redis_url, "s-proc-redis")
    assert child_tier == "fast"
    assert later.tier == "fast" and later.session["pinned_tier"] == "fast"


# --------------------------------------------------------------------------- the adapters


def get_sales(region: str) -> str:
    """Sales figures of a region."""
    return f"{region}: 120 units"


def test_langchain_create_agent_thread_keeps_its_tier(tiers: dict[str, ScriptedServer]) -> None:
    """A LangGraph agent loop with a thread_id: tool calls and the follow-up stay on the task's tier."""
    from langchain.agents import create_agent
    from langchain_core.messages import HumanMessage
    from langgraph.checkpoint.memory import InMemorySaver

    from langchain_routed_llm import ChatRoutedLLM

    def run(affinity: str) -> tuple[list[str], list[dict[str, Any]]]:
        for s in tiers.values():
            s.reset()
        with Router(config(tiers, affinity=affinity)) as router:
            agent = create_agent(ChatRoutedLLM(router=router), tools=[get_sales], checkpointer=InMemorySaver())
            thread = {"thread_id": f"lc-{affinity}"}
            first = agent.invoke(
                {"messages": [HumanMessage('Compare regions\nCALL get_sales {"region": "north"}')]},
                {"configurable": {**thread, "complexity": "medium"}},
            )
            second = agent.invoke(
                {"messages": [HumanMessage("ok thanks")]}, {"configurable": {**thread, "complexity": "simple"}}
            )
        ai = [m for m in second["messages"] if m.type == "ai"]
        assert len(first["messages"]) == 4  # question, tool call, tool result, answer
        return [m.response_metadata["routing"]["tier"] for m in ai], [m.response_metadata["routing"] for m in ai]

    tiers_on, routing_on = run("escalate_only")
    assert tiers_on == ["fast", "fast", "fast"]
    assert routing_on[1]["rule"] == "session:tool_loop"
    assert routing_on[2]["session"]["id"] == "lc-escalate_only"
    assert routing_on[2]["session"]["pinned_tier"] == "fast"
    assert len(tiers["fast"].requests) == 3 and not tiers["local"].requests
    tiers_off, _ = run("off")
    assert tiers_off == ["fast", "fast", "local"]  # the control: per-call routing drops the follow-up


def test_langchain_history_marker_and_tool_errors_reach_the_core(tiers: dict[str, ScriptedServer]) -> None:
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

    from langchain_routed_llm import ChatRoutedLLM

    with Router(config(tiers)) as router:
        llm = ChatRoutedLLM(router=router).bind_tools([get_sales])
        call = {"name": "get_sales", "args": {"region": "x"}, "id": "call_1", "type": "tool_call"}
        history = [
            HumanMessage("go"),
            AIMessage("", tool_calls=[call], response_metadata={"routing": {"tier": "premium", "deployment": None}}),
            ToolMessage("boom", tool_call_id="call_1", status="error"),
        ]
        out = llm.invoke(history, complexity="simple")
    assert out.response_metadata["routing"]["tier"] == "premium"
    sent = tiers["premium"].requests[0]["messages"]
    assert all("routing" not in m and "is_error" not in m for m in sent)


def test_llamaindex_function_agent_keeps_its_tier(tiers: dict[str, ScriptedServer]) -> None:
    import asyncio

    from llama_index.core.agent.workflow import FunctionAgent
    from llama_index.core.tools import FunctionTool
    from llama_index.llms.routed_llm import RoutedLLM

    tool = FunctionTool.from_defaults(get_sales)

    def run(session_id: str | None) -> list[str]:
        for s in tiers.values():
            s.reset()
        with Router(config(tiers)) as router:

            async def go() -> None:
                first = FunctionAgent(
                    tools=[tool], llm=RoutedLLM(router=router, complexity="medium", session_id=session_id)
                )
                await first.run('Compare regions\nCALL get_sales {"region": "north"}')
                later = FunctionAgent(
                    tools=[tool], llm=RoutedLLM(router=router, complexity="simple", session_id=session_id)
                )
                await later.run("ok thanks")

            asyncio.run(go())
        return [name for name, s in tiers.items() for _ in s.requests]

    assert run("li-session") == ["fast", "fast", "fast"]
    assert sorted(run(None)) == ["fast", "fast", "local"]


def test_llamaindex_marker_continues_the_tool_loop(tiers: dict[str, ScriptedServer]) -> None:
    from llama_index.core.base.llms.types import ChatMessage, MessageRole
    from llama_index.core.tools import FunctionTool
    from llama_index.llms.routed_llm import RoutedLLM

    with Router(config(tiers)) as router:
        llm = RoutedLLM(router=router, complexity="medium")
        first = llm.chat_with_tools(
            [FunctionTool.from_defaults(get_sales)], user_msg='go\nCALL get_sales {"region": "x"}'
        )
        assert first.message.additional_kwargs["routing"]["tier"] == "fast"
        calls = first.message.additional_kwargs["tool_calls"]
        history = [
            ChatMessage(role=MessageRole.USER, content='go\nCALL get_sales {"region": "x"}'),
            first.message,
            ChatMessage(role=MessageRole.TOOL, content="x: 1", additional_kwargs={"tool_call_id": calls[0]["id"]}),
        ]
        later = RoutedLLM(router=router, complexity="simple").chat(history)
    assert later.additional_kwargs["routing"]["tier"] == "fast"
    assert later.additional_kwargs["routing"]["rule"] == "session:tool_loop"


# --------------------------------------------------------------------------- prompt caches


def test_cache_hints_pass_through_and_cached_tokens_are_priced_at_the_cache_rate(tmp_path: Path) -> None:
    from langchain_core.messages import HumanMessage, SystemMessage
    from llama_index.core.base.llms.types import CacheControl, CachePoint, ChatMessage, MessageRole, TextBlock
    from llama_index.llms.routed_llm import RoutedLLM

    from langchain_routed_llm import ChatRoutedLLM

    with ScriptedServer("cache", cached_tokens=40) as server:
        dep = {**_deployment(server, 8192, 1e-6), "cache_read_input_token_cost": 1e-7}
        cfg = {
            "tiers": {"t": {"models": [dep]}},
            "routing": {"default": "t"},
            "budgets": {"store": f"sqlite:///{tmp_path}/ledger.db"},
        }
        with Router(cfg) as router:
            system = "You are a careful analyst. " * 30
            lc = ChatRoutedLLM(router=router).invoke(
                [
                    SystemMessage(content=[{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}]),
                    HumanMessage("hi"),
                ]
            )
            li = RoutedLLM(router=router).chat(
                [
                    ChatMessage(
                        role=MessageRole.SYSTEM,
                        blocks=[TextBlock(text=system), CachePoint(cache_control=CacheControl(type="ephemeral"))],
                    ),
                    ChatMessage(role=MessageRole.USER, content="hi"),
                ]
            )
            spent = router.budget.spent_usd("day") if router.budget is not None else -1.0
    lc_sent, li_sent = (body["messages"][0]["content"][0] for body in server.requests)
    assert lc_sent["cache_control"] == {"type": "ephemeral"}
    assert li_sent["cache_control"] == {"type": "ephemeral", "ttl": "5m"} and li_sent["text"] == system
    info = lc.response_metadata["routing"]
    assert info["cached_prompt_tokens"] == 40
    expected = (info["prompt_tokens"] - 40) * 1e-6 + 40 * 1e-7 + info["completion_tokens"] * 2e-6
    assert info["cost_usd"] == pytest.approx(expected)
    assert info["cost_usd"] < (info["prompt_tokens"] * 1e-6 + info["completion_tokens"] * 2e-6)
    assert spent == pytest.approx(info["cost_usd"] + li.additional_kwargs["routing"]["cost_usd"])


def test_a_pinned_deployment_this_process_cannot_call_gives_way_to_the_tier(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process pinned deployment 1, whose key is unset here: the call goes to the tier's other one."""
    monkeypatch.delenv("SESSIONS_TEST_KEY", raising=False)
    with ScriptedServer("a") as a, ScriptedServer("b") as b:
        unset = {**_deployment(b, 8192, 1e-6), "api_key": "${SESSIONS_TEST_KEY}"}
        cfg = {
            "tiers": {"pool": {"models": [_deployment(a, 8192, 1e-6), unset]}},
            "routing": {"default": "pool", "sessions": {"store": "memory://"}},
        }
        with Router(cfg) as router:
            assert router.sessions is not None
            router.sessions.store.set("s:elsewhere", json.dumps({"tier": "pool", "deployment": "pool/1"}), 60)
            assert router.route("hi", {"session_id": "elsewhere"}).deployment == "pool/1"
            info = router.complete("hi", {"session_id": "elsewhere"}).routing
    assert info.deployment == "pool/0" and len(a.requests) == 1 and not b.requests
