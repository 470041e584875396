"""routed-llm: send each LLM call to the right tier (local, fast cloud, premium).

One routing policy, defined once in YAML, behind LangChain and LlamaIndex
adapters. Start with `load_config` and `Router`; see the README for a tour.
"""

from __future__ import annotations

import os

# LiteLLM downloads its price map at import unless told not to, which stalls
# offline machines for seconds. The bundled map is used unless the user opts in.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from routed_llm.budget import BudgetAlert, BudgetManager  # noqa: E402
from routed_llm.config import RoutingConfig, load_config  # noqa: E402
from routed_llm.embeddings import Embedder, EmbeddingSpace  # noqa: E402
from routed_llm.engine import RoutedCompletion, RoutingInfo, StreamEnd  # noqa: E402
from routed_llm.errors import (  # noqa: E402
    AllTiersFailed,
    BudgetExceeded,
    ConfigError,
    EmbeddedModelUnavailable,
    EmbeddingDeploymentsFailed,
    EmbeddingDimensionError,
    EmbeddingError,
    EmbeddingInputError,
    EmbeddingInputTooLong,
    EmbeddingNotAllowed,
    EmbeddingSpaceMismatch,
    EmbeddingSpaceMissing,
    EmptyAnswer,
    InvalidRequest,
    LedgerError,
    LedgerTruncated,
    MissingCredential,
    NoEligibleTier,
    RequestRejected,
    RoutedLLMError,
    StreamInterrupted,
    TelemetryError,
    TierCallFailed,
    TierNotAllowed,
    UnknownTier,
)
from routed_llm.escalation import (  # noqa: E402
    AgreementVerifier,
    Attempt,
    CascadeResult,
    JudgeVerifier,
    LearnedVerifier,
    LogprobVerifier,
    SelfConfidenceVerifier,
    Verdict,
    Verifier,
)
from routed_llm.policy import RouterState  # noqa: E402
from routed_llm.router import Router  # noqa: E402
from routed_llm.telemetry import Telemetry  # noqa: E402
from routed_llm.types import (  # noqa: E402
    Complexity,
    RequestNeeds,
    RouteDecision,
    RouteHints,
    Sensitivity,
    Task,
)

__all__ = [
    "AgreementVerifier",
    "AllTiersFailed",
    "EmptyAnswer",
    "Attempt",
    "BudgetAlert",
    "BudgetExceeded",
    "BudgetManager",
    "CascadeResult",
    "Complexity",
    "ConfigError",
    "Embedder",
    "EmbeddedModelUnavailable",
    "EmbeddingDeploymentsFailed",
    "EmbeddingDimensionError",
    "EmbeddingError",
    "EmbeddingInputError",
    "EmbeddingInputTooLong",
    "EmbeddingNotAllowed",
    "EmbeddingSpace",
    "EmbeddingSpaceMismatch",
    "EmbeddingSpaceMissing",
    "InvalidRequest",
    "JudgeVerifier",
    "LearnedVerifier",
    "LedgerError",
    "LedgerTruncated",
    "LogprobVerifier",
    "MissingCredential",
    "NoEligibleTier",
    "RequestRejected",
    "RequestNeeds",
    "RouteDecision",
    "RouteHints",
    "RoutedCompletion",
    "RoutedLLMError",
    "Router",
    "RouterState",
    "RoutingConfig",
    "RoutingInfo",
    "SelfConfidenceVerifier",
    "Sensitivity",
    "StreamEnd",
    "StreamInterrupted",
    "Task",
    "Telemetry",
    "TelemetryError",
    "TierCallFailed",
    "TierNotAllowed",
    "UnknownTier",
    "Verdict",
    "Verifier",
    "load_config",
]
__version__ = "0.1.0"
