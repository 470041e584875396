"""One Router's failures never cool down another Router's deployments (issue 11, HIGH 1).

LiteLLM tracks deployment health by ``model_info.id`` and every ``litellm.Router`` in
a process hears every other router's failures through LiteLLM's global callbacks.
With ids shared between Routers (``cloud/0`` in each), one tenant's 401 made every
other tenant's same-named tier raise a raw ``RouterRateLimitError`` for seconds.
All servers here are real loopback endpoints (`tests.servers.faulty.FaultyServer`).
"""

from typing import Any

import pytest

from routed_llm import AllTiersFailed, Router
from tests.servers.faulty import FaultyServer

pytestmark = pytest.mark.servers

HINTS = {"sensitivity": "public", "task": "chat", "complexity": "simple"}


def tenant(cloud: FaultyServer, local: FaultyServer) -> Router:
    def dep(srv: FaultyServer, key: str) -> dict[str, Any]:
        return {
            "model": "openai/tenant-model",
            "api_base": srv.base_url,
            "api_key": key,
            "input_cost_per_token": 1e-6,
            "output_cost_per_token": 1e-6,
        }

    return Router(
        {
            "tiers": {
                "cloud": {"models": [dep(cloud, "sk-cloud")]},
                "local": {"models": [dep(local, "sk-local")], "private": True},
            },
            "routing": {"default": "cloud", "fallbacks": {"cloud": ["local"]}},
        }
    )


def test_a_401_in_one_router_leaves_other_routers_alone(faulty_server: Any) -> None:
    a_cloud, a_local = faulty_server("auth_error"), faulty_server("ok", content="tenant A local")
    b_cloud, b_local = faulty_server("ok", content="tenant B cloud"), faulty_server("ok", content="tenant B local")
    a, b = tenant(a_cloud, a_local), tenant(b_cloud, b_local)
    first = a.complete("hello", HINTS)
    assert first.routing.tier == "local" and first.routing.attempts[0]["error"].startswith("AuthenticationError")
    served = [b.complete(f"hello {i}", HINTS).routing for i in range(20)]
    assert [(r.tier, r.attempts) for r in served] == [("cloud", [])] * 20
    assert len(b_cloud.chat_requests) == 20 and len(b_local.chat_requests) == 0
    assert {r.deployment for r in served} == {"cloud/0"}  # the public id stays readable


def test_two_routers_over_one_config_keep_separate_deployment_ids(faulty_server: Any) -> None:
    srv = faulty_server("ok")
    a, b = tenant(srv, srv), tenant(srv, srv)
    ids = [{d["model_info"]["id"] for d in r.engine.router.model_list} for r in (a, b)]
    assert ids[0].isdisjoint(ids[1])


def test_right_after_a_401_a_call_already_routed_to_the_cooled_tier_still_falls_back(faulty_server: Any) -> None:
    """Calls decided before the 401 (in flight concurrently) meet LiteLLM's cooldown: that is a failed tier."""
    cloud, local = faulty_server("auth_error"), faulty_server("ok", content="served locally")
    r = tenant(cloud, local)
    decisions = [r.route("hello", HINTS) for _ in range(3)]
    assert all(d.tiers == ("cloud", "local") for d in decisions)
    results = [r.engine.complete(d, [{"role": "user", "content": "hello"}], {}) for d in decisions]
    assert [res.routing.tier for res in results] == ["local"] * 3
    later = [res.routing.attempts[0]["error"] for res in results[1:]]
    assert all("No deployments available" in e or "AuthenticationError" in e for e in later), later
    assert len(cloud.chat_requests) < 3  # LiteLLM's cooldown held the cloud tier back, and we fell back anyway


def test_a_cooled_down_last_tier_is_reported_as_a_failed_tier(faulty_server: Any) -> None:
    cloud, local = faulty_server("auth_error"), faulty_server("auth_error")
    r = tenant(cloud, local)
    decision = r.route("hello", HINTS)
    with pytest.raises(AllTiersFailed):
        r.complete("hello", HINTS)
    with pytest.raises(AllTiersFailed) as e:  # both tiers now cooling down in LiteLLM: still our error
        r.engine.complete(decision, [{"role": "user", "content": "hello"}], {})
    assert set(e.value.errors) == {"cloud", "local"}
