"""The embedded tier never crashes its caller: a real generation in a child process, and the crash guard.

On VMs whose CPU advertises AMX without allowing it, a natively built llama.cpp dies
with SIGSEGV at its first matrix multiply; a signal cannot be caught, so the whole
calling process would die. The guard (`routed_llm.local_probe`) runs one generation in
a subprocess first. Its crash path is tested with a child that really kills itself
with SIGSEGV (a machine that crashes for real cannot be summoned on demand).
"""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from routed_llm import AllTiersFailed, EmbeddedModelUnavailable, Router
from routed_llm.local_llm import register_local_provider
from routed_llm.local_models import local_model_spec
from routed_llm.local_probe import PORTABLE_REINSTALL, SKIP_ENV, LlamaCppProbe
from tests.tiers import cloud_at

pytestmark = pytest.mark.servers

#: A child that dies the way a natively built llama.cpp dies on an AMX-reporting VM.
SEGFAULT = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"]


@pytest.fixture
def gguf(tmp_path: Path) -> Path:
    """The default GGUF under a fresh name: the provider has never loaded it, so it must be probed."""
    path = tmp_path / "smollm2-guarded.gguf"
    path.symlink_to(local_model_spec("smollm2-135m").locate())
    return path


@pytest.fixture(autouse=True)
def probe_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SKIP_ENV, raising=False)


def test_a_real_generation_on_the_embedded_default_exits_cleanly(tmp_path: Path) -> None:
    """The README's path with no keys and no Ollama, in a fresh interpreter: it must not die by a signal."""
    script = textwrap.dedent(
        """
        from routed_llm import Router
        result = Router().complete("Say hello.", {"tier": "local", "sensitivity": "public"}, max_tokens=8)
        assert result.routing.tier == "local", result.routing
        assert result.routing.completion_tokens > 0, result.routing
        print("served-by", result.routing.model)
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("GROQ_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_API_KEY")}
    env.update(OLLAMA_BASE_URL="http://127.0.0.1:9", HOME=str(tmp_path))  # a fresh home: the probe runs for real
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode < 0:
        pytest.fail(
            f"the embedded tier killed its process with {signal.Signals(-done.returncode).name}: the installed "
            f"llama.cpp cannot run here and the guard did not catch it.\nstderr:\n{done.stderr[-2000:]}"
        )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "served-by routed-local/smollm2-135m" in done.stdout
    # the probe left its verdict for later processes
    verdicts = list((tmp_path / ".routed_llm" / "llama_probe").glob("*.json"))
    assert len(verdicts) == 1 and '"ok": true' in verdicts[0].read_text()


def test_the_real_probe_passes_on_this_machine(gguf: Path, tmp_path: Path) -> None:
    probe = LlamaCppProbe(cache_dir=tmp_path / "verdicts")
    assert probe.verdict(gguf).ok
    probe.ensure_runs(gguf)  # no error


def test_a_crashing_child_gives_the_documented_error_naming_cause_and_reinstall(gguf: Path, tmp_path: Path) -> None:
    probe = LlamaCppProbe(command=SEGFAULT, cache_dir=tmp_path / "verdicts")
    with pytest.raises(EmbeddedModelUnavailable) as e:
        probe.ensure_runs(gguf)
    assert "SIGSEGV" in e.value.cause and str(gguf) == e.value.model
    assert PORTABLE_REINSTALL in str(e.value) and "-DGGML_NATIVE=OFF" in str(e.value)


def test_the_verdict_is_cached_on_disk_per_build_machine_and_model(gguf: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    counting_crash = [
        sys.executable,
        "-c",
        f"import os, signal; open({str(runs)!r}, 'a').write('x'); os.kill(os.getpid(), signal.SIGSEGV)",
    ]
    cache = tmp_path / "verdicts"
    for _ in range(3):  # three "processes": each a new probe object over the same cache
        with pytest.raises(EmbeddedModelUnavailable):
            LlamaCppProbe(command=counting_crash, cache_dir=cache).ensure_runs(gguf)
    assert runs.read_text() == "x"  # the child ran once
    other = tmp_path / "other.gguf"  # another model file is probed on its own
    other.symlink_to(gguf.resolve())
    other_bytes = tmp_path / "copy.gguf"
    other_bytes.write_bytes(gguf.read_bytes()[: 1 << 20])
    with pytest.raises(EmbeddedModelUnavailable):
        LlamaCppProbe(command=counting_crash, cache_dir=cache).ensure_runs(other_bytes)
    assert runs.read_text() == "xx"


def test_the_switch_skips_the_probe(gguf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SKIP_ENV, "off")
    LlamaCppProbe(command=SEGFAULT, cache_dir=tmp_path).ensure_runs(gguf)  # trusted: no child, no error


def _guarded_router(gguf: Path, fallback: dict[str, Any] | None) -> Router:
    tiers: dict[str, Any] = {"local": {"models": [{"model": f"routed-local/{gguf}", "max_tokens": 8}], "private": True}}
    routing: dict[str, Any] = {"default": "local"}
    if fallback is not None:
        tiers["backup"] = {**fallback, "private": True}
        routing["fallbacks"] = {"local": ["backup"]}
    return Router({"tiers": tiers, "routing": routing})


@pytest.fixture
def crashing_provider(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The process-wide embedded provider, with a probe whose child segfaults."""
    handler = register_local_provider()
    monkeypatch.setattr(handler, "_probe", LlamaCppProbe(command=SEGFAULT, cache_dir=tmp_path / "verdicts"))


@pytest.mark.usefixtures("crashing_provider")
def test_routing_falls_back_past_a_tier_whose_llama_cpp_would_crash(gguf: Path, faulty_server: Any) -> None:
    backup = faulty_server("ok", content="served by the backup")
    result = _guarded_router(gguf, cloud_at(backup.base_url)).complete("hi", {"sensitivity": "public"})
    assert result.routing.tier == "backup"
    assert result.response.choices[0].message.content == "served by the backup"
    (attempt,) = result.routing.attempts
    assert attempt["tier"] == "local" and "EmbeddedModelUnavailable" in attempt["error"]
    assert "SIGSEGV" in attempt["error"]


@pytest.mark.usefixtures("crashing_provider")
def test_with_no_other_tier_the_caller_gets_the_cause_and_the_fix_not_a_dead_process(gguf: Path) -> None:
    with pytest.raises(AllTiersFailed) as e:
        _guarded_router(gguf, None).complete("hi", {"sensitivity": "public"})
    (error,) = e.value.errors.values()
    assert isinstance(error, EmbeddedModelUnavailable)
    assert "SIGSEGV" in str(e.value) and "pip install --force-reinstall" in str(e.value)


@pytest.mark.usefixtures("crashing_provider")
def test_streaming_falls_back_too(gguf: Path, faulty_server: Any) -> None:
    backup = faulty_server("ok", content="streamed by the backup")
    items = list(_guarded_router(gguf, cloud_at(backup.base_url)).stream("hi", {"sensitivity": "public"}))
    end = items[-1]
    assert end.routing.tier == "backup" and "EmbeddedModelUnavailable" in end.routing.attempts[0]["error"]


def test_the_real_probe_passes_in_embedding_mode(gguf: Path, tmp_path: Path) -> None:
    """llama.cpp's embedding mode (what local/<path>.gguf embedding deployments run) is probed on its own."""
    probe = LlamaCppProbe(cache_dir=tmp_path / "verdicts")
    assert probe.verdict(gguf, embedding=True).ok
    assert len(list((tmp_path / "verdicts").glob("*.json"))) == 1
    assert probe.verdict(gguf).ok  # generation mode is a verdict of its own
    assert len(list((tmp_path / "verdicts").glob("*.json"))) == 2


def test_a_gguf_embedding_deployment_that_would_crash_is_an_embedding_error(
    gguf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from routed_llm import EmbeddingError, local_probe
    from routed_llm.config import EmbeddingDeployment
    from routed_llm.embeddings.backends import LlamaCppEmbeddingBackend, local_backend

    crashing = LlamaCppProbe(command=SEGFAULT, cache_dir=tmp_path / "verdicts")
    monkeypatch.setattr(local_probe, "default_probe", lambda: crashing)
    backend = local_backend(EmbeddingDeployment(model=f"local/{gguf}"))
    assert isinstance(backend, LlamaCppEmbeddingBackend)
    with pytest.raises(EmbeddingError) as e:
        backend.llm  # noqa: B018 - loading is what is guarded
    assert "SIGSEGV" in str(e.value) and "pip install --force-reinstall" in str(e.value)


def test_a_child_that_fails_without_crashing_is_no_crash_and_is_not_cached(gguf: Path, tmp_path: Path) -> None:
    """A file llama.cpp cannot load fails in-process with llama.cpp's own error; the guard is only for crashes."""
    failing = [sys.executable, "-c", "raise SystemExit('ValueError: Failed to load model')"]
    probe = LlamaCppProbe(command=failing, cache_dir=tmp_path / "verdicts")
    verdict = probe.verdict(gguf)
    assert verdict.ok and "Failed to load model" in verdict.cause
    probe.ensure_runs(gguf)  # no error
    assert not (tmp_path / "verdicts").exists() or not list((tmp_path / "verdicts").glob("*.json"))
