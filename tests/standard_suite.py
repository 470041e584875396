"""What ChatRoutedLLM's LangChain standard-suite classes have in common: the class and its capability flags.

The unit run and both integration runs (a llama.cpp server through LiteLLM's OpenAI
client, and the embedded tier in-process) route to models that call tools, take a forced tool choice,
produce JSON, report usage and accept a per-call ``model=`` (a tier name); none
reads images. Each class adds only its own config and the xfails of its model.
"""

from langchain_routed_llm import ChatRoutedLLM


class RoutedChatModelCapabilities:
    """Capability flags shared by the standard-suite classes (mix in before ``ChatModelIntegrationTests``)."""

    @property
    def chat_model_class(self) -> type[ChatRoutedLLM]:
        return ChatRoutedLLM

    @property
    def has_tool_calling(self) -> bool:
        return True

    @property
    def has_tool_choice(self) -> bool:
        return True

    @property
    def has_structured_output(self) -> bool:
        return True

    @property
    def supports_json_mode(self) -> bool:
        # llama.cpp enforces JSON syntax (json_object response format); whether the model
        # fills the keys the prompt asks for is each run's test_json_mode xfail.
        return True

    @property
    def supports_image_inputs(self) -> bool:
        return False

    @property
    def returns_usage_metadata(self) -> bool:
        return True

    @property
    def supports_model_override(self) -> bool:
        return True

    @property
    def model_override_value(self) -> str:
        return "alt"  # a tier name: per-call model= selects a tier; each run names a model "...alt..." in it
