"""The Ollama emulator checked against the official ``ollama`` Python client (and langchain-ollama).

If the official client can parse every answer, the emulator is a fair stand-in for
Ollama in the other tests. Chat/generate run the real Gemma GGUF, capped at a few tokens.
"""

from __future__ import annotations

import math

import httpx
import ollama
import pytest
from langchain_ollama import OllamaEmbeddings

from tests.servers.ollama_emulator import EMBEDDING_DIMENSIONS, OllamaEmulator

pytestmark = pytest.mark.servers


@pytest.fixture
def client(ollama_emulator: OllamaEmulator) -> ollama.Client:
    return ollama.Client(host=ollama_emulator.base_url)


def test_list_show_and_version(client: ollama.Client, ollama_emulator: OllamaEmulator) -> None:
    names = {m.model for m in client.list().models}
    assert {"nomic-embed-text:latest", "all-minilm:latest", "gemma3:270m"} <= names
    shown = client.show("nomic-embed-text")
    assert shown.modelinfo is not None and shown.modelinfo["bert.embedding_length"] == EMBEDDING_DIMENSIONS
    assert shown.capabilities == ["embedding"]
    with pytest.raises(ollama.ResponseError) as info:
        client.show("missing-model")
    assert info.value.status_code == 404
    version = httpx.get(f"{ollama_emulator.base_url}/api/version").json()["version"]
    assert version.count(".") == 2
    assert httpx.get(ollama_emulator.base_url).text == "Ollama is running"


def test_embed_batch_is_normalised_minilm(client: ollama.Client, ollama_emulator: OllamaEmulator) -> None:
    out = client.embed(model="nomic-embed-text", input=["search_query: hello", "search_document: world"])
    assert len(out.embeddings) == 2 and all(len(v) == EMBEDDING_DIMENSIONS for v in out.embeddings)
    assert all(math.isclose(math.hypot(*v), 1.0, abs_tol=1e-5) for v in out.embeddings)
    assert out.prompt_eval_count and out.prompt_eval_count > 4
    # both names serve one model: the same text gives the same vector
    again = client.embed(model="all-minilm", input="search_query: hello")
    assert again.embeddings[0] == pytest.approx(out.embeddings[0], abs=1e-6)
    # the emulator recorded the texts exactly as they were sent
    assert ollama_emulator.embedded_texts() == ["search_query: hello", "search_document: world", "search_query: hello"]


def test_legacy_embeddings_endpoint(client: ollama.Client) -> None:
    vec = client.embeddings(model="all-minilm", prompt="hello").embedding
    assert vec == pytest.approx(client.embed(model="all-minilm", input="hello").embeddings[0], abs=1e-6)


def test_embed_errors_match_ollama(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as info:
        client.embed(model="nope", input="x")
    assert info.value.status_code == 404 and "try pulling it first" in info.value.error
    long_text = "word " * 400
    with pytest.raises(ollama.ResponseError, match="exceeds the context length"):
        client.embed(model="nomic-embed-text", input=long_text, truncate=False)
    assert len(client.embed(model="nomic-embed-text", input=long_text).embeddings[0]) == EMBEDDING_DIMENSIONS


def test_openai_compatible_embeddings(ollama_emulator: OllamaEmulator) -> None:
    body = httpx.post(
        f"{ollama_emulator.base_url}/v1/embeddings", json={"model": "nomic-embed-text", "input": ["a", "b"]}
    ).json()
    assert [d["index"] for d in body["data"]] == [0, 1]
    assert len(body["data"][0]["embedding"]) == EMBEDDING_DIMENSIONS


def test_chat_streams_real_tokens(client: ollama.Client, ollama_emulator: OllamaEmulator) -> None:
    chunks = list(
        client.chat(
            model="gemma3:270m",
            messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}],
            options={"num_predict": 6, "temperature": 0},
            stream=True,
        )
    )
    assert chunks[-1].done and chunks[-1].done_reason in ("stop", "length")
    assert not any(c.done for c in chunks[:-1])
    text = "".join(c.message.content or "" for c in chunks)
    assert text.strip() and chunks[-1].eval_count == len(chunks) - 1 <= 6
    # the system prompt reached the model inside the first user turn, as Gemma's template does
    assert ollama_emulator.requests_to("/api/chat")[0].body["messages"][0]["role"] == "system"


def test_chat_non_stream_and_json_format(client: ollama.Client) -> None:
    out = client.chat(
        model="llama3.2:3b",
        messages=[{"role": "user", "content": "Give a JSON object with a key a."}],
        format={"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
        options={"num_predict": 24, "temperature": 0},
    )
    assert out.done and out.message.role == "assistant"
    assert out.message.content.lstrip().startswith("{")  # the grammar forced JSON


def test_chat_tool_call(client: ollama.Client) -> None:
    def get_weather(city: str) -> str:
        """Get the weather for a city.

        Args:
          city: The city name.
        """
        return "sunny"

    out = client.chat(
        model="gemma3:270m",
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[get_weather],
        options={"temperature": 0},
    )
    assert out.message.tool_calls and out.message.tool_calls[0].function.name == "get_weather"
    assert isinstance(out.message.tool_calls[0].function.arguments, dict)
    assert set(out.message.tool_calls[0].function.arguments) == {"city"}
    # after a tool result the model answers in text
    follow = client.chat(
        model="gemma3:270m",
        messages=[
            {"role": "user", "content": "What is the weather in Paris?"},
            {"role": "assistant", "content": "", "tool_calls": [tc.model_dump() for tc in out.message.tool_calls]},
            {"role": "tool", "content": "sunny", "tool_name": "get_weather"},
        ],
        tools=[get_weather],
        options={"num_predict": 5},
    )
    assert not follow.message.tool_calls and follow.done


def test_generate_stream_and_load(client: ollama.Client) -> None:
    parts = list(
        client.generate(model="gemma3:270m", prompt="Once upon a time", options={"num_predict": 4}, stream=True)
    )
    assert parts[-1].done and "".join(p.response for p in parts).strip()
    assert client.generate(model="gemma3:270m", prompt="").done_reason == "load"
    with pytest.raises(ollama.ResponseError) as info:
        client.generate(model="nomic-embed-text", prompt="x")
    assert info.value.status_code == 400


async def test_async_client(ollama_emulator: OllamaEmulator) -> None:
    aclient = ollama.AsyncClient(host=ollama_emulator.base_url)
    out = await aclient.embed(model="all-minilm", input=["one", "two", "three"])
    assert len(out.embeddings) == 3


def test_langchain_ollama_embeddings_work_against_it(ollama_emulator: OllamaEmulator) -> None:
    emb = OllamaEmbeddings(model="nomic-embed-text", base_url=ollama_emulator.base_url)
    docs = emb.embed_documents(["alpha", "beta"])
    assert len(docs) == 2 and len(docs[0]) == EMBEDDING_DIMENSIONS
    # langchain-ollama sends texts without nomic's prefixes: the bug routed-llm fixes
    assert ollama_emulator.embedded_texts() == ["alpha", "beta"]


def test_faults_and_dimension_override(ollama_emulator: OllamaEmulator, client: ollama.Client) -> None:
    ollama_emulator.fail_next(1, 503, skip=1)
    client.embed(model="all-minilm", input="ok")
    with pytest.raises(ollama.ResponseError) as info:
        client.embed(model="all-minilm", input="fails")
    assert info.value.status_code == 503
    ollama_emulator.wrong_dimensions["all-minilm"] = 10
    assert len(client.embed(model="all-minilm", input="short").embeddings[0]) == 10
