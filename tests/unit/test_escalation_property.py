"""The cascade's rules as properties: any tiers, any privacy flags, any verifier behaviour."""

from collections.abc import Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from routed_llm.escalation import Attempt, EscalationError, Verdict, cascade

behaviours = st.one_of(
    st.builds(Verdict, st.booleans(), st.one_of(st.none(), st.floats(0, 1)), st.just("v"), st.floats(0, 0.01)),
    st.sampled_from(["garbage", None, 3, ValueError("boom")]),
)


@settings(max_examples=300, deadline=None)
@given(
    private=st.lists(st.booleans(), min_size=1, max_size=5),
    confidential=st.booleans(),
    script=st.lists(behaviours, min_size=5, max_size=5),
    on_error=st.sampled_from(["accept", "escalate"]),
)
def test_cascade_rules_hold_for_any_verifier(
    private: list[bool], confidential: bool, script: list[Any], on_error: Any
) -> None:
    tiers = [f"t{i}" for i in range(len(private))]
    called: list[str] = []

    def answer(tier: str, history: Sequence[Attempt]) -> Attempt:
        called.append(tier)
        assert [a.tier for a in history] == called[:-1]
        return Attempt(tier, f"answer {tier}", cost_usd=0.1 * (1 + tiers.index(tier)))

    class Scripted:
        name = "scripted"

        def verify(self, question: str, attempt: Attempt, history: Sequence[Attempt]) -> Any:
            b = script[tiers.index(attempt.tier)]
            if isinstance(b, BaseException):
                raise b
            return b

    def allowed(tier: str) -> str | None:
        return "not private" if confidential and not private[tiers.index(tier)] else None

    try:
        r = cascade("q", tiers, answer, Scripted(), allowed=allowed, on_verifier_error=on_error)
    except EscalationError:
        assert confidential and not any(private)  # only when no tier at all may be called
        assert called == []
        return
    if confidential:
        assert all(private[tiers.index(t)] for t in called)  # the confidential rule, on every step
    assert called == r.tiers_called and called == sorted(called, key=tiers.index)  # in order, each once
    assert r.answer.tier in called
    verdicts = [script[tiers.index(t)] for t in called]
    spent = sum(a.cost_usd for a in r.attempts) + sum(v.cost_usd for v in verdicts if isinstance(v, Verdict))
    assert abs(r.cost_usd - spent) < 1e-9  # every tier visited and every verifier call, nothing else
    # escalation past an answer only when its verdict said so (or a broken verifier with on_error="escalate")
    for t in called[:-1]:
        b = script[tiers.index(t)]
        assert (isinstance(b, Verdict) and not b.accept) or (not isinstance(b, Verdict) and on_error == "escalate")
    last = script[tiers.index(called[-1])]
    if isinstance(last, Verdict) and last.accept:
        assert r.outcome == "accepted" and r.answer.tier == called[-1]
