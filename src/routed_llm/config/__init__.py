"""The routing config: pydantic models, YAML loading, ``${ENV}`` interpolation.

One YAML file defines the tiers (each a LiteLLM model group), the ordered routing
rules, the tier fallback chains and LiteLLM router settings. Users who already
run a LiteLLM proxy can load its config as it stands, or include it from a small
routing file that adds privacy flags and rules on top.

Validation is strict (``extra="forbid"``): a typo is an error that names the YAML
path of the bad value and what is allowed, never a silent default.

One module per concern: `tiers` (tiers and deployments), `routing` (rules, the
routing section, router settings), `embeddings`, `services` (budgets, cache,
telemetry), `root` (`RoutingConfig`, which ties the sections together), `loader`
(YAML, ``${ENV}``, error formatting) and `litellm_proxy` (importing a proxy config).
This package re-exports their names, so ``from routed_llm.config import X`` is the
import to use.
"""

from __future__ import annotations

from routed_llm.config.embeddings import (
    EmbeddingBackend as EmbeddingBackend,
)
from routed_llm.config.embeddings import (
    EmbeddingCacheConfig,
    EmbeddingDeployment,
    EmbeddingsConfig,
    PrefixesConfig,
)
from routed_llm.config.embeddings import (
    PrefixSchemeName as PrefixSchemeName,
)
from routed_llm.config.litellm_proxy import import_litellm_proxy_config as import_litellm_proxy_config
from routed_llm.config.loader import (
    _format_validation_error as _format_validation_error,
)
from routed_llm.config.loader import (
    _interpolate as _interpolate,
)
from routed_llm.config.loader import (
    _read_yaml as _read_yaml,
)
from routed_llm.config.loader import (
    config_references,
    env_references,
    load_config,
    resolve_env,
)
from routed_llm.config.loader import (
    redact_credentials as redact_credentials,
)
from routed_llm.config.root import RoutingConfig
from routed_llm.config.routing import (
    ROUTING_STRATEGIES as ROUTING_STRATEGIES,
)
from routed_llm.config.routing import (
    RouterSettings,
    RoutingSection,
    Rule,
    RuleCondition,
    ThresholdStrategy,
)
from routed_llm.config.services import (
    AlertConfig,
    BudgetLimits,
    BudgetsConfig,
    CacheConfig,
    LangfuseConfig,
    MetadataLimits,
    PrometheusConfig,
    TelemetryConfig,
)
from routed_llm.config.services import (
    Usd as Usd,
)
from routed_llm.config.sessions import SessionsConfig
from routed_llm.config.shadow import ShadowConfig
from routed_llm.config.tiers import LOCAL_PROVIDERS as LOCAL_PROVIDERS
from routed_llm.config.tiers import Capabilities, Deployment, Tier

__all__ = [
    "AlertConfig",
    "BudgetLimits",
    "BudgetsConfig",
    "CacheConfig",
    "Capabilities",
    "Deployment",
    "EmbeddingCacheConfig",
    "EmbeddingDeployment",
    "EmbeddingsConfig",
    "LangfuseConfig",
    "MetadataLimits",
    "PrefixesConfig",
    "PrometheusConfig",
    "Rule",
    "RuleCondition",
    "SessionsConfig",
    "RouterSettings",
    "RoutingConfig",
    "RoutingSection",
    "ShadowConfig",
    "TelemetryConfig",
    "ThresholdStrategy",
    "Tier",
    "config_references",
    "env_references",
    "load_config",
    "resolve_env",
]
