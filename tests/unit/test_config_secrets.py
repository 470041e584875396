"""`ConfigError` never prints a secret, even a mistyped one (issue 11, LOW 8)."""

from typing import Any

import pytest

from routed_llm import ConfigError, load_config

TIERS = {"fast": {"models": [{"model": "openai/gpt-4o-mini"}]}}
ROUTING = {"default": "fast"}


@pytest.mark.parametrize(
    ("patch", "secret", "field"),
    [
        ({"budgets": {"store": "reddis://:hunter2-SECRET@cache.internal:6379/0"}}, "hunter2-SECRET", "budgets.store"),
        ({"cache": {"store": "mongodb://admin:hunter2-SECRET@db/0"}}, "hunter2-SECRET", "cache.store"),
        (
            {"tiers": {"fast": {"models": [{"model": "openai/x", "api_key": 1234567890123}]}}},
            "1234567890123",
            "api_key",
        ),
        (
            {"tiers": {"fast": {"models": [{"model": "openai/x", "api_key": ["sk-live-SECRET"]}]}}},
            "sk-live-SECRET",
            "api_key",
        ),
        ({"telemetry": {"langfuse": {"secret_key": {"v": "sk-lf-SECRET"}}}}, "sk-lf-SECRET", "secret_key"),
        (
            {"tiers": {"fast": {"models": [{"model": "openai/x", "api_base": 5, "timeout": "redis://u:pw-SECRET@h"}]}}},
            "pw-SECRET",
            "timeout",
        ),
    ],
)
def test_secret_values_are_masked_in_config_errors(patch: dict[str, Any], secret: str, field: str) -> None:
    with pytest.raises(ConfigError) as e:
        load_config({"tiers": TIERS, "routing": ROUTING, **patch})
    assert field in str(e.value)
    assert secret not in str(e.value) and secret not in repr(e.value)
