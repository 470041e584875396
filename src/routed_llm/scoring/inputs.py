"""Reading the files the scoring commands take: prompt lines and outcome rows.

Both are line-oriented so a user can ``grep``/``head`` them and an error can name
the line. Every bad line is an `InvalidRequest` that says which line, which field
and what was expected.

Prompt lines (``routed-llm score`` and ``calibrate``), auto-detected per line:
a JSON object with a ``prompt`` string or a ``messages`` list (OpenAI format),
optionally an ``id`` echoed back; anything else is one plain-text prompt. Blank
lines are skipped.

Outcome rows (``routed-llm train``): see `read_outcomes`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from routed_llm.errors import InvalidRequest

__all__ = ["Outcomes", "PromptLine", "messages_text", "read_outcomes", "read_prompts"]


@dataclass(frozen=True)
class PromptLine:
    """One prompt read from a file."""

    line: int
    """1-based line number in the input."""
    messages: list[dict[str, Any]]
    """The prompt as OpenAI-format messages."""
    id: Any = None
    """The record's ``id``, if it had one (echoed in the output)."""


def _messages(value: Any, where: str) -> list[dict[str, Any]]:
    from routed_llm.router import normalize_messages

    if not isinstance(value, list) or not value:
        raise InvalidRequest(f"{where}: 'messages' must be a non-empty list of {{role, content}} objects")
    try:
        msgs = normalize_messages(value)
    except InvalidRequest as e:
        raise InvalidRequest(f"{where}: {e}") from None
    if not messages_text(msgs).strip():
        raise InvalidRequest(f"{where}: 'messages' hold no text to score")
    return msgs


def _prompt(value: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(value, str):
        raise InvalidRequest(f"{where}: 'prompt' must be a string, got {type(value).__name__}")
    if not value.strip():
        raise InvalidRequest(f"{where}: 'prompt' is empty")
    return [{"role": "user", "content": value}]


def _record_messages(record: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    if "prompt" in record:
        return _prompt(record["prompt"], where)
    if "messages" in record:
        return _messages(record["messages"], where)
    raise InvalidRequest(f"{where}: a JSON object needs a 'prompt' string or a 'messages' list")


def read_prompts(lines: Iterable[str], *, source: str = "input") -> Iterator[PromptLine]:
    """Yield the prompts of ``lines``: JSON objects with ``prompt``/``messages``, or plain text.

    Raises:
        InvalidRequest: naming ``source`` and the line of an empty prompt or a bad field.
    """
    for number, raw in enumerate(lines, start=1):
        text = raw.rstrip("\r\n")
        if not text.strip():
            continue
        where = f"{source} line {number}"
        record: Any = None
        if text.lstrip().startswith("{"):
            try:
                record = json.loads(text)
            except json.JSONDecodeError:
                record = None  # braces in plain text: the line is a prompt as it stands
        if isinstance(record, Mapping):
            yield PromptLine(number, _record_messages(record, where), record.get("id"))
        else:
            yield PromptLine(number, [{"role": "user", "content": text}])


def messages_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """Return the text a learned scorer reads for ``messages`` (`routed_llm.scoring.learned.prompt_text`).

    Training rows given as messages are reduced exactly as calls are at routing time.
    """
    from routed_llm.scoring.learned import prompt_text  # no numpy at import: that module loads it lazily

    return prompt_text(messages)


@dataclass(frozen=True)
class Outcomes:
    """A parsed outcome file, ready for `train_scorer`."""

    texts: list[str]
    """The prompt text of each row (`messages_text` for rows given as messages: system prompt + last user turn)."""
    tier_names: list[str]
    """Tier names, cheapest first."""
    quality: list[list[float]]
    """``[row][tier]`` quality in [0, 1]."""
    cost: list[list[float]] | None
    """``[row][tier]`` cost in USD, when every row gave one."""


def _number(value: Any, where: str, *, lo: float, hi: float | None) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if not isinstance(value, int | float) or not math.isfinite(value) or value < lo or (hi is not None and value > hi):
        bound = f"in [{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise InvalidRequest(f"{where}: must be a number {bound} (or true/false), got {value!r}")
    return float(value)


def _tier_values(
    record: Mapping[str, Any], field: str, tiers: Sequence[str], where: str, *, hi: float | None
) -> list[float]:
    mapping = record[field]
    if not isinstance(mapping, Mapping) or not mapping:
        raise InvalidRequest(f"{where}: '{field}' must be an object mapping tier name -> number")
    missing = [t for t in tiers if t not in mapping]
    if missing:
        raise InvalidRequest(
            f"{where}: '{field}' has no value for tier(s) {', '.join(missing)} (tiers: {', '.join(tiers)})"
        )
    return [_number(mapping[t], f"{where}: {field}.{t}", lo=0.0, hi=hi) for t in tiers]


def read_outcomes(lines: Iterable[str], *, tiers: Sequence[str] | None = None, source: str = "outcomes") -> Outcomes:
    """Parse an outcome file: one JSON object per line, blank lines skipped.

    Each row: ``prompt`` (string) or ``messages`` (OpenAI-format list); ``quality``,
    an object mapping each tier to 0/1 (or true/false) or a grade in [0, 1]; and
    optionally ``cost``, an object mapping each tier to the call's cost in USD
    (give it on every row or on none). Tiers are ``tiers`` in that order (cheapest
    first; rows may name more tiers, which are ignored), else the keys of the first
    row's ``quality`` in file order, and then every row must name exactly those.

    Raises:
        InvalidRequest: naming the line and the field of the first bad row.
    """
    texts: list[str] = []
    quality: list[list[float]] = []
    costs: list[list[float]] = []
    tier_names = list(tiers) if tiers else None
    cost_from: int | None = None
    rows = 0
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        where = f"{source} line {number}"
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as e:
            raise InvalidRequest(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(record, Mapping):
            raise InvalidRequest(f"{where}: expected a JSON object, got {type(record).__name__}")
        if "quality" not in record:
            raise InvalidRequest(f"{where}: 'quality' is missing (an object mapping tier name -> 0..1)")
        if tier_names is None:
            if not isinstance(record["quality"], Mapping) or len(record["quality"]) < 2:
                raise InvalidRequest(f"{where}: 'quality' must name at least two tiers, cheapest first")
            tier_names = [str(t) for t in record["quality"]]
        elif tiers is None and isinstance(record["quality"], Mapping):
            extra = [str(t) for t in record["quality"] if t not in tier_names]
            if extra:
                raise InvalidRequest(
                    f"{where}: quality names tier(s) {', '.join(extra)} that the first row does not"
                    f" (tiers: {', '.join(tier_names)}); pass --tiers to choose tiers"
                )
        messages = _record_messages(record, where)
        quality.append(_tier_values(record, "quality", tier_names, where, hi=1.0))
        has_cost = record.get("cost") is not None
        if has_cost:
            costs.append(_tier_values(record, "cost", tier_names, where, hi=None))
        if rows == 0:
            cost_from = number if has_cost else None
        elif has_cost != (cost_from is not None):
            raise InvalidRequest(
                f"{where}: 'cost' is {'given' if has_cost else 'missing'} but the first row"
                f" {'has none' if has_cost else 'has one'}; give cost on every row or on none"
            )
        texts.append(messages_text(messages))
        rows += 1
    if tier_names is not None and len(tier_names) < 2:
        raise InvalidRequest(f"{source}: --tiers must name at least two tiers, cheapest first")
    if rows < 2 or tier_names is None:
        raise InvalidRequest(f"{source}: needs at least two outcome rows, found {rows}")
    return Outcomes(texts=texts, tier_names=tier_names, quality=quality, cost=costs if cost_from else None)
