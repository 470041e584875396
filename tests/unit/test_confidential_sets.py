"""The confidential and public look-alike sets (issue 22), as parametrised tests.

``tests/data/privacy/confidential.jsonl`` holds requests that carry health data, identity
documents, tax ids, encoded PII or spelled-out numbers, in every field the classifier scans
(user text and parts, system, assistant, tool results, tool-call and function-call
arguments, tool definitions, message names, image URL queries) and several languages: none
may be inferred as anything but confidential. ``public.jsonl`` holds look-alikes (medical
questions, order and tracking numbers, ISBNs, timestamps, hex literals, hashes, UUIDs,
base64 images): at most 2% may be marked confidential. ``benchmarks/privacy.py`` prints
both rates.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from routed_llm.classify import classify_messages
from routed_llm.classify.heuristic import tool_texts
from routed_llm.types import Sensitivity

DATA = Path(__file__).resolve().parents[1] / "data" / "privacy"


def load(name: str) -> list[dict[str, Any]]:
    with (DATA / f"{name}.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


CONFIDENTIAL = load("confidential")
PUBLIC = load("public")
MAX_PUBLIC_FLAGGED = 0.02


def sensitivity(case: dict[str, Any]) -> tuple[Sensitivity, str]:
    result = classify_messages(case["messages"], extra_texts=tool_texts(case.get("tools")))
    return result.sensitivity, result.signals[2]


def test_sets_are_big_and_cover_every_field_and_category() -> None:
    assert len(CONFIDENTIAL) >= 150 and len(PUBLIC) >= 150
    fields = {c["field"] for c in CONFIDENTIAL}
    assert fields >= {
        "user",
        "user_parts",
        "system",
        "assistant",
        "tool_result",
        "tool_args",
        "function_call",
        "tool_def",
        "name",
        "image_url",
    }
    categories = {c["category"] for c in CONFIDENTIAL}
    assert categories >= {"health", "passport", "driving_licence", "national_id", "tax_id", "encoded", "spelled"}
    assert len({c["lang"] for c in CONFIDENTIAL}) >= 6
    assert {c["category"] for c in PUBLIC} >= {"medical", "order", "isbn", "timestamp", "code", "image", "uuid"}


@pytest.mark.parametrize("case", CONFIDENTIAL, ids=[c["id"] for c in CONFIDENTIAL])
def test_confidential_case_is_confidential(case: dict[str, Any]) -> None:
    level, signal = sensitivity(case)
    assert level is Sensitivity.CONFIDENTIAL, signal


_VALUE_RE = re.compile(r"[A-Za-z0-9<%+/=_-]*[0-9][A-Za-z0-9<%+/=_-]*")


@pytest.mark.parametrize("case", CONFIDENTIAL, ids=[c["id"] for c in CONFIDENTIAL])
def test_reason_names_the_category_never_the_value(case: dict[str, Any]) -> None:
    result = classify_messages(case["messages"], extra_texts=tool_texts(case.get("tools")))
    signal = result.signals[2]
    assert signal.startswith("sensitivity=confidential: ")
    # No number, not even part of one (the only digits allowed are those of the word "base64").
    assert not any(ch.isdigit() for ch in signal.replace("base64", "")), signal
    rendered = repr(result)
    payload = json.dumps(case, ensure_ascii=False)
    for value in _VALUE_RE.findall(payload):
        if len(value) >= 6 and sum(ch.isdigit() for ch in value) >= 4:
            assert value not in rendered


@pytest.mark.parametrize("case", PUBLIC, ids=[c["id"] for c in PUBLIC])
def test_public_case_is_not_confidential(case: dict[str, Any]) -> None:
    # The few known false positives are listed by id, so the rate below stays honest: one
    # that stops being flagged must leave the list.
    level, signal = sensitivity(case)
    expected_confidential = case["id"] in KNOWN_PUBLIC_FALSE_POSITIVES
    assert (level is Sensitivity.CONFIDENTIAL) is expected_confidential, signal


KNOWN_PUBLIC_FALSE_POSITIVES = frozenset({"p153"})  # "I have a stroke width of 2px" reads as a stroke


def test_public_false_positive_rate_is_at_most_two_percent() -> None:
    flagged = [c["id"] for c in PUBLIC if sensitivity(c)[0] is Sensitivity.CONFIDENTIAL]
    assert len(flagged) / len(PUBLIC) <= MAX_PUBLIC_FLAGGED, flagged
    assert set(flagged) == KNOWN_PUBLIC_FALSE_POSITIVES
