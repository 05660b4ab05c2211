"""The documentation as a reader uses it: the README's and docs/' examples run as written, the
results schema names every column and metadata field of a real results folder, the figures
page describes every registered figure, and every link inside the repository resolves.

Examples are code blocks whose first line names their file (``# my_opt.py``,
``# pyproject.toml``); the tests write them into a temporary folder and run them there, with
smaller budgets than the pages show.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import hpbench
from hpbench.testing import OPTIMIZER_CHECKS, PROBLEM_CHECKS

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DOCS = REPO / "docs"
HPBENCH = [sys.executable, "-m", "hpbench.cli"]


def code_blocks(path: Path) -> list[tuple[str, str]]:
    """(language, text) of every fenced code block of a Markdown file."""
    return re.findall(r"^```(\w*)\n(.*?)^```", path.read_text(), re.S | re.M)


def example_files(path: Path) -> dict[str, str]:
    """The code blocks of ``path`` whose first line is ``# <file name>``, by file name."""
    files = {}
    for _, text in code_blocks(path):
        named = re.match(r"# ([\w./-]+\.(?:py|toml))\n", text)
        if named:
            files[named.group(1)] = text
    return files


def write_files(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


def shell_line(path: Path, start: str) -> list[str]:
    """The first line of a ``sh`` block of ``path`` starting with ``start``, as argv, with
    ``hpbench`` and ``python`` run by this interpreter."""
    for lang, text in code_blocks(path):
        for line in text.splitlines():
            if lang == "sh" and line.startswith(start):
                argv = shlex.split(line.split("  #")[0])
                head = {"hpbench": HPBENCH, "python": [sys.executable]}[argv[0]]
                return [*head, *argv[1:]]
    raise AssertionError(f"{path.name} has no sh line starting with {start!r}")


def run(argv: list[str], cwd: Path, pythonpath: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": pythonpath}
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True,
                           text=True, timeout=600)


# -- README -------------------------------------------------------------------------------------


def test_the_readme_python_example_runs_as_written(tmp_path):
    block = next(text for lang, text in code_blocks(README)
                 if lang == "python" and "hpbench.load_results(" in text)
    checks = ('\nassert abs(problem.evaluate({"x0": 3.14159, "x1": 2.275}).value - 0.397887) '
              '< 1e-6\n'
              'assert summary.count("done") == len(summary.outcomes) > 0\n'
              'assert len(frame) > 0 and "repeat" in frame and "seed" not in frame\n'
              'assert len(result.columns["value"]) == 50\n')
    (tmp_path / "example.py").write_text(block + checks)
    res = run([sys.executable, "example.py"], tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    # how to find a problem's parameter names: the example prints its space
    assert res.stdout.startswith("Space(x0=Float(low=-5.0, high=10.0"), res.stdout


def test_the_readme_optimizer_passes_the_conformance_suite(tmp_path):
    files = example_files(README)
    (tmp_path / "my_method.py").write_text(files["optimizers/my_method.py"])
    res = run([sys.executable, "-c", "import my_method; from hpbench.testing import "
               "check_optimizer; check_optimizer('my-method')"], tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr


# -- docs/plugins.md -----------------------------------------------------------------------------


def _install(project: Path, site: Path) -> None:
    """What ``pip install .`` leaves of the example: its modules and a dist-info folder
    whose entry points are the pyproject's."""
    meta = tomllib.loads((project / "pyproject.toml").read_text())
    dist = site / f"{meta['project']['name'].replace('-', '_')}-0.1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {meta['project']['name']}\n"
                                   f"Version: {meta['project']['version']}\n")
    lines = []
    for group, points in meta["project"]["entry-points"].items():
        lines += [f"[{group}]", *(f"{k} = {v}" for k, v in points.items())]
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for module in meta["tool"]["setuptools"]["py-modules"]:
        (site / f"{module}.py").write_text((project / f"{module}.py").read_text())


def test_the_plugin_package_example_installs_runs_and_passes_its_tests(tmp_path):
    project, site = tmp_path / "project", tmp_path / "site"
    write_files(project, example_files(DOCS / "plugins.md"))
    (project / "pytest.ini").write_text("[pytest]\n")  # the rootdir: no outer config
    _install(project, site)
    installed = str(site)

    res = run([*HPBENCH, "list", "optimizers", "--tag", "myplugin"], project, installed)
    assert res.returncode == 0 and res.stdout.startswith("myplugin-local "), res.stderr
    out = tmp_path / "results"
    res = run([*HPBENCH, "run", "--problems", "myplugin-bowl,branin", "--optimizers",
               "myplugin-local,random", "--repeats", "2", "--budget", "5", "--backend", "logged",
               "--out", out], project, installed)
    assert res.returncode == 0, res.stderr
    assert "myplugin-bowl/myplugin-local/repeat-1: done" in res.stdout  # the plugin backend
    assert "8 cells (8 done)" in res.stdout
    res = run([*HPBENCH, "cells", out], project, installed)  # the plugin command
    assert (res.returncode, res.stdout) == (0, "8 cell files\n"), res.stderr
    res = run([*HPBENCH, "cells", tmp_path / "nowhere"], project, installed)
    assert res.returncode == 2 and res.stderr.count("\n") == 1
    assert res.stderr.startswith("hpbench cells: ")

    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    tests = subprocess.run([sys.executable, "-m", "pytest", "tests", "-q", "-p",
                            "no:cacheprovider", "-p", "no:xdist"], cwd=project,
                           env={**env, "PYTHONPATH": installed}, capture_output=True,
                           text=True, timeout=600)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert f"{len(OPTIMIZER_CHECKS) + len(PROBLEM_CHECKS)} passed" in tests.stdout

    # not installed: the module as a --plugin file
    res = run([*HPBENCH, "list", "optimizers", "--plugin", "hpbench_myplugin.py", "--tag",
               "myplugin"], project)
    assert res.returncode == 0 and res.stdout.startswith("myplugin-local "), res.stderr


# -- docs/compare-your-optimizer.md -------------------------------------------------------------


def test_the_compare_example_runs_and_reruns_only_the_changed_optimizer(tmp_path):
    page = DOCS / "compare-your-optimizer.md"
    write_files(tmp_path, example_files(page))
    res = run(shell_line(page, "hpbench list optimizers"), tmp_path)
    assert res.returncode == 0 and res.stdout.startswith("my-opt "), res.stderr
    res = run(shell_line(page, "python -c"), tmp_path)  # the conformance suite
    assert res.returncode == 0, res.stdout + res.stderr

    small = ["run", "my-opt.toml", "--problems", "branin", "--repeats", "1", "--budget", "8",
             "--out", "out"]
    suite = tomllib.loads((tmp_path / "my-opt.toml").read_text())
    n = len(suite["optimizers"])
    res = run([*HPBENCH, *small], tmp_path)
    assert res.returncode == 0 and f"{n} cells ({n} done)" in res.stdout, res.stderr
    # a change to the optimizer's code redoes its cells only
    with open(tmp_path / "my_opt.py", "a") as fh:
        fh.write("# a change\n")
    res = run([*HPBENCH, *small], tmp_path)
    assert res.returncode == 0 and f"(1 done, {n - 1} skipped)" in res.stdout, res.stderr
    # another setting is another experiment: refused in one line, naming the difference
    toml = tmp_path / "my-opt.toml"
    toml.write_text(toml.read_text().replace("step = 0.2", "step = 0.3"))
    res = run([*HPBENCH, *small], tmp_path)
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    assert "optimizer settings of branin/my-opt/repeat-0" in res.stderr


# -- docs/results-schema.md ----------------------------------------------------------------------


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def _first_column_names(section: str) -> set[str]:
    """Every `name` in the first column of the section's tables."""
    names = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names |= set(re.findall(r"`([^`]+)`", line.split("|")[1]))
    return names


def test_the_results_schema_documents_every_column_and_metadata_field(tmp_path):
    out = tmp_path / "out"
    # a mixed space (categorical, conditional), a not-applicable cell, and batched rounds
    hpbench.run("smoke", problems=["branin", "mixed-branin-camel-cond"],
                optimizers=["random", "hyperband"], repeats=2, budget=4, batch=2, out=out)
    frame, metas = hpbench.load_results(out, with_meta=True)
    text = (DOCS / "results-schema.md").read_text()

    columns = {"param.<name>" if c.startswith("param.") else c for c in frame.columns}
    assert _first_column_names(_section(text, "Columns")) == columns
    fields = set().union(*metas)
    optional = {"warnings"}  # only in a cell whose code warned (tests/hpbench/test_progress.py)
    assert _first_column_names(_section(text, "Cell metadata")) == fields | optional

    # one word per meaning: `repeat` is the repeat index of the cell's file, `seed` no column
    assert "seed" not in frame.columns
    for meta in metas:
        path = out / meta["problem"] / meta["optimizer"] / f"repeat-{meta['repeat']}.parquet"
        assert path.is_file()
    assert sorted(frame["repeat"].unique()) == [0, 1]


# -- docs/figures.md -----------------------------------------------------------------------------


def test_the_figures_page_describes_every_registered_figure():
    from hpbench.analysis.registry import figures

    headings = re.findall(r"^### `(\w+)`", (DOCS / "figures.md").read_text(), re.M)
    assert sorted(f.name for f in figures()) == sorted(headings)


# -- links ---------------------------------------------------------------------------------------


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_link_inside_the_repository_resolves():
    broken = []
    for page in [README, *sorted(DOCS.glob("*.md"))]:
        text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.S | re.M)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):  # https:, mailto:
                continue
            file, _, anchor = target.partition("#")
            path = (page.parent / file).resolve() if file else page
            if REPO not in path.parents or not path.exists():
                broken.append(f"{page.name}: {target}")
            elif anchor:
                headings = re.findall(r"^#+ (.+)$", path.read_text(), re.M)
                if anchor not in {_slug(h) for h in headings}:
                    broken.append(f"{page.name}: {target} (no such heading)")
    assert broken == []
