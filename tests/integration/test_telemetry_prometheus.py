"""Prometheus metrics, read back from the router's registry after real routed calls on loopback."""

import asyncio
from typing import Any

import pytest
from prometheus_client import REGISTRY, generate_latest

from routed_llm import AllTiersFailed, Router, StreamEnd
from routed_llm.config import load_config
from routed_llm.telemetry import RouterMetrics
from tests.servers.faulty import FaultyServer

pytestmark = pytest.mark.servers

HINTS = {"sensitivity": "public", "task": "chat", "complexity": "simple"}


def config(cheap: FaultyServer, backup: FaultyServer, prometheus: dict[str, Any] | None = None) -> dict[str, Any]:
    def tier(model: str, srv: FaultyServer) -> dict[str, Any]:
        return {
            "models": [
                {
                    "model": model,
                    "api_base": srv.base_url,
                    "api_key": "sk-test",
                    "input_cost_per_token": 1e-6,
                    "output_cost_per_token": 2e-6,
                }
            ]
        }

    return {
        "tiers": {"cheap": tier("openai/cheap-model", cheap), "backup": tier("openai/backup-model", backup)},
        "routing": {"default": "cheap", "fallbacks": {"cheap": ["backup"]}},
        "telemetry": {"prometheus": prometheus if prometheus is not None else {}},
    }


def value(router: Router, name: str, **labels: str) -> float:
    assert router.telemetry is not None and router.telemetry.registry is not None
    got = router.telemetry.registry.get_sample_value(name, labels)
    return 0.0 if got is None else got


def test_fallback_counts_an_error_on_the_failed_tier_and_usage_on_the_serving_one(faulty_server: Any) -> None:
    router = Router(config(faulty_server("error500"), faulty_server("ok")))
    first = router.complete("Say hello", HINTS).routing
    second = router.complete("Say hello again", HINTS).routing  # cheap is unhealthy now: backup first
    assert first.tier == second.tier == "backup" and first.attempts and not second.attempts

    assert value(router, "llm_requests_total", tier="cheap") == 1
    assert value(router, "llm_errors_total", tier="cheap") == 1
    assert value(router, "llm_requests_total", tier="backup") == 2
    assert value(router, "llm_errors_total", tier="backup") == 0
    model = "openai/backup-model"
    assert value(router, "llm_token_usage_total", tier="backup", model=model, kind="prompt") == (
        first.prompt_tokens + second.prompt_tokens
    )
    assert (
        value(router, "llm_token_usage_total", tier="backup", model=model, kind="completion")
        == (first.completion_tokens + second.completion_tokens)
        > 0
    )
    cost = first.cost_usd + second.cost_usd
    assert cost > 0
    assert value(router, "llm_cost_usd_total", tier="backup", model=model) == pytest.approx(cost)
    assert value(router, "llm_cost_daily_usd", tier="backup", model=model) == pytest.approx(cost)
    assert value(router, "llm_request_duration_seconds_count", tier="backup", model=model) == 2
    assert value(router, "llm_request_duration_seconds_sum", tier="backup", model=model) > 0


def test_streams_and_async_calls_are_counted(faulty_server: Any) -> None:
    router = Router(config(faulty_server("ok"), faulty_server("ok")))
    end = list(router.stream("Say hello", HINTS))[-1]
    assert isinstance(end, StreamEnd)

    async def run() -> None:
        await router.acomplete("one", HINTS)
        async for _ in router.astream("two", HINTS):
            pass

    asyncio.run(run())
    model = "openai/cheap-model"
    assert value(router, "llm_requests_total", tier="cheap") == 3
    assert value(router, "llm_request_duration_seconds_count", tier="cheap", model=model) == 3
    assert value(router, "llm_token_usage_total", tier="cheap", model=model, kind="completion") >= (
        3 * end.routing.completion_tokens
    )


def test_all_tiers_failing_counts_every_tier_as_an_error(faulty_server: Any) -> None:
    router = Router(config(faulty_server("error500"), faulty_server("error500")))
    with pytest.raises(AllTiersFailed):
        router.complete("Say hello", HINTS)
    for tier in ("cheap", "backup"):
        assert value(router, "llm_requests_total", tier=tier) == 1
        assert value(router, "llm_errors_total", tier=tier) == 1
    assert value(router, "llm_request_duration_seconds_count", tier="cheap", model="openai/cheap-model") == 0


def test_each_router_has_a_private_registry_unless_told_otherwise(faulty_server: Any) -> None:
    ok = faulty_server("ok")
    a, b = Router(config(ok, ok)), Router(config(ok, ok))  # two routers: no duplicate-metric clash
    a.complete("hi", HINTS)
    assert value(a, "llm_requests_total", tier="cheap") == 1
    assert value(b, "llm_requests_total", tier="cheap") == 0
    assert a.telemetry is not None and a.telemetry.registry is not REGISTRY
    assert b"llm_token_usage_total" in generate_latest(a.telemetry.registry)
    assert REGISTRY.get_sample_value("llm_requests_total", {"tier": "cheap"}) is None


def test_disabled_sections_cost_nothing_and_bad_keys_are_rejected(faulty_server: Any) -> None:
    ok = faulty_server("ok")
    assert Router(config(ok, ok, {"enabled": False})).telemetry is None
    with pytest.raises(Exception, match="telemetry.prometheus.port"):
        load_config(config(ok, ok, {"port": 9100}))


def test_daily_gauge_starts_again_on_a_new_utc_day() -> None:
    import datetime as dt

    from routed_llm.engine import RoutingInfo

    metrics = RouterMetrics()
    info = RoutingInfo(tier="t", model="m", reason="r", rule=None, fallbacks=(), cost_usd=0.5)
    metrics.served(info, 0.1)
    metrics._day = dt.date(2000, 1, 1)  # pretend the last call was on another day
    metrics.served(info, 0.1)
    assert metrics.registry.get_sample_value("llm_cost_daily_usd", {"tier": "t", "model": "m"}) == 0.5
    assert metrics.registry.get_sample_value("llm_cost_usd_total", {"tier": "t", "model": "m"}) == 1.0
