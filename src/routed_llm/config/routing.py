"""The ``routing:`` and ``router_settings:`` sections: rules, fallbacks, score thresholds, LiteLLM settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from routed_llm.config._base import _Strict
from routed_llm.config.sessions import SessionsConfig
from routed_llm.config.shadow import ShadowConfig
from routed_llm.types import Complexity, Sensitivity, Task, normalize_complexity, normalize_sensitivity, normalize_task


def _as_list(normalize: Any) -> Any:
    def validate(v: Any) -> Any:
        if v is None:
            return None
        items = v if isinstance(v, list | tuple) else [v]
        return [normalize(i) for i in items]

    return validate


class RuleCondition(_Strict):
    """All given conditions must hold (AND). A list value means any of its items (OR)."""

    task: list[Task] | None = None
    """The call's task (hint or inferred)."""
    complexity: list[Complexity] | None = None
    """The call's complexity (hint or inferred)."""
    sensitivity: list[Sensitivity] | None = None
    """The call's sensitivity (hint or inferred)."""
    context_tokens_over: int | None = Field(default=None, ge=0)
    """Prompt tokens strictly above this."""
    context_tokens_at_most: int | None = Field(default=None, ge=0)
    """Prompt tokens at or below this."""
    max_latency_ms_at_most: int | None = Field(default=None, gt=0)
    """The caller's ``max_latency_ms`` hint is set and at or below this."""
    tools: bool | None = None
    """The call carries tools (``true``) or carries none (``false``)."""
    images: bool | None = None
    """The call has image parts (``true``) or has none (``false``)."""
    json_output: bool | None = None
    """The call asks for JSON (schema or JSON mode)."""
    metadata: dict[str, Any] | None = None
    """Each key must equal (or, for a list, be one of) the call metadata's value."""
    score_over: float | None = Field(default=None, ge=0, le=1)
    """The call's routing score (``routing.scorer``) is strictly above this."""
    score_at_most: float | None = Field(default=None, ge=0, le=1)
    """The call's routing score is at or below this."""

    _task = field_validator("task", mode="before")(_as_list(normalize_task))
    _complexity = field_validator("complexity", mode="before")(_as_list(normalize_complexity))
    _sensitivity = field_validator("sensitivity", mode="before")(_as_list(normalize_sensitivity))

    def describe(self) -> str:
        """Render the condition compactly for reasons, e.g. ``task=code, complexity=complex``."""
        parts = []
        for key, value in self.model_dump(exclude_none=True).items():
            if isinstance(value, list):
                value = "|".join(v.value if hasattr(v, "value") else str(v) for v in value)
            parts.append(f"{key}={value}")
        return ", ".join(parts) or "always"


class Rule(_Strict):
    """One routing rule: first match wins."""

    name: str | None = None
    """Shown in decisions; defaults to ``rules[i]``."""
    when: RuleCondition = RuleCondition()
    """Conditions, all of which must hold; empty matches every call."""
    tier: str
    """Tier for the calls this rule matches."""
    fallbacks: list[str] | None = None
    """Overrides the tier's fallback chain for calls matched by this rule."""


class ThresholdStrategy(_Strict):
    """``routing.threshold``: pick the tier from the routing score when no rule matched.

    With one score: below ``thresholds[0]`` -> ``chain[0]``, from ``thresholds[i-1]`` up to
    below ``thresholds[i]`` -> ``chain[i]``, at or above the last -> the last tier. With
    ``min_quality`` and a scorer that predicts each tier's success, the call goes to the
    cheapest tier of ``chain`` whose predicted success is at least ``min_quality`` (the
    last tier if none is); a scorer without per-tier predictions uses ``thresholds``.
    The chosen tier's configured fallbacks apply as for a rule.
    """

    chain: list[str] = Field(min_length=2)
    """Tiers from cheapest to dearest, e.g. ``[local, fast, premium]``."""
    thresholds: list[float] = Field(min_length=1)
    """Ascending scores in [0, 1] that separate the tiers of ``chain``: one fewer than the tiers."""
    min_quality: float | None = Field(default=None, gt=0, le=1)
    """Predicted success a tier must reach to be chosen (needs a scorer with per-tier predictions)."""
    quality_tiers: dict[str, str] | None = None
    """Chain tier -> the scorer's tier name whose prediction stands for it. Default: the same name if
    the scorer predicts every chain tier by name, else by position (cheapest first) when the counts match."""

    @model_validator(mode="after")
    def _check(self) -> ThresholdStrategy:
        problems = []
        if len(set(self.chain)) != len(self.chain):
            problems.append("chain: lists a tier twice")
        if len(self.thresholds) != len(self.chain) - 1:
            problems.append(
                f"thresholds: needs {len(self.chain) - 1} value(s) for a chain of {len(self.chain)} tiers,"
                f" got {len(self.thresholds)}"
            )
        for i, t in enumerate(self.thresholds):
            if not 0 <= t <= 1:
                problems.append(f"thresholds[{i}]: must be in [0, 1], got {t}")
        if any(b <= a for a, b in zip(self.thresholds, self.thresholds[1:], strict=False)):
            problems.append(f"thresholds: must be strictly ascending, got {self.thresholds}")
        for tier in self.quality_tiers or {}:
            if tier not in self.chain:
                problems.append(f"quality_tiers.{tier}: not a tier of the chain {self.chain}")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class RoutingSection(_Strict):
    """Which tier a call goes to, and where it goes when that tier fails."""

    default: str
    """Tier for calls no rule matches."""
    rules: list[Rule] = Field(default_factory=list)
    """Ordered rules; the first matching rule whose chain has an eligible tier wins."""
    fallbacks: dict[str, list[str]] = Field(default_factory=dict)
    """Tier -> ordered fallback tiers. Fallbacks still obey every hard constraint."""
    default_context_window: int = Field(default=8192, gt=0)
    """Context window assumed for models LiteLLM does not know and the config does not set."""
    last_resort: Literal["any_eligible", "raise"] = "any_eligible"
    """When no tier of the chosen chain is eligible: use the first eligible tier in
    config order (saying so in the reason), or raise `NoEligibleTier`."""
    scorer: str = "heuristic"
    """Routing score source: ``heuristic``, ``learned`` (the packaged scorer), or the path of a scorer
    file from ``routed-llm train`` (relative to the config file). Computed only when something reads it."""
    complexity_from_score: tuple[float, float] | None = None
    """``[t_medium, t_complex]``: an inferred complexity comes from the score (medium at or above
    ``t_medium``, complex at or above ``t_complex``) instead of the heuristic's levels."""
    threshold: ThresholdStrategy | None = None
    """Score-driven tier choice for calls no rule matches (replaces ``default`` for them)."""
    savings_baseline: str | None = None
    """Tier every call's cost is compared with (``routing["baseline_cost_usd"]``, ``saved_usd``); default: the
    dearest tier (by its first deployment's per-token prices)."""
    shadow: ShadowConfig | None = None
    """Shadow evaluation: a sample of cheaper answers is graded against ``shadow.tier`` in the background."""
    sessions: SessionsConfig = SessionsConfig()
    """Session affinity (tiers never drop mid-task), tool-loop continuity and stall escalation."""

    @field_validator("scorer")
    @classmethod
    def _scorer_spec(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("is empty; use heuristic, learned, or the path of a scorer file")
        if v.lower() in ("heuristic", "learned"):
            return v.lower()
        if not Path(v).expanduser().is_file():
            raise ValueError(
                f"no scorer file at {v!r}; use heuristic, learned, or a file written by `routed-llm train`"
            )
        return v

    @field_validator("complexity_from_score")
    @classmethod
    def _bands(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None:
            if not all(0 <= t <= 1 for t in v):
                raise ValueError(f"both bands must be in [0, 1], got {list(v)}")
            if not v[0] < v[1]:
                raise ValueError(f"[t_medium, t_complex] must be ascending, got {list(v)}")
        return v

    @property
    def uses_score(self) -> bool:
        """Whether any routing decision reads the score (a score rule, complexity bands or the threshold strategy)."""
        return (
            self.threshold is not None
            or self.complexity_from_score is not None
            or any(r.when.score_over is not None or r.when.score_at_most is not None for r in self.rules)
        )


#: ``litellm.Router(routing_strategy=...)`` values LiteLLM accepts.
ROUTING_STRATEGIES = (
    "simple-shuffle",
    "least-busy",
    "usage-based-routing",
    "latency-based-routing",
    "cost-based-routing",
    "usage-based-routing-v2",
)


class RouterSettings(_Strict):
    """Settings passed to each tier's ``litellm.Router`` (per-deployment behaviour)."""

    num_retries: int = Field(default=0, ge=0)
    """LiteLLM retries within a tier before routed-llm moves to the next tier."""
    timeout: float | None = Field(default=None, gt=0)
    """Default per-attempt timeout in seconds for deployments that set none."""
    retry_after: float = Field(default=0, ge=0, allow_inf_nan=False)
    """Minimum seconds between LiteLLM retries."""
    allowed_fails: int | None = Field(default=None, ge=0)
    """Failures per minute before LiteLLM cools a deployment down."""
    cooldown_time: float | None = Field(default=None, ge=0)
    """Seconds a failing deployment stays cooled down."""
    routing_strategy: str = "simple-shuffle"
    """LiteLLM load-balancing strategy within a tier (one of `ROUTING_STRATEGIES`)."""

    @field_validator("routing_strategy")
    @classmethod
    def _known_strategy(cls, v: str) -> str:
        if v not in ROUTING_STRATEGIES:
            raise ValueError(f"unknown LiteLLM routing strategy; use one of: {', '.join(ROUTING_STRATEGIES)}")
        return v

    drop_params: bool = True
    """Drop OpenAI params a provider does not support instead of failing."""
