"""Unit tests run with sockets disabled: anything that tries the network fails loudly."""

from collections.abc import Iterator

import pytest
from pytest_socket import disable_socket, enable_socket


@pytest.fixture(autouse=True)
def _no_network() -> Iterator[None]:
    disable_socket(allow_unix_socket=True)  # asyncio's self-pipe uses a unix socketpair
    yield
    enable_socket()
