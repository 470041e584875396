"""Build LiteLLM objects without touching the network.

``litellm.Router`` registers every deployment's price in ``litellm.model_cost`` when
it is built, and on the way asks ``litellm.get_model_info``, which for some providers
goes to the network: an HTTP GET of the model's ``config.json`` on the Hugging Face hub
for ``huggingface/`` models, a POST to the Ollama server's ``/api/show`` for ``ollama/``
ones. Building a router must never block on (or leak a model name to) a host that may be
down or not ours, and every fact routed-llm needs is already known offline: prices and
windows come from the config and LiteLLM's bundled map (`routed_llm.catalog`).

LiteLLM makes those lookups through one shared HTTP client, ``litellm.module_level_client``,
and falls back to its static map when a lookup fails. `no_network_lookups` swaps that
client for one whose transport refuses every request (no socket is opened) while the
block runs, so the lookups fail at once and LiteLLM registers what it knows statically.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["no_network_lookups"]

_swap_lock = threading.Lock()


def _offline_client() -> Any:
    """Build an ``httpx.Client`` whose transport refuses every request without opening a socket.

    Built on demand, so importing routed-llm does not import httpx (LiteLLM's own dependency).
    """
    import httpx

    class OfflineTransport(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError(
                f"routed-llm makes no network call while building a router ({request.method} {request.url.host})",
                request=request,
            )

    return httpx.Client(transport=OfflineTransport())


@contextmanager
def no_network_lookups() -> Iterator[None]:
    """Within the block, LiteLLM's model-info lookups fail fast instead of calling out.

    Only ``litellm.module_level_client`` is swapped (calls to models use their own
    clients), under a lock so concurrent router builds restore the right client.
    """
    import litellm
    from litellm.llms.custom_httpx.http_handler import HTTPHandler

    client = _offline_client()
    offline = HTTPHandler(client=client)
    with _swap_lock:
        previous = litellm.module_level_client
        litellm.module_level_client = offline
        try:
            yield
        finally:
            litellm.module_level_client = previous
            client.close()
