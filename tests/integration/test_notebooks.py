"""The example notebooks run, offline, on the embedded defaults.

Executed with nbclient in a fresh kernel each (as a reader would run them), so a
notebook that rots fails the test run. Committed notebooks carry no outputs: what a
reader sees comes from their own run, and outputs never hide stale results in git.
How long they take (target: under two minutes each) is measured by
``python -m benchmarks.notebooks``, not asserted here: wall time on a shared
machine is a benchmark's figure.
"""

from pathlib import Path

import nbformat
import pytest

from benchmarks.notebooks import NOTEBOOKS, execute, offline_env


def test_at_least_four_notebooks() -> None:
    assert len(NOTEBOOKS) >= 4, NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_has_no_outputs(path: Path) -> None:
    book = nbformat.read(path, as_version=4)
    nbformat.validate(book)
    dirty = [i for i, c in enumerate(book.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_offline_on_the_embedded_defaults(path: Path, tmp_path: Path) -> None:
    with offline_env(tmp_path):
        book, elapsed = execute(path, tmp_path)
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    print(f"{path.name}: {elapsed:.1f} s")
