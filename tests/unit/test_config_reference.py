"""The README's config reference is generated from the pydantic models and must not drift from them."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from routed_llm.cli import main
from routed_llm.config import load_config
from routed_llm.config_reference import (
    END_MARKER,
    START_MARKER,
    check_readme,
    iter_rows,
    render_reference,
    replace_block,
)
from routed_llm.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
KEYS = {row.key for row in iter_rows()} | {"include_litellm_proxy"}


def test_readme_block_matches_the_models() -> None:
    # Fails when a field, type, default or docstring in routed_llm/config.py changes without
    # `uv run routed-llm config-reference --write README.md`.
    assert check_readme(README), "README's config reference is stale: run routed-llm config-reference --write README.md"


def test_every_key_has_a_one_line_description() -> None:
    rows = list(iter_rows())
    missing = [row.key for row in rows if not row.description]
    assert not missing, f"fields without a docstring (add one under the field in config.py): {missing}"
    assert all("\n" not in row.description for row in rows)
    assert len(rows) > 100  # the whole tree, not only the top level


def test_reference_types_and_defaults() -> None:
    rows = {row.key: row for row in iter_rows()}
    assert rows["routing.default"].default == "required"
    assert rows["routing.last_resort"].type == '"any_eligible" | "raise"'
    assert rows["routing.last_resort"].default == '"any_eligible"'
    assert rows["tiers.<name>.models[].api_key"].type == "secret str | null"
    assert rows["budgets.store"].default == '"sqlite:///~/.routed_llm/ledger.db"'
    assert rows["budgets.record_metadata"].default == '["user_id", "tags"]'
    assert rows["routing.rules[].when.complexity"].type == 'list["simple" | "medium" | "complex"] | null'
    # Python's None is written as YAML's null for the reader.
    assert "`None`" not in render_reference()


def _walk(data: Any, ref: str, path: str, unknown: list[str]) -> None:
    """Map a YAML document onto reference keys (``tiers.local`` -> ``tiers.<name>``) and collect misses."""
    below = [k for k in KEYS if k.startswith(ref + ".") or k.startswith(ref + "[]")] if ref else list(KEYS)
    if not below:
        return  # a leaf, or a free-form mapping such as `params` or `when.metadata`
    if isinstance(data, dict):
        for key, value in data.items():
            direct = f"{ref}.{key}" if ref else str(key)
            named = f"{ref}.<name>"
            if direct in KEYS:
                _walk(value, direct, f"{path}.{key}", unknown)
            elif any(k.startswith(named + ".") for k in below):
                _walk(value, named, f"{path}.{key}", unknown)
            else:
                unknown.append(f"{path}.{key}")
    elif isinstance(data, list):
        for i, item in enumerate(data):
            _walk(item, ref + "[]", f"{path}[{i}]", unknown)


# LiteLLM proxy configs (model_list) are in LiteLLM's schema, imported as they stand: not ours to list.
EXAMPLES = [
    p
    for p in sorted((ROOT / "examples" / "configs").glob("*.yaml"))
    if "model_list" not in yaml.safe_load(p.read_text(encoding="utf-8"))
]


@pytest.mark.parametrize("config", EXAMPLES, ids=lambda p: p.name)
def test_every_key_of_the_example_configs_is_in_the_reference(config: Path) -> None:
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    unknown: list[str] = []
    _walk(data, "", config.name, unknown)
    assert not unknown


def test_the_key_walk_reports_a_key_the_reference_lacks() -> None:
    unknown: list[str] = []
    _walk({"tiers": {"local": {"modles": [], "private": True}}, "routing": {"rules": [{"wen": {}}]}}, "", "x", unknown)
    assert unknown == ["x.tiers.local.modles", "x.routing.rules[0].wen"]


def test_unknown_field_error_points_at_a_reference_that_exists() -> None:
    with pytest.raises(ConfigError) as err:
        load_config({"tiers": {"t": {"models": [{"model": "gpt-4o", "timeuot": 5}]}}, "routing": {"default": "t"}})
    message = str(err.value)
    assert "tiers.t.models[0].timeuot: unknown field" in message
    assert "see the config reference in README" in message
    readme = README.read_text(encoding="utf-8")
    assert "\n## Config reference\n" in readme
    assert "| `tiers.<name>.models[].timeout` |" in readme  # the key the user meant is listed there


def test_cli_check_and_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = tmp_path / "README.md"
    doc.write_text(f"# title\n\n{START_MARKER}\n| stale | table |\n{END_MARKER}\n\nafter\n", encoding="utf-8")
    assert main(["config-reference", "--check", str(doc)]) == 1
    assert "differs from the models" in capsys.readouterr().err
    assert main(["config-reference", "--write", str(doc)]) == 0
    text = doc.read_text(encoding="utf-8")
    assert "stale" not in text and text.startswith("# title\n") and text.endswith("\nafter\n")
    assert main(["config-reference", "--check", str(doc)]) == 0
    assert main(["config-reference"]) == 0
    assert capsys.readouterr().out.rstrip("\n").endswith(render_reference().splitlines()[-1])


def test_missing_markers_are_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="config-reference:start"):
        replace_block("# no markers here\n", "DOC.md")
