"""The response cache over real sockets: a hit never reaches the server; Redis shares hits."""

from pathlib import Path
from typing import Any

import pytest

from routed_llm import Router, StreamEnd
from tests.servers.fixtures import FaultyServerFactory
from tests.tiers import cloud_at

pytestmark = pytest.mark.servers

H = {"sensitivity": "public", "task": "chat", "complexity": "simple"}


def router(base_url: str, cache: dict[str, Any], tmp_path: Path) -> Router:
    return Router(
        {
            "tiers": {"cloud": cloud_at(base_url)},
            "routing": {"default": "cloud"},
            "cache": cache,
            "budgets": {"store": f"sqlite:///{tmp_path}/ledger.db"},
        }
    )


def test_hits_make_no_request(faulty_server: FaultyServerFactory, tmp_path: Path) -> None:
    srv = faulty_server("ok", content="Cached words from the server.")
    r = router(srv.base_url, {"store": f"sqlite:///{tmp_path}/cache.db"}, tmp_path)
    first = r.complete("Say hello", H, max_tokens=20)
    assert len(srv.chat_requests) == 1 and first.routing.cost_usd > 0
    hit = r.complete("Say hello", H, max_tokens=20)
    replay = list(r.stream("Say hello", H, max_tokens=20))
    assert len(srv.chat_requests) == 1  # neither reached the server
    assert hit.routing.cached and hit.response.choices[0].message.content == "Cached words from the server."
    end = replay[-1]
    assert isinstance(end, StreamEnd) and end.routing.cached
    assert "".join(c.choices[0].delta.content or "" for c in replay[:-1]) == "Cached words from the server."
    assert r.budget.spent_usd() == pytest.approx(first.routing.cost_usd)
    r.complete("Say hello", H, max_tokens=21)  # a different cap is a different call
    assert len(srv.chat_requests) == 2


def test_redis_store_is_shared_across_routers(
    faulty_server: FaultyServerFactory, redis_url: str, tmp_path: Path
) -> None:
    import redis

    url = redis_url.rsplit("/", 1)[0] + "/4"
    redis.Redis.from_url(url).flushdb()
    srv = faulty_server("ok", content="From Redis.")
    cache = {"store": url, "ttl_s": 60}
    list(router(srv.base_url, cache, tmp_path).stream("Say hello", H, max_tokens=20))
    other = router(srv.base_url, cache, tmp_path / "other")
    hit = other.complete("Say hello", H, max_tokens=20)
    assert hit.routing.cached and hit.response.choices[0].message.content == "From Redis."
    assert len(srv.chat_requests) == 1
    keys = redis.Redis.from_url(url).keys("routed_llm:resp:*")
    assert len(keys) == 1 and 0 < redis.Redis.from_url(url).ttl(keys[0]) <= 60


def test_redis_down_is_a_miss_not_a_failure(faulty_server: FaultyServerFactory, tmp_path: Path) -> None:
    from tests.servers.faulty import closed_port

    srv = faulty_server("ok", content="Still answered.")
    r = router(srv.base_url, {"store": f"redis://127.0.0.1:{closed_port()}/0"}, tmp_path)
    result = r.complete("Say hello", H, max_tokens=20)
    assert result.response.choices[0].message.content == "Still answered." and not result.routing.cached
