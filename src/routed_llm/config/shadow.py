"""``routing.shadow``: shadow evaluation of cheaper answers against a stronger tier (`routed_llm.shadow`)."""

from __future__ import annotations

from pydantic import Field, field_validator

from routed_llm.config._base import _Strict

#: ``routing.shadow.judge`` value that compares the two answers itself instead of asking a tier.
EXACT_JUDGE = "exact"


class ShadowConfig(_Strict):
    """Answer a sample of calls a second time on a stronger tier, in the background, and grade the served answer.

    Each graded pair appends one line to ``outcomes`` in the ``routed-llm train`` format, so
    ``routed-llm train --data <outcomes>`` fits a scorer on your own traffic.
    """

    sample: float = Field(default=0.02, ge=0, le=1)
    """Share of eligible calls (served live by another tier than ``tier``) that are shadowed, in [0, 1]."""
    tier: str | None = None
    """Tier that answers the shadowed calls again (default: ``routing.savings_baseline``, i.e. the dearest tier)."""
    judge: str | None = None
    """Tier that grades whether the served answer is as good as the shadow's (with the rubric shipped in the
    package), or ``exact``: the answers must match as normalised text or parsed JSON (for classification and
    extraction). Default: the shadow ``tier``."""
    outcomes: str = "shadow.jsonl"
    """File (JSON lines, appended) the graded pairs go to, relative to the config file. ``{served}`` in the name
    stands for the served tier: one file per served tier, each one ``routed-llm train`` takes as it is."""
    max_concurrent: int = Field(default=2, ge=1, le=64)
    """Shadow evaluations in flight at most; a sampled call arriving while this many run is not shadowed."""
    max_tokens: int | None = Field(default=None, gt=0)
    """Output-token cap for the shadow and judge calls (default: the call's own, else the tier's)."""

    @field_validator("outcomes")
    @classmethod
    def _outcomes(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("is empty; name the JSON-lines file the graded pairs go to")
        return v.strip()
