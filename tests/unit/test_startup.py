"""Start-up: routing decisions without LiteLLM, token counts equal to LiteLLM's, lazy credentials.

A routing decision must not pay for importing LiteLLM (seconds), so the import
checks run in fresh interpreters: this test process has LiteLLM loaded already.
"""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import litellm
import pytest

from routed_llm import ConfigError, MissingCredential, Router, load_config
from routed_llm.catalog import _bundled_model_cost, build_profiles
from routed_llm.cli import main
from routed_llm.defaults import default_config
from routed_llm.engine import build_model_list
from routed_llm.tokens import COUNTING_MODEL, count_prompt_tokens, count_text_tokens

ROOT = Path(__file__).resolve().parents[2]
KOSMOS = ROOT / "examples" / "configs" / "seed000_kosmos.yaml"
KOSMOS_VARS = ("HF_ENDPOINT_URL", "HF_API_KEY", "GROQ_API_KEY")


def _fresh_python(code: str, **env: str) -> dict[str, Any]:
    """Run ``code`` in a new interpreter (no LiteLLM loaded yet); it prints one JSON object."""
    full_env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", **env}
    for var in KOSMOS_VARS:
        full_env.pop(var, None)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=full_env, check=True
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def test_a_routing_decision_does_not_import_litellm() -> None:
    result = _fresh_python(
        "import json, sys\n"
        "from routed_llm import Router\n"
        "router = Router()\n"
        "decision = router.route('hello', {'task': 'chat'})\n"
        "print(json.dumps({'tier': decision.tier, 'tokens': decision.needs.prompt_tokens,\n"
        "                  'litellm': 'litellm' in sys.modules}))\n",
        OLLAMA_BASE_URL="http://127.0.0.1:9",  # nothing listens: the probe fails fast, offline
    )
    assert result["litellm"] is False
    assert result["tier"] in ("local", "fast", "premium")
    assert result["tokens"] == count_prompt_tokens([{"role": "user", "content": "hello"}])


def test_importing_the_framework_adapters_does_not_import_litellm() -> None:
    result = _fresh_python(
        "import json, sys\n"
        "import langchain_routed_llm, llama_index.llms.routed_llm, llama_index.embeddings.routed_llm\n"
        "print(json.dumps({'litellm': 'litellm' in sys.modules}))\n"
    )
    assert result["litellm"] is False


def test_explain_on_the_kosmos_config_works_without_its_keys_and_without_litellm() -> None:
    result = _fresh_python(
        "import json, sys, io, contextlib\n"
        "from routed_llm.cli import main\n"
        f"code = main(['explain', 'Classify this ticket', '--json', '-c', {str(KOSMOS)!r}])\n"
        "print(json.dumps({'code': code, 'litellm': 'litellm' in sys.modules}))\n"
    )
    assert result == {"code": 0, "litellm": False}


PROMPTS: list[list[dict[str, Any]]] = [
    [{"role": "user", "content": "hello"}],
    [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Hello, wörld! <|endoftext|>"}],
    [{"role": "user", "content": "Name me", "name": "alice"}, {"role": "assistant", "content": None}],
    [{"role": "user", "content": "ünïcödé 日本語のテキスト 🚀 " * 300}],  # several 1,024-character chunks
    [{"role": "user", "content": "x" * 5000 + " end"}, {"role": "assistant", "content": "ok"}],
    [{"role": "user", "content": ""}],
]


@pytest.mark.parametrize("messages", PROMPTS)
def test_prompt_counts_equal_litellm_token_counter(messages: list[dict[str, Any]]) -> None:
    expected = litellm.token_counter(model=COUNTING_MODEL, messages=messages, use_default_image_token_count=True)
    assert count_prompt_tokens(messages) == expected


def test_tools_and_content_parts_are_counted_by_litellm_itself() -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    messages = [{"role": "user", "content": [{"type": "text", "text": "weather in Paris?"}]}]
    expected = litellm.token_counter(
        model=COUNTING_MODEL, messages=messages, tools=tools, use_default_image_token_count=True
    )
    assert count_prompt_tokens(messages, tools) == expected


@pytest.mark.parametrize("text", ["", "a streamed answer", "z" * 3000])
def test_text_counts_equal_litellm_token_counter(text: str) -> None:
    assert count_text_tokens(text) == litellm.token_counter(model=COUNTING_MODEL, text=text)


def test_the_bundled_price_map_gives_the_profiles_litellm_model_cost_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(
        {
            "tiers": {
                "a": {"models": [{"model": "openai/gpt-4o"}, {"model": "gpt-4o-mini"}]},
                "b": {"models": [{"model": "anthropic/claude-3-5-haiku-20241022"}]},
            },
            "routing": {"default": "a"},
        }
    )
    with_litellm = build_profiles(config)
    monkeypatch.delitem(sys.modules, "litellm")  # as in a process that has not imported it
    without = build_profiles(config)
    assert without == with_litellm
    assert without["a"].context_window > 100_000 and without["a"].input_cost_per_token > 0
    bundled = _bundled_model_cost()
    assert bundled is not None and "fallback_generalizations" not in bundled


def test_no_register_model_warnings_when_the_default_router_starts() -> None:
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect(level=logging.WARNING)
    logger = logging.getLogger("LiteLLM")
    logger.addHandler(handler)
    try:
        router = Router(default_config(probe_ollama=False))
        assert router.engine.router is not None  # LiteLLM's Router is built (and registers models) here
        router.close()
    finally:
        logger.removeHandler(handler)
    messages = [r.getMessage() for r in records]
    assert not [m for m in messages if "register_model" in m], messages


# ---------------------------------------------------------------------------- lazy credentials


@pytest.fixture
def no_kosmos_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in KOSMOS_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.mark.usefixtures("no_kosmos_keys")
def test_kosmos_config_loads_without_its_keys_and_keeps_the_references() -> None:
    config = load_config(KOSMOS)
    dep = config.tiers["mistral-7b"].models[0]
    assert dep.api_base == "${HF_ENDPOINT_URL}"
    assert dep.api_key is not None and dep.api_key.get_secret_value() == "${HF_API_KEY}"
    missing: dict[str, dict[str, str]] = {}
    model_list = build_model_list(config, env={}, missing=missing)
    assert {m["model_name"] for m in model_list} == {"llama3.2:3b"}
    assert missing["groq-llama"] == {"tiers.groq-llama.models[0].api_key": "GROQ_API_KEY"}
    assert set(missing["mistral-7b"].values()) == {"HF_ENDPOINT_URL", "HF_API_KEY"}


@pytest.mark.usefixtures("no_kosmos_keys")
def test_explain_and_report_on_kosmos_work_without_its_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from routed_llm.budget import SpendEntry, SQLiteLedger

    ledger = SQLiteLedger(tmp_path / "ledger.db")
    ledger.record(SpendEntry("a", 1.7e9, "mistral-7b", "huggingface/m", "huggingface", 0.5, {}), ["total"])
    ledger.close()
    monkeypatch.setenv("ROUTED_LLM_LEDGER", f"sqlite:///{tmp_path}/ledger.db")
    assert main(["explain", "Classify this support ticket", "-c", str(KOSMOS)]) == 0
    assert "llama3.2:3b" in capsys.readouterr().out
    assert main(["report", "-c", str(KOSMOS), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["calls"] == 1


def test_an_unset_variable_outside_deployment_credentials_is_still_a_load_error() -> None:
    with pytest.raises(ConfigError, match=r"budgets\.store: environment variable RL_TEST_NOT_SET is not set"):
        load_config(
            {
                "tiers": {"a": {"models": [{"model": "openai/gpt-4o"}]}},
                "routing": {"default": "a"},
                "budgets": {"store": "${RL_TEST_NOT_SET}"},
            },
            env={},
        )


def test_missing_credential_error_names_the_variable_and_the_config_path() -> None:
    err = MissingCredential("fast", {"tiers.fast.models[0].api_key": "GROQ_API_KEY"})
    assert "GROQ_API_KEY" in str(err) and "tiers.fast.models[0].api_key" in str(err) and "'fast'" in str(err)
