"""The house rules, enforced: layer contracts (import-linter) and a pure decision core."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORE = REPO / "workbench" / "core"


def test_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--config", str(REPO / ".importlinter")], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


FORBIDDEN_CALLS = {
    ("time", "time"), ("time", "monotonic"), ("time", "perf_counter"), ("time", "sleep"),
    ("datetime", "now"), ("datetime", "utcnow"), ("date", "today"),
    ("random", "random"), ("random", "seed"), ("random", "randint"), ("random", "choice"),
    ("os", "environ"), ("os", "getenv"), ("sys", "stdin"),
}
FORBIDDEN_NAMES = {"open", "input", "print"}
FORBIDDEN_IMPORTS = {"random", "socket", "subprocess", "threading", "asyncio", "requests", "urllib"}


def _core_files():
    return sorted(CORE.rglob("*.py"))


@pytest.mark.parametrize("path", _core_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_core_module_reads_no_clock_no_files_no_global_rng(path):
    tree = ast.parse(path.read_text(), str(path))
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_NAMES:
            problems.append(f"line {node.lineno}: calls {node.func.id}()")
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if (node.value.id, node.attr) in FORBIDDEN_CALLS:
                problems.append(f"line {node.lineno}: uses {node.value.id}.{node.attr}")
            if node.value.id in ("np", "numpy") and node.attr == "random":
                problems.append(f"line {node.lineno}: uses numpy's global random state")
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for name in names:
                if name.split(".")[0] in FORBIDDEN_IMPORTS:
                    problems.append(f"line {node.lineno}: imports {name}")
    assert problems == []
