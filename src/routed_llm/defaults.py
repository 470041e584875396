"""The embedded default config: what ``Router()`` and the demo run on with no setup.

Local first: if an Ollama server answers at ``OLLAMA_BASE_URL`` (default
``http://localhost:11434``), the private tier is ``ollama_chat/llama3.2:3b``;
otherwise it is the in-process SmolLM2-135M-Instruct (``routed-local/smollm2-135m``),
which calls tools and returns schema-valid JSON through llama.cpp grammars, so
``bind_tools``, ``with_structured_output`` and agent loops run with no setup.
Select another embedded model in a config: ``routed-local/gemma3-270m`` or any
``routed-local/<path to .gguf>``.
The cloud tiers read LiteLLM's usual environment keys (``GROQ_API_KEY``,
``ANTHROPIC_API_KEY``, ``OPENAI_API_KEY``) as ``${VAR}`` references, resolved
when a tier is called: a tier whose key is unset fails at once with
`MissingCredential` naming the variable, without a network attempt, and the
call falls back to the private tier, which the routing metadata records.
"""

from __future__ import annotations

import os
import socket
from typing import Any
from urllib.parse import urlparse

from routed_llm.config import RoutingConfig, load_config
from routed_llm.local_models import DEFAULT_LOCAL_MODEL

__all__ = ["DEFAULT_CONFIG", "default_config", "ollama_reachable"]

#: Routing table distilled from the user's routing-strategy notes (seed 003).
DEFAULT_CONFIG: dict[str, Any] = {
    "tiers": {
        "local": {
            "models": [{"model": DEFAULT_LOCAL_MODEL, "max_tokens": 256, "context_window": 2048}],
            "private": True,
            "latency_ms": 500,
            "description": "on this machine; free; data never leaves it",
        },
        "fast": {
            "models": [
                {
                    "model": "groq/llama-3.3-70b-versatile",
                    "api_key": "${GROQ_API_KEY}",
                    "timeout": 30,
                    "context_window": 131072,
                    "input_cost_per_token": 5.9e-7,
                    "output_cost_per_token": 7.9e-7,
                    "capabilities": {"tools": True, "json_schema": False, "vision": False},
                }
            ],
            "latency_ms": 300,
            "description": "fast cheap cloud",
        },
        "premium": {
            "models": [
                # LiteLLM's bundled map has no price for this model: list prices, USD per token
                {
                    "model": "anthropic/claude-sonnet-4-20250514",
                    "api_key": "${ANTHROPIC_API_KEY}",
                    "timeout": 60,
                    "context_window": 200000,
                    "input_cost_per_token": 3e-6,
                    "output_cost_per_token": 1.5e-5,
                    "capabilities": {"tools": True, "json_schema": True, "vision": True},
                },
                {"model": "openai/gpt-4o", "api_key": "${OPENAI_API_KEY}", "timeout": 60},
            ],
            "latency_ms": 2000,
            "description": "best quality cloud",
        },
    },
    "routing": {
        "default": "fast",
        "rules": [
            {"name": "classification-local", "when": {"task": "classification"}, "tier": "local"},
            {"name": "long-context", "when": {"context_tokens_over": 32000}, "tier": "premium"},
            {
                "name": "complex-premium",
                "when": {"task": ["reasoning", "code"], "complexity": "complex"},
                "tier": "premium",
            },
            {"name": "simple-local", "when": {"complexity": "simple"}, "tier": "local"},
        ],
        "fallbacks": {"premium": ["fast", "local"], "fast": ["local"]},
        # the packaged learned scorer: loaded only when something reads the score (telemetry, explain)
        "scorer": "learned",
    },
}

OLLAMA_TIER_MODEL = "ollama_chat/llama3.2:3b"


def ollama_reachable(base_url: str, timeout_s: float = 0.2) -> bool:
    """Whether something accepts TCP connections at the Ollama URL (a cheap probe)."""
    parsed = urlparse(base_url)
    try:
        with socket.create_connection((parsed.hostname or "localhost", parsed.port or 11434), timeout=timeout_s):
            return True
    except Exception:  # any failure to connect (refused, DNS, a sandbox forbidding sockets) means no
        return False


def default_config(*, probe_ollama: bool = True) -> RoutingConfig:
    """Build the default config, using Ollama for the local tier when it is reachable."""
    data: dict[str, Any] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in DEFAULT_CONFIG.items()}
    base = os.environ.get("OLLAMA_BASE_URL", "http://localhost:11434")
    if probe_ollama and ollama_reachable(base):
        data["tiers"] = dict(data["tiers"])
        data["tiers"]["local"] = {
            **data["tiers"]["local"],
            "models": [{"model": OLLAMA_TIER_MODEL, "api_base": base, "timeout": 120, "context_window": 8192}],
        }
    return load_config(data)
