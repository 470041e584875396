"""One scanning regex for many cue tables: the classifier's and the record detectors' word lists.

`CueIndex` compiles tables of `Cue` entries into a single regular expression, without
capturing groups so that the regex engine stays on its fast path, bucketed by first letter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Final, NamedTuple

from routed_llm.classify.cues import Cue
from routed_llm.types import Task

__all__ = ["CueIndex", "Role"]


class Role(NamedTuple):
    """What a matched alternative stands for: a kind, the task it votes for (if any) and its cue."""

    kind: int
    task: Task | None
    cue: Cue


def _split_top_level(pattern: str) -> list[str]:
    """Split a regex fragment on ``|`` outside any group or character class."""
    parts: list[str] = []
    depth = 0
    in_class = False
    start = 0
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
        i += 1
    parts.append(pattern[start:])
    return parts


def _bucket_of(alternative: str) -> str:
    """Return the literal first character of an alternative, or ``""`` if it has none."""
    if len(alternative) > 1 and alternative[0].isalnum() and alternative[1] not in "?*+{":
        return alternative[0]
    return ""


_SPECIAL: Final = frozenset("\\.^$*+?{}[]()|")
_TRIE_DEPTH: Final = 4


def _literal_head(fragment: str) -> bool:
    """Whether a fragment starts with a plain character that no quantifier applies to."""
    return bool(fragment) and fragment[0] not in _SPECIAL and fragment[1:2] not in ("?", "*", "+", "{")


def _trie(alternatives: Sequence[str], depth: int = 1) -> str:
    """Join ``alternatives[i][1:]`` into one alternation, shared literal leading characters factored out.

    ``"ab|ac|d"`` becomes ``"a(?:b|c)|d"``: the regex engine skips a branch whose first
    literal does not match in one step, so a few hundred cue words cost a few checks per
    word instead of one per word. Branch order follows the input (longest first), an
    alternative that ends at a node comes after the longer ones sharing it.
    """
    groups: list[tuple[str, list[str]]] = []
    where: dict[str, int] = {}
    for alternative in alternatives:
        rest = alternative[1:]
        if depth < _TRIE_DEPTH and _literal_head(rest):
            if rest[0] not in where:
                where[rest[0]] = len(groups)
                groups.append((rest[0], []))
            groups[where[rest[0]]][1].append(rest)
        else:
            groups.append(("", [rest]))
    parts: list[str] = []
    for head, members in groups:
        if not head or len(members) == 1:
            parts.extend(members)
            continue
        longer = [m for m in members if len(m) > 1]
        inner = _trie(longer, depth + 1) + ("|" if len(longer) < len(members) else "")
        parts.append(re.escape(head) + "(?:" + inner + ")")
    return "|".join(parts)


class CueIndex:
    """All cue tables compiled into one scanning regex plus per-bucket resolvers.

    The scanner is ``(?<![a-z0-9_])(?:a(?:...)|b(?:...)|...|<other>)``, without capturing
    groups, which keeps the regex engine on its fast path. For each (rare) hit
    a small per-bucket regex with one group per alternative tells which
    alternative matched, and so which cue(s).
    """

    def __init__(self, tables: Iterable[tuple[int, Task | None, Sequence[Cue]]]) -> None:
        roles: dict[str, list[Role]] = {}
        for kind, task, cues in tables:
            for cue in cues:
                if re.compile(cue.pattern).groups:
                    raise ValueError(f"cue {cue.label!r} has a capturing group")
                for alternative in _split_top_level(cue.pattern):
                    roles.setdefault(alternative, []).append(Role(kind, task, cue))
        buckets: dict[str, list[str]] = {}
        for alternative in roles:
            buckets.setdefault(_bucket_of(alternative), []).append(alternative)
        for alternatives in buckets.values():
            alternatives.sort(key=len, reverse=True)  # longer (more specific) first
        letters = sorted(k for k in buckets if k)
        branches = [re.escape(k) + "(?:" + _trie(buckets[k]) + ")" for k in letters]
        if "" in buckets:
            branches.extend(buckets[""])
        # A negative lookbehind is cheaper than a leading \b (measured) and equivalent
        # here because every alternative starts with a word character.
        self.scanner: Final = re.compile(r"(?<![a-z0-9_])(?:" + "|".join(branches) + ")")
        self.resolvers: Final = {
            k: (re.compile("|".join(f"({a})" for a in alts)), tuple(tuple(roles[a]) for a in alts))
            for k, alts in buckets.items()
        }

    def roles_at(self, lower: str, pos: int) -> tuple[Role, ...]:
        """Return the roles of the alternative the scanner matched at ``pos``."""
        return self.match_at(lower, pos)[0]

    def match_at(self, lower: str, pos: int) -> tuple[tuple[Role, ...], int]:
        """Return the roles of the (longest-first) alternative matching at ``pos``, and where it ends."""
        for key in (lower[pos], ""):
            entry = self.resolvers.get(key)
            if entry is None:
                continue
            m = entry[0].match(lower, pos)
            if m is not None and m.lastindex is not None:
                return entry[1][m.lastindex - 1], m.end()
        return (), pos  # pragma: no cover - the scanner only stops where a resolver matches
