"""LlamaIndex embedding over the routed-llm embedder (filled by the embeddings feature)."""
