"""Langfuse tracing, checked on the wire: the real Langfuse SDK exports to a loopback OTLP receiver.

Tiers are real OpenAI-compatible endpoints on loopback (`FaultyServer`), so fallbacks,
usage and cost are the engine's real ones.
"""

import asyncio
from typing import Any

import pytest

from routed_llm import AllTiersFailed, Router, StreamEnd
from tests.servers.faulty import FaultyServer
from tests.servers.otlp_receiver import OtlpReceiver, ReceivedSpan

pytestmark = pytest.mark.servers

DEPLOY_SECRET = "sk-deploy-SECRET-4242"
HINTS = {"sensitivity": "public", "task": "chat", "complexity": "simple"}
ANSWER = "Hello from the faulty server."


def config(cheap: FaultyServer, backup: FaultyServer, **extra: Any) -> dict[str, Any]:
    def tier(model: str, srv: FaultyServer) -> dict[str, Any]:
        return {
            "models": [
                {
                    "model": model,
                    "api_base": srv.base_url,
                    "api_key": DEPLOY_SECRET,
                    "input_cost_per_token": 1e-6,
                    "output_cost_per_token": 2e-6,
                }
            ]
        }

    return {
        "tiers": {"cheap": tier("openai/cheap-model", cheap), "backup": tier("openai/backup-model", backup)},
        "routing": {"default": "cheap", "fallbacks": {"cheap": ["backup"]}},
        **extra,
    }


def flushed(client: Any, rx: OtlpReceiver) -> list[ReceivedSpan]:
    client.flush()
    return rx.generations()


def assert_no_secrets(rx: OtlpReceiver) -> None:
    assert rx.raw_bodies, "nothing was exported"
    for body in rx.raw_bodies:
        assert DEPLOY_SECRET.encode() not in body
        assert b"sk-lf-test-secret" not in body
    for span in rx.spans():
        assert DEPLOY_SECRET not in repr(span.attributes)


def test_fallback_call_is_one_generation_named_after_the_serving_model(
    faulty_server: Any, otlp_receiver: OtlpReceiver, langfuse_client: Any
) -> None:
    router = Router(config(faulty_server("error500"), faulty_server("ok")), langfuse=langfuse_client)
    result = router.complete("Say hello", HINTS)
    info = result.routing
    assert info.tier == "backup" and info.cost_usd > 0

    [gen] = flushed(langfuse_client, otlp_receiver)
    assert gen.name == "openai/backup-model"
    assert gen.attributes["langfuse.observation.model.name"] == "openai/backup-model"
    assert gen.metadata("tier") == "backup"
    assert "fell back to backup" in gen.metadata("reason")
    assert [a["tier"] for a in gen.metadata("attempts")] == ["cheap"]
    assert gen.metadata("attempts")[0]["error"].startswith("InternalServerError")
    assert gen.metadata("fallbacks") == ["backup"]
    # telemetry on: the routing score is computed for every call and recorded with its scorer
    assert gen.metadata("scorer") == "heuristic" and 0 <= gen.metadata("score") <= 1
    assert gen.json("langfuse.observation.usage_details") == {
        "input": info.prompt_tokens,
        "output": info.completion_tokens,
        "total": info.total_tokens,
    }
    assert gen.json("langfuse.observation.cost_details") == {"total": pytest.approx(info.cost_usd)}
    assert gen.attributes["langfuse.observation.level"] == "WARNING"  # served, but only after a failure
    assert gen.json("langfuse.observation.input") == [{"role": "user", "content": "Say hello"}]
    assert gen.json("langfuse.observation.output")["content"] == ANSWER
    assert gen.parent_span_id is None
    assert_no_secrets(otlp_receiver)


def test_stream_records_one_generation_on_its_stream_end(
    faulty_server: Any, otlp_receiver: OtlpReceiver, langfuse_client: Any
) -> None:
    router = Router(config(faulty_server("ok"), faulty_server("ok")), langfuse=langfuse_client)
    items = list(router.stream("Say hello", HINTS))
    end = items[-1]
    assert isinstance(end, StreamEnd)
    assert langfuse_client.flush() is None and otlp_receiver.generations() != []
    [gen] = otlp_receiver.generations()
    assert gen.name == "openai/cheap-model"
    assert gen.json("langfuse.observation.output")["content"] == ANSWER
    usage = gen.json("langfuse.observation.usage_details")
    assert usage["output"] == end.routing.completion_tokens > 0
    assert "langfuse.observation.completion_start_time" in gen.attributes
    assert gen.metadata("attempts") == []
    assert "langfuse.observation.level" not in gen.attributes


def test_async_calls_each_record_one_generation(
    faulty_server: Any, otlp_receiver: OtlpReceiver, langfuse_client: Any
) -> None:
    router = Router(config(faulty_server("error500"), faulty_server("ok")), langfuse=langfuse_client)

    async def run() -> None:
        await router.acomplete("one", HINTS)
        async for _ in router.astream("two", HINTS):
            pass

    asyncio.run(run())
    gens = flushed(langfuse_client, otlp_receiver)
    assert len(gens) == 2
    assert {g.name for g in gens} == {"openai/cheap-model", "openai/backup-model"} or all(
        g.name == "openai/backup-model" for g in gens
    )
    # the failed tier is tried last once it is known to be unhealthy; the first call fell back
    first = next(g for g in gens if g.json("langfuse.observation.input")[0]["content"] == "one")
    assert first.name == "openai/backup-model" and first.metadata("attempts")[0]["tier"] == "cheap"


def test_all_tiers_failing_records_an_error_generation(
    faulty_server: Any, otlp_receiver: OtlpReceiver, langfuse_client: Any
) -> None:
    router = Router(config(faulty_server("error500"), faulty_server("error500")), langfuse=langfuse_client)
    with pytest.raises(AllTiersFailed):
        router.complete("Say hello", HINTS)
    [gen] = flushed(langfuse_client, otlp_receiver)
    assert gen.attributes["langfuse.observation.level"] == "ERROR"
    assert "all tiers failed" in gen.attributes["langfuse.observation.status_message"]
    assert gen.status_code == 2  # OpenTelemetry STATUS_CODE_ERROR
    assert gen.metadata("failed_tiers") == ["cheap", "backup"]
    assert gen.metadata("error_type") == "AllTiersFailed"
    assert gen.name == "openai/cheap-model"  # nothing served: named after the planned model
    assert_no_secrets(otlp_receiver)


def test_generations_nest_under_the_current_span(
    faulty_server: Any, otlp_receiver: OtlpReceiver, langfuse_client: Any
) -> None:
    router = Router(config(faulty_server("ok"), faulty_server("ok")), langfuse=langfuse_client)
    with langfuse_client.start_as_current_observation(name="user-request", as_type="span"):
        router.complete("first", HINTS)
        list(router.stream("second", HINTS))
    with router.span("cascade", question="third"):
        router.complete("third", HINTS)
    router.complete("fourth", HINTS)

    langfuse_client.flush()
    spans = otlp_receiver.spans()
    parent = next(s for s in spans if s.name == "user-request")
    cascade = next(s for s in spans if s.name == "cascade")
    gens = {g.json("langfuse.observation.input")[0]["content"]: g for g in otlp_receiver.generations()}
    assert len(gens) == 4
    for text in ("first", "second"):
        assert gens[text].parent_span_id == parent.span_id and gens[text].trace_id == parent.trace_id
    assert gens["third"].parent_span_id == cascade.span_id
    assert cascade.metadata("question") == "third"
    assert gens["fourth"].parent_span_id is None
    assert gens["fourth"].trace_id not in (parent.trace_id, cascade.trace_id)


def test_a_span_whose_body_raises_ends_at_error_level(
    faulty_server: Any, otlp_receiver: OtlpReceiver, langfuse_client: Any
) -> None:
    router = Router(config(faulty_server("error500"), faulty_server("error500")), langfuse=langfuse_client)
    with pytest.raises(AllTiersFailed), router.span("cascade", question="q"):
        router.complete("q", HINTS)
    langfuse_client.flush()
    span = next(s for s in otlp_receiver.spans() if s.name == "cascade")
    assert span.attributes["langfuse.observation.level"] == "ERROR"
    assert "all tiers failed" in span.attributes["langfuse.observation.status_message"]
    assert span.status_code == 2


def test_langchain_handler_attached_too_still_gives_one_generation_per_call(
    faulty_server: Any, otlp_receiver: OtlpReceiver, langfuse_client: Any
) -> None:
    from langfuse.langchain import CallbackHandler

    from langchain_routed_llm import ChatRoutedLLM

    router = Router(config(faulty_server("error500"), faulty_server("ok")), langfuse=langfuse_client)
    llm = ChatRoutedLLM(router=router)
    handler = CallbackHandler(public_key=langfuse_client._resources.public_key)
    msg = llm.invoke("Say hello", config={"callbacks": [handler]}, **HINTS)
    chunks = list(llm.stream("Stream hello", config={"callbacks": [handler]}, **HINTS))
    assert msg.response_metadata["routing"]["tier"] == "backup"
    assert "".join(str(c.content) for c in chunks) == ANSWER

    gens = flushed(langfuse_client, otlp_receiver)
    assert len(gens) == 2, [g.name for g in gens]
    for gen in gens:
        assert gen.name.startswith("openai/")  # renamed from the handler's "ChatRoutedLLM"
        assert gen.metadata("tier") in ("cheap", "backup")
        assert gen.json("langfuse.observation.output") is not None  # the handler's output
        assert gen.json("langfuse.observation.usage_details")["output"] > 0
    invoked = next(g for g in gens if "Say hello" in g.attributes["langfuse.observation.input"])
    assert invoked.name == "openai/backup-model"
    assert [a["tier"] for a in invoked.metadata("attempts")] == ["cheap"]
    assert_no_secrets(otlp_receiver)


def test_config_section_builds_the_client_and_keeps_the_secret_out(
    faulty_server: Any, otlp_receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uuid

    from langfuse._client.resource_manager import LangfuseResourceManager
    from opentelemetry import trace as otel_trace

    # The SDK installs a global TracerProvider when none is set: restore the globals afterwards.
    monkeypatch.setattr(otel_trace, "_TRACER_PROVIDER", None)
    monkeypatch.setattr(otel_trace, "_TRACER_PROVIDER_SET_ONCE", otel_trace.Once())
    public_key = f"pk-lf-cfg-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("LF_SECRET", "sk-lf-test-secret")
    cfg = config(
        faulty_server("ok"),
        faulty_server("ok"),
        telemetry={"langfuse": {"public_key": public_key, "secret_key": "${LF_SECRET}", "host": otlp_receiver.url}},
    )
    router = Router(cfg)
    try:
        assert "sk-lf-test-secret" not in repr(router.config.telemetry)
        router.complete("Say hello", HINTS)
        assert router.telemetry is not None
        router.telemetry.flush()
        [gen] = otlp_receiver.generations()
        assert gen.name == "openai/cheap-model"
        assert otlp_receiver.headers[0]["x-langfuse-public-key"] == public_key
        assert_no_secrets(otlp_receiver)
    finally:
        router.close()
        provider = otel_trace.get_tracer_provider()
        if hasattr(provider, "shutdown"):
            provider.shutdown()
        LangfuseResourceManager._instances.pop(public_key, None)


@pytest.mark.parametrize("path", ["ainvoke", "astream"])
def test_async_langchain_handler_one_generation_per_call(
    faulty_server: Any, otlp_receiver: OtlpReceiver, langfuse_client: Any, path: str
) -> None:
    from langfuse.langchain import CallbackHandler

    from langchain_routed_llm import ChatRoutedLLM

    router = Router(config(faulty_server("error500"), faulty_server("ok")), langfuse=langfuse_client)
    handler = CallbackHandler(public_key=langfuse_client._resources.public_key)
    llm = ChatRoutedLLM(router=router)

    async def run() -> None:
        if path == "ainvoke":
            await llm.ainvoke("Say hello", config={"callbacks": [handler]}, **HINTS)
        else:
            async for _ in llm.astream("Say hello", config={"callbacks": [handler]}, **HINTS):
                pass

    asyncio.run(run())
    gens = flushed(langfuse_client, otlp_receiver)
    assert len(gens) == 1, [g.name for g in gens]
    # the one generation is named after the model that served the call (after the fallback)
    assert gens[0].name == "openai/backup-model" and gens[0].metadata("tier") == "backup"
    assert gens[0].json("langfuse.observation.output") is not None


def test_stream_abandoned_by_its_consumer_is_closed_as_a_warning(
    faulty_server: Any, otlp_receiver: OtlpReceiver, langfuse_client: Any
) -> None:
    router = Router(config(faulty_server("ok"), faulty_server("ok")), langfuse=langfuse_client)
    stream = router.stream("Say hello", HINTS)
    next(stream)
    next(stream)
    stream.close()
    [gen] = flushed(langfuse_client, otlp_receiver)
    assert gen.attributes["langfuse.observation.level"] == "WARNING"
    assert "closed by the caller" in gen.attributes["langfuse.observation.status_message"]


def test_span_without_telemetry_is_a_no_op(faulty_server: Any) -> None:
    router = Router(config(faulty_server("ok"), faulty_server("ok")))
    assert router.telemetry is None
    with router.span("cascade") as span:
        assert span is None
        assert router.complete("hi", HINTS).routing.tier == "cheap"


def test_capture_content_false_records_routing_but_no_messages(
    faulty_server: Any, otlp_receiver: OtlpReceiver, langfuse_client: Any
) -> None:
    cfg = config(faulty_server("ok"), faulty_server("ok"), telemetry={"langfuse": {"capture_content": False}})
    router = Router(cfg, langfuse=langfuse_client)
    router.complete("my private question", HINTS)
    list(router.stream("another private question", HINTS))
    gens = flushed(langfuse_client, otlp_receiver)
    assert len(gens) == 2
    for gen in gens:
        assert "langfuse.observation.input" not in gen.attributes
        assert "langfuse.observation.output" not in gen.attributes
        assert gen.metadata("tier") == "cheap" and gen.json("langfuse.observation.usage_details")["total"] > 0
    assert not any(b"private question" in body for body in otlp_receiver.raw_bodies)


def test_a_cascade_run_is_one_span_with_a_generation_per_tier(
    faulty_server: Any, otlp_receiver: OtlpReceiver, langfuse_client: Any
) -> None:
    from routed_llm.chains import CascadeEngine
    from routed_llm.escalation import Attempt, Verdict

    class RejectCheap:
        name = "reject-cheap"

        def verify(self, question: str, attempt: Attempt, history: Any) -> Verdict:
            return Verdict(accept=attempt.tier != "cheap", reason="cheap answers are not trusted here")

    router = Router(config(faulty_server("ok"), faulty_server("ok")), langfuse=langfuse_client)
    out = CascadeEngine(router, ["cheap", "backup"], RejectCheap()).invoke("Say hello", "public")
    assert out.tier == "backup"

    langfuse_client.flush()
    [cascade] = [s for s in otlp_receiver.spans() if s.name == "cascade"]
    gens = otlp_receiver.generations()
    assert sorted(g.name for g in gens) == ["openai/backup-model", "openai/cheap-model"]
    assert all(g.parent_span_id == cascade.span_id and g.trace_id == cascade.trace_id for g in gens)
