"""The README's first command runs the demo, so the demo must run: offline, no keys, no Ollama.

Run as a reader runs it (a subprocess, ``python examples/quickstart.py``), in this
test environment rather than the ``demo`` group's smaller one; what the demo
prints is checked for the parts it exists to show.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_quickstart_demo_runs_offline_on_the_embedded_defaults(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("GROQ_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_API_KEY")}
    env |= {
        "OLLAMA_BASE_URL": "http://127.0.0.1:9",  # nothing listens: the embedded tier serves
        "HOME": str(tmp_path),  # ledgers and caches stay out of the user's home
        "HF_HUB_OFFLINE": "1",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "COLUMNS": "200",
    }
    done = subprocess.run(
        [sys.executable, "examples/quickstart.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "served by: tier=local model=routed-local/smollm2-135m" in out
    assert "fell back: premium failed (MissingCredential" in out  # the key is named, no provider error
    assert "tool calls: [{'name': 'get_weather'" in out
    assert "refused: TierNotAllowed" in out
