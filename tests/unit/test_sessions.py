"""Sessions without servers: reading tool loops from messages, the policy's session rules, config, stores."""

from __future__ import annotations

import json
from typing import Any

import pytest

from routed_llm import ConfigError, RequestNeeds, RouteHints, RouterState, load_config
from routed_llm.catalog import build_profiles
from routed_llm.policy import SessionState, decide
from routed_llm.router import normalize_messages
from routed_llm.sessions import SessionManager, SQLiteSessionStore, read_turn, session_key, session_store_url

TIERS = {
    "local": {"models": [{"model": "ollama_chat/llama3.2:3b", "context_window": 4096}], "private": True},
    "fast": {"models": [{"model": "groq/llama-3.3-70b-versatile", "context_window": 8192}]},
    "premium": {"models": [{"model": "anthropic/claude-sonnet-4-5"}, {"model": "openai/gpt-4o"}]},
}


def make_config(**sessions: Any) -> Any:
    return load_config(
        {
            "tiers": TIERS,
            "routing": {
                "default": "local",
                "rules": [{"name": "medium-fast", "when": {"complexity": "medium"}, "tier": "fast"}],
                "fallbacks": {"fast": ["local"], "premium": ["fast", "local"]},
                "sessions": sessions,
            },
        },
        env={},
    )


CONFIG = make_config()
PROFILES = build_profiles(CONFIG)
ORDER = ("local", "fast", "premium")


def call(name: str, args: dict[str, Any], cid: str = "c") -> dict[str, Any]:
    return {"id": cid, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


def loop(n: int, *, error: bool, same: bool = True, marker: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    msgs: list[dict[str, Any]] = [{"role": "user", "content": "go"}]
    for i in range(n):
        a: dict[str, Any] = {"role": "assistant", "content": "", "tool_calls": [call("f", {"x": 1 if same else i})]}
        if marker is not None and i == n - 1:
            a["routing"] = marker
        msgs += [a, {"role": "tool", "tool_call_id": "c", "content": "Error: boom" if error else "fine"}]
    return msgs


def route(messages: list[dict[str, Any]], session: SessionState | None, **hints: Any) -> Any:
    return decide(
        CONFIG,
        PROFILES,
        messages,
        needs=RequestNeeds(prompt_tokens=hints.pop("tokens", 10)),
        hints=RouteHints(**hints),
        state=RouterState(),
        session=session,
    )


# --------------------------------------------------------------------------- reading a turn


def test_read_turn_counts_repeats_and_errors_within_the_user_turn() -> None:
    t = read_turn(loop(3, error=True, marker={"tier": "fast", "deployment": "fast/0"}))
    assert (t.continuation, t.repeats, t.errors, t.issuer, t.issuer_deployment) == (True, 3, 3, "fast", "fast/0")
    assert t.stall(3) == "the same tool call 3 times in a row"
    assert t.stall(4) is None
    assert read_turn(loop(4, error=True)).stall(3) is None  # fires once per stall_repeats, not on every call
    assert read_turn(loop(6, error=True)).stall(3) is not None
    varied = read_turn(loop(3, error=True, same=False))
    assert (varied.repeats, varied.errors) == (1, 3) and varied.stall(3) == "3 tool errors in a row"
    fine = read_turn(loop(3, error=False))
    assert (fine.repeats, fine.errors) == (3, 0)
    # a new user message starts a new turn: nothing before it counts
    fresh = read_turn([*loop(3, error=True), {"role": "user", "content": "again"}])
    assert (fresh.continuation, fresh.repeats, fresh.errors) == (False, 0, 0)


def test_read_turn_conversation_key_is_the_system_prompt_and_first_user_message() -> None:
    a = read_turn([{"role": "system", "content": "S"}, {"role": "user", "content": "U"}])
    b = read_turn(
        [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}, {"role": "assistant", "content": "x"}]
    )
    c = read_turn([{"role": "system", "content": "S"}, {"role": "user", "content": "V"}])
    assert a.conversation == b.conversation != c.conversation


def test_markers_never_reach_a_provider() -> None:
    msgs = loop(1, error=True, marker={"tier": "fast"})
    msgs[-1]["is_error"] = True
    out = normalize_messages(msgs)
    assert all("routing" not in m and "is_error" not in m for m in out)
    assert "routing" in msgs[-2]  # the caller's messages are untouched


def test_session_key_sources() -> None:
    assert session_key(RouteHints(session_id="a")) == "a"
    assert session_key(RouteHints(metadata={"thread_id": 7})) == "7"
    assert session_key(RouteHints(metadata={"session_id": "s", "thread_id": "t"})) == "s"
    assert session_key(RouteHints(metadata={"thread_id": True})) is None


# --------------------------------------------------------------------------- the policy


def test_continuation_is_not_rerouted() -> None:
    state = SessionState(affinity="escalate_only", order=ORDER, continuation="premium")
    d = route(loop(1, error=False), state, complexity="medium")
    assert d.tier == "premium" and d.rule == "session:tool_loop"
    assert d.session == {"id": None, "pinned_tier": "premium", "reason": d.session["reason"]}
    assert route(loop(1, error=False), None, complexity="medium").tier == "fast"


def test_stall_moves_up_one_tier_and_the_session_pin_follows() -> None:
    state = SessionState(
        affinity="escalate_only",
        order=ORDER,
        id="s",
        pinned_tier="local",
        continuation="local",
        stall="3 tool errors in a row",
    )
    d = route(loop(3, error=True), state)
    assert d.tier == "fast" and d.rule == "session:stall"
    assert d.session["pinned_tier"] == "fast"
    top = SessionState(affinity="escalate_only", order=ORDER, continuation="premium", stall="x")
    assert route(loop(3, error=True), top).tier == "premium"


def test_escalate_only_and_sticky() -> None:
    pinned = SessionState(affinity="escalate_only", order=ORDER, id="s", pinned_tier="fast")
    down = route([{"role": "user", "content": "thanks"}], pinned, complexity="simple")
    assert (down.tier, down.session["pinned_tier"]) == ("fast", "fast")
    sticky = SessionState(affinity="sticky", order=ORDER, id="s", pinned_tier="local")
    assert route([{"role": "user", "content": "x"}], sticky, complexity="medium").tier == "local"
    hinted = route([{"role": "user", "content": "x"}], pinned, tier="premium")
    assert hinted.tier == "premium" and hinted.session["pinned_tier"] == "fast"


def test_hard_constraints_win_over_the_session() -> None:
    pinned = SessionState(affinity="escalate_only", order=ORDER, id="s", pinned_tier="fast")
    secret = route([{"role": "user", "content": "x"}], pinned, sensitivity="confidential")
    assert secret.tier == "local" and "hard constraint wins" in secret.reason
    assert secret.session["pinned_tier"] == "fast"
    big = route([{"role": "user", "content": "x"}], pinned, tokens=20000)
    assert big.tier == "premium" and "context window 8192" in big.reason
    assert big.session["pinned_tier"] == "premium"


def test_a_closed_budget_or_confidential_tool_result_never_moves_the_session_up() -> None:
    pinned = SessionState(affinity="escalate_only", order=ORDER, id="s", pinned_tier="fast")
    closed = decide(
        CONFIG,
        PROFILES,
        [{"role": "user", "content": "x"}],
        needs=RequestNeeds(prompt_tokens=10),
        hints=RouteHints(complexity="simple"),
        state=RouterState(closed_tiers={"fast": "daily budget $1 spent"}),
        session=pinned,
    )
    assert closed.tier == "local" and "closed by budget" in closed.reason and "hard constraint wins" in closed.reason
    cont = SessionState(affinity="escalate_only", order=ORDER, id="s", pinned_tier="fast", continuation="fast")
    secret = route(loop(1, error=False), cont, sensitivity="confidential")
    assert secret.tier == "local" and "not private" in secret.reason
    assert secret.session["pinned_tier"] == "fast"


def test_deployment_pin_only_for_tiers_with_several() -> None:
    state = SessionState(affinity="escalate_only", order=ORDER, id="s", pinned_tier="premium", deployment="premium/1")
    assert route([{"role": "user", "content": "x"}], state).deployment == "premium/1"
    cont = SessionState(affinity="escalate_only", order=ORDER, continuation="fast", continuation_deployment="fast/0")
    assert route(loop(1, error=False), cont).deployment is None


# --------------------------------------------------------------------------- config and stores


@pytest.mark.parametrize(
    ("sessions", "field"),
    [
        ({"affinity": "downhill"}, "routing.sessions.affinity"),
        ({"ttl_s": -1}, "routing.sessions.ttl_s"),
        ({"stall_repeats": 1}, "routing.sessions.stall_repeats"),
        ({"order": ["local", "fast"]}, "routing.sessions.order"),
        ({"store": "postgres://x"}, "routing.sessions.store"),
        ({"ttl": 5}, "routing.sessions.ttl"),
    ],
)
def test_bad_session_config_names_the_field(sessions: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as err:
        make_config(**sessions)
    assert field in str(err.value)


def test_store_lives_beside_the_ledger_or_cache(tmp_path: Any) -> None:
    base = {"tiers": TIERS, "routing": {"default": "local"}}
    assert session_store_url(load_config(base, env={})) == "sqlite:///~/.routed_llm/sessions.db"
    ledger = load_config({**base, "budgets": {"store": f"sqlite:///{tmp_path}/l.db"}}, env={})
    assert session_store_url(ledger) == f"sqlite:///{tmp_path}/sessions.db"
    redis = load_config(
        {**base, "budgets": {"store": "memory://"}, "cache": {"store": "redis://127.0.0.1:1/0"}}, env={}
    )
    assert session_store_url(redis) == "redis://127.0.0.1:1/0"


def test_sqlite_store_expires_and_manager_writes_only_what_changed(tmp_path: Any) -> None:
    store = SQLiteSessionStore(tmp_path / "s.db")
    store.set("k", "v", 60)
    assert store.get("k") == "v"
    store.set("k", "v", 0.000001)
    assert store.get("k") is None

    class Counting(SQLiteSessionStore):
        writes = 0

        def set(self, key: str, value: str, ttl_s: float | None) -> None:
            Counting.writes += 1
            super().set(key, value, ttl_s)

    manager = SessionManager(make_config(), store=Counting(tmp_path / "m.db"))
    hints = RouteHints(session_id="s")
    msgs = [{"role": "user", "content": "x"}]
    for _ in range(3):
        sc = manager.begin(msgs, hints, {})
        d = route(msgs, sc.state if sc else None, complexity="medium")
        manager.finish(sc, d, d.tier, None)
    assert Counting.writes == 1  # the pin did not change after the first call
    sc = manager.begin(msgs, hints, {})
    assert sc is not None and sc.state is not None and sc.state.pinned_tier == "fast"
    assert SessionManager(make_config(affinity="off")).begin(msgs, hints, {}) is None


def test_a_failing_store_never_fails_the_call(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def get(self, key: str) -> str | None:
            raise OSError("disk gone")

        def set(self, key: str, value: str, ttl_s: float | None) -> None:
            raise OSError("disk gone")

        def close(self) -> None:
            pass

    manager = SessionManager(make_config(), store=Broken())
    msgs = [{"role": "user", "content": "x"}]
    sc = manager.begin(msgs, RouteHints(session_id="s"), {})
    assert sc is not None and sc.state is not None and sc.state.pinned_tier is None
    d = route(msgs, sc.state, complexity="medium")
    manager.finish(sc, d, d.tier, None)
    assert "session store read failed" in caplog.text and "session store write failed" in caplog.text
