"""A routing config as plain data that can be written out: every secret a ``${VAR}`` reference.

Framework objects built on a config (LangChain ``dumps``, ``pickle``, LlamaIndex
``to_dict``) are serialised from their config, and a serialised form must never
hold a key. `config_source` returns data `load_config` accepts again, in which
each secret is the ``${VAR}`` reference it was loaded from (or, for a secret
written literally, a reference to a variable named after its place in the config,
e.g. ``${ROUTED_LLM_TIERS_FAST_MODELS_0_API_KEY}``). Loading resolves them from the
environment, deployment credentials only when their tier is called.

Pickle is different: it moves a live object to another process of the same app
(multiprocessing, Ray, Dask), as LangChain's own chat models do with their
``SecretStr`` keys. ``config_source(config, keep_secrets=True)`` keeps a literal
secret as the `SecretStr` it is (hidden from ``repr``, carried by pickle), so the
copy works where the original did; references stay references.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, SecretStr

from routed_llm.config import RoutingConfig, config_references

__all__ = ["config_source", "secret_variable"]

_REFERENCE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


def secret_variable(path: str) -> str:
    """Name the environment variable a literal secret at ``path`` is written out as."""
    return "ROUTED_LLM_" + re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_").upper()


def _is_plain_url(value: str) -> bool:
    """Tell a store URL without a password (``sqlite:///...``, ``redis://host``): configuration, not a secret."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return bool(parts.scheme) and "://" in value and parts.password is None and not parts.query


def config_source(
    config: RoutingConfig, *, reference: Callable[[str], Any] | None = None, keep_secrets: bool = False
) -> dict[str, Any]:
    """Return ``config`` as plain data for `load_config`, with no secret value in it (unless ``keep_secrets``).

    Args:
        config: the config to write out.
        reference: turns a ``${VAR}`` reference standing for a whole secret into what is
            written instead (LangChain writes its secret markers); default: the reference.
        keep_secrets: keep a secret written literally as its `SecretStr` (for pickle, which
            must give a working copy) instead of a ``${ROUTED_LLM_...}`` reference.
    """
    written = config_references(config)

    def secret(path: str, value: str) -> Any:
        template = written.get(path)
        if template is not None:
            text = template
        elif "${" in value or value.startswith("os.environ/") or _is_plain_url(value):
            text = value  # a reference (ours kept for call time, or LiteLLM's), or a URL with no password
        elif keep_secrets:
            return SecretStr(value)
        else:
            text = "${" + secret_variable(path) + "}"
        match = _REFERENCE.match(text)
        return reference(match.group(1)) if match is not None and reference is not None else text

    def plain(value: Any, path: str) -> Any:
        if isinstance(value, SecretStr):
            return secret(path, value.get_secret_value())
        if isinstance(value, BaseModel):
            fields = value.model_fields_set
            return {
                k: plain(getattr(value, k), f"{path}.{k}" if path else k)
                for k in type(value).model_fields
                if k in fields
            }
        if isinstance(value, Mapping):
            return {k: plain(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, Enum):
            return value.value
        if isinstance(value, Path):
            return str(value)
        return value

    out = plain(config, "")
    assert isinstance(out, dict)
    return out
