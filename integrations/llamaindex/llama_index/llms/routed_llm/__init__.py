"""LlamaIndex LLM over the routed-llm router: ``from llama_index.llms.routed_llm import RoutedLLM``."""

from llama_index.llms.routed_llm.base import RoutedLLM
from llama_index.llms.routed_llm.chains import CascadeQueryEngine, RetrievalFirstQueryEngine

__all__ = ["CascadeQueryEngine", "RetrievalFirstQueryEngine", "RoutedLLM"]
