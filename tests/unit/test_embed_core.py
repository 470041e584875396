"""Embedder logic that needs no server: input checks, sensitivity, the SQLite/memory caches.

Sockets are disabled here (tests/unit/conftest.py): every refusal below happens
before anything could be sent.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from routed_llm.config import EmbeddingCacheConfig
from routed_llm.embeddings import (
    Embedder,
    MemoryEmbeddingCache,
    SQLiteEmbeddingCache,
    cache_key,
    make_cache,
)
from routed_llm.errors import EmbeddingInputError, EmbeddingNotAllowed, InvalidRequest

OLLAMA = {"model": "ollama/nomic-embed-text", "api_base": "http://127.0.0.1:9"}


@pytest.fixture
def embedder(tmp_path: Path) -> Embedder:
    return Embedder({**OLLAMA, "cache": {"backend": "sqlite", "path": str(tmp_path / "c.db")}})


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        (["ok", ""], r"texts\[1\] is empty"),
        (["ok", "   \n"], r"texts\[1\] is empty or whitespace only"),
        (["ok", 3], r"texts\[1\] is int, not str"),
        (["ok", None], r"texts\[1\] is NoneType, not str"),
        ("a whole document", r"got a single str; wrap it in a list"),
        (42, r"must be a list of strings, got int"),
    ],
)
def test_bad_input_is_refused_before_any_request(embedder: Embedder, texts: object, message: str) -> None:
    with pytest.raises(EmbeddingInputError, match=message) as info:
        embedder.embed_documents(texts)  # type: ignore[arg-type]
    assert isinstance(info.value, InvalidRequest)  # part of the one error tree
    assert embedder.stats.requests == 0
    assert len(embedder.cache) == 0  # type: ignore[arg-type]


def test_bad_input_carries_the_index(embedder: Embedder) -> None:
    with pytest.raises(EmbeddingInputError) as info:
        embedder.embed_documents(["a", "b", ""])
    assert info.value.index == 2


async def test_bad_query_is_refused_async(embedder: Embedder) -> None:
    with pytest.raises(EmbeddingInputError, match="query"):
        await embedder.aembed_query("")
    with pytest.raises(EmbeddingInputError, match="query must be a string"):
        await embedder.aembed_query(["x"])  # type: ignore[arg-type]


def test_empty_list_embeds_nothing(embedder: Embedder) -> None:
    assert embedder.embed_documents([]) == []
    assert embedder.stats.requests == 0


def test_confidential_texts_never_reach_a_non_private_deployment() -> None:
    emb = Embedder(
        {
            "allow_non_private": True,
            "deployments": [{"model": "ollama/nomic-embed-text", "api_base": "https://ollama.example.com"}],
        },
        cache=None,
    )
    with pytest.raises(EmbeddingNotAllowed, match="no deployment of space 'nomic-embed-text-v1.5@768/nomic'"):
        emb.embed_documents(["patient record"], sensitivity="confidential")
    confidential_by_default = Embedder(emb.config, cache=None, sensitivity="private")  # alias of confidential
    with pytest.raises(EmbeddingNotAllowed):
        confidential_by_default.embed_query("x")


def test_building_an_embedder_writes_no_file(tmp_path: Path) -> None:
    path = tmp_path / "never.db"
    emb = Embedder({**OLLAMA, "cache": {"path": str(path)}})
    assert emb.space.id.startswith("nomic-embed-text-v1.5")
    assert not path.exists()


# --------------------------------------------------------------------------- caches


def test_cache_key_depends_on_space_and_text() -> None:
    assert cache_key("a@8/none", "t") == cache_key("a@8/none", "t")
    assert cache_key("a@8/none", "t") != cache_key("a@4/none", "t")
    assert cache_key("a@8/none", "t") != cache_key("a@8/none", "t ")


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_cache_round_trip_is_float32_exact(kind: str, tmp_path: Path) -> None:
    cache = make_cache(EmbeddingCacheConfig(backend=kind, path=str(tmp_path / "c.db")))  # type: ignore[arg-type]
    assert cache is not None
    vec = [0.25, -0.5, 0.125]
    cache.put_many({"k": vec})
    assert cache.get_many(["k", "missing"]) == {"k": vec}


def test_sqlite_cache_persists_across_instances(tmp_path: Path) -> None:
    SQLiteEmbeddingCache(tmp_path / "c.db").put_many({"k": [1.0, 2.0]})
    assert SQLiteEmbeddingCache(tmp_path / "c.db").get_many(["k"]) == {"k": [1.0, 2.0]}


def test_sqlite_write_is_all_or_nothing(tmp_path: Path) -> None:
    cache = SQLiteEmbeddingCache(tmp_path / "c.db")

    class Boom(dict):  # a mapping whose iteration fails half way, like a crash mid-write
        def items(self):  # type: ignore[override]
            yield "a", [1.0]
            raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        cache.put_many(Boom(x=1))
    assert cache.get_many(["a"]) == {}


def test_sqlite_cache_is_safe_across_threads(tmp_path: Path) -> None:
    cache = SQLiteEmbeddingCache(tmp_path / "c.db")
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(20):
                cache.put_many({f"{n}-{i}": [float(i)]})
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sqlite3.connect(tmp_path / "c.db").execute("SELECT COUNT(*) FROM embeddings").fetchone()[0] == 80


def test_none_backend_disables_the_cache() -> None:
    assert make_cache(EmbeddingCacheConfig(backend="none")) is None
    assert isinstance(make_cache(EmbeddingCacheConfig(backend="memory")), MemoryEmbeddingCache)
