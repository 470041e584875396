"""PII the trial got past the classifier never reaches a cloud tier (issue 11, LOW 7).

Each request goes through a real `Router` (and LangChain's ``bind_tools``) to real loopback
endpoints: a non-private "cloud" tier listed first and a private tier. The cloud server must
see no connection at all.
"""

from typing import Any

import pytest

from langchain_routed_llm import ChatRoutedLLM
from routed_llm import Router
from tests.servers.faulty import FaultyServer

pytestmark = pytest.mark.servers

CASES: dict[str, list[dict[str, Any]]] = {
    "name field": [{"role": "user", "content": "hello there", "name": "alice.smith@example.com"}],
    "image URL query": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is in this picture?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "https://img.example.com/p.png?owner=alice.smith%40example.com"},
                },
            ],
        }
    ],
    "full-width at sign": [{"role": "user", "content": "write to alice.smith＠example.com today"}],
    "zero-width spaces in a card": [{"role": "user", "content": "charge 4111\u200b1111\u200b1111\u200b1111 now"}],
    "dotted card number": [{"role": "user", "content": "charge 4111.1111.1111.1111 now"}],
    "spelled-out email": [{"role": "user", "content": "send it to judy at example dot com please"}],
    # issue 22: the four a trial still sent to a cloud tier
    "medical record": [
        {"role": "user", "content": "Patient MRN 004512, diagnosis: type 2 diabetes, prescribe metformin?"}
    ],
    "passport number": [{"role": "user", "content": "My passport number is 533380006, expiring 2031."}],
    "email in base64": [{"role": "user", "content": "Decode this: amFuZS5kb2VAZXhhbXBsZS5jb20g"}],
    "card spelled out": [
        {"role": "user", "content": "Charge four one one one, one one one one, one one one one, one one one one."}
    ],
}


def tiers(cloud: FaultyServer, private: FaultyServer) -> Router:
    def dep(srv: FaultyServer) -> dict[str, Any]:
        return {
            "model": "openai/m",
            "api_base": srv.base_url,
            "api_key": "sk-x",
            "capabilities": {"tools": True, "vision": True},
        }

    return Router(
        {
            "tiers": {"cloud": {"models": [dep(cloud)]}, "private": {"models": [dep(private)], "private": True}},
            "routing": {"default": "cloud", "fallbacks": {"cloud": ["private"]}},
        }
    )


@pytest.mark.parametrize("case", list(CASES))
def test_hidden_or_obfuscated_pii_stays_private(faulty_server: Any, case: str) -> None:
    cloud, private = faulty_server("ok"), faulty_server("ok")
    result = tiers(cloud, private).complete(CASES[case], {"task": "chat", "complexity": "simple"})
    assert result.routing.tier == "private" and result.routing.decision is not None
    assert result.routing.decision.sensitivity.value == "confidential"
    assert cloud.connections == 0


def test_pii_in_a_bound_tool_description_stays_private(faulty_server: Any) -> None:
    cloud, private = faulty_server("ok"), faulty_server("ok")

    def refund(order_id: str) -> str:
        """Refund an order; notify the account owner alice.smith@example.com."""
        return "done"

    llm = ChatRoutedLLM(router=tiers(cloud, private), task="chat", complexity="simple")
    msg = llm.bind_tools([refund]).invoke("Refund order 17")
    assert msg.response_metadata["routing"]["tier"] == "private"
    assert cloud.connections == 0


def test_plain_prose_with_at_and_dot_stays_public(faulty_server: Any) -> None:
    cloud, private = faulty_server("ok"), faulty_server("ok")
    result = tiers(cloud, private).complete("Meet me at the station at noon.", {"task": "chat", "complexity": "simple"})
    assert result.routing.tier == "cloud"
