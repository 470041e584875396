"""One exception tree, rooted in `RoutedLLMError`.

Every error says what was wrong and what to do about it, so a user never has to
read a stack trace from deep inside LiteLLM to find a typo in their YAML.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "AllTiersFailed",
    "ConfigError",
    "InvalidRequest",
    "NoEligibleTier",
    "RoutedLLMError",
    "StreamInterrupted",
    "TierNotAllowed",
    "UnknownTier",
]


class RoutedLLMError(Exception):
    """Base class of every error routed-llm raises on purpose."""


class ConfigError(RoutedLLMError, ValueError):
    """The routing config is invalid. The message names the YAML path of each bad value."""

    def __init__(self, message: str, *, source: str | None = None) -> None:
        self.source = source
        prefix = f"invalid routing config{f' in {source}' if source else ''}:\n"
        super().__init__(prefix + message)


class InvalidRequest(RoutedLLMError, ValueError):
    """The request itself is malformed (e.g. no messages, a bad hint value)."""


class UnknownTier(InvalidRequest):
    """A hint or a rule names a tier the config does not define."""

    def __init__(self, tier: str, known: list[str]) -> None:
        self.tier = tier
        self.known = known
        super().__init__(f"unknown tier {tier!r}; configured tiers: {', '.join(known)}")


class NoEligibleTier(RoutedLLMError):
    """No tier satisfies the request's hard constraints.

    ``excluded`` maps each tier to the constraint that ruled it out.
    """

    def __init__(self, summary: str, excluded: Mapping[str, str]) -> None:
        self.excluded = dict(excluded)
        lines = "\n".join(f"  - {tier}: {why}" for tier, why in self.excluded.items())
        super().__init__(f"{summary}\n{lines}" if lines else summary)


class TierNotAllowed(NoEligibleTier):
    """An explicitly requested tier violates a hard constraint of the request."""


class AllTiersFailed(RoutedLLMError):
    """Every tier of the decision was tried and failed. ``errors`` keeps each failure."""

    def __init__(self, errors: Mapping[str, BaseException]) -> None:
        self.errors = dict(errors)
        lines = "\n".join(
            f"  - {tier}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            for tier, e in self.errors.items()
        )
        super().__init__(f"all tiers failed:\n{lines}")


class StreamInterrupted(RoutedLLMError):
    """A stream failed after chunks were already delivered, so no fallback was possible."""

    def __init__(self, tier: str, model: str, chunks_emitted: int, cause: BaseException) -> None:
        self.tier = tier
        self.model = model
        self.chunks_emitted = chunks_emitted
        super().__init__(
            f"stream from tier {tier!r} ({model}) failed after {chunks_emitted} chunk(s) were "
            f"emitted: {type(cause).__name__}: {cause}. Routed-llm falls back only before the "
            "first chunk; retry the call to start over."
        )
