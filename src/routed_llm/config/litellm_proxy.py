"""Import a LiteLLM proxy config (``model_list``, ``router_settings``, ``litellm_settings``) as it stands."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from routed_llm.config.tiers import LOCAL_PROVIDERS
from routed_llm.errors import ConfigError


def _is_litellm_proxy_config(data: Mapping[str, Any]) -> bool:
    return "model_list" in data and "tiers" not in data


def import_litellm_proxy_config(data: Mapping[str, Any]) -> dict[str, Any]:
    """Translate a LiteLLM proxy config (``model_list``, ``router_settings``, ``litellm_settings``).

    Every ``model_name`` becomes a tier whose deployments are the entries sharing
    that name (LiteLLM's own load-balancing semantics). ``router_settings.fallbacks``
    becomes the tier fallback chains. The default tier is the first model name.
    Embedding models (``model_info.mode: embedding`` or ``embed`` in the name) become
    the ``embeddings`` section. ``os.environ/VAR`` keys stay for LiteLLM to resolve.
    Tiers are marked private only for providers that run locally by construction
    (`LOCAL_PROVIDERS`); mark others ``private: true`` yourself in an including file.
    Returns a plain dict in routed-llm's schema (validated by the caller).
    """
    tiers: dict[str, dict[str, Any]] = {}
    embeddings: dict[str, Any] = {}
    model_list = data.get("model_list") or []
    if not isinstance(model_list, list):
        raise ConfigError("  - model_list: must be a list of {model_name, litellm_params}")
    for i, entry in enumerate(model_list):
        if not isinstance(entry, Mapping) or "model_name" not in entry:
            raise ConfigError(f"  - model_list[{i}]: needs model_name and litellm_params")
        params = dict(entry.get("litellm_params") or {})
        if "model" not in params:
            raise ConfigError(f"  - model_list[{i}].litellm_params.model: required field is missing")
        dep: dict[str, Any] = {}
        for key in (
            "model",
            "api_base",
            "api_key",
            "api_version",
            "timeout",
            "max_tokens",
            "input_cost_per_token",
            "output_cost_per_token",
            "rpm",
            "tpm",
            "weight",
        ):
            if key in params:
                dep[key] = params.pop(key)
        if params:
            dep["params"] = params
        info = entry.get("model_info") or {}
        if isinstance(info, Mapping):
            if "max_input_tokens" in info:
                dep["context_window"] = info["max_input_tokens"]
            caps = {
                "tools": info.get("supports_function_calling"),
                "json_schema": info.get("supports_response_schema"),
                "vision": info.get("supports_vision"),
            }
            caps = {k: v for k, v in caps.items() if v is not None}
            if caps:
                dep["capabilities"] = caps
        name = str(entry["model_name"])
        if _is_embedding_model(dep["model"], info):
            embeddings.setdefault("model", dep["model"])
            if "api_base" in dep:
                embeddings.setdefault("api_base", dep["api_base"])
            continue
        tier = tiers.setdefault(name, {"models": []})
        tier["models"].append(dep)
    if not tiers:
        raise ConfigError("  - model_list: is empty; at least one model is needed")
    for tier in tiers.values():
        providers = {str(d["model"]).split("/", 1)[0] for d in tier["models"]}
        tier["private"] = providers <= LOCAL_PROVIDERS

    settings = dict(data.get("router_settings") or {})
    fallbacks: dict[str, list[str]] = {}
    for item in settings.pop("fallbacks", None) or []:
        if isinstance(item, Mapping):
            for src, dst in item.items():
                fallbacks[str(src)] = [str(d) for d in (dst if isinstance(dst, list) else [dst])]
    router_settings: dict[str, Any] = {}
    for key in ("num_retries", "timeout", "retry_after", "allowed_fails", "cooldown_time", "routing_strategy"):
        if key in settings:
            router_settings[key] = settings[key]
    litellm_settings = data.get("litellm_settings") or {}
    if isinstance(litellm_settings, Mapping):
        if "drop_params" in litellm_settings:
            router_settings["drop_params"] = litellm_settings["drop_params"]
        if "num_retries" in litellm_settings and "num_retries" not in router_settings:
            router_settings["num_retries"] = litellm_settings["num_retries"]
        if "request_timeout" in litellm_settings and "timeout" not in router_settings:
            router_settings["timeout"] = litellm_settings["request_timeout"]
    out: dict[str, Any] = {
        "tiers": tiers,
        "routing": {"default": next(iter(tiers)), "fallbacks": fallbacks},
        "router_settings": router_settings,
    }
    if embeddings:
        out["embeddings"] = embeddings
    return out


def _is_embedding_model(model: str, model_info: Any) -> bool:
    """Embedding deployments become the ``embeddings`` section, not a chat tier."""
    if isinstance(model_info, Mapping) and model_info.get("mode") == "embedding":
        return True
    return "embed" in model.lower()
