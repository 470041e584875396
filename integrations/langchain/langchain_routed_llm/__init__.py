"""LangChain integration for routed-llm: a routed chat model (and, later, embeddings and chains)."""

from langchain_routed_llm.chains import (
    CascadeChain,
    RetrievalFirstChain,
    create_cascade_chain,
    create_retrieval_first_chain,
)
from langchain_routed_llm.chat_models import ChatRoutedLLM
from langchain_routed_llm.embeddings import RoutedLLMEmbeddings

__all__ = [
    "CascadeChain",
    "ChatRoutedLLM",
    "RetrievalFirstChain",
    "RoutedLLMEmbeddings",
    "create_cascade_chain",
    "create_retrieval_first_chain",
]
