"""``routing.savings_baseline`` and ``routing.shadow``: defaults, and a `ConfigError` naming the bad field."""

from typing import Any

import pytest

from routed_llm import Router
from routed_llm.config import load_config
from routed_llm.errors import ConfigError
from routed_llm.savings import baseline_tier


def cfg(**routing: Any) -> dict[str, Any]:
    def priced(i: float, o: float) -> dict[str, Any]:
        dep = {"model": "openai/m", "api_key": "k", "input_cost_per_token": i, "output_cost_per_token": o}
        return {"models": [dep]}

    return {
        "tiers": {
            "local": {"models": [{"model": "ollama_chat/llama3.2:3b"}], "private": True},
            "premium": priced(1e-3, 3e-3),  # the dearest tier, though not listed last
            "fast": priced(1e-4, 2e-4),
        },
        "routing": {"default": "fast", **routing},
    }


def test_the_default_baseline_is_the_dearest_tier() -> None:
    config = load_config(cfg())
    with Router(config) as r:
        assert baseline_tier(config, r.profiles) == "premium" == r.savings.tier
        assert r.savings.price(40, 20) == pytest.approx(0.1)


def test_a_configured_baseline_wins() -> None:
    with Router(cfg(savings_baseline="fast")) as r:
        assert r.savings.tier == "fast"


def test_shadow_defaults() -> None:
    shadow = load_config(cfg(shadow={})).routing.shadow
    assert shadow is not None
    assert (shadow.sample, shadow.tier, shadow.judge, shadow.max_concurrent) == (0.02, None, None, 2)


@pytest.mark.parametrize(
    ("routing", "field", "words"),
    [
        ({"shadow": {"sample": 2}}, "routing.shadow.sample", "less than or equal to 1"),
        ({"shadow": {"sample": -0.1}}, "routing.shadow.sample", "greater than or equal to 0"),
        ({"shadow": {"judge": "oracle"}}, "routing.shadow.judge", "unknown tier 'oracle'"),
        ({"shadow": {"tier": "gpt5"}}, "routing.shadow.tier", "unknown tier 'gpt5'"),
        ({"shadow": {"max_concurrent": 0}}, "routing.shadow.max_concurrent", "greater than or equal to 1"),
        ({"shadow": {"outcomes": " "}}, "routing.shadow.outcomes", "is empty"),
        ({"shadow": {"sampel": 0.1}}, "routing.shadow.sampel", "unknown field"),
        ({"savings_baseline": "frontier"}, "routing.savings_baseline", "unknown tier 'frontier'"),
    ],
)
def test_bad_values_name_their_field(routing: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(cfg(**routing))
    assert field in str(err.value) and words in str(err.value)


def test_judge_exact_is_no_tier() -> None:
    shadow = load_config(cfg(shadow={"judge": "exact", "tier": "premium"})).routing.shadow
    assert shadow is not None and shadow.judge == "exact"


def test_outcomes_are_relative_to_the_config_file(tmp_path: Any) -> None:
    import yaml

    path = tmp_path / "conf" / "routing.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(cfg(shadow={"outcomes": "out/shadow.jsonl"})))
    shadow = load_config(path).routing.shadow
    assert shadow is not None and shadow.outcomes == str(tmp_path / "conf" / "out" / "shadow.jsonl")
