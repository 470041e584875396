"""Fast heuristic classification of prompts: task, complexity, sensitivity and PII.

Used by the routing policy to fill hints the caller omitted. Pure Python, no
model, no I/O; see `routed_llm.classify.heuristic` for the scoring rules and
`routed_llm.classify.pii` for what each PII detector matches.
"""

from __future__ import annotations

from routed_llm.classify.heuristic import Classification, classify, classify_messages
from routed_llm.classify.pii import PIIMatch, detect_pii

__all__ = ["Classification", "PIIMatch", "classify", "classify_messages", "detect_pii"]
