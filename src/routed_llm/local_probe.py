"""Make sure the installed llama.cpp can run a model here before it runs in the caller's process.

Why: llama.cpp compiled with native CPU detection uses every instruction set the
CPU *advertises*. Some VMs advertise AMX (recent Xeons) without letting a process
use AMX tiles, and then the first matrix multiply dies with SIGSEGV inside
``ggml_backend_amx_mul_mat``; a build with AVX-512 dies with SIGILL on a CPU
without it. A signal cannot be caught in Python: the caller's whole process (a
notebook kernel, a web worker) would die. So before the embedded tier generates
in-process for the first time, a short subprocess loads the same model with the
same llama.cpp and generates a few tokens. If that child dies, the tier fails with
`EmbeddedModelUnavailable`, which names the cause and the reinstall command, and
routing falls back past it like any failed tier.

The verdict is cached on disk per llama.cpp build (its shared libraries' size and
mtime), machine (CPU model and flags) and model file, so the subprocess runs once
per install, not once per process; within a process it is a dict lookup.
``ROUTED_LLM_LLAMA_PROBE=off`` skips the probe (for a build you have verified).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from routed_llm.errors import EmbeddedModelUnavailable

__all__ = ["PORTABLE_REINSTALL", "LlamaCppProbe", "ProbeVerdict", "default_probe"]

#: How to rebuild llama-cpp-python without native CPU detection (what the project's own uv installs do).
PORTABLE_REINSTALL = (
    'CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON" '
    "pip install --force-reinstall --no-cache-dir --no-binary llama-cpp-python llama-cpp-python"
)
#: The child evaluates a prompt of a few dozen tokens (the batched matrix-matrix kernels) and then
#: generates (the matrix-vector ones): both paths a real call takes.
_PROBE_PROMPT = "Say hello in one short sentence. " * 6
_PROBE_TIMEOUT_S = 180.0
#: The environment switch that skips the probe.
SKIP_ENV = "ROUTED_LLM_LLAMA_PROBE"


@dataclass(frozen=True, slots=True)
class ProbeVerdict:
    """What the probe found for one (llama.cpp build, machine, model)."""

    ok: bool
    """False only when running the model would crash the process (a signal) or hang."""
    cause: str = ""
    """Why it cannot run (e.g. ``crashed with SIGSEGV``); for an ``ok`` verdict, a failure that was no crash."""


@functools.cache
def _llama_build_fingerprint() -> str:
    """Identify the installed llama.cpp build without importing it (its version and shared libraries).

    Cached per process: the library a process has loaded does not change under it.
    """
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or spec.origin is None:
        return "absent"
    try:
        version = importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        version = "?"
    parts = [version]
    package_dir = Path(spec.origin).parent
    for lib in sorted(package_dir.glob("lib/*")) + sorted(package_dir.glob("*.so")):
        stat = lib.stat()
        parts.append(f"{lib.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return "|".join(parts)


@functools.cache
def _machine_fingerprint() -> str:
    """Identify the CPU the way llama.cpp's kernel choice sees it: model name and feature flags."""
    text = ""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        pass
    wanted = ("model name", "flags", "Features", "CPU implementer", "CPU part")
    lines = sorted({line.strip() for line in text.splitlines() if line.startswith(wanted)})
    return "|".join([platform.machine(), platform.processor(), *lines])


def _model_fingerprint(model_path: Path) -> str:
    stat = model_path.stat()
    return f"{model_path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def _signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


class LlamaCppProbe:
    """Runs (once per build, machine and model) a real generation in a child process.

    ``command`` is what the child runs, given the model path as its last argument;
    the default runs this module. Tests swap in a child that kills itself, which is
    how the guard is checked without a machine that really crashes.
    """

    def __init__(self, command: Sequence[str] | None = None, cache_dir: Path | None = None) -> None:
        self.command = list(command) if command is not None else [sys.executable, "-m", "routed_llm.local_probe"]
        self.cache_dir = cache_dir if cache_dir is not None else Path("~/.routed_llm/llama_probe").expanduser()
        self._verdicts: dict[str, ProbeVerdict] = {}
        self._lock = threading.Lock()

    def ensure_runs(self, model_path: Path, *, embedding: bool = False) -> None:
        """Return if llama.cpp can run ``model_path`` here; raise `EmbeddedModelUnavailable` if it cannot.

        ``embedding=True`` probes llama.cpp's embedding mode (an encoder GGUF cannot generate).
        """
        if os.environ.get(SKIP_ENV, "").lower() in ("off", "0", "false", "no"):
            return
        verdict = self.verdict(model_path, embedding=embedding)
        if not verdict.ok:
            raise EmbeddedModelUnavailable(str(model_path), verdict.cause, PORTABLE_REINSTALL)

    def verdict(self, model_path: Path, *, embedding: bool = False) -> ProbeVerdict:
        """Return the (cached) verdict for ``model_path``, probing in a subprocess the first time."""
        key = self._key(model_path, embedding)
        with self._lock:
            if key in self._verdicts:
                return self._verdicts[key]
            verdict = self._read(key)
            if verdict is None:
                verdict, lasting = self._probe(model_path, embedding)
                if lasting:
                    self._write(key, verdict)
            self._verdicts[key] = verdict
            return verdict

    def _key(self, model_path: Path, embedding: bool) -> str:
        parts = [
            " ".join(self.command),
            "embed" if embedding else "generate",
            _llama_build_fingerprint(),
            _machine_fingerprint(),
            _model_fingerprint(model_path),
        ]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]

    def _probe(self, model_path: Path, embedding: bool) -> tuple[ProbeVerdict, bool]:
        """Run the child; return its verdict and whether it is worth caching (a time-out is not)."""
        try:
            done = subprocess.run(
                [*self.command, *(["--embed"] if embedding else []), str(model_path)],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=_PROBE_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return ProbeVerdict(False, f"a test generation did not finish within {_PROBE_TIMEOUT_S:.0f} s"), False
        if done.returncode == 0:
            return ProbeVerdict(True), True
        if done.returncode < 0:
            name = _signal_name(done.returncode)
            return ProbeVerdict(False, f"llama.cpp crashed with {name} in a test generation"), True
        # An ordinary failure (a file llama.cpp cannot load, a missing package) is not a crash: the
        # in-process load raises its own clear error. Not cached: a fixed file probes again.
        tail = (done.stderr or "").strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        return ProbeVerdict(True, f"the test generation failed without crashing: {tail[0][:300]}"), False

    def _read(self, key: str) -> ProbeVerdict | None:
        try:
            data = json.loads((self.cache_dir / f"{key}.json").read_text())
            return ProbeVerdict(bool(data["ok"]), str(data.get("cause", "")))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _write(self, key: str, verdict: ProbeVerdict) -> None:
        """Store the verdict atomically (temp file + rename): two processes may probe at once."""
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.cache_dir / f"{key}.{os.getpid()}.tmp"
            tmp.write_text(json.dumps({"ok": verdict.ok, "cause": verdict.cause}))
            tmp.replace(self.cache_dir / f"{key}.json")
        except OSError:
            pass  # an unwritable home only costs a probe per process


@functools.cache
def default_probe() -> LlamaCppProbe:
    """Return the process-wide probe (one verdict cache per process)."""
    return LlamaCppProbe()


def _run_probe(model_path: str, embedding: bool) -> None:
    """Do the child's work: load the model and generate (or embed) a little (a crash kills only this process)."""
    from llama_cpp import Llama

    llm = Llama(model_path=model_path, n_ctx=256, n_batch=256, n_threads=1, embedding=embedding, verbose=False)
    if embedding:
        llm.embed([_PROBE_PROMPT, "hello"])
    else:
        llm.create_completion(_PROBE_PROMPT, max_tokens=4, temperature=0.0)
    llm.close()


if __name__ == "__main__":
    _run_probe(sys.argv[-1], embedding="--embed" in sys.argv[1:-1])
