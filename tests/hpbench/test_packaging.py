"""The shape of the package: installed names, layers, and the rules the design keeps.

These read the source, so a change that breaks a rule of docs/design.md fails here with the
place that broke it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: repository folder -> the package it installs as (pyproject's package-dir)
FOLDERS = {"hpbench": "hpbench", "problems": "hpbench.problems",
           "optimizers": "hpbench.optimizers", "analysis": "hpbench.analysis"}
#: the engine's longest function, in lines (docs/design.md)
MAX_FUNCTION_LINES = 80


def _sources() -> list[Path]:
    return sorted(p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py"))


def _package(path: Path) -> str:
    rel = path.relative_to(ROOT)
    return ".".join([FOLDERS[rel.parts[0]], *rel.parts[1:-1]])


def test_pyproject_lists_every_package_and_maps_the_folders():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["package-dir"] == {v: k for k, v in FOLDERS.items()}
    found = {_package(p) for p in _sources() if p.name == "__init__.py"}
    assert set(config["packages"]) == found | {"hpbench.suites"}


def test_nothing_installs_or_imports_a_generic_top_level_name(tmp_path):
    code = ("import sys, hpbench\nhpbench.list_problems(); hpbench.list_optimizers()\n"
            "import hpbench.analysis.report\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'problems', 'optimizers', 'analysis'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return names


def test_the_engine_imports_no_problem_optimizer_or_analysis():
    upward = ("hpbench.problems", "hpbench.optimizers", "hpbench.analysis")
    bad = [f"{p.relative_to(ROOT)} imports {name}"
           for p in (ROOT / "hpbench").rglob("*.py") for name in _imports(p)
           if name.startswith(upward)]
    assert bad == []


def test_no_engine_function_is_longer_than_the_rule():
    long = []
    for path in sorted((ROOT / "hpbench").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({n})")
    assert long == []


def _calls(path: Path, names: set[str]) -> list[str]:
    """Calls of ``names`` (``"module.function"`` for a call through a module, as in
    ``os.replace(…)``, else the bare name) in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Attribute):
                name = f"{f.value.id}.{f.attr}" if isinstance(f.value, ast.Name) else f.attr
            else:
                name = getattr(f, "id", "")
            if name in names or name.rpartition(".")[2] in names:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    return found


def test_one_atomic_writer():
    """Files are replaced (written to a temporary, then renamed) in hpbench/store.py only."""
    writers = [c for p in _sources() if p != ROOT / "hpbench" / "store.py"
               for c in _calls(p, {"os.replace", "os.rename", "tempfile.mkstemp",
                                   "mkstemp", "NamedTemporaryFile"})]
    assert [c for c in writers if c.endswith(("os.replace", "os.rename", "mkstemp",
                                             "NamedTemporaryFile"))] == []


def test_the_cell_building_sequence_is_written_once():
    """Only hpbench/cell.py builds an optimizer and runs the loop."""
    calls = [c for p in _sources() for c in _calls(p, {"make_optimizer", "run_loop"})]
    assert {c.split(":")[0] for c in calls} == {"hpbench/cell.py"}, calls
