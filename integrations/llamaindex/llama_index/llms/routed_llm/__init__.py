"""LlamaIndex LLM over the routed-llm router (filled by the LlamaIndex integration)."""
