"""The ``embeddings:`` config section and the embedder's construction-time checks (no sockets)."""

from __future__ import annotations

from pathlib import Path

import pytest

from routed_llm import load_config
from routed_llm.config import EmbeddingDeployment, EmbeddingsConfig
from routed_llm.embeddings import Embedder, load_embeddings_config
from routed_llm.errors import ConfigError

EXAMPLES = Path(__file__).parents[2] / "examples" / "configs"


def test_model_api_base_shorthand_is_one_deployment() -> None:
    cfg = EmbeddingsConfig.model_validate({"model": "ollama/nomic-embed-text", "api_base": "http://gpu:11434"})
    assert cfg.model == "ollama/nomic-embed-text"
    assert [(d.model, d.api_base) for d in cfg.deployments] == [("ollama/nomic-embed-text", "http://gpu:11434")]


def test_model_mirrors_the_primary_deployment() -> None:
    cfg = EmbeddingsConfig.model_validate(
        {
            "deployments": [
                {"model": "ollama/nomic-embed-text", "api_base": "http://a:11434"},
                {"model": "ollama/nomic-embed-text"},
            ]
        }
    )
    assert cfg.model == "ollama/nomic-embed-text" and cfg.api_base == "http://a:11434"
    # round trip: the mirrored fields validate again
    assert EmbeddingsConfig.model_validate(cfg.model_dump()) == cfg


def test_shorthand_that_contradicts_deployments_names_the_field() -> None:
    with pytest.raises(ConfigError, match=r"embeddings: .*model \('ollama/all-minilm'\) is shorthand"):
        load_config(
            {
                "tiers": {"local": {"models": [{"model": "ollama_chat/llama3.2:3b"}], "private": True}},
                "routing": {"default": "local"},
                "embeddings": {"model": "ollama/all-minilm", "deployments": [{"model": "ollama/nomic-embed-text"}]},
            }
        )


def test_section_needs_a_model() -> None:
    with pytest.raises(ConfigError, match="give model"):
        load_embeddings_config({"embeddings": {"batch_size": 8}})


def test_unknown_field_is_an_error_with_its_path() -> None:
    with pytest.raises(ConfigError, match=r"embeddings\.deployments\[0\]\.dimension: unknown field"):
        load_embeddings_config(
            {"embeddings": {"deployments": [{"model": "ollama/nomic-embed-text", "dimension": 256}]}}
        )


@pytest.mark.parametrize(
    ("dep", "private"),
    [
        ({"model": "ollama/nomic-embed-text"}, True),  # default localhost
        ({"model": "ollama/nomic-embed-text", "api_base": "http://ollama:11434"}, True),  # compose service name
        ({"model": "ollama/nomic-embed-text", "api_base": "http://192.168.1.20:11434"}, True),
        ({"model": "ollama/nomic-embed-text", "api_base": "http://gpu-box.lan:11434"}, True),
        ({"model": "openai/x", "api_base": "http://127.0.0.1:8000/v1"}, True),
        ({"model": "local/all-minilm-l6-v2"}, True),
        ({"model": "ollama/nomic-embed-text", "api_base": "https://ollama.example.com"}, False),
        ({"model": "openai/text-embedding-3-small"}, False),
        ({"model": "openai/text-embedding-3-small", "private": True}, True),  # the user's word wins
        ({"model": "ollama/nomic-embed-text", "private": False}, False),
    ],
)
def test_privacy_is_inferred_from_where_the_deployment_runs(dep: dict, private: bool) -> None:
    assert EmbeddingDeployment.model_validate(dep).is_private is private


def test_cloud_deployment_is_refused_unless_explicitly_allowed() -> None:
    section = {"deployments": [{"model": "ollama/nomic-embed-text"}, {"model": "openai/text-embedding-3-small"}]}
    with pytest.raises(ConfigError) as info:
        load_embeddings_config({"embeddings": section})
    msg = str(info.value)
    assert "deployments[1] (openai/text-embedding-3-small) is not private" in msg
    assert "allow_non_private: true" in msg
    cfg = load_embeddings_config({"embeddings": {**section, "allow_non_private": True}})
    assert [d.is_private for d in cfg.deployments] == [True, False]


@pytest.mark.parametrize(
    ("dep", "backend"),
    [
        ({"model": "ollama/nomic-embed-text"}, "ollama"),
        ({"model": "openai/nomic-embed-text", "api_base": "http://localhost:8000/v1"}, "openai"),
        ({"model": "hosted_vllm/BAAI/bge-m3", "api_base": "http://vllm:8000/v1"}, "openai"),
        ({"model": "lm_studio/text-embedding-nomic-embed-text-v1.5"}, "openai"),
        ({"model": "litellm_proxy/embed", "api_base": "http://proxy:4000"}, "openai"),
        ({"model": "openai/text-embedding-3-small"}, "litellm"),
        ({"model": "cohere/embed-english-v3.0"}, "litellm"),
        ({"model": "local/all-minilm-l6-v2"}, "local"),
        ({"model": "ollama/nomic-embed-text", "backend": "openai", "api_base": "http://h:11434/v1"}, "openai"),
    ],
)
def test_backend_is_inferred_from_the_model(dep: dict, backend: str) -> None:
    assert EmbeddingDeployment.model_validate(dep).resolved_backend == backend


def test_redis_cache_needs_a_url_and_keeps_it_secret() -> None:
    with pytest.raises(ConfigError, match="cache.url"):
        load_embeddings_config({"model": "ollama/nomic-embed-text", "cache": {"backend": "redis"}})
    cfg = load_embeddings_config(
        {"model": "ollama/nomic-embed-text", "cache": {"backend": "redis", "url": "redis://:hunter2@localhost:6379/0"}}
    )
    assert "hunter2" not in repr(cfg) and "hunter2" not in str(cfg.model_dump())


def test_api_key_never_shows_in_reprs() -> None:
    dep = {"model": "openai/x", "api_base": "http://localhost:8000/v1", "api_key": "sk-secret"}
    cfg = load_embeddings_config({"deployments": [dep]})
    emb = Embedder(cfg, cache=None)
    assert "sk-secret" not in repr(cfg) and "sk-secret" not in repr(emb)
    assert cfg.deployments[0].api_key is not None and cfg.deployments[0].api_key.get_secret_value() == "sk-secret"


# --------------------------------------------------------------------------- spaces from config


def test_nomic_space_with_matryoshka_dimensions() -> None:
    emb = Embedder({"model": "ollama/nomic-embed-text", "dimensions": 256}, cache=None)
    assert emb.space.id == "nomic-embed-text-v1.5@256/nomic"
    assert emb.space.prefixes.query == "search_query: "


def test_nomic_refuses_untrained_dimensions() -> None:
    with pytest.raises(ConfigError, match=r"embeddings\.deployments\[0\]\.dimensions: .*768, 512, 256, 128, 64"):
        Embedder({"model": "ollama/nomic-embed-text", "dimensions": 300}, cache=None)


def test_non_matryoshka_model_refuses_truncation() -> None:
    with pytest.raises(ConfigError, match="not a Matryoshka model"):
        Embedder({"model": "ollama/all-minilm", "dimensions": 128}, cache=None)


def test_dimensions_above_native_are_refused() -> None:
    with pytest.raises(ConfigError, match="more than the model's 768"):
        Embedder({"model": "ollama/nomic-embed-text", "dimensions": 1024}, cache=None)


def test_prefixes_are_configurable_per_deployment() -> None:
    emb = Embedder(
        {
            "deployments": [
                {"model": "openai/my-e5", "api_base": "http://l:1/v1", "native_dimensions": 8, "prefixes": "e5"}
            ]
        },
        cache=None,
    )
    assert emb.space.id == "my-e5@8/e5"
    custom = Embedder(
        {
            "deployments": [{"model": "ollama/x", "native_dimensions": 8}],
            "prefixes": {"query": "Q: ", "document": "D: "},
        },
        cache=None,
    )
    assert custom.space.prefixes.query == "Q: " and custom.space.prefixes.name.startswith("custom-")


def test_space_override_makes_renamed_models_one_space() -> None:
    emb = Embedder(
        {
            "space": "nomic-embed-text-v1.5",
            "deployments": [
                {"model": "ollama/nomic-embed-text"},
                {"model": "openai/local-model", "api_base": "http://localhost:1234/v1", "native_dimensions": 768},
            ],
        },
        cache=None,
    )
    (_, first, _), (_, second, _) = emb.deployments
    assert first == second == "nomic-embed-text-v1.5@768/nomic"


def test_no_section_means_the_in_process_default() -> None:
    cfg = load_config(EXAMPLES / "seed001_mobius.yaml")
    emb = Embedder(cfg if cfg.embeddings is None else None, cache=None)
    assert emb.space.id == "all-minilm-l6-v2@384/none"
    assert emb.deployments[0][2] is True  # private: in-process


def test_seed_config_embeddings_resolve_to_nomic_on_ollama() -> None:
    emb = Embedder(EXAMPLES / "seed003_routing_strategy.yaml", cache=None)
    assert emb.space.id == "nomic-embed-text-v1.5@768/nomic"
    assert emb.config.deployments[0].resolved_backend == "ollama"


def test_embeddings_only_file_with_env_interpolation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBED_HOST", "http://10.0.0.5:11434")
    path = tmp_path / "embed.yaml"
    path.write_text("embeddings:\n  model: ollama/nomic-embed-text\n  api_base: ${EMBED_HOST}\n  dimensions: 128\n")
    cfg = load_embeddings_config(path)
    assert cfg.deployments[0].api_base == "http://10.0.0.5:11434" and cfg.dimensions == 128
