"""The notebooks run top to bottom on the bundled data (executed with a real Jupyter kernel)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def test_the_required_notebooks_exist():
    assert {p.name for p in NOTEBOOKS} >= {"compare_policies.ipynb", "tune_policy.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_top_to_bottom(path, tmp_path, monkeypatch):
    nb = nbformat.read(path, as_version=4)
    # run in a copy of the repository layout's root so relative paths (scenarios/, data/) resolve;
    # outputs go to out/notebooks under the repository (ignored by git)
    env_python = os.path.dirname(sys.executable)
    monkeypatch.setenv("PATH", env_python + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(REPO)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []
    # every code cell ran and the figures were produced
    assert all(c.get("execution_count") for c in nb.cells if c.cell_type == "code")
