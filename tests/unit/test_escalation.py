"""The cascade decision loop and the verifiers, with scripted tiers (no I/O)."""

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from routed_llm.errors import RoutedLLMError
from routed_llm.escalation import (
    AgreementVerifier,
    Attempt,
    EscalationError,
    JudgeVerifier,
    LearnedVerifier,
    LogprobVerifier,
    SelfConfidenceVerifier,
    Verdict,
    VerifierError,
    acascade,
    agreement,
    cascade,
    cascade_features,
    extract_choice,
    parse_confidence,
)

TIERS = ["cheap", "mid", "premium"]
COST = {"cheap": 0.001, "mid": 0.01, "premium": 0.1}


class Scripted:
    """Accepts or escalates per tier as told, and counts calls."""

    name = "scripted"

    def __init__(self, accept: dict[str, Any]) -> None:
        self.accept = accept
        self.seen: list[tuple[str, int]] = []

    def verify(self, question: str, attempt: Attempt, history: Sequence[Attempt]) -> Any:
        self.seen.append((attempt.tier, len(history)))
        v = self.accept[attempt.tier]
        if isinstance(v, BaseException):
            raise v
        if isinstance(v, bool):
            return Verdict(v, 0.9 if v else 0.2, f"scripted {v}", cost_usd=0.0005)
        return v


def answerer(calls: list[str]) -> Any:
    def answer(tier: str, history: Sequence[Attempt]) -> Attempt:
        calls.append(tier)
        return Attempt(
            tier, f"answer from {tier}", model=f"m-{tier}", cost_usd=COST[tier], prompt_tokens=3, completion_tokens=4
        )

    return answer


@pytest.mark.parametrize(
    ("accept_at", "expected"),
    [("cheap", ["cheap"]), ("mid", ["cheap", "mid"]), ("premium", ["cheap", "mid", "premium"])],
)
def test_escalates_exactly_until_the_verifier_accepts(accept_at: str, expected: list[str]) -> None:
    calls: list[str] = []
    v = Scripted({t: t == accept_at for t in TIERS})
    r = cascade("q", TIERS, answerer(calls), v)
    assert calls == expected == r.tiers_called
    assert r.answer.tier == accept_at
    assert [s.action for s in r.trail] == ["escalated"] * (len(expected) - 1) + ["accepted"]
    assert r.outcome == "accepted"
    assert r.cost_usd == pytest.approx(sum(COST[t] + 0.0005 for t in expected))
    assert v.seen == [(t, i) for i, t in enumerate(expected)]


def test_last_tier_is_kept_when_the_verifier_still_rejects() -> None:
    calls: list[str] = []
    r = cascade("q", TIERS, answerer(calls), Scripted(dict.fromkeys(TIERS, False)))
    assert calls == TIERS and r.outcome == "last_tier" and r.answer.tier == "premium"
    assert r.trail[-1].action == "final" and "no tier left" in r.trail[-1].reason


def test_confidential_never_reaches_a_forbidden_tier_and_returns_the_best_allowed_answer() -> None:
    calls: list[str] = []
    scores = {"cheap": Verdict(False, 0.6, "meh"), "mid": Verdict(False, 0.3, "worse"), "premium": Verdict(True, 1)}
    r = cascade(
        "q",
        TIERS,
        answerer(calls),
        Scripted(scores),
        allowed=lambda t: None if t != "premium" else "confidential question; tier is not private",
    )
    assert calls == ["cheap", "mid"]
    assert r.outcome == "blocked"
    assert r.answer.tier == "cheap"  # best score among the allowed answers
    assert r.trail[0].action == "skipped" and r.trail[0].tier == "premium"
    assert r.trail[-1].action == "blocked" and "confidential" in r.trail[-1].reason
    assert r.cost_usd == pytest.approx(COST["cheap"] + COST["mid"])


def test_no_allowed_tier_is_a_clear_error() -> None:
    with pytest.raises(EscalationError, match="no tier of the cascade is allowed") as e:
        cascade("q", TIERS, answerer([]), Scripted({}), allowed=lambda t: "not private")
    assert isinstance(e.value, RoutedLLMError)
    with pytest.raises(EscalationError):
        cascade("q", [], answerer([]), Scripted({}))


@pytest.mark.parametrize("bad", [ValueError("boom"), "yes", 0.9, None])
def test_a_broken_verifier_keeps_the_answer_and_never_escalates_silently(bad: Any) -> None:
    calls: list[str] = []
    r = cascade("q", TIERS, answerer(calls), Scripted({"cheap": bad}))
    assert calls == ["cheap"]
    assert r.outcome == "verifier_error" and r.answer.tier == "cheap"
    assert r.trail[-1].action == "error" and "keeping this answer" in r.trail[-1].reason


def test_verifier_error_policies() -> None:
    calls: list[str] = []
    r = cascade("q", TIERS, answerer(calls), Scripted({"cheap": "junk", "mid": True}), on_verifier_error="escalate")
    assert calls == ["cheap", "mid"] and r.answer.tier == "mid"
    with pytest.raises(VerifierError, match="not a Verdict"):
        cascade("q", TIERS, answerer([]), Scripted({"cheap": "junk"}), on_verifier_error="raise")


def test_async_cascade_runs_the_same_loop() -> None:
    calls: list[str] = []
    sync = answerer(calls)

    async def answer(tier: str, history: Sequence[Attempt]) -> Attempt:
        return sync(tier, history)

    r = asyncio.run(acascade("q", TIERS, answer, Scripted({"cheap": False, "mid": True, "premium": True})))
    assert calls == ["cheap", "mid"] and r.answer.tier == "mid" and r.outcome == "accepted"


def test_parsers() -> None:
    assert extract_choice("B\n") == "B"
    assert extract_choice("(c) because") == "C"
    assert extract_choice("Answer: D") == "D"
    assert extract_choice("def f(): pass") is None
    assert parse_confidence('{"confidence": 0.85}') == 0.85
    assert parse_confidence("Paris.\nConfidence: 80%") == pytest.approx(0.8)
    assert parse_confidence("confidence: 7") is None
    assert parse_confidence("no idea") is None
    assert agreement("A\n", "A") == 1.0 and agreement("A", "B") == 0.0 and agreement("A", "def f") == 0.0
    assert agreement("def add(a, b): return a + b", "def add(x, y): return x + y") == pytest.approx(3 / 7)


def test_self_confidence_and_logprob_verifiers() -> None:
    sc = SelfConfidenceVerifier(threshold=0.7)
    assert sc.verify("q", Attempt("t", "x", confidence=0.9), []).accept
    assert not sc.verify("q", Attempt("t", '{"confidence": 0.5}'), []).accept
    v = sc.verify("q", Attempt("t", "no confidence here"), [])
    assert not v.accept and "no structured confidence" in v.reason
    lp = LogprobVerifier(threshold=0.8)
    assert lp.verify("q", Attempt("t", "x", logprobs=(-0.01, -0.02)), []).accept
    assert not lp.verify("q", Attempt("t", "x", logprobs=(-2.0,)), []).accept
    assert "no log-probabilities" in lp.verify("q", Attempt("t", "x"), []).reason


def test_agreement_and_judge_verifiers_charge_their_own_calls() -> None:
    ag = AgreementVerifier()
    assert not ag.verify("q", Attempt("cheap", "A"), []).accept  # nothing to compare with yet
    assert ag.verify("q", Attempt("mid", "A"), [Attempt("cheap", "A\n")]).accept
    assert not ag.verify("q", Attempt("mid", "B"), [Attempt("cheap", "A")]).accept
    second = AgreementVerifier(second_opinion=lambda q: Attempt("cheap", "A", cost_usd=0.002))
    v = second.verify("q", Attempt("cheap", "A"), [])
    assert v.accept and v.cost_usd == 0.002
    prompts: list[str] = []

    def judge(prompt: str) -> Attempt:
        prompts.append(prompt)
        return Attempt("cheap", '{"confidence": 0.4}', cost_usd=0.003, prompt_tokens=10, completion_tokens=5)

    jv = JudgeVerifier(judge, threshold=0.5).verify("What is 2+2?", Attempt("mid", "5"), [])
    assert not jv.accept and jv.score == 0.4 and jv.cost_usd == 0.003 and jv.prompt_tokens == 10
    assert "What is 2+2?" in prompts[0] and "5" in prompts[0]
    garbled = JudgeVerifier(lambda p: Attempt("cheap", "sure!")).verify("q", Attempt("mid", "x"), [])
    assert not garbled.accept and "no confidence" in garbled.reason


def test_learned_verifier_scores_features_and_round_trips() -> None:
    lv = LearnedVerifier({1: {"bias": -1.0, "agreement": 4.0}}, {1: 0.5})
    agree = lv.verify("q", Attempt("mid", "A"), [Attempt("cheap", "A")])
    disagree = lv.verify("q", Attempt("mid", "B"), [Attempt("cheap", "A")])
    assert agree.accept and not disagree.accept and agree.score is not None and agree.score > 0.9
    assert "not trained for step 0" in lv.verify("q", Attempt("cheap", "A"), []).reason
    again = LearnedVerifier.from_json(lv.to_json())
    assert again.weights == lv.weights and again.thresholds == {1: 0.5}
    f = cascade_features("Q?\n\nWhich one?", Attempt("mid", "B"), [Attempt("cheap", "A")], words=16)
    assert f["agreement"] == 0.0 and f["answer_has_choice"] == 1.0 and any(k.startswith("q") for k in f)
