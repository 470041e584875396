"""Value types shared by the policy, the classifier, the engine and the adapters.

They live in one framework-free module so that the pure policy, the heuristic
classifier and both framework adapters agree on one vocabulary without
importing each other.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "Complexity",
    "RequestNeeds",
    "RouteDecision",
    "RouteHints",
    "Sensitivity",
    "Task",
    "normalize_complexity",
    "normalize_sensitivity",
    "normalize_task",
]


class Task(str, Enum):
    """What the call is for; rules match on it."""

    CHAT = "chat"
    REASONING = "reasoning"
    CODE = "code"
    CLASSIFICATION = "classification"
    EXTRACTION = "extraction"
    SUMMARIZATION = "summarization"
    EMBEDDING = "embedding"


class Complexity(str, Enum):
    """How hard the call is; ordered from cheapest to dearest."""

    SIMPLE = "simple"
    MEDIUM = "medium"
    COMPLEX = "complex"


class Sensitivity(str, Enum):
    """How private the data is. Confidential data only goes to private tiers."""

    PUBLIC = "public"
    INTERNAL = "internal"
    CONFIDENTIAL = "confidential"


# Words the user's own architecture notes use for the same ideas. Accepting them
# lets a seed's routing table be written down as it stands.
_TASK_ALIASES = {
    "analysis": Task.REASONING,
    "code_generation": Task.CODE,
    "codegen": Task.CODE,
    "coding": Task.CODE,
    "summarisation": Task.SUMMARIZATION,
    "summary": Task.SUMMARIZATION,
    "classify": Task.CLASSIFICATION,
    "extract": Task.EXTRACTION,
    "embed": Task.EMBEDDING,
    "embeddings": Task.EMBEDDING,
}
_COMPLEXITY_ALIASES = {
    "low": Complexity.SIMPLE,
    "easy": Complexity.SIMPLE,
    "moderate": Complexity.MEDIUM,
    "high": Complexity.COMPLEX,
    "hard": Complexity.COMPLEX,
}
_SENSITIVITY_ALIASES = {
    "private": Sensitivity.CONFIDENTIAL,
    "secret": Sensitivity.CONFIDENTIAL,
}


def _normalize(value: Any, enum: type[Enum], aliases: dict[str, Any], what: str) -> Any:
    if isinstance(value, enum):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, got {type(value).__name__}")
    key = value.strip().lower()
    try:
        return enum(key)
    except ValueError:
        if key in aliases:
            return aliases[key]
    allowed = ", ".join(m.value for m in enum)
    extra = f" (aliases: {', '.join(sorted(aliases))})" if aliases else ""
    raise ValueError(f"unknown {what} {value!r}; allowed: {allowed}{extra}")


def normalize_task(value: Any) -> Task:
    """Return the `Task` for a name or alias such as ``"analysis"``."""
    return _normalize(value, Task, _TASK_ALIASES, "task")


def normalize_complexity(value: Any) -> Complexity:
    """Return the `Complexity` for a name or alias such as ``"moderate"``."""
    return _normalize(value, Complexity, _COMPLEXITY_ALIASES, "complexity")


def normalize_sensitivity(value: Any) -> Sensitivity:
    """Return the `Sensitivity` for a name or alias such as ``"private"``."""
    return _normalize(value, Sensitivity, _SENSITIVITY_ALIASES, "sensitivity")


class RouteHints(BaseModel):
    """Per-call hints. Every field is optional; what is omitted is inferred.

    ``tier`` is an explicit override: it still has to satisfy the hard
    constraints (a confidential call is never sent to a non-private tier, even
    when asked to).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    tier: str | None = None
    """Send the call to this tier (its fallbacks still apply)."""
    task: Task | None = None
    """What the call is for."""
    complexity: Complexity | None = None
    """How hard the call is."""
    sensitivity: Sensitivity | None = None
    """How private the data is; confidential means private tiers only."""
    max_latency_ms: int | None = Field(default=None, gt=0)
    """Only tiers whose typical latency fits; also caps the call's timeout."""
    max_cost_usd: float | None = Field(default=None, ge=0)
    """Only tiers whose worst-case cost estimate for this call fits."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Free-form call metadata (e.g. ``user_tier``) that rules can match on."""
    session_id: str | None = Field(default=None, min_length=1, max_length=512)
    """Session key: calls that share it keep their tier (``routing.sessions``). Also read from
    ``metadata["session_id"]`` / ``metadata["thread_id"]`` and LangGraph's ``thread_id``."""

    @field_validator("task", mode="before")
    @classmethod
    def _task(cls, v: Any) -> Any:
        return None if v is None else normalize_task(v)

    @field_validator("complexity", mode="before")
    @classmethod
    def _complexity(cls, v: Any) -> Any:
        return None if v is None else normalize_complexity(v)

    @field_validator("sensitivity", mode="before")
    @classmethod
    def _sensitivity(cls, v: Any) -> Any:
        return None if v is None else normalize_sensitivity(v)


class RequestNeeds(BaseModel):
    """What a request needs from a tier, derived from the request itself."""

    model_config = ConfigDict(frozen=True)

    tools: bool = False
    """The request carries tool definitions."""
    json_schema: bool = False
    """The request asks for a JSON-schema constrained response."""
    json_mode: bool = False
    """The request asks for JSON output without a schema."""
    images: bool = False
    """A message carries an image part."""
    prompt_tokens: int = 0
    """Tokens in the prompt, counted with LiteLLM."""
    max_output_tokens: int = 0
    """Output tokens the caller asked for (0 when unset; the tier's cap then applies)."""


class RouteDecision(BaseModel):
    """Where a call goes and why. Every decision names the rule that made it."""

    model_config = ConfigDict(frozen=True)

    tier: str
    """The tier to call first."""
    fallbacks: tuple[str, ...] = ()
    """Tiers to try, in order, if the first fails; all satisfy the same constraints."""
    reason: str
    """Human-readable explanation naming the rule (or hint, or default)."""
    rule: str | None = None
    """Name of the matched rule, ``"hint:tier"``, or ``"default"``."""
    task: Task
    complexity: Complexity
    sensitivity: Sensitivity
    inferred: tuple[str, ...] = ()
    """Which of task/complexity/sensitivity were inferred rather than given."""
    needs: RequestNeeds = RequestNeeds()
    excluded: dict[str, str] = Field(default_factory=dict)
    """Tiers a hard constraint ruled out, with the constraint that did it."""
    timeout_s: float | None = None
    """Per-attempt timeout derived from ``max_latency_ms``, if any."""
    score: float | None = None
    """Routing score in [0, 1] (how much the call needs a stronger tier), when one was computed."""
    scorer: str | None = None
    """Name of the scorer that produced ``score`` (``heuristic`` when it stood in for a failed one)."""
    tier_scores: dict[str, float] | None = None
    """Per-tier predicted success, when the scorer has them."""
    deployment: str | None = None
    """Deployment (``<tier>/<i>``) of ``tier`` to call first: a session's or tool loop's pin."""
    session: dict[str, Any] | None = None
    """What session affinity did: ``{"id", "pinned_tier", "reason"}`` (``None`` outside sessions)."""

    @property
    def tiers(self) -> tuple[str, ...]:
        """The primary tier followed by its fallbacks."""
        return (self.tier, *self.fallbacks)
