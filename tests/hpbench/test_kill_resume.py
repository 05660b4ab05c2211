"""SIGKILL a run mid-way, resume it, and get exactly what an uninterrupted run writes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.conftest import tree, values_frame

SUITE = """
name = "killme"
problems = ["slow-quadratic"]
optimizers = ["random", "sobol", "lhs"]
repeats = 3
budget = 40
seed = 11
"""


def test_sigkill_and_resume_equals_uninterrupted(cli, plugin_path, tmp_path):
    suite = tmp_path / "killme.toml"
    suite.write_text(SUITE)
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    assert cli("run", suite, "--out", clean).returncode == 0

    env = {**os.environ, "PYTHONPATH": str(plugin_path)}
    proc = subprocess.Popen([sys.executable, "-m", "hpbench.cli", "run", str(suite), "--out",
                             str(killed), "--no-progress"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done = list(killed.glob("*/*/repeat-*.parquet"))
        if len(done) >= 3:
            break
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = list(killed.glob("*/*/repeat-*.parquet"))
    assert 3 <= len(partial) < 9, "the run should have been killed part-way"

    res = cli("run", suite, "--out", killed)
    assert res.returncode == 0, res.stderr
    assert f"{len(partial)} skipped" in res.stdout
    assert tree(killed) == tree(clean)
    assert values_frame(killed).equals(values_frame(clean))
