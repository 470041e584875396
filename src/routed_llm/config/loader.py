"""Loading a routing config: YAML files, ``${ENV}`` interpolation, includes, and readable validation errors."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from routed_llm.config.litellm_proxy import _is_litellm_proxy_config, import_litellm_proxy_config
from routed_llm.config.root import RoutingConfig
from routed_llm.errors import ConfigError

_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")

#: Config paths of deployment values whose ``${VAR}`` may stay unresolved until the tier is
#: called (credentials and endpoints: ``api_key``, ``api_base``, extra ``litellm_params``).
#: Typed values (timeouts, prices, limits) must resolve at load, where they are validated.
_DEFERRABLE = re.compile(
    r"^(?:tiers\..+?\.models\[\d+\]|model_list\[\d+\]\.litellm_params)\."
    r"(?!(?:model|timeout|max_tokens|context_window|input_cost_per_token|output_cost_per_token|rpm|tpm|weight"
    r"|capabilities)(?:\.|\[|$))"
)


def _expand(text: str, env: Mapping[str, str], on_missing: Any) -> str:
    """Expand ``${VAR}`` / ``${VAR:-default}`` in ``text``; ``on_missing(match)`` supplies unset ones."""

    def repl(m: re.Match[str]) -> str:
        var, default = m.group(1), m.group(2)
        if isinstance(env, _References):
            return m.group(0)
        if var in env and (env[var] != "" or default is None):
            return env[var]
        if default is not None:
            return default
        return str(on_missing(m))

    return _ENV_PATTERN.sub(repl, text)


def _interpolate(value: Any, env: Mapping[str, str], path: str, missing: list[str]) -> Any:
    """Expand ``${VAR}`` and ``${VAR:-default}`` in every string of ``value``.

    An unset variable in a deployment's credentials or endpoint (`_DEFERRABLE`) is
    left as written, to be resolved when its tier is called (`resolve_env`): a
    missing key then fails that tier only, and commands that call no model
    (``explain``, ``report``) work without it. Anywhere else it is an error.
    """
    if isinstance(value, str):
        # LiteLLM's own ``os.environ/VAR`` references are left for LiteLLM to resolve at
        # call time, so a config loads even where a cloud key is absent.
        def unset(m: re.Match[str]) -> str:
            if _DEFERRABLE.match(path):
                return m.group(0)
            var = m.group(1)
            missing.append(
                f"{path}: environment variable {var} is not set "
                f"(set it, or write ${{{var}:-default}} to give a default)"
            )
            return ""

        return _expand(value, env, unset)
    if isinstance(value, Mapping):
        return {k: _interpolate(v, env, f"{path}.{k}" if path else str(k), missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env, f"{path}[{i}]", missing) for i, v in enumerate(value)]
    return value


#: Field names whose values are secrets (or may carry one, like a store URL with a password).
_SECRET_FIELDS = frozenset({"api_key", "secret_key", "public_key", "store", "url", "password", "token"})
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]*@")


def _is_secret_field(loc: Sequence[Any]) -> bool:
    names = [str(p).lower() for p in loc if isinstance(p, str)]
    return any(n in _SECRET_FIELDS or n.endswith(("_key", "_secret", "_token", "password")) for n in names[-1:])


def redact_credentials(text: str) -> str:
    """Hide the ``user:password@`` part of every URL in ``text`` (``redis://***@host``)."""
    return _URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}***@", text)


def resolve_env(value: Any, env: Mapping[str, str], path: str, missing: dict[str, str]) -> Any:
    """Resolve the ``${VAR}`` references a config kept for call time (see `_interpolate`).

    Walks strings, mappings and lists; each variable still unset is recorded in
    ``missing`` as ``{path: variable}`` and its reference is left in place.
    """
    if isinstance(value, str):

        def unset(m: re.Match[str]) -> str:
            missing[path] = m.group(1)
            return m.group(0)

        return _expand(value, env, unset) if "${" in value else value
    if isinstance(value, Mapping):
        return {k: resolve_env(v, env, f"{path}.{k}", missing) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_env(v, env, f"{path}[{i}]", missing) for i, v in enumerate(value)]
    return value


def env_references(value: Any) -> set[str]:
    """Names of the variables referenced by ``${VAR}`` anywhere in ``value`` (strings, mappings, lists)."""
    if isinstance(value, str):
        return {m.group(1) for m in _ENV_PATTERN.finditer(value)}
    if isinstance(value, Mapping):
        return set().union(*(env_references(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(env_references(v) for v in value)) if value else set()
    return set()


def _format_validation_error(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ""
        for part in e["loc"]:
            loc += f"[{part}]" if isinstance(part, int) else (f".{part}" if loc else str(part))
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown field (check the spelling; see the config reference in README)"
        elif e["type"] == "missing":
            msg = "required field is missing"
        got = e.get("input")
        shown = "" if e["type"] in ("missing", "extra_forbidden") or isinstance(got, dict) else f" (got {got!r})"
        if shown and _is_secret_field(e["loc"]):
            shown = f" (got a {type(got).__name__}, value hidden)"  # a secret is never printed, not even mistyped
        elif shown and isinstance(got, str):
            shown = f" (got {redact_credentials(got)!r})"
        lines.append(f"  - {loc or '<root>'}: {msg}{shown}")
    return "\n".join(lines)


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"  - file not found: {path}", source=str(path)) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"  - not valid YAML: {e}", source=str(path)) from e


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge mappings; lists and scalars in ``override`` replace those in ``base``."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def _resolve(data: Any, *, env: Mapping[str, str], base_dir: Path | None, source: str | None) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise ConfigError(f"  - <root>: expected a mapping, got {type(data).__name__}", source=source)
    missing: list[str] = []
    data = _interpolate(dict(data), env, "", missing)
    if missing:
        raise ConfigError("\n".join(f"  - {m}" for m in missing), source=source)
    if _is_litellm_proxy_config(data):
        return import_litellm_proxy_config(data)
    include = data.pop("include_litellm_proxy", None)
    if include is not None:
        inc_path = Path(str(include)).expanduser()
        if not inc_path.is_absolute() and base_dir is not None:
            inc_path = base_dir / inc_path
        imported = _resolve(_read_yaml(inc_path), env=env, base_dir=inc_path.parent, source=str(inc_path))
        data = _merge(imported, data)
    return _scorer_relative_to(dict(data), base_dir)


def _scorer_relative_to(data: dict[str, Any], base_dir: Path | None) -> dict[str, Any]:
    """Make a relative ``routing.scorer`` file (and ``routing.shadow.outcomes``) relative to the config file."""
    routing = data.get("routing")
    shadow = routing.get("shadow") if isinstance(routing, Mapping) else None
    outcomes = shadow.get("outcomes") if isinstance(shadow, Mapping) else None
    if base_dir is not None and isinstance(outcomes, str) and outcomes.strip():
        if not Path(outcomes.strip()).expanduser().is_absolute():
            routing = {**routing, "shadow": {**shadow, "outcomes": str(base_dir / outcomes.strip())}}  # type: ignore[dict-item]
            data["routing"] = routing
    scorer = routing.get("scorer") if isinstance(routing, Mapping) else None
    if base_dir is None or not isinstance(scorer, str) or scorer.strip().lower() in ("", "heuristic", "learned"):
        return data
    path = Path(scorer.strip()).expanduser()
    if not path.is_absolute():
        data["routing"] = {**routing, "scorer": str(base_dir / path)}  # type: ignore[dict-item]
    return data


def load_config(
    source: str | os.PathLike[str] | Mapping[str, Any], *, env: Mapping[str, str] | None = None
) -> RoutingConfig:
    """Load and validate a routing config from a YAML file path or a mapping.

    Accepts routed-llm's own schema, a LiteLLM proxy config as it stands, or a
    routed-llm file with ``include_litellm_proxy: path`` whose ``tiers`` and
    ``routing`` sections patch the imported ones. Strings may use ``${VAR}`` and
    ``${VAR:-default}`` (``env`` defaults to ``os.environ``); LiteLLM's
    ``os.environ/VAR`` is resolved by LiteLLM at call time.

    Raises:
        ConfigError: naming the YAML path of every bad value and what is allowed.
    """
    env = os.environ if env is None else env
    if isinstance(source, Mapping):
        data, base_dir, where = source, None, None
    else:
        path = Path(source).expanduser()
        data, base_dir, where = _read_yaml(path), path.parent, str(path)
    try:
        resolved = _resolve(data, env=env, base_dir=base_dir, source=where)
        config = RoutingConfig.model_validate(resolved)
    except ValidationError as e:
        raise ConfigError(_format_validation_error(e), source=where) from None
    except RecursionError:
        raise ConfigError(
            "  - <root>: the config is nested too deeply to be a routing config (hundreds of levels); "
            "check for a generated or self-referencing YAML",
            source=where,
        ) from None
    config._source = (data, base_dir, where)
    return config


class _References(Mapping[str, str]):
    """An environment in which every variable is set to its own ``${VAR}`` reference.

    Resolving a config against it yields the config's final shape (LiteLLM proxy
    configs imported, includes merged) with every reference still in place.
    """

    def __getitem__(self, key: str) -> str:
        return "${" + key + "}"

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str)

    def __iter__(self) -> Any:
        return iter(())

    def __len__(self) -> int:
        return 0


def config_references(config: RoutingConfig) -> dict[str, str]:
    """``{config path: the string as written}`` for every string of ``config`` that used ``${VAR}``.

    Paths are in the final schema (``tiers.fast.models[0].api_key``) even when the
    file was a LiteLLM proxy config. Empty for configs not built by `load_config`.
    """
    source = config._source
    if source is None:
        return {}
    data, base_dir, where = source
    try:
        traced = _resolve(data, env=_References(), base_dir=base_dir, source=where)
    except ConfigError:
        return {}
    out: dict[str, str] = {}

    def walk(value: Any, path: str) -> None:
        if isinstance(value, str) and "${" in value:
            out[path] = value
        elif isinstance(value, Mapping):
            for k, v in value.items():
                walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{path}[{i}]")

    walk(traced, "")
    return out
