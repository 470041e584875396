"""Credentials resolved when a tier is called, and cascade trails that name the serving tier.

Real OpenAI-compatible servers on loopback (`FaultyServer`): one answering, others
failing with HTTP 500 so their tiers fall back. Nothing is mocked.
"""

from typing import Any

import pytest

from langchain_routed_llm import ChatRoutedLLM, create_cascade_chain
from routed_llm import AgreementVerifier, Router
from tests.servers.faulty import FaultyServer

pytestmark = pytest.mark.servers

HINTS = {"sensitivity": "public", "task": "chat", "complexity": "simple"}


def _tier(server: FaultyServer, model: str, *, private: bool = False, **dep: Any) -> dict[str, Any]:
    return {
        "models": [
            {
                "model": f"openai/{model}",
                "api_base": server.base_url,
                "api_key": "sk-test",
                "max_tokens": 16,
                "context_window": 4096,
                **dep,
            }
        ],
        "private": private,
    }


# ---------------------------------------------------------------------------- lazy credentials


def test_an_unset_key_fails_its_tier_by_name_and_the_call_falls_back(
    faulty_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RL_TEST_CLOUD_KEY", raising=False)
    monkeypatch.delenv("RL_TEST_CLOUD_URL", raising=False)
    cloud = faulty_server("ok", content="from the cloud")
    backup = faulty_server("ok", content="from the backup")
    router = Router(
        {
            "tiers": {
                "cloud": {
                    "models": [
                        {
                            "model": "openai/cloud-model",
                            "api_base": "${RL_TEST_CLOUD_URL}",
                            "api_key": "${RL_TEST_CLOUD_KEY}",
                            "max_tokens": 16,
                        }
                    ]
                },
                "backup": _tier(backup, "backup-model"),
            },
            "routing": {"default": "cloud", "fallbacks": {"cloud": ["backup"]}},
        }
    )
    assert router.route("hi", HINTS).tier == "cloud"  # deciding needs no credentials

    result = router.complete("hi", HINTS)
    assert result.routing.tier == "backup"
    assert result.response.choices[0].message.content == "from the backup"
    [attempt] = result.routing.attempts
    assert attempt["tier"] == "cloud" and attempt["error"].startswith("MissingCredential")
    assert "RL_TEST_CLOUD_KEY" in attempt["error"] and "RL_TEST_CLOUD_URL" in attempt["error"]
    assert cloud.connections == 0

    # Exported later, the key is picked up at the next call: the tier now answers itself.
    monkeypatch.setenv("RL_TEST_CLOUD_URL", cloud.base_url)
    monkeypatch.setenv("RL_TEST_CLOUD_KEY", "sk-late-key")
    router.engine.health.succeeded("cloud")
    served = router.complete("hi again", HINTS)
    assert served.routing.tier == "cloud" and served.routing.attempts == []
    assert cloud.chat_requests[-1].header("authorization") == "Bearer sk-late-key"
    router.close()


def test_a_tier_with_one_deployment_missing_its_key_serves_from_the_other(
    faulty_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RL_TEST_MISSING_KEY", raising=False)
    good = faulty_server("ok", content="from the keyed deployment")
    router = Router(
        {
            "tiers": {
                "cloud": {
                    "models": [
                        {"model": "openai/a", "api_base": good.base_url, "api_key": "${RL_TEST_MISSING_KEY}"},
                        {"model": "openai/b", "api_base": good.base_url, "api_key": "sk-present"},
                    ]
                }
            },
            "routing": {"default": "cloud"},
        }
    )
    for _ in range(3):
        result = router.complete("hi", HINTS, max_tokens=8)
        assert result.routing.model == "openai/b" and result.routing.attempts == []
    assert {r.header("authorization") for r in good.chat_requests} == {"Bearer sk-present"}
    router.close()


# ---------------------------------------------------------------------------- cascade trail


def test_cascade_trail_names_the_serving_tier_and_a_fallback_is_not_a_second_opinion(faulty_server: Any) -> None:
    local = faulty_server("ok", content="Paris is the capital of France.", model="local-model")
    down = faulty_server("error500")
    router = Router(
        {
            "tiers": {
                "local": _tier(local, "local-model", private=True),
                "fast": _tier(down, "fast-model"),
                "premium": _tier(down, "premium-model"),
            },
            "routing": {"default": "local", "fallbacks": {"fast": ["local"], "premium": ["local"]}},
            "router_settings": {"num_retries": 0},
        }
    )
    llm = ChatRoutedLLM(router=router)
    out = create_cascade_chain(llm, ["local", "fast", "premium"], AgreementVerifier(), max_tokens=16).invoke(
        {"question": "What is the capital of France?", "sensitivity": "public"}
    )
    trail = out["trail"]
    assert [(s["requested_tier"], s["tier"], s["model"]) for s in trail] == [
        ("local", "local", "openai/local-model"),
        ("fast", "local", "openai/local-model"),
        ("premium", "local", "openai/local-model"),
    ]
    assert [s["action"] for s in trail] == ["escalated", "escalated", "final"]
    assert "not new evidence" in trail[1]["reason"] and "accepted" not in [s["action"] for s in trail]
    assert out["outcome"] == "last_tier" and out["tier"] == "local"
    assert len(down.chat_requests) == 2  # fast and premium were really tried
    router.close()


def test_agreement_verifier_compares_only_answers_from_different_tiers() -> None:
    from routed_llm import Attempt

    verifier = AgreementVerifier(threshold=0.5)
    same = Attempt(tier="local", text="Paris")
    history = [Attempt(tier="local", text="Paris")]
    assert verifier.verify("q", same, history).accept is False
    other = [Attempt(tier="fast", text="Paris"), Attempt(tier="local", text="Paris")]
    verdict = verifier.verify("q", same, other)
    assert verdict.accept is True and "fast" in verdict.reason


# ---------------------------------------------------------------------------- serialised models call


def test_a_loaded_model_calls_with_the_secret_from_secrets_map_and_a_pickled_one_from_env(
    faulty_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pickle

    from langchain_core.load import dumps, loads

    server = faulty_server("ok", content="served")
    config = {
        "tiers": {
            "cloud": {
                "models": [
                    {
                        "model": "openai/m",
                        "api_base": server.base_url,
                        "api_key": "${RL_TEST_SERDE_KEY}",
                        "max_tokens": 8,
                    }
                ]
            }
        },
        "routing": {"default": "cloud"},
    }
    monkeypatch.setenv("RL_TEST_SERDE_KEY", "sk-original")
    llm = ChatRoutedLLM(config=config)
    text = dumps(llm)
    assert "sk-original" not in text
    monkeypatch.delenv("RL_TEST_SERDE_KEY")
    loaded = loads(
        text,
        allowed_objects=[ChatRoutedLLM],
        valid_namespaces=["langchain_routed_llm"],
        secrets_map={"RL_TEST_SERDE_KEY": "sk-from-secrets-map"},
    )
    assert loaded.invoke("hi").content == "served"
    assert server.chat_requests[-1].header("authorization") == "Bearer sk-from-secrets-map"

    blob = pickle.dumps(llm)
    assert b"sk-original" not in blob
    monkeypatch.setenv("RL_TEST_SERDE_KEY", "sk-from-env")
    assert pickle.loads(blob).invoke("hi").content == "served"
    assert server.chat_requests[-1].header("authorization") == "Bearer sk-from-env"


@pytest.mark.parametrize("adapter", ["langchain", "llamaindex"])
def test_a_pickled_model_with_a_literal_key_calls_in_the_same_environment(faulty_server: Any, adapter: str) -> None:
    """pickle is how multiprocessing, Ray and Dask move a model: the copy must work, with no env var set."""
    import pickle

    from llama_index.core.base.llms.types import ChatMessage
    from llama_index.llms.routed_llm import RoutedLLM

    server = faulty_server("ok", content="served")
    literal = "sk-literal-" + "z" * 24
    tier = {"models": [{"model": "openai/m", "api_base": server.base_url, "api_key": literal, "max_tokens": 8}]}
    config = {"tiers": {"cloud": tier}, "routing": {"default": "cloud"}}
    llm = ChatRoutedLLM(config=config) if adapter == "langchain" else RoutedLLM(config=config)
    copy = pickle.loads(pickle.dumps(llm))
    assert literal not in repr(copy)
    if adapter == "langchain":
        assert copy.invoke("hi").content == "served"
    else:
        assert copy.chat([ChatMessage(role="user", content="hi")]).message.content == "served"
    assert server.chat_requests[-1].header("authorization") == f"Bearer {literal}"
