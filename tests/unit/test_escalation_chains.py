"""Pure parts of the chain engines: context signals, answer parsing, the verifier of retrieval-first."""

from types import SimpleNamespace

import pytest

from routed_llm.chains import INSUFFICIENT, ChainOutput, ContextVerifier, Passage, _attempt, _logprobs, context_signals
from routed_llm.escalation import Attempt, CascadeRun, EscalationError, Verdict


def test_context_signals() -> None:
    q = "What is the capital city of Australia?"
    good = [Passage("Canberra is the capital city of Australia.", score=0.8)]
    assert context_signals(q, good)[0] is True
    assert context_signals(q, []) == (False, "the retriever returned no passages")
    ok, why = context_signals(q, good, min_score=0.9)
    assert not ok and "0.80 < 0.9" in why
    ok, why = context_signals(q, [Passage("Penguins live in the south.")])
    assert not ok and "coverage 0.00" in why
    assert context_signals(q, [Passage("Canberra is the capital city of Australia.")], min_score=0.9)[0]  # no scores


def test_context_verifier() -> None:
    v = ContextVerifier()
    assert v.verify("q", Attempt("local", "Canberra [1]."), []).accept
    assert not v.verify("q", Attempt("local", INSUFFICIENT), []).accept
    assert not v.verify("q", Attempt("local", "  "), []).accept


def test_attempt_strips_the_confidence_line_and_reads_logprobs() -> None:
    info = SimpleNamespace(model="m", cost_usd=0.5, prompt_tokens=3, completion_tokens=4, tier="mid")
    a = _attempt("mid", "Canberra.\nConfidence: 0.85", info, None, True)
    assert a.text == "Canberra." and a.confidence == 0.85 and a.cost_usd == 0.5 and a.metadata["served_tier"] == "mid"
    assert _attempt("mid", "Canberra.\nConfidence: 0.85", info, None, False).confidence is None
    resp = SimpleNamespace(
        choices=[SimpleNamespace(logprobs=SimpleNamespace(content=[{"logprob": -0.1}, SimpleNamespace(logprob=-0.2)]))]
    )
    assert _logprobs(resp) == (-0.1, -0.2)
    assert _logprobs(SimpleNamespace(choices=[SimpleNamespace(logprobs=None)])) is None


def test_chain_output_totals() -> None:
    trail = [{"cost_usd": 0.1, "prompt_tokens": 2, "completion_tokens": 1}, {"cost_usd": None}]
    out = ChainOutput("a", "t", "accepted", trail)
    assert out.cost_usd == pytest.approx(0.1) and out.prompt_tokens == 2 and out.as_dict()["completion_tokens"] == 1


def test_cascade_run_guards_and_streaming_certainty() -> None:
    class Never:
        name = "never"

        def verify(self, question: str, attempt: Attempt, history: object) -> Verdict:
            return Verdict(False, 0.1, "no")

    run = CascadeRun("q", ["a", "b", "c"], Never(), allowed=lambda t: "forbidden" if t == "c" else None)
    with pytest.raises(EscalationError, match="no tier has answered"):
        run.result()
    assert run.next_tier() == "a" and not run.is_final_tier
    run.record(Attempt("a", "x"))
    assert run.next_tier() == "b" and run.is_final_tier and not run.returns_next  # "c" was skipped: may be blocked
    run.record(Attempt("b", "y"))
    assert run.next_tier() is None and run.result().outcome == "blocked"
    with pytest.raises(EscalationError, match="already finished"):
        run.record(Attempt("b", "z"))
    open_run = CascadeRun("q", ["a", "b"], Never())
    open_run.record(Attempt("a", "x"))
    assert open_run.returns_next
