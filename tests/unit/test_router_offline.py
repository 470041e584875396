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
