"""End to end: a LlamaIndex ``VectorStoreIndex`` query engine on RoutedLLMEmbedding + RoutedLLM.

Embeddings run in process (all-MiniLM-L6-v2 on ONNX Runtime, no HTTP); the
LLM calls go to the real llama.cpp server and are replayed from cassettes by default
(re-record with ``--record-mode=rewrite``).
"""

from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.base.llms.types import MessageRole
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.llm import LLMChatEndEvent, LLMChatStartEvent
from llama_index.embeddings.routed_llm import RoutedLLMEmbedding
from llama_index.llms.routed_llm import RoutedLLM

pytestmark = pytest.mark.vcr

FACTS = [
    "The Eiffel Tower is in Paris and was finished in 1889.",
    "Mount Fuji is the highest mountain in Japan.",
    "The Colosseum is an amphitheatre in Rome.",
]


@pytest.fixture(scope="module")
def index() -> Iterator[VectorStoreIndex]:
    # the in-process default model (no server, no cassette), without a cache file in the home directory
    embed = RoutedLLMEmbedding(config={"model": "local/all-minilm-l6-v2", "cache": {"backend": "none"}})
    yield VectorStoreIndex.from_documents([Document(text=t) for t in FACTS], embed_model=embed)


def routed_llm(base_url: str) -> RoutedLLM:
    tier: dict[str, Any] = {
        "models": [
            {
                "model": "openai/gemma-3-270m",
                "api_base": base_url,
                "api_key": "sk-test",
                "max_tokens": 16,
                "context_window": 2048,
                "capabilities": {"tools": True},
            }
        ],
        "private": True,
    }
    return RoutedLLM(config={"tiers": {"local": tier}, "routing": {"default": "local"}})


class _LLMEvents(BaseEventHandler):
    """Collects LlamaIndex instrumentation events: they reach us whatever callback manager a component sets."""

    events: list[BaseEvent] = []

    @classmethod
    def class_name(cls) -> str:
        return "LLMEvents"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        if isinstance(event, (LLMChatStartEvent, LLMChatEndEvent)):
            self.events.append(event)


@pytest.fixture
def llm_events() -> Iterator[list[BaseEvent]]:
    handler = _LLMEvents(events=[])
    dispatcher = get_dispatcher()
    dispatcher.add_event_handler(handler)
    try:
        yield handler.events
    finally:
        dispatcher.event_handlers.remove(handler)


@pytest.mark.parametrize("streaming", [False, True], ids=["query", "stream"])
def test_query_engine_end_to_end(
    index: VectorStoreIndex, llama_base_url: str, llm_events: list[BaseEvent], streaming: bool
) -> None:
    engine = index.as_query_engine(llm=routed_llm(llama_base_url), similarity_top_k=1, streaming=streaming)

    response: Any = engine.query("Where is the Eiffel Tower?")
    if streaming:
        answer = "".join(response.response_gen)
    else:
        answer = response.response
    assert isinstance(answer, str) and answer.strip()

    # retrieval used the real embedding: the right fact, and only it, came back ...
    [source] = response.source_nodes
    assert source.node.get_content() == FACTS[0]
    # ... and reached the routed LLM's prompt, in one chat call
    start, end = llm_events
    assert isinstance(start, LLMChatStartEvent) and isinstance(end, LLMChatEndEvent)
    prompt = "\n".join(m.content or "" for m in start.messages if m.role == MessageRole.USER)
    assert FACTS[0] in prompt and FACTS[1] not in prompt and "Where is the Eiffel Tower?" in prompt
    final = end.response
    assert final is not None and (final.message.content or "").strip() == answer.strip()
    routing = final.additional_kwargs["routing"]
    assert routing["tier"] == "local" and routing["attempts"] == []
    assert final.additional_kwargs["total_tokens"] > final.additional_kwargs["completion_tokens"] > 0
