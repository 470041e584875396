"""Tier configs many tests share, so each test file states only what it is about.

``UNREACHABLE_LOCAL`` is a private tier nothing answers (port 9), ``PRICED_CLOUD`` a
priced cloud tier that is never called for real (the tests record spend or read the
cache), and ``cloud_at(base_url)`` a priced cloud tier served by a loopback test server.
Each helper returns fresh dicts, so a test may change its copy.
"""

from typing import Any


def unreachable_local() -> dict[str, Any]:
    return {"models": [{"model": "ollama_chat/llama3.2:3b", "api_base": "http://127.0.0.1:9"}], "private": True}


def priced_cloud() -> dict[str, Any]:
    return {
        "models": [
            {"model": "anthropic/claude-x", "api_key": "k", "input_cost_per_token": 1e-3, "output_cost_per_token": 2e-3}
        ]
    }


def cloud_at(base_url: str) -> dict[str, Any]:
    return {
        "models": [
            {
                "model": "openai/cloud-model",
                "api_base": base_url,
                "api_key": "sk-test",
                "input_cost_per_token": 1e-5,
                "output_cost_per_token": 3e-5,
            }
        ]
    }


def local_and_cloud(**sections: Any) -> dict[str, Any]:
    """A config routing to the priced cloud tier, falling back to the unreachable local one, plus ``sections``."""
    return {
        "tiers": {"local": unreachable_local(), "cloud": priced_cloud()},
        "routing": {"default": "cloud", "fallbacks": {"cloud": ["local"]}},
        **sections,
    }
