"""Heuristic prompt classifier: task, complexity and sensitivity in well under a millisecond.

The router calls `classify_messages` on every request whose hints omit task,
complexity or sensitivity, so this module uses no model, no I/O and no
per-call allocation beyond a handful of small objects. The cue tables are plain
data in `routed_llm.classify.cues`, compiled here once at import into a single
regular expression.

Task
    Each `Task` in `TASK_CUES` has a table of `Cue` entries (regex fragments
    matched on the lower-cased text at a word start). A task's score is the sum of the weights
    of its *distinct* cues; a cue found in the first or last
    ``INSTRUCTION_WINDOW`` characters, where the instruction usually sits,
    scores one extra point. Code is also recognised structurally: a code fence
    adds 2, code-looking lines (``def f(``, ``import x``, ``#include <``,
    ``SELECT ... FROM``, ``}`` ...) add 1 (one or two lines) or 2 (three or
    more). The highest score wins; ties are broken by the fixed
    `TASK_PRIORITY` (code, classification, extraction, summarization,
    reasoning) and the signal says so. No cue at all means `Task.CHAT`.
    `Task.EMBEDDING` is never inferred: embedding calls are not chat prompts.

Complexity
    A point score, mapped to a level by `COMPLEXITY_LEVELS`::

        size      ~tokens (chars / 4): <60 -> 0, <250 -> 1, <1500 -> 2,
                  <6000 -> 3, <24000 -> 4, else 5
        cues      sum of the weights of the distinct `COMPLEXITY_CUES`
                  ("prove", "trade-offs", "edge cases", "concurrency" ...), at most 6
        lists     3+ numbered or bulleted requirement lines -> 1, 6+ -> 2
        code      1 per fenced code block, at most 2
        questions 3+ question marks -> 1
        dialogue  6+ messages -> 1, 16+ -> 2
        tools     tool definitions present -> 1

    A total of 0-1 is SIMPLE, 2-4 MEDIUM and 5 or more COMPLEX. So "What is
    the capital of France?" scores 0, a few paragraphs to summarise score 2
    by size alone, and "Design a distributed rate limiter ... discuss
    trade-offs, failure modes and prove ..." scores 6 or more on cues alone.

Sensitivity
    Detected PII or secrets (`detect_pii`: contact details, payment data, identity
    documents, tax ids, health data, also inside base64 / hex / percent-encoding or
    spelled as words) make a call CONFIDENTIAL; the signal names the kinds found
    ("health", "passport", "email in base64"), never a value. The words the record
    detectors need (`routed_llm.classify.records.RECORD_CUES`) are part of the one
    cue scan, so a text is scanned for words once. The explicit
    `CONFIDENTIAL_MARKERS` ("confidential", "strictly confidential",
    "privileged and confidential", "attorney-client", "trade secret", "top
    secret") make a call CONFIDENTIAL too. The `INTERNAL_MARKERS` ("internal only", "for
    internal use", "do not share/distribute", "proprietary", "NDA",
    "restricted distribution") make it INTERNAL. Anything else is PUBLIC.
    Bare "privileged" is *not* a marker: it is common in technical text
    ("privileged mode", "privilege escalation"); neither is "confidentiality".
    Markers err on the safe side: "how do I mark a file confidential?" is
    CONFIDENTIAL, which only narrows the choice to private tiers.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote_plus, urlsplit

from routed_llm.classify.cueindex import CueIndex
from routed_llm.classify.cues import (
    COMPLEXITY_CUES,
    COMPLEXITY_LEVELS,
    CONFIDENTIAL_MARKERS,
    INSTRUCTION_WINDOW,
    INTERNAL_MARKERS,
    TASK_CUES,
    TASK_PRIORITY,
    Cue,
)
from routed_llm.classify.pii import detect_pii, detect_respelled
from routed_llm.classify.records import RECORD_CUES, Lexicon
from routed_llm.types import Complexity, Sensitivity, Task

__all__ = [
    "COMPLEXITY_CUES",
    "COMPLEXITY_LEVELS",
    "CONFIDENTIAL_MARKERS",
    "INSTRUCTION_WINDOW",
    "INTERNAL_MARKERS",
    "TASK_CUES",
    "TASK_PRIORITY",
    "Classification",
    "Cue",
    "classify",
    "classify_messages",
    "content_texts",
    "tool_texts",
]


# --------------------------------------------------------------------------- scoring constants

_SIZE_POINTS: Final[tuple[tuple[int, int], ...]] = (
    (24000, 5), (6000, 4), (1500, 3), (250, 2), (60, 1),
)  # fmt: skip
_MAX_CUE_POINTS: Final = 6
_CODE_FENCE_POINTS: Final = 2

# --------------------------------------------------------------------------- compiled form

_KIND_TASK: Final = 0
_KIND_COMPLEXITY: Final = 1
_KIND_CONFIDENTIAL: Final = 2
_KIND_INTERNAL: Final = 3
_KIND_RECORD: Final = 4  # context words, clinical terms and digit words for the PII detectors


_INDEX: Final = CueIndex(
    [
        *((_KIND_TASK, task, cues) for task, cues in TASK_CUES.items()),
        (_KIND_COMPLEXITY, None, COMPLEXITY_CUES),
        (_KIND_CONFIDENTIAL, None, CONFIDENTIAL_MARKERS),
        (_KIND_INTERNAL, None, INTERNAL_MARKERS),
        (_KIND_RECORD, None, RECORD_CUES),
    ]
)
_MARKER_INDEX: Final = CueIndex(
    [
        (_KIND_CONFIDENTIAL, None, CONFIDENTIAL_MARKERS),
        (_KIND_INTERNAL, None, INTERNAL_MARKERS),
        (_KIND_RECORD, None, RECORD_CUES),
    ]
)

# Code-looking lines, matched after a newline (the text is scanned as "\n" + text).
_CODE_LINE_RE: Final = re.compile(
    r"\n[ \t]*(?:"
    r"(?:async )?def \w+ ?\(|class \w+ ?[(:{]|import [\w.]+|from [\w.]+ import "
    r"|#include ?[<\"]|(?:export )?(?:function|const|let|var) \w+ ?[=(]"
    r"|(?:public|private|protected|static) [\w<>\[\], ]+ \w+ ?\("
    r"|(?:SELECT|INSERT INTO|UPDATE|DELETE FROM|CREATE TABLE) "
    r"|(?:fn|func|impl|package|namespace|using) [\w:.]+"
    r"|return\b|(?:if|for|while|switch) ?\(|\}|\w+(?:\.\w+)* ?[+-]?= ?\S.*[;)\]}]$"
    r"|at [\w.$<>]+\(|File \"[^\"\n]+\", line [0-9]+"
    r"|[\w.]+\([^()\n]*\);?$"
    r")",
    re.MULTILINE,
)
_LIST_ITEM_RE: Final = re.compile(r"\n[ \t]*(?:[0-9]{1,2}[.)]|[-*•]|\([a-z0-9]\)) ")


# --------------------------------------------------------------------------- result


@dataclass(frozen=True, slots=True)
class Classification:
    """What the heuristic classifier inferred about a prompt, and why.

    Nothing in it quotes the prompt: ``pii`` holds kinds and ``signals`` holds
    cue labels and counts, so it is safe to log.
    """

    task: Task
    complexity: Complexity
    sensitivity: Sensitivity
    pii: tuple[str, ...] = ()
    """Kinds of PII found (see `routed_llm.classify.pii.PII_KINDS`), sorted, unique."""
    signals: tuple[str, ...] = ()
    """Short human-readable reasons, one per inferred dimension."""
    complexity_points: int = 0
    """The complexity point total the level was read from (`routed_llm.scoring.HeuristicScorer` scales it)."""


# --------------------------------------------------------------------------- scanning


@dataclass(slots=True)
class _Scan:
    """Cue hits in one text."""

    task_points: dict[Task, int]
    task_labels: dict[Task, list[str]]
    complexity_cues: dict[str, int]
    confidential: list[str]
    internal: list[str]
    records: Lexicon | None
    """Record-detector word hits, ``None`` when lower-casing moved offsets (the detectors then scan)."""
    fences: int = 0
    code_lines: int = 0
    list_items: int = 0
    questions: int = 0


def _scan(text: str, *, index: CueIndex = _INDEX, structure: bool = True) -> _Scan:
    """Collect cue hits (and, with ``structure``, code/list/question counts) in ``text``."""
    lower = text.lower()
    n = len(lower)
    records: Lexicon | None = [] if n == len(text) else None
    scan = _Scan({}, {}, {}, [], [], records)
    seen: set[tuple[object, str]] = set()
    boosted_seen: set[tuple[object, str]] = set()
    for m in index.scanner.finditer(lower):
        pos = m.start()
        for role in index.roles_at(lower, pos):
            cue = role.cue
            if role.kind == _KIND_RECORD:
                if records is not None:
                    records.append((cue.label, pos, m.end()))
                continue
            key = (role.task if role.task is not None else role.kind, cue.label)
            if role.task is not None:
                points = 0
                boosted = pos < INSTRUCTION_WINDOW or m.end() > n - INSTRUCTION_WINDOW
                if key not in seen:
                    points = cue.weight
                    scan.task_labels.setdefault(role.task, []).append(cue.label)
                if boosted and key not in boosted_seen:
                    boosted_seen.add(key)
                    points += 1
                seen.add(key)
                if points:
                    scan.task_points[role.task] = scan.task_points.get(role.task, 0) + points
                continue
            if key in seen:
                continue
            seen.add(key)
            if role.kind == _KIND_COMPLEXITY:
                scan.complexity_cues[cue.label] = cue.weight
            elif role.kind == _KIND_CONFIDENTIAL:
                scan.confidential.append(cue.label)
            else:
                scan.internal.append(cue.label)
    if structure:
        _scan_structure(text, scan)
    return scan


def _scan_structure(text: str, scan: _Scan) -> None:
    """Count code fences, code-like lines, list items and questions; score the code ones."""
    fences = text.count("```")
    scan.fences = (fences + 1) // 2
    if "\n" in text:
        framed = "\n" + text
        scan.code_lines = len(_CODE_LINE_RE.findall(framed))
        scan.list_items = len(_LIST_ITEM_RE.findall(framed))
    scan.questions = text.count("?")
    code_lines_points = 2 if scan.code_lines >= 3 else 1 if scan.code_lines else 0
    points = (_CODE_FENCE_POINTS if scan.fences else 0) + code_lines_points
    if not points:
        return
    scan.task_points[Task.CODE] = scan.task_points.get(Task.CODE, 0) + points
    structural = ["code fence"] if scan.fences else []
    if scan.code_lines:
        structural.append(_plural(scan.code_lines, "code-like line"))
    scan.task_labels[Task.CODE] = structural + scan.task_labels.get(Task.CODE, [])


# --------------------------------------------------------------------------- decisions


def _decide_task(scan: _Scan, source: str = "") -> tuple[Task, str]:
    """Pick the best-scoring task, breaking ties by `TASK_PRIORITY`; return it and a signal."""
    if not scan.task_points:
        return Task.CHAT, "task=chat: no task cues"
    best = max(scan.task_points.values())
    tied = [t for t in TASK_PRIORITY if scan.task_points.get(t) == best]
    task = tied[0]
    signal = f"task={task.value}: {_labels(scan.task_labels[task])} (score {best}"
    if len(tied) > 1:
        others = ", ".join(t.value for t in tied[1:])
        signal += f"; tied with {others}, won by priority"
    signal += ")" + source
    return task, signal


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _labels(labels: Sequence[str], limit: int = 4) -> str:
    shown = ", ".join(labels[:limit])
    return shown + (f", +{len(labels) - limit} more" if len(labels) > limit else "")


def _decide_complexity(
    scan: _Scan, *, size_chars: int, has_tools: bool, n_messages: int
) -> tuple[Complexity, str, int]:
    """Score complexity as documented in the module docstring; return the level, a signal and the points."""
    tokens = size_chars // 4
    size = next((points for limit, points in _SIZE_POINTS if tokens >= limit), 0)
    cues = min(sum(scan.complexity_cues.values()), _MAX_CUE_POINTS)
    lists = 2 if scan.list_items >= 6 else 1 if scan.list_items >= 3 else 0
    code = min(scan.fences, 2)
    questions = 1 if scan.questions >= 3 else 0
    dialogue = 2 if n_messages >= 16 else 1 if n_messages >= 6 else 0
    tools = 1 if has_tools else 0
    score = size + cues + lists + code + questions + dialogue + tools
    level = next(level for minimum, level in COMPLEXITY_LEVELS if score >= minimum)
    parts = [f"~{tokens} tokens"]
    if scan.complexity_cues:
        cue_labels = _labels(list(scan.complexity_cues))
        parts.append(f"{_plural(len(scan.complexity_cues), 'reasoning cue')}: {cue_labels}")
    if lists:
        parts.append(_plural(scan.list_items, "list item"))
    if code:
        parts.append(_plural(scan.fences, "code block"))
    if questions:
        parts.append(_plural(scan.questions, "question"))
    if dialogue:
        parts.append(_plural(n_messages, "message"))
    if tools:
        parts.append("tools")
    return level, f"complexity={level.value}: score {score} ({'; '.join(parts)})", score


def _decide_sensitivity(
    pii: Sequence[str], confidential: Sequence[str], internal: Sequence[str]
) -> tuple[Sensitivity, str]:
    """Apply the sensitivity rules of the module docstring; return the level and a signal.

    ``pii`` holds the labels of what was found (kinds, maybe "in base64"), never values.
    """
    if pii:
        return Sensitivity.CONFIDENTIAL, f"sensitivity=confidential: {', '.join(pii)}"
    if confidential:
        marker = ", ".join(f"'{m}'" for m in dict.fromkeys(confidential))
        return Sensitivity.CONFIDENTIAL, f"sensitivity=confidential: marker {marker}"
    if internal:
        marker = ", ".join(f"'{m}'" for m in dict.fromkeys(internal))
        return Sensitivity.INTERNAL, f"sensitivity=internal: marker {marker}"
    return Sensitivity.PUBLIC, "sensitivity=public: no PII or markers"


#: Invisible characters that split a token without showing (zero-width space/joiners, word joiner, BOM, soft hyphen).
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"))
# Each spelling in its own pattern, so that every pattern starts with something the regex
# engine can skip to (a bare "\s*" first would be tried at every position of the text);
# the bracketed forms only run when a cheap substring test finds their closing bracket.
_SPELLED_AT = re.compile(r"\s+at\s+", re.IGNORECASE)
_SPELLED_DOT = re.compile(r"\s+dot\s+", re.IGNORECASE)
_BRACKETED_AT = re.compile(r"\s*(?:\[at\]|\(at\)|\{at\})\s*", re.IGNORECASE)
_BRACKETED_DOT = re.compile(r"\s*(?:\[dot\]|\(dot\)|\{dot\})\s*", re.IGNORECASE)
_DOTTED_DIGITS = re.compile(r"[.·_/](?<=\d[.·_/])(?=\d)")  # the separator first: a fast scan


def _normalise(text: str) -> str:
    """Undo look-alike tricks before detection: NFKC (full-width ``＠``, ``４``), invisible characters dropped."""
    if text.isascii():
        return text
    return unicodedata.normalize("NFKC", text).translate(_INVISIBLE)


def _deobfuscate(text: str) -> tuple[str, bool, bool]:
    """Spell out simple obfuscations: ``judy at example dot com``, ``4111.1111.1111.1111``.

    Returns:
        The rewritten text, whether an "at" / "dot" spelling was written out, and whether
        dotted digits were.

    """
    lower = text.lower()
    padded = f" {text} "
    text = padded
    if "at]" in lower or "at)" in lower or "at}" in lower:
        text = _BRACKETED_AT.sub("@", text)
    text = _SPELLED_AT.sub("@", text)
    if "dot]" in lower or "dot)" in lower or "dot}" in lower:
        text = _BRACKETED_DOT.sub(".", text)
    if "dot" in lower:
        text = _SPELLED_DOT.sub(".", text)
    addresses = text != padded
    spelled = _DOTTED_DIGITS.sub(" ", text)
    return spelled, addresses, spelled != text


def _pii_kinds(texts: Iterable[tuple[str, Lexicon | None]]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """PII kinds in ``texts``, looked for in each text as written, normalised and de-obfuscated.

    Each text comes with its record-word hits from the cue scan (or ``None``: the detectors
    scan for them). The de-obfuscated variant errs on the private side ("meet at noon dot"
    is not an address, but "judy at example dot com" is): a false positive keeps a call
    private, a miss leaks it. Only the detectors the rewrite can affect look at that variant
    again (e-mail after "at" / "dot", numbers after dotted digits); records, encoded runs and
    spelled digits are found in the normalised text.

    Returns:
        The kinds, sorted and unique, and the labels the signal shows: the kind, followed by
        how it was hidden when it was (``email in base64``). Neither ever quotes the value.

    """
    labels: set[str] = set()
    for text, lexicon in texts:
        plain = _normalise(text)
        matches = detect_pii(plain, lexicon=lexicon if plain == text else None)
        labels.update(f"{m.kind} in {m.encoding}" if m.encoding else m.kind for m in matches)
        spelled, addresses, digits = _deobfuscate(plain)
        if addresses or digits:
            labels.update(detect_respelled(spelled, emails=addresses, numbers=digits))
    kinds = tuple(sorted({label.split(" ", 1)[0] for label in labels}))
    return kinds, tuple(sorted(labels))


# --------------------------------------------------------------------------- public API


def classify(text: str, *, has_tools: bool = False, n_messages: int = 1) -> Classification:
    """Infer task, complexity and sensitivity of one prompt text.

    Args:
        text: The prompt (for a conversation, prefer `classify_messages`).
        has_tools: Whether the request carries tool definitions (raises complexity).
        n_messages: Number of messages in the conversation (raises complexity).

    Returns:
        The classification, with one signal per dimension explaining it.

    """
    scan = _scan(text)
    pii, labels = _pii_kinds(((text, scan.records),))
    task, task_signal = _decide_task(scan)
    complexity, complexity_signal, points = _decide_complexity(
        scan, size_chars=len(text), has_tools=has_tools, n_messages=n_messages
    )
    sensitivity, sensitivity_signal = _decide_sensitivity(labels, scan.confidential, scan.internal)
    return Classification(
        task=task,
        complexity=complexity,
        sensitivity=sensitivity,
        pii=pii,
        signals=(task_signal, complexity_signal, sensitivity_signal),
        complexity_points=points,
    )


_TEXT_PART_TYPES: Final = frozenset({"text", "input_text"})


def content_texts(content: Any) -> Iterator[str]:
    """Yield the text of a message ``content`` (a string or a list of parts; images ignored)."""
    if isinstance(content, str):
        yield content
    elif isinstance(content, list | tuple):
        for part in content:
            if isinstance(part, str):
                yield part
            elif isinstance(part, Mapping) and part.get("type", "text") in _TEXT_PART_TYPES:
                text = part.get("text")
                if isinstance(text, str):
                    yield text


def _tool_call_texts(message: Mapping[str, Any]) -> Iterator[str]:
    """Yield the argument strings of an assistant message's tool / function calls."""
    calls = message.get("tool_calls")
    if isinstance(calls, list | tuple):
        for call in calls:
            function = call.get("function") if isinstance(call, Mapping) else None
            arguments = function.get("arguments") if isinstance(function, Mapping) else None
            if isinstance(arguments, str):
                yield arguments
    legacy = message.get("function_call")
    if isinstance(legacy, Mapping) and isinstance(legacy.get("arguments"), str):
        yield legacy["arguments"]


def _hidden_texts(message: Mapping[str, Any]) -> Iterator[str]:
    """Yield strings a message carries outside its text: its ``name``, image URL query strings."""
    name = message.get("name")
    if isinstance(name, str):
        yield name
    content = message.get("content")
    if isinstance(content, list | tuple):
        for part in content:
            if not isinstance(part, Mapping) or part.get("type") != "image_url":
                continue
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, Mapping) else image
            if isinstance(url, str) and not url.startswith("data:"):
                try:
                    parts = urlsplit(url)
                except ValueError:
                    yield unquote_plus(url)
                    continue
                yield unquote_plus(f"{parts.path} {parts.query} {parts.fragment}")


def tool_texts(tools: Any) -> list[str]:
    """Every string of a call's tool definitions (names, descriptions, parameter schemas), for PII scanning."""
    if not tools:
        return []
    try:
        return [json.dumps(tools, ensure_ascii=False, default=str)]
    except (TypeError, ValueError):
        return [str(tools)]


def _split_lexicon(parts: Sequence[str], hits: Lexicon | None) -> Iterator[tuple[str, Lexicon | None]]:
    """Hand the hits found in the parts joined by blank lines back to each part, at the part's own offsets."""
    if hits is None or len(parts) == 1:
        yield from ((part, hits) for part in parts)
        return
    offset = 0
    for part in parts:
        end = offset + len(part)
        yield part, [(label, s - offset, e - offset) for label, s, e in hits if offset <= s and e <= end]
        offset = end + 2


def classify_messages(
    messages: Sequence[Mapping[str, Any]], *, has_tools: bool = False, extra_texts: Iterable[str] = ()
) -> Classification:
    """Infer task, complexity and sensitivity of an OpenAI-format conversation.

    PII and sensitivity markers are looked for in every message (system, user,
    assistant and tool, including tool-call arguments). Task and complexity
    cues come from the last user message; size counts the whole conversation.
    When the last user message has no task cue, the system prompt's cues are
    used (e.g. "You are a sentiment classifier").

    Args:
        messages: Messages as dicts with ``role`` and ``content``; content may be
            a string or a list of parts (``{"type": "text", "text": ...}``;
            image and other non-text parts are ignored).
        has_tools: Whether the request carries tool definitions. Tool messages
            and tool calls in the conversation count as tools too.
        extra_texts: Other strings the request carries (e.g. `tool_texts` of its tool
            definitions): scanned for PII only, never for task or complexity cues.

    Returns:
        The classification, with one signal per dimension explaining it.

    """
    texts: list[list[str]] = []
    last_user = -1
    system = -1
    size = 0
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            texts.append([])
            continue
        parts = list(content_texts(message.get("content")))
        role = message.get("role")
        if role == "user" and parts:
            last_user = i
        elif role in ("system", "developer") and system < 0:
            system = i
        if role == "tool" or message.get("tool_calls") or message.get("function_call"):
            has_tools = True
        size += sum(len(p) for p in parts)
        parts.extend(_tool_call_texts(message))
        parts.extend(_hidden_texts(message))
        texts.append(parts)
    if last_user < 0:  # no user text: fall back to the last message that has any
        last_user = next((i for i in range(len(texts) - 1, -1, -1) if texts[i]), -1)

    prompt = "\n\n".join(texts[last_user]) if last_user >= 0 else ""
    scan = _scan(prompt)
    confidential, internal = list(scan.confidential), list(scan.internal)
    scanned: list[tuple[str, Lexicon | None]] = []
    if last_user >= 0:
        scanned.extend(_split_lexicon(texts[last_user], scan.records))
    for i, parts in enumerate(texts):
        if i == last_user:
            continue
        for text in parts:
            markers = _scan(text, index=_MARKER_INDEX, structure=False)
            confidential.extend(markers.confidential)
            internal.extend(markers.internal)
            scanned.append((text, markers.records))

    task, task_signal = _decide_task(scan)
    if task is Task.CHAT and system >= 0 and system != last_user:
        system_scan = _scan("\n\n".join(texts[system]))
        if system_scan.task_points:
            task, task_signal = _decide_task(system_scan, " from the system prompt")
    complexity, complexity_signal, points = _decide_complexity(
        scan, size_chars=size, has_tools=has_tools, n_messages=len(messages)
    )
    pii, labels = _pii_kinds([*scanned, *((text, None) for text in extra_texts)])
    sensitivity, sensitivity_signal = _decide_sensitivity(labels, confidential, internal)
    return Classification(
        task=task,
        complexity=complexity,
        sensitivity=sensitivity,
        pii=pii,
        signals=(task_signal, complexity_signal, sensitivity_signal),
        complexity_points=points,
    )
