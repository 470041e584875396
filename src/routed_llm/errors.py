"""One exception tree, rooted in `RoutedLLMError`.

Every error says what was wrong and what to do about it, so a user never has to
read a stack trace from deep inside LiteLLM to find a typo in their YAML.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "AllTiersFailed",
    "BudgetExceeded",
    "ConfigError",
    "EmbeddedModelUnavailable",
    "EmbeddingDeploymentsFailed",
    "EmbeddingDimensionError",
    "EmbeddingError",
    "EmbeddingInputError",
    "EmbeddingInputTooLong",
    "EmbeddingNotAllowed",
    "EmbeddingSpaceMismatch",
    "EmbeddingSpaceMissing",
    "EmptyAnswer",
    "InvalidRequest",
    "LedgerError",
    "LedgerTruncated",
    "MissingCredential",
    "NoEligibleTier",
    "RequestRejected",
    "RoutedLLMError",
    "StreamInterrupted",
    "TelemetryError",
    "TierCallFailed",
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


class EmptyAnswer(RoutedLLMError):
    """A tier answered "successfully" with nothing: no choices, or no text and no tool call.

    Counted as that tier's failure (the next tier is tried, nothing is cached); seen by
    callers only inside `AllTiersFailed` when every tier answered so.
    """

    def __init__(self, tier: str, what: str) -> None:
        self.tier = tier
        super().__init__(f"tier {tier!r} returned an empty answer ({what})")


class RequestRejected(InvalidRequest):
    """A provider rejected the request itself (an HTTP 400): another tier would reject it too.

    ``tier``, ``model`` and ``status`` say where; the message carries the provider's whole text.
    """

    def __init__(self, tier: str, model: str, status: int | None, provider_message: str) -> None:
        self.tier = tier
        self.model = model
        self.status = status
        self.provider_message = provider_message
        super().__init__(
            f"tier {tier!r} ({model}) rejected the request"
            f"{f' (HTTP {status})' if status else ''}: {provider_message.rstrip('.')}. "
            "Fix the request (parameters, message format) or the deployment's settings; other tiers were not tried."
        )


class TierCallFailed(RoutedLLMError):
    """LiteLLM raised something that is neither an outage nor a rejected request (a bug somewhere).

    Raised at once, not hidden behind a fallback; ``__cause__`` is LiteLLM's exception.
    """

    def __init__(self, tier: str, model: str, cause: BaseException) -> None:
        self.tier = tier
        self.model = model
        super().__init__(
            f"calling tier {tier!r} ({model}) failed unexpectedly: {type(cause).__name__}: {cause}. "
            "This is not an outage another tier could cover; check the request and the deployment settings."
        )


class MissingCredential(RoutedLLMError):
    """A tier was called but an environment variable its config references is not set.

    ``${VAR}`` in a deployment (``api_key``, ``api_base``, ...) is resolved when the
    tier is called, not when the config loads, so commands that call no model work
    without every key. The tier fails with this error and the call falls back past it.
    """

    def __init__(self, tier: str, missing: Mapping[str, str]) -> None:
        self.tier = tier
        self.missing = dict(missing)
        """``{config path: variable}`` for every unset variable of the tier's deployments."""
        names = sorted(set(self.missing.values()))
        where = ", ".join(f"{path} uses ${{{var}}}" for path, var in self.missing.items())
        super().__init__(
            f"tier {tier!r} cannot be called: environment variable{'s' if len(names) > 1 else ''} "
            f"{', '.join(names)} {'are' if len(names) > 1 else 'is'} not set ({where}). "
            f"Set {'them' if len(names) > 1 else 'it'}, or give a default with ${{VAR:-default}}."
        )


class EmbeddedModelUnavailable(RoutedLLMError):
    """The installed llama.cpp cannot run the embedded model on this machine (a test generation crashed).

    Found by a one-time probe in a subprocess (`routed_llm.local_probe`), so the crash
    never reaches the caller's process. The tier fails with this error and the call
    falls back past it like any failed tier.
    """

    def __init__(self, model: str, cause: str, reinstall: str) -> None:
        self.model = model
        self.cause = cause
        self.reinstall = reinstall
        super().__init__(
            f"the embedded llama.cpp tier cannot run {model} on this machine: {cause}. "
            "llama-cpp-python was probably built with native CPU detection for instructions this machine "
            "advertises but cannot execute (AMX tiles on some VMs, AVX-512 elsewhere). "
            f"Reinstall it portably: {reinstall}"
        )


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


class TelemetryError(RoutedLLMError):
    """The ``telemetry:`` section asks for something that cannot be set up (e.g. a missing package)."""


# --------------------------------------------------------------------------- budgets


class BudgetExceeded(RoutedLLMError):
    """A budget limit is spent (``budgets.on_exceeded: raise``); nothing was sent anywhere.

    ``limit`` names the config field (e.g. ``budgets.providers.anthropic.daily_usd``),
    ``limit_usd`` its value, ``spent_usd`` the spend (or the call's estimate for a
    per-request limit) and ``tier`` the tier the call would have used.
    """

    def __init__(self, message: str, *, limit: str, limit_usd: float, spent_usd: float, tier: str) -> None:
        self.limit = limit
        self.limit_usd = limit_usd
        self.spent_usd = spent_usd
        self.tier = tier
        super().__init__(
            f"{message} (tier {tier!r}, {limit}). Wait for the window to reset, raise the limit, "
            "or set budgets.on_exceeded: downgrade to move calls to cheaper or free tiers."
        )


class LedgerError(RoutedLLMError):
    """The spend ledger cannot be read or written (corrupt file, lock held too long, Redis gone)."""


class LedgerTruncated(LedgerError):
    """The SQLite ledger file lost its history (truncated or replaced); paid tiers stay closed.

    Raised instead of silently restarting the budgets at $0. Accept the empty ledger with
    ``routed-llm ledger accept-reset --config routing.yaml`` (or
    `routed_llm.budget.accept_ledger_reset`), or restore the file.
    """


# --------------------------------------------------------------------------- embeddings


class EmbeddingError(RoutedLLMError):
    """Base class of the embedder's errors (`routed_llm.embeddings`)."""


class EmbeddingInputError(EmbeddingError, InvalidRequest):
    """A text to embed is unusable (empty, not a string). ``index`` is its position in the call."""

    def __init__(self, message: str, *, index: int | None = None) -> None:
        self.index = index
        super().__init__(message)


class EmbeddingInputTooLong(EmbeddingInputError):
    """A text is longer than the deployment's context and the config says ``on_too_long: raise``."""

    def __init__(self, message: str, *, index: int | None = None, tokens: int | None = None, limit: int) -> None:
        self.tokens = tokens
        self.limit = limit
        super().__init__(message, index=index)


class EmbeddingDimensionError(EmbeddingError):
    """A deployment answered with vectors of the wrong length (a misconfigured or swapped model)."""

    def __init__(self, deployment: str, expected: int, got: int) -> None:
        self.deployment = deployment
        self.expected = expected
        self.got = got
        super().__init__(
            f"embedding deployment {deployment} returned vectors of dimension {got}, expected {expected}. "
            "The server is probably serving a different model than configured: check the model it serves, "
            "or set native_dimensions on the deployment if the model really has that size."
        )


class EmbeddingSpaceMismatch(EmbeddingError):
    """Vectors of two different embedding spaces would have been mixed; nothing was mixed.

    Raised when a fallback would leave the primary deployment's space, and when a
    vector store stamped with one space is queried with embeddings of another.
    """

    def __init__(self, expected: str, actual: str, *, context: str) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"embedding space mismatch: {context}: expected space {expected!r}, got {actual!r}. "
            "Vectors from different spaces are not comparable; use a deployment of the same space "
            "(same model, dimensions and prefix scheme), or re-embed the index with the new space."
        )


class EmbeddingSpaceMissing(EmbeddingError):
    """A vector store or index carries no embedding-space stamp, so its space cannot be checked."""


class EmbeddingNotAllowed(EmbeddingError):
    """No deployment may receive these texts under the call's sensitivity (private only)."""


class EmbeddingDeploymentsFailed(EmbeddingError):
    """Every usable deployment of the embedding space failed. ``errors`` maps deployment -> failure."""

    def __init__(self, space: str, errors: Mapping[str, BaseException]) -> None:
        self.space = space
        self.errors = dict(errors)
        lines = "\n".join(
            f"  - {dep}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            for dep, e in self.errors.items()
        )
        super().__init__(
            f"every deployment of embedding space {space!r} failed:\n{lines}\n"
            "Add another deployment of the same space (e.g. a second Ollama host) to fall back to."
        )
