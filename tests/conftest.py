"""Shared test setup.

Cassettes: tests marked ``vcr`` replay HTTP from ``tests/cassettes`` by default
(offline, no servers needed). ``pytest -m vcr --record-mode=rewrite`` re-records
them against the real loopback servers, which the fixtures then start.
"""

import os

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
        "match_on": ["method", "scheme", "host", "port", "path", "query", "body"],
        "decode_compressed_response": True,
    }


@pytest.fixture(scope="module")
def vcr_cassette_dir(request: pytest.FixtureRequest) -> str:
    """All cassettes live under tests/cassettes/<test module>/."""
    module = request.module.__name__.rsplit(".", 1)[-1]
    return os.path.join(os.path.dirname(__file__), "cassettes", module)
