"""Pytest plugin exposing the loopback test servers as fixtures.

Loaded from ``tests/conftest.py`` via ``pytest_plugins``. The fixtures open real sockets,
so use them only from tests marked ``servers`` (or under ``tests/integration``), which
are exempt from pytest-socket's blocking.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.servers.faulty import FaultyServer, Mode
from tests.servers.llama_server import DEFAULT_PORT, LlamaServer

LLAMA_PORT_ENV = "ROUTED_LLM_TEST_LLAMA_PORT"

FaultyServerFactory = Callable[..., FaultyServer]


def llama_port() -> int:
    """Port for the shared llama server: fixed so recorded cassettes replay, env-overridable."""
    return int(os.environ.get(LLAMA_PORT_ENV) or DEFAULT_PORT)


@pytest.fixture(scope="session")
def llama_server() -> Iterator[LlamaServer]:
    """One real llama_cpp.server for the whole session (startup costs seconds, not ms)."""
    server = LlamaServer(port=llama_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def faulty_server() -> Iterator[FaultyServerFactory]:
    """Provide a factory: ``faulty_server(mode, **kw)`` returns a started FaultyServer.

    Every server it creates is stopped at teardown.
    """
    started: list[FaultyServer] = []

    def make(mode: Mode = "ok", **kwargs: Any) -> FaultyServer:
        server = FaultyServer(mode, **kwargs).start()
        started.append(server)
        return server

    try:
        yield make
    finally:
        for server in reversed(started):
            server.stop()


def recording(config: pytest.Config) -> bool:
    """Whether this run records cassettes (``--record-mode`` other than ``none``) against live servers."""
    return str(config.getoption("--record-mode", default="none") or "none") != "none"


@pytest.fixture(scope="session")
def llama_base_url(request: pytest.FixtureRequest) -> str:
    """Base URL of the real llama.cpp server for cassette-backed tests.

    Replaying (the default run), nothing is started: the cassettes were recorded
    against this fixed address and vcrpy answers from them. Recording
    (``--record-mode=rewrite``), the real server is started on that address.
    """
    if recording(request.config):
        return str(request.getfixturevalue("llama_server").base_url)
    return f"http://127.0.0.1:{llama_port()}/v1"
