"""A plugin package outside the repository runs ``hpbench.testing`` on its own entries.

The test writes, in a temporary folder, a plugin module with one optimizer and one problem,
installs it as a distribution (a dist-info folder whose ``entry_points.txt`` names the
functions that register them, on PYTHONPATH) and the plugin's own test file, which imports
``hpbench.testing`` only. It runs that file with ``python -m pytest`` in a fresh process
whose working directory is the temporary folder, so the repository is not on ``sys.path``
(hpbench itself comes from the installed distribution, or an outer PYTHONPATH). A second
variant of the plugin has an optimizer that seeds numpy's global generator: its suite must
fail, on that check.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from hpbench.testing import OPTIMIZER_CHECKS, PROBLEM_CHECKS

REPO = Path(__file__).resolve().parents[2]

PLUGIN = '''
"""hpbench-demo: a plugin with one optimizer and one problem."""

import numpy as np

from hpbench import (Categorical, Float, Int, Optimizer, Optimum, Problem, Space,
                     register_optimizer, register_problem)


class DemoRandom(Optimizer):
    """Uniform random search, drawing from the optimizer's own generator."""

    def ask(self, n):
        return self.space.sample(self.rng, n)

    def tell(self, observations):
        pass


class BrokenRandom(DemoRandom):
    """Uniform random search that also seeds numpy's global generator (a classic mistake)."""

    def __init__(self, space, **kwargs):
        super().__init__(space, **kwargs)
        np.random.seed(0 if self.seed is None else self.seed % 2**32)


class Bowl(Problem):
    """A shifted bowl over a float, an int and a categorical; the seed moves its centre."""

    def __init__(self, seed=None):
        centre = 0.3 if seed is None else float(np.random.default_rng(seed).uniform(-0.5, 0.5))
        space = Space(x=Float(-1.0, 1.0), n=Int(0, 4), kind=Categorical(["a", "b"]))
        super().__init__(space, seed=seed, name="demo-bowl",
                         optimum=Optimum(0.0, {"x": centre, "n": 2, "kind": "a"},
                                         source="by construction"))
        self.centre = centre

    def _evaluate(self, config, *, fidelity=None, ctx=None):
        return ((config["x"] - self.centre) ** 2 + (config["n"] - 2) ** 2 / 10
                + (0.5 if config["kind"] == "b" else 0.0))


def register_problems():
    register_problem("demo-bowl", Bowl, tags=("demo",))


def register_optimizers():
    register_optimizer("demo-random", tags=("demo",))(DemoRandom)
    register_optimizer("demo-broken", tags=("demo",))(BrokenRandom)
'''

PLUGIN_TESTS = '''
"""The plugin's own tests: hpbench's conformance suites on its entries."""

import os
import sys

import hpbench
from hpbench.testing import parametrize_with_checks

OPTIMIZERS = {optimizers!r}
PROBLEMS = {problems!r}


def test_outside_the_repository():
    paths = [os.path.realpath(p or os.getcwd()) for p in sys.path]
    assert os.path.realpath({repo!r}) not in paths
    assert "tests" not in sys.modules
    assert set(OPTIMIZERS) <= set(hpbench.list_optimizers())
    assert set(PROBLEMS) <= set(hpbench.list_problems())


@parametrize_with_checks(optimizers=OPTIMIZERS, problems=PROBLEMS)
def test_hpbench_conformance(check):
    check()
'''


def _plugin_project(root: Path, optimizers: list[str], problems: list[str]) -> Path:
    """The plugin installed under ``root/site`` and its project (tests) under
    ``root/project``; returns the project folder."""
    site = root / "site"
    dist = site / "hpbench_demo-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: hpbench-demo\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[hpbench.problems]\ndemo = hpbench_demo:register_problems\n"
        "[hpbench.optimizers]\ndemo = hpbench_demo:register_optimizers\n")
    (site / "hpbench_demo.py").write_text(textwrap.dedent(PLUGIN).lstrip())
    project = root / "project"
    (project / "tests").mkdir(parents=True)
    (project / "pytest.ini").write_text("[pytest]\n")  # the rootdir: no outer config
    (project / "tests" / "test_hpbench_demo.py").write_text(PLUGIN_TESTS.format(
        optimizers=optimizers, problems=problems, repo=str(REPO)).lstrip())
    return project


def _pytest(project: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    # the plugin's distribution first; an outer PYTHONPATH (hpbench from a checkout) stays,
    # the repository itself does not
    outer = [p for p in env.get("PYTHONPATH", "").split(os.pathsep)
             if p and Path(p).resolve() != REPO]
    env["PYTHONPATH"] = os.pathsep.join([str(project.parent / "site"), *outer])
    return subprocess.run([sys.executable, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider",
                           "-p", "no:xdist", "-p", "no:benchmark", "-rf"],
                          cwd=project, env=env, capture_output=True, text=True, timeout=900)


def _count(output: str, outcome: str) -> int:
    found = re.search(rf"(\d+) {outcome}", output.strip().splitlines()[-1])
    return int(found.group(1)) if found else 0


def test_plugin_runs_the_suites_on_its_own_entries(tmp_path):
    assert REPO not in tmp_path.resolve().parents
    project = _plugin_project(tmp_path, ["demo-random"], ["demo-bowl"])
    run = _pytest(project)
    output = run.stdout + run.stderr
    expected = len(OPTIMIZER_CHECKS) + len(PROBLEM_CHECKS) + 1  # + test_outside_the_repository
    assert run.returncode == 0, output
    assert _count(output, "passed") == expected, output


def test_a_broken_plugin_optimizer_fails_the_check_it_breaks(tmp_path):
    project = _plugin_project(tmp_path, ["demo-broken"], [])
    run = _pytest(project)
    output = run.stdout + run.stderr
    assert run.returncode == 1, output
    assert _count(output, "failed") == 1, output
    assert _count(output, "passed") == len(OPTIMIZER_CHECKS), output  # the others + the path
    failed = [line for line in output.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and "optimizer:demo-broken:global_random_state" in failed[0], output
    assert "optimizer 'demo-broken' changed global random state" in output, output
    assert "numpy's global random state" in output, output
