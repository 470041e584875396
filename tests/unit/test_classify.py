"""Tests for the heuristic classifier: task, complexity, sensitivity and messages."""

from __future__ import annotations

import re
import statistics
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import routed_llm.classify as classify_pkg
from routed_llm.classify import Classification, classify, classify_messages
from routed_llm.classify.heuristic import (
    COMPLEXITY_CUES,
    CONFIDENTIAL_MARKERS,
    INTERNAL_MARKERS,
    TASK_CUES,
    TASK_PRIORITY,
)
from routed_llm.types import Complexity, Sensitivity, Task

PARAGRAPH = (
    "The city council met on Tuesday to discuss the proposed budget for next year. "
    "Members debated funding for parks, road repairs and the public library, and several "
    "residents spoke during the open comment period about bus routes and school crossings. "
)


def test_public_api() -> None:
    assert sorted(classify_pkg.__all__) == [
        "Classification",
        "PIIMatch",
        "classify",
        "classify_messages",
        "detect_pii",
    ]


# --------------------------------------------------------------------------- task


@pytest.mark.parametrize(
    ("text", "task"),
    [
        # code
        ("Write a Python function that reverses a string.", Task.CODE),
        ("```python\nprint('hi')\n```\nWhat does this print?", Task.CODE),
        ("Refactor this:\n```js\nconst x = foo(1);\nif (x) {\n  bar();\n}\n```", Task.CODE),
        ("Can you debug my script? It hangs at startup.", Task.CODE),
        ("Implement a binary search in Rust.", Task.CODE),
        (
            'Traceback (most recent call last):\n  File "main.py", line 3, in <module>\n'
            "    foo()\nNameError: name 'foo' is not defined",
            Task.CODE,
        ),
        ("def add(a, b):\n    return a + b\n\nadd(1, 2)\nwhat's wrong?", Task.CODE),
        # classification
        ("Classify this ticket as billing, technical or other.", Task.CLASSIFICATION),
        ("What is the sentiment of this review: 'great phone'?", Task.CLASSIFICATION),
        ("Is this email spam? Answer yes or no.", Task.CLASSIFICATION),
        ("Which category does this product belong to: shoes or bags?", Task.CLASSIFICATION),
        ("Detect the intent: 'I want to cancel my order'", Task.CLASSIFICATION),
        ("Categorise these headlines by topic.", Task.CLASSIFICATION),
        # extraction
        ("Extract every date mentioned in the contract.", Task.EXTRACTION),
        ("Pull out the names and companies from this paragraph.", Task.EXTRACTION),
        ("List all the ingredients from the recipe below.", Task.EXTRACTION),
        ("Parse this invoice into JSON with vendor, total and date.", Task.EXTRACTION),
        ("Fill the fields of the form from this letter.", Task.EXTRACTION),
        # summarization
        ("Summarize this article:\n\n" + PARAGRAPH * 3, Task.SUMMARIZATION),
        ("Please summarise the meeting notes.", Task.SUMMARIZATION),
        ("tl;dr: " + PARAGRAPH, Task.SUMMARIZATION),
        ("What are the key points of this memo?\n\n" + PARAGRAPH, Task.SUMMARIZATION),
        ("Condense this into two sentences: " + PARAGRAPH, Task.SUMMARIZATION),
        (PARAGRAPH * 4 + "\n\nSummarize the above.", Task.SUMMARIZATION),
        # reasoning
        ("Why did the Roman Empire fall?", Task.REASONING),
        ("Prove that the square root of 2 is irrational.", Task.REASONING),
        ("Think step by step: how many weekdays are there in March 2025?", Task.REASONING),
        ("Compare PostgreSQL and MySQL for a small web app.", Task.REASONING),
        ("Analyse the trade-offs between microservices and a monolith.", Task.REASONING),
        ("Plan a three-day trip to Rome.", Task.REASONING),
        ("Derive the formula for the area of a circle.", Task.REASONING),
        # chat
        ("What is the capital of France?", Task.CHAT),
        ("Hi! How are you today?", Task.CHAT),
        ("Tell me a joke about penguins.", Task.CHAT),
        ("Write a haiku about autumn.", Task.CHAT),
        ("", Task.CHAT),
    ],
)
def test_task(text: str, task: Task) -> None:
    result = classify(text)
    assert result.task is task, result.signals


def test_instruction_beats_content() -> None:
    # The instruction at the start outweighs the code it talks about...
    assert classify("Summarise this function: ```def f(x): return x```").task is Task.SUMMARIZATION
    # ...but real code plus a code instruction is code.
    text = "Fix this bug:\n```python\ndef f(x):\n    return x + '1'\n```"
    assert classify(text).task is Task.CODE


def test_tie_is_broken_by_priority_and_reported() -> None:
    result = classify("Summarize and classify this.")
    assert result.task is Task.CLASSIFICATION  # classification comes before summarization
    signal = result.signals[0]
    assert signal.startswith("task=classification:")
    assert "tied with summarization" in signal and "priority" in signal
    assert TASK_PRIORITY.index(Task.CLASSIFICATION) < TASK_PRIORITY.index(Task.SUMMARIZATION)


def test_task_signal_names_the_cues() -> None:
    result = classify("```python\nimport os\nprint(os.getcwd())\n```\nWrite a function like this")
    assert result.signals[0].startswith("task=code: code fence")
    assert "write code" in result.signals[0]
    assert classify("Good morning!").signals[0] == "task=chat: no task cues"


def test_cue_tables_are_data() -> None:
    assert set(TASK_CUES) == set(TASK_PRIORITY) - {Task.CHAT}
    for cues in (*TASK_CUES.values(), COMPLEXITY_CUES, CONFIDENTIAL_MARKERS, INTERNAL_MARKERS):
        for cue in cues:
            assert cue.label and cue.weight > 0
            assert re.compile(cue.pattern).groups == 0
            assert cue.pattern == cue.pattern.lower()


# --------------------------------------------------------------------------- complexity


@pytest.mark.parametrize(
    "text",
    [
        "What is the capital of France?",
        "Who wrote Pride and Prejudice?",
        "Translate 'good night' into German.",
        "Write a Python function that reverses a string.",
        "Classify the sentiment of: 'I love it'.",
    ],
)
def test_simple(text: str) -> None:
    assert classify(text).complexity is Complexity.SIMPLE


@pytest.mark.parametrize(
    "text",
    [
        "Summarize this article in three bullet points:\n\n" + PARAGRAPH * 4,
        "Explain step by step how a bill becomes law.",
        "Prove that there are infinitely many primes.",
        "Requirements:\n1. Support OAuth\n2. Rate limit per user\n3. Audit log\n"
        "4. Multi-tenant\n5. Export CSV\n6. SSO\nWrite a plan for the backend.",
    ],
)
def test_medium(text: str) -> None:
    assert classify(text).complexity is Complexity.MEDIUM


@pytest.mark.parametrize(
    "text",
    [
        "Design a distributed rate limiter for a multi-region API gateway. Discuss trade-offs, "
        "failure modes and prove that it never admits more than N requests per window.",
        "Design a lock-free concurrent queue in C++ and analyze its memory ordering, edge cases and performance.",
        "Propose an architecture for our payments platform. Consider security, scalability, "
        "edge cases and a multi-step migration plan, with trade-offs for each option.",
        "Summarize this report:\n\n" + PARAGRAPH * 400,  # ~25k tokens
    ],
)
def test_complex(text: str) -> None:
    assert classify(text).complexity is Complexity.COMPLEX


def test_complexity_grows_with_conversation_tools_and_code() -> None:
    text = "Please help me with this, thanks."
    assert classify(text).complexity is Complexity.SIMPLE
    assert classify(text, n_messages=20, has_tools=True).complexity is Complexity.MEDIUM
    code = "Why?\n```py\nx = 1\n```\n```py\ny = 2\n```\nAnd? Really? Sure?"
    result = classify(code)
    assert result.complexity is Complexity.MEDIUM
    assert "2 code blocks" in result.signals[1] and "questions" in result.signals[1]


def test_complexity_signal_counts_cues() -> None:
    result = classify("Design a distributed rate limiter. Discuss trade-offs, failure modes and prove it.")
    signal = result.signals[1]
    assert signal.startswith("complexity=complex: score ")
    assert "reasoning cues" in signal and "trade-offs" in signal


# --------------------------------------------------------------------------- sensitivity


@pytest.mark.parametrize(
    ("text", "sensitivity"),
    [
        ("What is the capital of France?", Sensitivity.PUBLIC),
        ("Run the container in privileged mode.", Sensitivity.PUBLIC),
        ("Explain the CIA triad: confidentiality, integrity, availability.", Sensitivity.PUBLIC),
        ("Fix the internal combustion engine noise.", Sensitivity.PUBLIC),
        ("Internal only: draft the Q3 roadmap announcement.", Sensitivity.INTERNAL),
        ("For internal use. Summarize the launch plan.", Sensitivity.INTERNAL),
        ("Do not share: the draft pricing sheet.", Sensitivity.INTERNAL),
        ("This describes our proprietary ranking algorithm.", Sensitivity.INTERNAL),
        ("We are under NDA with the vendor.", Sensitivity.INTERNAL),
        ("STRICTLY CONFIDENTIAL - board minutes", Sensitivity.CONFIDENTIAL),
        ("Confidential: salary bands for 2025", Sensitivity.CONFIDENTIAL),
        ("Privileged and confidential attorney-client communication", Sensitivity.CONFIDENTIAL),
        ("Internal only, but also confidential.", Sensitivity.CONFIDENTIAL),
        ("Email me at jane.doe@example.com", Sensitivity.CONFIDENTIAL),
        ("My card is 4111 1111 1111 1111", Sensitivity.CONFIDENTIAL),
    ],
)
def test_sensitivity(text: str, sensitivity: Sensitivity) -> None:
    assert classify(text).sensitivity is sensitivity


def test_pii_kinds_sorted_unique_and_signalled() -> None:
    result = classify("a@example.com b@example.com 4111 1111 1111 1111 AKIAIOSFODNN7EXAMPLE")
    assert result.pii == ("api_key", "credit_card", "email")
    assert result.sensitivity is Sensitivity.CONFIDENTIAL
    assert result.signals[2] == "sensitivity=confidential: api_key, credit_card, email"
    assert classify("Internal only.").signals[2] == "sensitivity=internal: marker 'internal only'"
    assert classify("hello").signals[2] == "sensitivity=public: no PII or markers"


def test_classification_is_frozen_and_safe_to_log() -> None:
    key = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe"
    card = "4111 1111 1111 1111"
    result = classify(f"Use {key} and charge {card}")
    assert isinstance(result, Classification)
    for rendered in (repr(result), str(result), " ".join(result.signals)):
        assert key not in rendered and key[8:] not in rendered
        assert card not in rendered and card.replace(" ", "") not in rendered
    with pytest.raises(AttributeError):
        result.task = Task.CHAT  # type: ignore[misc]


# --------------------------------------------------------------------------- messages


def test_messages_task_from_last_user_message() -> None:
    messages = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Write a Python function to parse dates."},
        {"role": "assistant", "content": "def parse(s): ..."},
        {"role": "user", "content": "Thanks! Now summarize what it does in one sentence."},
    ]
    result = classify_messages(messages)
    assert result.task is Task.SUMMARIZATION
    assert result.sensitivity is Sensitivity.PUBLIC


def test_messages_content_parts_and_images() -> None:
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR4111"}},
                {"type": "text", "text": "Classify the sentiment of this caption."},
            ],
        }
    ]
    result = classify_messages(messages)
    assert result.task is Task.CLASSIFICATION
    assert result.pii == ()


@pytest.mark.parametrize("role", ["system", "assistant", "tool", "user"])
def test_messages_pii_in_any_role(role: str) -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi"},
        {"role": "tool", "tool_call_id": "1", "content": "ok"},
        {"role": "user", "content": "What is 2 + 2?"},
    ]
    target = next(m for m in messages if m["role"] == role)
    target["content"] = [{"type": "text", "text": "card 4111 1111 1111 1111"}]
    result = classify_messages(messages)
    assert result.sensitivity is Sensitivity.CONFIDENTIAL
    assert result.pii == ("credit_card",)


def test_messages_pii_in_tool_call_arguments() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "Book it"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "book", "arguments": '{"email": "jo@example.org"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "booked"},
    ]
    result = classify_messages(messages)
    assert result.pii == ("email",)
    assert "tools" in result.signals[1]


def test_messages_markers_in_system_prompt() -> None:
    messages = [
        {"role": "system", "content": "Internal use only. You answer HR questions."},
        {"role": "user", "content": "How many vacation days do I get?"},
    ]
    assert classify_messages(messages).sensitivity is Sensitivity.INTERNAL


def test_messages_system_prompt_task_fallback() -> None:
    messages = [
        {"role": "system", "content": "You are a sentiment classifier. Reply with one label."},
        {"role": "user", "content": "I loved this movie."},
    ]
    result = classify_messages(messages)
    assert result.task is Task.CLASSIFICATION
    assert result.signals[0].endswith("from the system prompt")


def test_messages_size_and_length_raise_complexity() -> None:
    turns: list[dict[str, Any]] = []
    for i in range(10):
        turns.append({"role": "user", "content": PARAGRAPH * 3})
        turns.append({"role": "assistant", "content": PARAGRAPH * 3})
    turns.append({"role": "user", "content": "And what about the library?"})
    result = classify_messages(turns)
    assert result.complexity is Complexity.COMPLEX
    assert "21 messages" in result.signals[1]
    assert classify_messages([turns[-1]]).complexity is Complexity.SIMPLE


def test_messages_degenerate_inputs() -> None:
    assert classify_messages([]).task is Task.CHAT
    odd: list[Any] = [
        "not a dict",
        {"role": "user"},
        {"role": "user", "content": None},
        {"role": "user", "content": [{"type": "text", "text": None}, "plain string part"]},
    ]
    result = classify_messages(odd)
    assert result.task is Task.CHAT and result.sensitivity is Sensitivity.PUBLIC
    only_assistant = [{"role": "assistant", "content": "Summarize: " + PARAGRAPH}]
    assert classify_messages(only_assistant).task is Task.SUMMARIZATION


# --------------------------------------------------------------------------- robustness and speed


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=3000), st.booleans(), st.integers(min_value=0, max_value=50))
def test_classify_never_raises(text: str, has_tools: bool, n_messages: int) -> None:
    result = classify(text, has_tools=has_tools, n_messages=n_messages)
    assert isinstance(result.task, Task)
    assert isinstance(result.complexity, Complexity)
    assert isinstance(result.sensitivity, Sensitivity)
    assert list(result.pii) == sorted(set(result.pii))
    assert len(result.signals) == 3
    assert (result.sensitivity is Sensitivity.CONFIDENTIAL) or not result.pii


_ROLES = st.sampled_from(["system", "user", "assistant", "tool", "developer"])
_CONTENT = st.one_of(
    st.none(),
    st.text(max_size=200),
    st.lists(
        st.one_of(
            st.text(max_size=50),
            st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=100)}),
            st.fixed_dictionaries({"type": st.just("image_url"), "image_url": st.just({})}),
        ),
        max_size=3,
    ),
)


@settings(max_examples=100)
@given(st.lists(st.fixed_dictionaries({"role": _ROLES, "content": _CONTENT}), max_size=6))
def test_classify_messages_never_raises(messages: list[dict[str, Any]]) -> None:
    result = classify_messages(messages)
    assert isinstance(result, Classification)


def test_speed_sanity() -> None:
    """A loose guard against accidental quadratic behaviour; the real numbers come from
    ``python -m routed_llm.bench.classify_speed``."""
    text = ("Please summarize the key points and compare the options. " + PARAGRAPH) * 6
    text = text[:2000] + " Contact jane@example.com or +44 20 7946 0958."
    classify(text)
    samples = []
    for _ in range(200):
        t0 = time.perf_counter()
        classify(text)
        samples.append(time.perf_counter() - t0)
    assert statistics.median(samples) < 0.005


# --------------------------------------------------------------------------- issue 22: the four that leaked


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Patient MRN 004512, diagnosis: type 2 diabetes, prescribe metformin?", "health"),
        ("My passport number is 533380006, expiring 2031.", "passport"),
        ("Decode this: amFuZS5kb2VAZXhhbXBsZS5jb20g", "email in base64"),
        ("Charge four one one one, one one one one, one one one one, one one one one.", "credit_card in words"),
    ],
)
def test_issue_22_requests_are_confidential_and_the_reason_names_the_category(text: str, label: str) -> None:
    for result in (classify(text), classify_messages([{"role": "user", "content": text}])):
        assert result.sensitivity is Sensitivity.CONFIDENTIAL
        assert result.signals[2] == f"sensitivity=confidential: {label}"


def test_a_bare_medical_question_stays_public() -> None:
    assert classify("What is metformin for?").sensitivity is Sensitivity.PUBLIC
    assert classify_messages([{"role": "user", "content": "What is metformin for?"}]).sensitivity is Sensitivity.PUBLIC


def _flat_scanner(index: Any) -> re.Pattern[str]:
    """The scanner as it was before the trie: every bucket's alternatives in one flat alternation."""
    from routed_llm.classify.cueindex import _split_top_level

    alternatives: list[str] = []
    for key in [*sorted(k for k in index.resolvers if k), ""]:
        if key in index.resolvers:
            alternatives += [a[1:-1] for a in _split_top_level(index.resolvers[key][0].pattern)]
    return re.compile(r"(?<![a-z0-9_])(?:" + "|".join(alternatives) + ")")


_CUE_WORDS = st.sampled_from(
    "my passport number is i was diagnosed with type 2 diabetes mrn patient: dob metformin 500 mg one two four "
    "summarize the following classify sentiment step by step trade-offs ssn sin bsn aadhaar steuer-id nhs "
    "insulin x-ray blood pressure high blood pressure medicare member id internal only confidential".split()
)


_FLAT: list[re.Pattern[str]] = []


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_CUE_WORDS, st.text(alphabet="abcdeimnoprst 0123456789.,:-'", max_size=8)), max_size=40))
def test_trie_scanner_finds_what_the_flat_alternation_finds(words: list[str]) -> None:
    from routed_llm.classify.heuristic import _INDEX

    text = " ".join(words)
    if not _FLAT:
        _FLAT.append(_flat_scanner(_INDEX))  # compiled once: it is a large pattern
    flat = _FLAT[0]
    assert [m.start() for m in _INDEX.scanner.finditer(text)] == [m.start() for m in flat.finditer(text)]
