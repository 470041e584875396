"""The config reference: every YAML key with its type, default and meaning, generated from the models.

The README's reference table is the output of `render_reference`, written between the
``<!-- config-reference:start -->`` and ``<!-- config-reference:end -->`` markers by
``routed-llm config-reference --write README.md``. The text comes from the docstrings under the
fields of `routed_llm.config` (pydantic's ``use_attribute_docstrings``), so the validation
errors' pointer to "the config reference in README" and the models cannot say different things;
a unit test fails when the README's block drifts from what this module renders.
"""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from routed_llm.config import RoutingConfig
from routed_llm.errors import ConfigError

__all__ = [
    "END_MARKER",
    "START_MARKER",
    "ReferenceRow",
    "check_readme",
    "iter_rows",
    "render_reference",
    "replace_block",
]

START_MARKER = "<!-- config-reference:start -->"
END_MARKER = "<!-- config-reference:end -->"

#: Keys `load_config` reads before validation: they have no model field, so they are listed here.
_LOADER_KEYS = (
    (
        "include_litellm_proxy",
        "str",
        "null",
        "Path (relative to this file) of a LiteLLM proxy config to import; this file's sections patch it.",
    ),
)


@dataclass(frozen=True)
class ReferenceRow:
    """One key of the reference: dotted YAML path, type, default and description."""

    key: str
    type: str
    default: str
    description: str


def _type_name(annotation: Any) -> str:
    """Render a field annotation the way a YAML author reads it (``list[str]``, ``"raise" | "truncate"``)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is typing.Literal:
        return " | ".join(json.dumps(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        parts = [_type_name(a) for a in args if a is not type(None)]
        return " | ".join(parts) + (" | null" if type(None) in args else "")
    if origin is list:
        return f"list[{_type_name(args[0])}]"
    if origin is dict:
        return f"dict[{_type_name(args[0])}, {_type_name(args[1])}]"
    if isinstance(annotation, type):
        if issubclass(annotation, Enum):
            return " | ".join(json.dumps(m.value) for m in annotation)
        if issubclass(annotation, SecretStr):
            return "secret str"
        if issubclass(annotation, BaseModel):
            return "mapping"
        return annotation.__name__
    return str(annotation)


def _default(field: FieldInfo) -> str:
    """Render a field's default as YAML would spell it; ``required`` when it has none."""
    if field.default is PydanticUndefined and field.default_factory is None:
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, SecretStr):
        value = value.get_secret_value()  # defaults are local file URLs, never secrets
    if isinstance(value, BaseModel):
        value = value.model_dump(exclude_defaults=True)
    return json.dumps(value, default=str)


def _one_line(text: str | None) -> str:
    """Collapse a docstring into one Markdown line.

    RST double backticks become code spans, and Python's ``None`` becomes YAML's ``null``, which is
    what the reader writes.
    """
    text = (text or "").replace("``", "`").replace("`None`", "`null`")
    return re.sub(r"\s+", " ", text).strip()


def _models_in(annotation: Any) -> Iterator[tuple[str, type[BaseModel]]]:
    """Yield ``(path suffix, model)`` for each model nested in an annotation.

    The suffix is ``[]`` for list items and ``.<name>`` for mapping values.
    """
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        yield from _models_in(args[0])
    elif origin in (typing.Union, types.UnionType):
        for arg in args:
            yield from _models_in(arg)
    elif origin is list:
        yield from (("[]" + suffix, model) for suffix, model in _models_in(args[0]))
    elif origin is dict:
        yield from ((".<name>" + suffix, model) for suffix, model in _models_in(args[1]))
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield "", annotation


def iter_rows(model: type[BaseModel] = RoutingConfig, prefix: str = "") -> Iterator[ReferenceRow]:
    """Walk ``model`` depth-first, yielding a row per field and then the rows of any nested model."""
    for name, field in model.model_fields.items():
        key = f"{prefix}.{name}" if prefix else name
        yield ReferenceRow(key, _type_name(field.annotation), _default(field), _one_line(field.description))
        seen: set[tuple[str, type[BaseModel]]] = set()
        for suffix, nested in _models_in(field.annotation):
            if (suffix, nested) not in seen:
                seen.add((suffix, nested))
                yield from iter_rows(nested, key + suffix)


def _cell(text: str, code: bool = False) -> str:
    text = text.replace("|", "\\|")
    return f"`{text}`" if code and text else text


def render_reference() -> str:
    """Render the Markdown table of every config key (what goes between the README's markers)."""
    rows = list(iter_rows())
    rows[0:0] = [ReferenceRow(*row) for row in _LOADER_KEYS]
    lines = [
        "<!-- generated by `routed-llm config-reference --write README.md`; edit the docstrings in"
        " src/routed_llm/config/, not this table -->",
        "",
        "| key | type | default | meaning |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {_cell(r.key, True)} | {_cell(r.type, True)} | {_cell(r.default, r.default != 'required')} "
        f"| {_cell(r.description)} |"
        for r in rows
    ]
    return "\n".join(lines)


def _block_span(text: str, source: str) -> tuple[int, int]:
    start, end = text.find(START_MARKER), text.find(END_MARKER)
    if start < 0 or end < start:
        raise ConfigError(
            f"  - {source}: needs the markers {START_MARKER} and {END_MARKER} (in that order) "
            "around the config reference"
        )
    return start + len(START_MARKER), end


def replace_block(text: str, source: str = "README.md") -> str:
    """Return ``text`` with the block between the markers replaced by a freshly rendered reference."""
    begin, end = _block_span(text, source)
    return text[:begin] + "\n" + render_reference() + "\n" + text[end:]


def check_readme(path: str | Path) -> bool:
    """Whether the reference block in the file at ``path`` matches the models."""
    text = Path(path).read_text(encoding="utf-8")
    return replace_block(text, str(path)) == text
