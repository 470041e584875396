"""Shared setup of the chain integration tests: loopback tiers, a scripted verifier, call counts.

The LangChain, LlamaIndex and llama.cpp chain tests all build the same three-tier
router over real `FaultyServer` endpoints and script the verifier the same way;
keeping that here means a change to the tier layout is made once.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from routed_llm import Router
from routed_llm.escalation import Attempt, Verdict
from tests.servers.faulty import FaultyServer

#: Cheapest first; "local" is the private tier.
TIERS = ["local", "mid", "premium"]
#: USD per input token; output costs twice as much.
PRICE = {"local": 0.0, "mid": 1e-6, "premium": 3e-5}


def tier(model: str, api_base: str, *, price: float = 0.0, private: bool = False, **extra: Any) -> dict[str, Any]:
    """One tier with one OpenAI-compatible deployment at ``api_base``."""
    deployment = {
        "model": model,
        "api_base": api_base,
        "api_key": "sk-test",
        "input_cost_per_token": price,
        "output_cost_per_token": 2 * price,
        **extra,
    }
    return {"models": [deployment], "private": private}


def loopback_router(servers: Mapping[str, FaultyServer], *, default: str = "mid") -> Router:
    """A router with one tier per server (priced by `PRICE`, ``local`` private)."""
    tiers = {
        name: tier(f"openai/{name}-model", srv.base_url, price=PRICE[name], private=name == "local")
        for name, srv in servers.items()
    }
    return Router({"tiers": tiers, "routing": {"default": default}})


def calls(servers: Mapping[str, FaultyServer]) -> dict[str, int]:
    """Chat requests each server received."""
    return {name: len(srv.chat_requests) for name, srv in servers.items()}


class AcceptAt:
    """A scripted verifier: accepts only answers from ``tier`` and remembers which tiers it saw."""

    name = "accept_at"

    def __init__(self, tier: str) -> None:
        self.tier = tier
        self.seen: list[str] = []

    def verify(self, question: str, attempt: Attempt, history: Sequence[Attempt]) -> Verdict:
        """Accept at the scripted tier, escalate everywhere else."""
        self.seen.append(attempt.tier)
        return Verdict(attempt.tier == self.tier, 0.5, f"scripted: accept only at {self.tier}")
