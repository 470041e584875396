"""LangChain's standard integration suite for ChatRoutedLLM on the embedded default tier.

No server, no cassette: ``routed-local/smollm2-135m`` (SmolLM2-135M-Instruct,
in-process through llama-cpp-python) serves every call, as it does for a user
with no keys and no Ollama. Sampling is greedy (temperature 0) so a run is
reproducible and the strict xfails below stay honest.
"""

from pathlib import Path
from typing import Any

import pytest
from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import BaseChatModel
from langchain_tests.integration_tests import ChatModelIntegrationTests

from routed_llm.local_models import local_model_spec
from tests.standard_suite import RoutedChatModelCapabilities


def embedded_tier(model: str) -> dict[str, Any]:
    return {"models": [{"model": f"routed-local/{model}", "context_window": 2048}], "private": True}


@pytest.fixture(scope="module")
def alt_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same GGUF under a path named "alt": the model-override tests look for the tier's name in the served model."""
    path = tmp_path_factory.mktemp("gguf") / "smollm2-alt.gguf"
    path.symlink_to(local_model_spec("smollm2-135m").locate())
    return path


class TestChatRoutedLLMEmbedded(RoutedChatModelCapabilities, ChatModelIntegrationTests):
    @pytest.fixture(autouse=True)
    def _alt_gguf(self, alt_gguf: Path) -> None:
        self.alt_gguf = alt_gguf

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {
            "config": {
                "tiers": {"local": embedded_tier("smollm2-135m"), "alt": embedded_tier(str(self.alt_gguf))},
                "routing": {"default": "local"},
            },
            "max_tokens": 64,
            "temperature": 0.0,
        }

    # ------------------------------------------------------------------------------------
    # Tests whose assertions are about the *answer*, which a 135M model gets wrong. The
    # structure these tests need (a tool call whose arguments parse and validate, JSON
    # that parses) is guaranteed by llama.cpp's grammars and asserted by the tests that
    # pass above and in test_embedded_tier.py. Greedy sampling makes each failure
    # reproducible, so each xfail is strict: if the model ever gets it right, it fails.
    # ------------------------------------------------------------------------------------

    @pytest.mark.xfail(
        reason="json_object mode has no schema to constrain: valid JSON, but not the setup/punchline keys asked for",
        strict=True,
        raises=OutputParserException,
    )
    def test_json_mode(self, model: BaseChatModel) -> None:
        super().test_json_mode(model)

    @pytest.mark.xfail(
        reason="answer quality, not structure: whether SmolLM2 copies the CJK company name differs between "
        "AVX2 and AVX-512 kernels, so no strict expectation holds on every CPU (the structure is asserted, "
        "strictly, in test_unicode_tool_call_structure)",
        strict=False,
        raises=AssertionError,
    )
    def test_unicode_tool_call_integration(self, model: BaseChatModel) -> None:
        super().test_unicode_tool_call_integration(model)

    def test_unicode_tool_call_structure(self, model: BaseChatModel) -> None:
        """What the grammar guarantees, on any CPU: a forced call to the tool, its arguments valid and unescaped."""
        from langchain_core.messages import AIMessage, HumanMessage
        from langchain_tests.integration_tests.chat_models import unicode_customer

        bound = model.bind_tools([unicode_customer], tool_choice="any")
        for prompt in (
            "Create a customer named '你好啊集团' (Hello Group) - a Chinese technology company",
            "Create a customer named 'こんにちは株式会社' (Hello Corporation) - a Japanese company",
        ):
            message = bound.invoke([HumanMessage(prompt)])
            assert isinstance(message, AIMessage) and message.tool_calls, message
            call = message.tool_calls[0]
            assert call["name"] == "unicode_customer"
            args = call["args"]
            assert isinstance(args.get("customer_name"), str) and isinstance(args.get("description"), str), args
            assert "\\u" not in args["customer_name"] + args["description"]  # characters, never \\uXXXX escapes
