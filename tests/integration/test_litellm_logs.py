"""LiteLLM's "Fallback also failed" ERROR is not logged for calls routed-llm serves (issue 11, LOW 9).

A stream whose first event is malformed (a real loopback endpoint) makes LiteLLM log, at ERROR,
that its fallback failed and none was attempted; routed-llm then serves the call from the next
tier, so that ERROR would be false. It is re-logged at DEBUG instead.
"""

import logging
from typing import Any

import pytest

from routed_llm import Router, StreamEnd
from tests.servers.faulty import FaultyServer

pytestmark = pytest.mark.servers

H = {"sensitivity": "public", "task": "chat", "complexity": "simple"}


def router(bad: FaultyServer, ok: FaultyServer) -> Router:
    return Router(
        {
            "tiers": {
                "cloud": {"models": [{"model": "openai/m", "api_base": bad.base_url, "api_key": "sk-x"}]},
                "local": {
                    "models": [{"model": "openai/m", "api_base": ok.base_url, "api_key": "sk-x"}],
                    "private": True,
                },
            },
            "routing": {"default": "cloud", "fallbacks": {"cloud": ["local"]}},
        }
    )


@pytest.mark.parametrize("path", ["stream", "astream"])
async def test_served_streams_log_no_litellm_fallback_error(
    faulty_server: Any, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    bad, ok = faulty_server("malformed_chunk"), faulty_server("ok")
    r = router(bad, ok)
    with caplog.at_level(logging.DEBUG):
        items = list(r.stream("hi", H)) if path == "stream" else [i async for i in r.astream("hi", H)]
    assert isinstance(items[-1], StreamEnd) and items[-1].routing.tier == "local"
    errors = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert errors == []
    assert any("routed-llm falls back itself" in rec.getMessage() for rec in caplog.records)  # kept, at DEBUG
    assert any(rec.name == "routed_llm.engine" and rec.levelno == logging.WARNING for rec in caplog.records)
