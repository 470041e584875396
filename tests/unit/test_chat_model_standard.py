"""LangChain's own standard unit suite for ChatRoutedLLM (sockets disabled)."""

from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_tests.unit_tests import ChatModelUnitTests
from syrupy.assertion import SnapshotAssertion

from tests.standard_suite import RoutedChatModelCapabilities

CONFIG = {
    "tiers": {
        "local": {
            "models": [
                {
                    "model": "openai/gemma-3-270m",
                    "api_base": "http://127.0.0.1:18080/v1",
                    "api_key": "sk-test",
                    "capabilities": {"tools": True, "json_schema": True},
                }
            ],
            "private": True,
        },
    },
    "routing": {"default": "local"},
}
CONFIG_FILE = Path(__file__).resolve().parents[2] / "examples" / "configs" / "seed002_llm_setup.yaml"


class TestChatRoutedLLMUnit(RoutedChatModelCapabilities, ChatModelUnitTests):
    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"config": CONFIG}

    @property
    def standard_chat_model_params(self) -> dict[str, Any]:
        # A routed model has no single API key: keys belong to each deployment in
        # the config. Every other standard parameter (temperature, max_tokens,
        # timeout, stop, max_retries) is accepted and used.
        params = dict(super().standard_chat_model_params)
        params.pop("api_key")
        return params

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return {"ROUTED_LLM_CONFIG": str(CONFIG_FILE)}, {}, {"config": str(CONFIG_FILE)}

    @pytest.mark.xfail(
        strict=True,
        raises=ValueError,
        reason="the dump matches its snapshot (secrets as references), but the suite loads it with "
        "allowed_objects='all', which admits only classes in langchain-core's own serialization mapping; "
        "third-party classes load with allowed_objects=[ChatRoutedLLM] (test_adapter_conventions)",
    )
    def test_serdes(self, model: BaseChatModel, snapshot: SnapshotAssertion) -> None:
        super().test_serdes(model, snapshot)
