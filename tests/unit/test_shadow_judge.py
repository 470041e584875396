"""The shadow judges' pure parts: ``exact`` comparison, the LLM judge's verdict parser, the shipped rubric."""

import pytest

from routed_llm.shadow import exact_verdict, judge_messages, judge_rubric, parse_verdict


@pytest.mark.parametrize(
    ("served", "shadow", "quality"),
    [
        ("Positive", "positive.", 1.0),
        ("  the   Answer\n", "the answer", 1.0),
        ('{"a": 1, "b": [1, 2]}', '```json\n{"b": [1, 2], "a": 1}\n```', 1.0),  # parsed JSON, keys in any order
        ('{"a": 1}', '{"a": 2}', 0.0),
        ("negative", "positive", 0.0),
        ("1", "1.0", 1.0),  # both parse as JSON numbers
        ("yes", '"yes"', 1.0),  # only one parses as JSON: compared as text, surrounding quotes dropped
        ("yes", "no", 0.0),
    ],
)
def test_exact_judge(served: str, shadow: str, quality: float) -> None:
    assert exact_verdict(served, shadow).quality == quality


@pytest.mark.parametrize(
    ("reply", "quality", "reason"),
    [
        ('{"as_good": true, "reason": "same label"}', 1.0, "same label"),
        ('```json\n{"as_good": false, "reason": "wrong sum"}\n```', 0.0, "wrong sum"),
        ('Verdict: {"as_good": false}', 0.0, ""),
    ],
)
def test_verdicts_are_read(reply: str, quality: float, reason: str) -> None:
    verdict = parse_verdict(reply)
    assert (verdict.quality, verdict.reason) == (quality, reason)


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ("", "answered nothing"),
        ("yes, A is fine", "no JSON object"),
        ('{"as_good": "yes"}', "no boolean 'as_good'"),
        ('{"as_good": tru}', "does not parse"),
    ],
)
def test_garbage_verdicts_say_why(reply: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_verdict(reply)


def test_the_rubric_ships_in_the_package_and_leads_the_judge_call() -> None:
    rubric = judge_rubric()
    assert '"as_good"' in rubric and "Correctness first" in rubric
    system, user = judge_messages([{"role": "user", "content": "2+2?"}], "4", "four")
    assert system == {"role": "system", "content": rubric}
    assert "REQUEST:\nuser: 2+2?" in user["content"] and "ANSWER A (served):\n4" in user["content"]
