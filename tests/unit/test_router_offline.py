"""Building a `Router` makes no network call, whatever providers its tiers name.

LiteLLM's price registration asks the Hugging Face hub about ``huggingface/`` models and
POSTs to Ollama's ``/api/show`` for ``ollama/`` ones. Unit tests block sockets, and LiteLLM
swallows the error, so a plain "it did not fail" would prove nothing: this guard records
every name resolution and connection attempt and the test fails on any.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from routed_llm import Router


@pytest.fixture
def attempts(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    seen: list[str] = []

    def refuse_lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(f"resolve {host}")
        raise OSError("network attempted during Router construction")

    def refuse_connect(address: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(f"connect {address}")
        raise OSError("network attempted during Router construction")

    monkeypatch.setattr(socket, "getaddrinfo", refuse_lookup)
    monkeypatch.setattr(socket, "create_connection", refuse_connect)
    yield seen


@pytest.mark.parametrize(
    "model",
    [
        "huggingface/meta-llama/Llama-3.1-8B-Instruct",
        "ollama/llama3.2:3b",
        "ollama_chat/llama3.2:3b",
    ],
)
def test_building_a_router_makes_no_connection(attempts: list[str], model: str) -> None:
    router = Router({"tiers": {"t": {"models": [{"model": model}], "private": True}}, "routing": {"default": "t"}})
    try:
        assert router.profiles["t"].models == (model,)
    finally:
        router.close()
    assert attempts == []


def test_the_guard_sees_a_connection_attempt(attempts: list[str]) -> None:
    # The guard must be able to fail: an HTTP call made the usual way is recorded.
    import httpx

    with pytest.raises(httpx.ConnectError):
        httpx.get("http://example.invalid/")
    assert attempts == ["connect ('example.invalid', 80)"]


@pytest.mark.parametrize(
    ("model", "says"),
    [
        ("fast", "'fast' names no provider and is not a model LiteLLM knows"),
        ("premium-model", "names no provider"),
        ("fastcloud/llama-3.3-70b", "'fastcloud' is not a LiteLLM provider"),
    ],
)
def test_a_model_string_litellm_cannot_resolve_is_a_config_error_at_load(
    attempts: list[str], model: str, says: str
) -> None:
    from routed_llm import ConfigError

    config = {
        "tiers": {"local": {"models": [{"model": "ollama_chat/llama3.2:3b"}], "private": True}},
        "routing": {"default": "local"},
    }
    config["tiers"]["fast"] = {"models": [{"model": "openai/gpt-4o"}, {"model": model}]}
    with pytest.raises(ConfigError) as e:
        Router(config)
    assert "tiers.fast.models[1].model" in str(e.value) and says in str(e.value)
    assert attempts == []  # decided from LiteLLM's files, not by asking anyone


@pytest.mark.parametrize(
    "model",
    [
        "gpt-4o",  # a bare name LiteLLM's map knows (openai)
        "gpt-4o-mini",
        "groq/llama-3.3-70b-versatile",
        "hosted_vllm/my-model",  # any model of a known provider
        "publicai/some-model",  # a provider LiteLLM configures in its providers.json
        "routed-local/smollm2-135m",
    ],
)
def test_resolvable_model_strings_still_load(attempts: list[str], model: str) -> None:
    Router({"tiers": {"t": {"models": [{"model": model}], "private": True}}, "routing": {"default": "t"}}).close()
    assert attempts == []


def test_a_custom_provider_param_vouches_for_any_model_name() -> None:
    tier = {"models": [{"model": "my-gateway-model", "params": {"custom_llm_provider": "openai"}}]}
    Router({"tiers": {"t": tier}, "routing": {"default": "t"}}).close()
