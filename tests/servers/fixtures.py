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
from tests.servers.ollama_emulator import OllamaEmulator

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


# --------------------------------------------------------------------------- Ollama emulator


@pytest.fixture(scope="session")
def ollama_emulator_session() -> Iterator[OllamaEmulator]:
    """One Ollama API emulator for the session (its MiniLM loads once, on the first embed request)."""
    with OllamaEmulator() as emulator:
        yield emulator


@pytest.fixture
def ollama_emulator(ollama_emulator_session: OllamaEmulator) -> OllamaEmulator:
    """The session's Ollama emulator with recordings, faults and overrides cleared for this test."""
    ollama_emulator_session.reset()
    return ollama_emulator_session


@pytest.fixture
def ollama_emulator_factory() -> Iterator[Callable[..., OllamaEmulator]]:
    """Provide ``make(**kw)``: start extra emulators (a second Ollama host); all stopped at teardown.

    They share the process's loaded models, so an extra host costs a socket, not a model load.
    """
    started: list[OllamaEmulator] = []

    def make(**kwargs: Any) -> OllamaEmulator:
        emulator = OllamaEmulator(**kwargs).start()
        started.append(emulator)
        return emulator

    try:
        yield make
    finally:
        for emulator in reversed(started):
            emulator.stop()


# --------------------------------------------------------------------------- Redis


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``redis-server`` on a free loopback port for the session (Debian package ``redis-server``).

    Skips, saying how to install it, where the binary is missing; no persistence, no config file.
    """
    import shutil
    import socket
    import subprocess
    import time

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install -y redis-server)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {port}") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# --------------------------------------------------------------------------- OTLP (Langfuse) receiver


@pytest.fixture
def otlp_receiver() -> Iterator[Any]:
    """A loopback OTLP/HTTP receiver standing in for a Langfuse server (``host=otlp_receiver.url``)."""
    from tests.servers.otlp_receiver import OtlpReceiver

    with OtlpReceiver() as receiver:
        yield receiver


@pytest.fixture
def langfuse_client(otlp_receiver: Any) -> Iterator[Any]:
    """A real Langfuse client exporting to ``otlp_receiver``, isolated from every other test.

    Its own TracerProvider (so the global OpenTelemetry provider is never set) and a
    unique public key (Langfuse keeps one resource manager per key, process-wide);
    both are shut down and forgotten at teardown.
    """
    import uuid

    from langfuse import Langfuse
    from langfuse._client.resource_manager import LangfuseResourceManager
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider()
    public_key = f"pk-lf-test-{uuid.uuid4().hex[:8]}"
    client = Langfuse(
        public_key=public_key, secret_key="sk-lf-test-secret", host=otlp_receiver.url, tracer_provider=provider
    )
    try:
        yield client
    finally:
        client.shutdown()
        provider.shutdown()
        LangfuseResourceManager._instances.pop(public_key, None)
