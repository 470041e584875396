"""Property: a confidential request never reaches a non-private deployment.

Hypothesis draws random configs (tiers, privacy flags, capabilities, rules,
fallback chains), random hints and random failure patterns; every non-private
tier is a real loopback listener that counts the TCP connections it accepts.
Whatever happens (success, fallback, every tier failing, no eligible tier), the
non-private listeners must have accepted zero connections. The score-driven
strategies are drawn too (score rules, complexity bands, the threshold strategy
with and without ``min_quality``), fed by a scorer that returns a drawn score and
per-tier predictions, or by the packaged learned scorer: a score pointing at a
public tier must change nothing.
"""

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routed_llm import RoutedLLMError, Router, StreamEnd
from routed_llm.scoring import Score
from tests.servers.faulty import FaultyServer, closed_port

pytestmark = pytest.mark.servers

MAX_TIERS = 4
FAILURES = ["ok", "error500", "rate_limit"]
TASKS = ["chat", "reasoning", "code", "classification", "extraction", "summarization"]


@pytest.fixture(scope="module")
def listeners() -> Iterator[list[FaultyServer]]:
    servers = [FaultyServer("ok").start() for _ in range(MAX_TIERS)]
    yield servers
    for s in servers:
        s.stop()


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(min_value=2, max_value=MAX_TIERS))
    names = [f"t{i}" for i in range(n)]
    private = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    private[draw(st.integers(0, n - 1))] = False  # at least one tier that must stay untouched
    tiers = []
    for i in range(n):
        tiers.append(
            {
                "private": private[i],
                "failure": draw(st.sampled_from(FAILURES + (["refused"] if private[i] else []))),
                "tools": draw(st.booleans()),
            }
        )
    rules = draw(
        st.lists(st.fixed_dictionaries({"task": st.sampled_from(TASKS), "tier": st.sampled_from(names)}), max_size=3)
    )
    fallbacks = {
        name: draw(st.lists(st.sampled_from([m for m in names if m != name]), unique=True, max_size=n - 1))
        for name in names
    }
    confidential_by = draw(st.sampled_from(["hint", "pii-email", "pii-card", "pii-key"]))
    unit = st.floats(min_value=0, max_value=1)
    score_rules = draw(
        st.lists(
            st.fixed_dictionaries(
                {"when": st.sampled_from(["score_over", "score_at_most"]), "at": unit, "tier": st.sampled_from(names)}
            ),
            max_size=2,
        )
    )
    threshold = None
    if draw(st.booleans()):
        chain = draw(st.permutations(names))[: draw(st.integers(2, n))]
        cuts = sorted(draw(st.lists(unit, min_size=len(chain) - 1, max_size=len(chain) - 1, unique=True)))
        threshold = {"chain": chain, "thresholds": cuts}
        if draw(st.booleans()):
            threshold["min_quality"] = draw(st.floats(min_value=0.05, max_value=1))
    return {
        "learned": draw(st.booleans()),
        "score": draw(unit),
        "tier_scores": draw(st.none() | st.fixed_dictionaries({name: unit for name in names})),
        "score_rules": score_rules,
        "threshold": threshold,
        "bands": draw(st.none() | st.just([0.3, 0.6])),
        "names": names,
        "tiers": tiers,
        "rules": rules,
        "default": draw(st.sampled_from(names)),
        "fallbacks": fallbacks,
        "tier_hint": draw(st.none() | st.sampled_from(names)),
        "task": draw(st.none() | st.sampled_from(TASKS)),
        "tools": draw(st.booleans()),
        "stream": draw(st.booleans()),
        "confidential_by": confidential_by,
    }


class DrawnScorer:
    """Stands in for a learned scorer: returns the drawn score (any value must leave privacy intact)."""

    name = "drawn"

    def __init__(self, score: Score) -> None:
        self._score = score

    def score(self, messages: Any) -> Score:
        return self._score


PII = {
    "hint": "Summarise our plan for next quarter.",
    "pii-email": "Draft a reply to jane.doe@example.com about her order.",
    "pii-card": "Why was the card 4111 1111 1111 1111 declined yesterday?",
    "pii-key": "Is this key valid: sk-proj-abcdefghijklmnopqrstuvwxyz123456 ?",
}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=scenarios())
def test_confidential_never_reaches_a_non_private_deployment(listeners: list[FaultyServer], scenario: dict) -> None:
    tiers: dict[str, Any] = {}
    for name, tier, server in zip(scenario["names"], scenario["tiers"], listeners, strict=False):
        server.reset()
        server.set_mode("ok" if tier["failure"] == "refused" else tier["failure"])
        url = f"http://127.0.0.1:{closed_port()}/v1" if tier["failure"] == "refused" else server.base_url
        tiers[name] = {
            "models": [
                {
                    "model": f"openai/{name}",
                    "api_base": url,
                    "api_key": "sk-test",
                    "timeout": 5,
                    "capabilities": {"tools": tier["tools"]},
                }
            ],
            "private": tier["private"],
        }
    score_rules = [{"when": {r["when"]: r["at"]}, "tier": r["tier"]} for r in scenario["score_rules"]]
    router = Router(
        {
            "tiers": tiers,
            "routing": {
                "default": scenario["default"],
                "rules": score_rules + [{"when": {"task": r["task"]}, "tier": r["tier"]} for r in scenario["rules"]],
                "fallbacks": scenario["fallbacks"],
                "threshold": scenario["threshold"],
                "complexity_from_score": scenario["bands"],
                "scorer": "learned" if scenario["learned"] else "heuristic",
            },
        }
    )
    if not scenario["learned"]:  # else the packaged learned scorer decides the score
        router.scorer = DrawnScorer(Score(scenario["score"], "drawn", scenario["tier_scores"]))
    hints: dict[str, Any] = {"tier": scenario["tier_hint"], "task": scenario["task"]}
    if scenario["confidential_by"] == "hint":
        hints["sensitivity"] = "confidential"
    params: dict[str, Any] = {"max_tokens": 8}
    if scenario["tools"]:
        params["tools"] = [
            {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}
        ]

    served: str | None = None
    try:
        if scenario["stream"]:
            for item in router.stream(PII[scenario["confidential_by"]], hints, **params):
                if isinstance(item, StreamEnd):
                    served = item.routing.tier
        else:
            served = router.complete(PII[scenario["confidential_by"]], hints, **params).routing.tier
    except RoutedLLMError:
        pass  # no eligible tier / every tier failed: both are allowed outcomes

    public_hits = {
        name: server.connections
        for name, tier, server in zip(scenario["names"], scenario["tiers"], listeners, strict=False)
        if not tier["private"]
    }
    assert sum(public_hits.values()) == 0, public_hits
    if served is not None:
        assert tiers[served]["private"]
    decision = None
    try:
        decision = router.route(PII[scenario["confidential_by"]], hints, **params)
    except RoutedLLMError:
        pass
    if decision is not None and (scenario["score_rules"] or scenario["threshold"] or scenario["bands"]):
        if scenario["learned"]:
            assert decision.scorer is not None and decision.scorer.startswith("learned:"), decision.reason
        else:
            assert decision.scorer == "drawn" and decision.score == scenario["score"]
        assert all(tiers[t]["private"] for t in decision.tiers)
