from pathlib import Path

import pytest

from routed_llm import ConfigError, load_config

MINIMAL = {
    "tiers": {
        "local": {"models": [{"model": "ollama_chat/llama3.2:3b"}], "private": True},
        "premium": {"models": [{"model": "openai/gpt-4o", "api_key": "${OPENAI_API_KEY:-}"}]},
    },
    "routing": {"default": "local", "fallbacks": {"premium": ["local"]}},
}


def test_minimal_config_loads_and_keeps_order() -> None:
    cfg = load_config(MINIMAL, env={})
    assert list(cfg.tiers) == ["local", "premium"]
    assert cfg.tiers["local"].private is True
    assert cfg.tiers["premium"].models[0].api_key is None  # empty default -> no key
    assert cfg.fallbacks_for("premium") == ["local"]


def test_env_interpolation_with_and_without_default(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        "tiers:\n"
        "  local:\n"
        "    models: [{model: ollama_chat/x, api_base: '${BASE:-http://localhost:11434}'}]\n"
        "  cloud:\n"
        "    models: [{model: openai/gpt-4o, api_key: '${KEY}'}]\n"
        "routing: {default: local}\n"
    )
    cfg = load_config(path, env={"KEY": "sk-secret-value-123"})
    assert cfg.tiers["local"].models[0].api_base == "http://localhost:11434"
    assert cfg.tiers["cloud"].models[0].api_key.get_secret_value() == "sk-secret-value-123"
    cfg2 = load_config(path, env={"KEY": "k", "BASE": "http://gpu:11434"})
    assert cfg2.tiers["local"].models[0].api_base == "http://gpu:11434"
    # An unset credential is kept as written, to be resolved when its tier is called
    # (MissingCredential then names it): commands that call no model work without it.
    cfg3 = load_config(path, env={})
    assert cfg3.tiers["cloud"].models[0].api_key.get_secret_value() == "${KEY}"
    path.write_text(path.read_text() + "budgets: {store: '${STORE}'}\n")
    with pytest.raises(ConfigError) as e:
        load_config(path, env={"KEY": "k"})
    assert "budgets.store: environment variable STORE is not set" in str(e.value)


def test_secrets_never_in_repr() -> None:
    cfg = load_config(
        {
            "tiers": {"c": {"models": [{"model": "openai/gpt-4o", "api_key": "sk-abcdef1234567890"}]}},
            "routing": {"default": "c"},
        },
        env={},
    )
    assert "sk-abcdef1234567890" not in repr(cfg)
    assert "sk-abcdef1234567890" not in str(cfg)
    assert "sk-abcdef1234567890" not in cfg.model_dump_json()


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ({"routing": {"default": "nope"}}, "routing.default: unknown tier 'nope'; configured tiers: local, premium"),
        (
            {"tiers": {"local": {"models": [{"model": "x", "timeout": "soon"}]}}},
            "tiers.local.models[0].timeout: Input should be a valid number",
        ),
        (
            {"tiers": {"local": {"models": [{"model": "x", "timout": 3}]}}},
            "tiers.local.models[0].timout: unknown field",
        ),
        ({"tiers": {"local": {"models": []}}}, "tiers.local.models: List should have at least 1 item"),
        (
            {"routing": {"default": "local", "rules": [{"when": {"task": "poetry"}, "tier": "local"}]}},
            "unknown task 'poetry'; allowed: chat, reasoning",
        ),
        (
            {"routing": {"default": "local", "fallbacks": {"local": ["local"]}}},
            "routing.fallbacks.local[0]: a tier cannot fall back to itself",
        ),
        (
            {"routing": {"default": "local", "rules": [{"when": {}, "tier": "gpu"}]}},
            "routing.rules[0].tier: unknown tier 'gpu'",
        ),
    ],
)
def test_bad_config_names_the_path(patch: dict, expected: str) -> None:
    data = {**MINIMAL, **{k: ({**MINIMAL[k], **v} if k in MINIMAL else v) for k, v in patch.items()}}
    with pytest.raises(ConfigError) as e:
        load_config(data, env={})
    assert expected in str(e.value)


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("tiers: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_aliases_from_seed_vocabulary() -> None:
    cfg = load_config(
        {
            **MINIMAL,
            "routing": {
                "default": "local",
                "rules": [{"when": {"complexity": ["high", "moderate"], "task": "analysis"}, "tier": "premium"}],
            },
        },
        env={},
    )
    cond = cfg.routing.rules[0].when
    assert [c.value for c in cond.complexity] == ["complex", "medium"]
    assert [t.value for t in cond.task] == ["reasoning"]


def test_litellm_proxy_config_import(tmp_path: Path) -> None:
    proxy = tmp_path / "proxy.yaml"
    proxy.write_text(
        """
model_list:
  - model_name: smart
    litellm_params: {model: anthropic/claude-3-opus-20240229, api_key: os.environ/ANTHROPIC_API_KEY, rpm: 10}
  - model_name: smart
    litellm_params: {model: openai/gpt-4-turbo-preview, timeout: 30}
  - model_name: local
    litellm_params: {model: ollama/llama3, api_base: "http://localhost:11434"}
  - model_name: embed
    litellm_params: {model: ollama/nomic-embed-text, api_base: "http://localhost:11434"}
litellm_settings: {drop_params: false}
router_settings:
  num_retries: 3
  timeout: 120
  fallbacks:
    - smart: [local]
"""
    )
    cfg = load_config(proxy, env={})
    assert list(cfg.tiers) == ["smart", "local"]
    assert [d.model for d in cfg.tiers["smart"].models] == [
        "anthropic/claude-3-opus-20240229",
        "openai/gpt-4-turbo-preview",
    ]
    assert cfg.tiers["smart"].models[0].rpm == 10
    assert cfg.tiers["smart"].models[1].timeout == 30
    assert cfg.tiers["local"].private is True and cfg.tiers["smart"].private is False
    assert cfg.fallbacks_for("smart") == ["local"]
    assert cfg.router_settings.num_retries == 3 and cfg.router_settings.timeout == 120
    assert cfg.router_settings.drop_params is False
    assert cfg.embeddings is not None and cfg.embeddings.model == "ollama/nomic-embed-text"

    routing = tmp_path / "routing.yaml"
    routing.write_text(
        "include_litellm_proxy: proxy.yaml\n"
        "tiers:\n  smart: {latency_ms: 900}\n"
        "routing:\n  default: local\n  rules: [{when: {complexity: complex}, tier: smart}]\n"
    )
    merged = load_config(routing, env={})
    assert merged.routing.default == "local"
    assert merged.tiers["smart"].latency_ms == 900
    assert len(merged.tiers["smart"].models) == 2  # patched, not replaced
    assert merged.fallbacks_for("smart") == ["local"]  # kept from the proxy file
