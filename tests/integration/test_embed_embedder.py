"""The core embedder against real servers: the Ollama emulator (MiniLM), closed ports, Redis, in-process MiniLM.

The emulator serves MiniLM (384 dimensions) under the name ``nomic-embed-text``, so
deployments of that name declare ``native_dimensions: 384``; everything else (nomic's
prefixes, Matryoshka recipe, space ids) behaves as for the real model.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import ollama
import pytest

from routed_llm.embeddings import Embedder, MemoryEmbeddingCache
from routed_llm.errors import (
    ConfigError,
    EmbeddingDeploymentsFailed,
    EmbeddingDimensionError,
    EmbeddingInputTooLong,
    EmbeddingSpaceMismatch,
)
from tests.servers.faulty import closed_port
from tests.servers.ollama_emulator import OllamaEmulator

pytestmark = pytest.mark.servers

DOWN = f"http://127.0.0.1:{closed_port()}"


def nomic(base: str, **kw: Any) -> dict[str, Any]:
    """A nomic-embed-text deployment on the emulator (which serves MiniLM: 384 dimensions)."""
    return {"model": "ollama/nomic-embed-text", "api_base": base, "native_dimensions": 384, **kw}


def minilm(base: str, **kw: Any) -> dict[str, Any]:
    return {"model": "ollama/all-minilm", "api_base": base, **kw}


def config(*deployments: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"deployments": list(deployments), "cache": {"backend": "none"}, **top}


def norm(v: list[float]) -> float:
    return math.hypot(*v)


# --------------------------------------------------------------------------- prefixes


def test_nomic_prefixes_reach_the_wire(ollama_emulator: OllamaEmulator) -> None:
    emb = Embedder(config(nomic(ollama_emulator.base_url)))
    q = emb.embed_query("what is a vector?")
    d = emb.embed_documents(["what is a vector?"])[0]
    assert ollama_emulator.embedded_texts() == ["search_query: what is a vector?", "search_document: what is a vector?"]
    assert q != d  # the same text as query and as document gives different vectors
    assert [r.body["truncate"] for r in ollama_emulator.requests_to("/api/embed")] == [False, False]


def test_models_without_a_scheme_get_no_prefix(ollama_emulator: OllamaEmulator) -> None:
    emb = Embedder(config(minilm(ollama_emulator.base_url)))
    assert emb.embed_query("hi") == pytest.approx(emb.embed_documents(["hi"])[0], abs=1e-6)
    assert ollama_emulator.embedded_texts() == ["hi", "hi"]


def test_prefixes_apply_on_the_openai_compatible_path(ollama_emulator: OllamaEmulator) -> None:
    dep = {"model": "openai/nomic-embed-text", "api_base": f"{ollama_emulator.base_url}/v1", "native_dimensions": 384}
    emb = Embedder(config(dep))
    assert emb.space.id == "nomic-embed-text-v1.5@384/nomic"
    assert len(emb.embed_documents(["doc"])[0]) == 384
    assert ollama_emulator.requests_to("/v1/embeddings")[0].body["input"] == ["search_document: doc"]


def test_litellm_backend_reaches_an_openai_compatible_server(ollama_emulator: OllamaEmulator) -> None:
    dep = {"model": "openai/all-minilm", "api_base": f"{ollama_emulator.base_url}/v1", "backend": "litellm",
           "api_key": "sk-local"}  # fmt: skip
    emb = Embedder(config(dep))
    vectors = emb.embed_documents(["one", "two"])
    assert len(vectors) == 2 and len(vectors[0]) == 384
    (req,) = ollama_emulator.requests_to("/v1/embeddings")
    assert req.body["input"] == ["one", "two"] and req.header("authorization") == "Bearer sk-local"


# --------------------------------------------------------------------------- dimensions


def test_matryoshka_truncation_on_the_wire_vectors(ollama_emulator: OllamaEmulator) -> None:
    emb = Embedder(config(nomic(ollama_emulator.base_url, dimensions=256)))
    assert emb.space.id == "nomic-embed-text-v1.5@256/nomic"
    vec = emb.embed_documents(["matryoshka dolls nest"])[0]
    assert len(vec) == 256 and norm(vec) == pytest.approx(1.0, abs=1e-5)
    full = np.array(
        ollama.Client(host=ollama_emulator.base_url)
        .embed(model="nomic-embed-text", input="search_document: matryoshka dolls nest")
        .embeddings[0]
    )
    ln = (full - full.mean()) / np.sqrt(full.var() + 1e-5)
    expected = ln[:256] / np.linalg.norm(ln[:256])
    np.testing.assert_allclose(vec, expected, atol=1e-5)


def test_wrong_dimension_from_the_server_is_a_clear_error(ollama_emulator: OllamaEmulator) -> None:
    ollama_emulator.wrong_dimensions["nomic-embed-text"] = 100
    cache = MemoryEmbeddingCache()
    emb = Embedder(config(nomic(ollama_emulator.base_url)), cache=cache)
    with pytest.raises(EmbeddingDimensionError) as info:
        emb.embed_documents(["a", "b"])
    assert (info.value.expected, info.value.got) == (384, 100)
    assert "ollama/nomic-embed-text @ " + ollama_emulator.base_url in str(info.value)
    assert len(cache) == 0


def test_real_nomic_dimensions_against_a_minilm_server_are_caught(ollama_emulator: OllamaEmulator) -> None:
    # Without native_dimensions the config trusts the model name (768); the server answers 384.
    emb = Embedder(config({"model": "ollama/nomic-embed-text", "api_base": ollama_emulator.base_url}))
    with pytest.raises(EmbeddingDimensionError, match="expected 768"):
        emb.embed_query("x")


def test_unknown_model_is_probed_once_for_its_size(ollama_emulator_factory: Callable[..., OllamaEmulator]) -> None:
    host = ollama_emulator_factory(embed_models=("my-embedder",))
    emb = Embedder(config({"model": "ollama/my-embedder", "api_base": host.base_url}))
    assert emb.space.id == "my-embedder@384/none"
    emb.embed_documents(["x"])
    emb.embed_documents(["y"])
    assert host.embedded_texts() == ["routed-llm dimension probe", "x", "y"]


# --------------------------------------------------------------------------- batching, concurrency, progress


def test_batches_duplicates_and_order(ollama_emulator: OllamaEmulator) -> None:
    emb = Embedder(config(minilm(ollama_emulator.base_url), batch_size=3, max_concurrency=2))
    texts = [f"text {i}" for i in range(10)] + ["text 3", "text 0"]
    vectors = emb.embed_documents(texts)
    sizes = sorted(len(r.body["input"]) for r in ollama_emulator.requests_to("/api/embed"))
    assert sizes == [1, 3, 3, 3]  # 10 distinct texts, duplicates embedded once
    assert vectors[10] == vectors[3] and vectors[11] == vectors[0]
    single = emb.embed_documents(["text 7"])[0]
    assert vectors[7] == pytest.approx(single, abs=1e-6)  # results come back in input order
    assert ollama_emulator.peak_in_flight <= 2


async def test_async_concurrency_is_bounded(ollama_emulator: OllamaEmulator) -> None:
    emb = Embedder(config(minilm(ollama_emulator.base_url), batch_size=2, max_concurrency=3))
    texts = [f"async text {i}" for i in range(20)]
    vectors = await emb.aembed_documents(texts)
    assert len(vectors) == 20 and len(ollama_emulator.requests_to("/api/embed")) == 10
    assert 1 <= ollama_emulator.peak_in_flight <= 3
    assert await emb.aembed_query("async text 5") == pytest.approx(vectors[5], abs=1e-6)


def test_progress_bar_for_many_documents(ollama_emulator: OllamaEmulator, capsys: pytest.CaptureFixture[str]) -> None:
    emb = Embedder(config(minilm(ollama_emulator.base_url), batch_size=8, progress_threshold=20))
    emb.embed_documents([f"few {i}" for i in range(5)])
    assert "Embedding" not in capsys.readouterr().err
    emb.embed_documents([f"many {i}" for i in range(24)])
    err = capsys.readouterr().err
    assert "Embedding" in err and "24/24" in err


# --------------------------------------------------------------------------- cache


def test_cache_hits_skip_the_server(ollama_emulator: OllamaEmulator, tmp_path: Path) -> None:
    cfg = {**config(nomic(ollama_emulator.base_url)), "cache": {"path": str(tmp_path / "emb.db")}}
    emb = Embedder(cfg)
    first = emb.embed_documents(["cached one", "cached two"])
    assert len(ollama_emulator.embed_requests) == 1
    assert emb.embed_documents(["cached two", "cached one"]) == [first[1], first[0]]
    assert len(ollama_emulator.embed_requests) == 1 and emb.stats.cache_hits == 2
    # persistent: a new process-like embedder on the same file asks nothing either
    assert Embedder(cfg).embed_documents(["cached one"]) == [first[0]]
    assert len(ollama_emulator.embed_requests) == 1
    # a query of the same text is another key (another prefix): the server is asked
    emb.embed_query("cached one")
    assert len(ollama_emulator.embed_requests) == 2


def test_cache_is_keyed_by_space(ollama_emulator: OllamaEmulator) -> None:
    cache = MemoryEmbeddingCache()
    full = Embedder(config(nomic(ollama_emulator.base_url)), cache=cache)
    short = Embedder(config(nomic(ollama_emulator.base_url, dimensions=128)), cache=cache)
    assert len(full.embed_documents(["shared"])[0]) == 384
    assert len(short.embed_documents(["shared"])[0]) == 128  # not the 384 vector from the cache
    assert len(ollama_emulator.embed_requests) == 2


def test_failed_call_writes_nothing_to_the_cache(ollama_emulator: OllamaEmulator) -> None:
    cache = MemoryEmbeddingCache()
    emb = Embedder(config(nomic(ollama_emulator.base_url), batch_size=2, max_concurrency=1), cache=cache)
    ollama_emulator.fail_next(1, 400, skip=1)  # the first batch succeeds, the second is refused
    with pytest.raises(Exception, match="HTTP 400"):
        emb.embed_documents(["a", "b", "c", "d"])
    assert len(cache) == 0
    assert len(emb.embed_documents(["a", "b", "c", "d"])) == 4 and len(cache) == 4


def test_redis_cache_is_shared(ollama_emulator: OllamaEmulator, redis_url: str) -> None:
    import redis

    cache_cfg = {"backend": "redis", "url": redis_url, "namespace": "test-embed", "ttl_s": 60}
    cfg = {**config(minilm(ollama_emulator.base_url)), "cache": cache_cfg}
    first = Embedder(cfg).embed_documents(["redis one", "redis two"])
    second_host = Embedder(cfg)  # another host of the same deployment
    assert second_host.embed_documents(["redis two", "redis one"]) == [first[1], first[0]]
    assert len(ollama_emulator.embed_requests) == 1
    client = redis.Redis.from_url(redis_url)
    keys = client.keys("test-embed:*")
    assert len(keys) == 2 and 0 < client.pttl(keys[0]) <= 60_000


# --------------------------------------------------------------------------- fallback


def test_falls_back_to_another_host_of_the_same_space(ollama_emulator: OllamaEmulator) -> None:
    emb = Embedder(config(nomic(DOWN), nomic(ollama_emulator.base_url)))
    vec = emb.embed_documents(["fallback"])[0]
    assert len(vec) == 384 and emb.stats.fallbacks == 1
    assert ollama_emulator.embedded_texts() == ["search_document: fallback"]
    # the host that was down is now tried last: no second failure
    emb.embed_documents(["again"])
    assert emb.stats.failures == {f"ollama/nomic-embed-text @ {DOWN}": 1}


async def test_async_fallback_on_server_error(
    ollama_emulator: OllamaEmulator, ollama_emulator_factory: Callable[..., OllamaEmulator]
) -> None:
    second = ollama_emulator_factory()
    ollama_emulator.fail_next(5, 503)
    emb = Embedder(config(nomic(ollama_emulator.base_url), nomic(second.base_url)))
    assert len(await emb.aembed_documents(["first host is failing"])) == 1
    assert second.embedded_texts() == ["search_document: first host is failing"]


def test_refuses_to_fall_back_into_another_space(ollama_emulator: OllamaEmulator) -> None:
    emb = Embedder(config(nomic(DOWN), minilm(ollama_emulator.base_url)))
    with pytest.raises(EmbeddingSpaceMismatch) as info:
        emb.embed_documents(["must not mix"])
    msg = str(info.value)
    assert "nomic-embed-text-v1.5@384/nomic" in msg and "all-minilm-l6-v2@384/none" in msg
    assert isinstance(info.value.__cause__, EmbeddingDeploymentsFailed)
    assert ollama_emulator.embed_requests == []  # nothing was sent to the other space


def test_same_dimensions_do_not_make_the_same_space(ollama_emulator: OllamaEmulator) -> None:
    # nomic prefixes vs none: both 384-dimensional here, still two spaces
    emb = Embedder(config(nomic(DOWN), nomic(ollama_emulator.base_url, prefixes="none")))
    with pytest.raises(EmbeddingSpaceMismatch):
        emb.embed_query("q")


def test_all_hosts_down_names_each_failure() -> None:
    other = f"http://127.0.0.1:{closed_port()}"
    emb = Embedder(config(nomic(DOWN), nomic(other)))
    with pytest.raises(EmbeddingDeploymentsFailed) as info:
        emb.embed_query("q")
    assert DOWN in str(info.value) and other in str(info.value)


def test_unreachable_unknown_model_needs_its_size_configured() -> None:
    emb = Embedder(config({"model": "ollama/some-embedder", "api_base": DOWN}))
    with pytest.raises(ConfigError, match="set native_dimensions"):
        emb.embed_query("q")


def test_confidential_calls_skip_non_private_hosts(
    ollama_emulator: OllamaEmulator, ollama_emulator_factory: Callable[..., OllamaEmulator]
) -> None:
    private = ollama_emulator_factory()
    emb = Embedder(
        config(nomic(ollama_emulator.base_url, private=False), nomic(private.base_url), allow_non_private=True)
    )
    emb.embed_documents(["public text"])
    emb.embed_documents(["patient record"], sensitivity="confidential")
    assert ollama_emulator.embedded_texts() == ["search_document: public text"]
    assert private.embedded_texts() == ["search_document: patient record"]


# --------------------------------------------------------------------------- over-long texts


def test_too_long_raises_naming_the_text(ollama_emulator: OllamaEmulator) -> None:
    cache = MemoryEmbeddingCache()
    emb = Embedder(config(nomic(ollama_emulator.base_url), batch_size=8), cache=cache)
    texts = ["short", "word " * 400, "also short"]
    with pytest.raises(EmbeddingInputTooLong) as info:
        emb.embed_documents(texts)
    assert info.value.index == 1 and "texts[1]" in str(info.value) and "on_too_long: truncate" in str(info.value)
    assert len(cache) == 0


def test_too_long_truncates_when_configured(ollama_emulator: OllamaEmulator) -> None:
    emb = Embedder(config(nomic(ollama_emulator.base_url), on_too_long="truncate"))
    vec = emb.embed_documents(["word " * 400])[0]
    assert len(vec) == 384
    assert ollama_emulator.requests_to("/api/embed")[0].body["truncate"] is True


def test_too_long_in_process_is_caught_before_embedding() -> None:
    emb = Embedder({"model": "local/all-minilm-l6-v2", "cache": {"backend": "none"}})
    with pytest.raises(EmbeddingInputTooLong) as info:
        emb.embed_documents(["fine", "token " * 300])
    assert info.value.index == 1 and info.value.tokens is not None and info.value.tokens > 256
    assert emb.stats.requests == 0


# --------------------------------------------------------------------------- in-process default


def test_in_process_default_needs_no_server() -> None:
    emb = Embedder(cache=None)
    assert emb.space.id == "all-minilm-l6-v2@384/none"
    vectors = emb.embed_documents(["The cat sat on the mat.", "A feline rested on a rug.", "Stock prices fell."])
    assert all(norm(v) == pytest.approx(1.0, abs=1e-5) for v in vectors)
    sim = np.array(vectors) @ np.array(vectors).T
    assert sim[0, 1] > sim[0, 2]  # a real model: paraphrases are closer than unrelated text


def test_ollama_all_minilm_falls_back_to_in_process_minilm(ollama_emulator: OllamaEmulator) -> None:
    # Ollama's all-minilm and the packaged MiniLM are one space: a legitimate fallback
    emb = Embedder(config(minilm(DOWN), {"model": "local/all-minilm-l6-v2"}))
    local = emb.embed_documents(["offline"])[0]
    served = Embedder(config(minilm(ollama_emulator.base_url))).embed_documents(["offline"])[0]
    assert float(np.dot(local, served)) > 0.9999
    assert emb.stats.fallbacks == 1


async def test_in_process_async_does_not_block_the_loop() -> None:
    emb = Embedder(cache=None)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    task = asyncio.create_task(ticker())
    await emb.aembed_documents([f"sentence number {i} about loops" for i in range(300)])
    task.cancel()
    assert ticks > 5
