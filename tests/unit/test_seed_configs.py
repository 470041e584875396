"""Each seed document's routing table, as written by the user, holds in its example config."""

from pathlib import Path
from typing import Any

import pytest

from routed_llm import RequestNeeds, RouteHints, load_config
from routed_llm.catalog import build_profiles
from routed_llm.policy import decide

CONFIGS = Path(__file__).resolve().parents[2] / "examples" / "configs"
ENV = {"HF_ENDPOINT_URL": "http://hf.invalid", "HF_API_KEY": "hf_test", "GROQ_API_KEY": "gsk_test"}
MSG = [{"role": "user", "content": "hi"}]


def router_for(name: str):
    cfg = load_config(CONFIGS / name, env=ENV)
    profiles = build_profiles(cfg)

    def route(prompt_tokens: int = 10, max_output: int = 0, **hints: Any):
        hints.setdefault("sensitivity", "public")
        hints.setdefault("complexity", "medium")
        hints.setdefault("task", "chat")
        return decide(
            cfg,
            profiles,
            MSG,
            hints=RouteHints(**hints),
            needs=RequestNeeds(prompt_tokens=prompt_tokens, max_output_tokens=max_output),
        )

    return cfg, route


def test_seed000_kosmos_route_model_table() -> None:
    cfg, route = router_for("seed000_kosmos.yaml")
    assert cfg.embeddings is not None and cfg.embeddings.model == "ollama/nomic-embed-text"
    assert "nomic-embed-text" not in cfg.tiers  # an embedding model is not a chat tier
    assert route(complexity="high").tier == "qwen-72b"
    assert route(task="analysis").tier == "qwen-72b"
    assert route(task="reasoning", complexity="simple").tier == "qwen-72b"
    assert route(max_latency_ms=500).tier == "llama3.2:3b"
    assert route(task="classification").tier == "llama3.2:3b"
    assert route(task="extraction").tier == "llama3.2:3b"
    d = route()
    assert d.tier == "mistral-7b" and d.fallbacks == ("llama3.2:3b", "groq-llama")
    assert route(complexity="complex").fallbacks == ("mistral-7b", "groq-llama")
    assert cfg.router_settings.num_retries == 3 and cfg.router_settings.timeout == 120
    # confidential data stays on the Ollama box, whatever the table says
    d = route(complexity="high", sensitivity="confidential")
    assert d.tier == "llama3.2:3b" and d.fallbacks == ()


def test_seed001_mobius_smart_and_fast_routers() -> None:
    cfg, route = router_for("seed001_mobius.yaml")
    assert len(cfg.tiers["smart-router"].models) == 2  # opus + gpt-4-turbo load-balanced
    assert cfg.tiers["smart-router"].models[0].tpm == 1_000_000
    assert route(complexity="complex").tier == "smart-router"
    assert route(task="reasoning").tier == "smart-router"
    assert route(complexity="simple").tier == "fast-router"
    assert route(complexity="complex", metadata={"user_tier": "free"}).tier == "fast-router"
    # a prompt too long for gpt-4-turbo (128k) falls to the 200k long-context tier
    d = route(complexity="complex", prompt_tokens=150_000)
    assert d.tier == "long-context" and "context window" in d.excluded["smart-router"]


def test_seed002_llm_setup_rules_and_chain() -> None:
    _, route = router_for("seed002_llm_setup.yaml")
    assert route(sensitivity="confidential", complexity="complex").tier == "local"
    assert route(complexity="simple").tier == "gpt-3.5"
    assert route(prompt_tokens=15_000).tier == "claude"
    d = route(complexity="complex")
    assert d.tier == "gpt-4" and d.fallbacks == ("claude", "gpt-3.5", "local")
    assert route().tier == "claude"
    # gpt-4's (and the local llama's) 8k window cannot take 7k prompt + 2k output:
    # the chain moves on in its written order, skipping what cannot fit
    d = route(complexity="complex", prompt_tokens=7000, max_output=2000)
    assert d.tiers == ("claude", "gpt-3.5")
    assert "context window 8192" in d.excluded["gpt-4"] and "context window 8192" in d.excluded["local"]


def test_seed003_routing_strategy_table() -> None:
    cfg, route = router_for("seed003_routing_strategy.yaml")
    assert cfg.embeddings is not None and cfg.embeddings.model == "ollama/nomic-embed-text"
    d = route(task="classification", complexity="complex")
    assert d.tier == "local" and d.fallbacks == ("fast",)
    d = route(task="reasoning", complexity="complex")
    assert d.tier == "premium" and d.fallbacks == ("premium-openai",)
    d = route(task="code", complexity="complex")
    assert d.tier == "premium" and d.fallbacks == ("local-code-large",)
    d = route(task="code", complexity="simple")
    assert d.tier == "local-code" and d.fallbacks == ("fast",)
    d = route(task="summarization", prompt_tokens=40_000)
    assert d.tier == "premium" and d.rule == "long-context" and d.fallbacks == ("local-large",)
    d = route(task="reasoning", complexity="medium")
    assert d.tier == "fast" and d.fallbacks == ("local",)
    assert route(task="chat", complexity="simple").tier == "local"
    # "fast and cheap": a zero cost bound keeps the call on free tiers
    d = route(task="reasoning", complexity="complex", max_cost_usd=0)
    assert d.tier == "local"
    # a confidential complex-code request never leaves the machine: private fallback only
    d = route(task="code", complexity="complex", sensitivity="confidential")
    assert d.tier == "local-code-large" and d.fallbacks == ()


def test_seed004_homelab_fallback_chain_and_parallel_models() -> None:
    cfg, route = router_for("seed004_homelab.yaml")
    timeouts = {n: t.models[0].timeout for n, t in cfg.tiers.items()}
    assert timeouts["vllm-qwen"] == 3 and timeouts["ollama-qwen"] == 120 and timeouts["openai-gpt4o"] == 30
    d = route()
    assert d.tiers == ("vllm-qwen", "ollama-qwen", "openai-gpt4o")
    assert cfg.tiers["vllm-qwen"].private and cfg.tiers["ollama-qwen"].private
    assert not cfg.tiers["openai-gpt4o"].private
    # parallel models are reachable by name only, and never join the chain
    d = route(tier="gemini/gemini-2.0-flash")
    assert d.tier == "gemini/gemini-2.0-flash" and d.fallbacks == ()
    assert all("groq" not in t and "gemini" not in t for t in route().tiers)
    # confidential: the chain stops before the cloud
    assert route(sensitivity="confidential").tiers == ("vllm-qwen", "ollama-qwen")


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIGS.glob("seed*.yaml")))
def test_every_seed_config_loads(name: str) -> None:
    cfg = load_config(CONFIGS / name, env=ENV)
    assert cfg.tiers
