"""Shared test setup.

Cassettes: tests marked ``vcr`` replay HTTP from ``tests/cassettes`` by default
(offline, no servers needed). ``pytest -m vcr --record-mode=rewrite`` re-records
them against the real loopback servers, which the fixtures then start.
"""

import json
import os
import re
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import litellm  # noqa: E402
import pytest  # noqa: E402

# One HTTP stack (httpx) for sync and async calls, so one cassette format serves both.
litellm.disable_aiohttp_transport = True

pytest_plugins = ["tests.servers.fixtures"]

SECRET_HEADERS = ["authorization", "api-key", "x-api-key", "openai-organization", "cookie", "set-cookie"]


@pytest.fixture(scope="module")
def vcr_config() -> dict:
    """Cassettes never hold secrets and match on the request body as well as the URL."""
    return {
        "filter_headers": SECRET_HEADERS,
        "match_on": ["method", "scheme", "host", "port", "path", "query", "json_body"],
        "decode_compressed_response": True,
    }


@pytest.fixture(scope="module")
def vcr_cassette_dir(request: pytest.FixtureRequest) -> str:
    """All cassettes live under tests/cassettes/<test module>/."""
    module = request.module.__name__.rsplit(".", 1)[-1]
    return os.path.join(os.path.dirname(__file__), "cassettes", module)


_RANDOM_ID = re.compile(r"^(call_|toolu_|run-|lc_)?[0-9a-fA-F-]{8,}$")


def _normalise(value: Any) -> Any:
    """Blank out generated ids (tool-call ids, uuids) so equal requests compare equal."""
    if isinstance(value, dict):
        return {
            k: ("<id>" if k in ("id", "tool_call_id") and isinstance(v, str) else _normalise(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if isinstance(value, str) and _RANDOM_ID.match(value):
        return "<id>"
    return value


def _json_body(r1: Any, r2: Any) -> None:
    """Match request bodies as JSON, ignoring generated ids; fall back to bytes."""

    def load(body: Any) -> Any:
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        try:
            return _normalise(json.loads(body)) if body else None
        except (TypeError, ValueError):
            return body

    assert load(r1.body) == load(r2.body)


def pytest_recording_configure(config: pytest.Config, vcr: Any) -> None:
    vcr.register_matcher("json_body", _json_body)
