"""LangChain integration for routed-llm: a routed chat model (and, later, embeddings and chains)."""

from langchain_routed_llm.chat_models import ChatRoutedLLM
from langchain_routed_llm.embeddings import RoutedLLMEmbeddings

__all__ = ["ChatRoutedLLM", "RoutedLLMEmbeddings"]
