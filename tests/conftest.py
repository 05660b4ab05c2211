"""Shared fixtures: a results folder, and a CLI runner with the test plugin installed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN_DIR = Path(__file__).parent / "plugin"
TIMING = ["ask_s", "eval_s", "tell_s", "t_start", "t_end"]


@pytest.fixture(scope="session")
def plugin_path(tmp_path_factory) -> Path:
    """A folder on which Python finds the test plugin as an installed distribution."""
    root = tmp_path_factory.mktemp("plugin")
    dist = root / "hpbench_testplugin-0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: hpbench-testplugin\n"
                                   "Version: 0.0\n")
    (dist / "entry_points.txt").write_text(
        "[hpbench.problems]\nslow = hpbench_testplugin:register\n"
        "[hpbench.optimizers]\nfaults = hpbench_testplugin:register_optimizers\n")
    (root / "hpbench_testplugin.py").write_text((PLUGIN_DIR / "hpbench_testplugin.py")
                                                 .read_text())
    return root


@pytest.fixture
def cli(plugin_path):
    """Run ``hpbench ARGS`` in a fresh process; returns the CompletedProcess."""
    def run(*args: str, env: dict | None = None, timeout: float = 300):
        full_env = {**os.environ, "PYTHONPATH": str(plugin_path), **(env or {})}
        return subprocess.run([sys.executable, "-m", "hpbench.cli", *map(str, args)],
                              capture_output=True, text=True, env=full_env, timeout=timeout)
    return run


def tree(folder: Path) -> list[str]:
    """Every file below ``folder`` (relative), hidden scratch folders excluded."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in
                                             p.relative_to(folder).parts))


def values_frame(folder: Path):
    from hpbench import load_results

    frame = load_results(folder).drop(columns=TIMING)
    return frame.sort_values(["problem", "optimizer", "repeat", "trial"]).reset_index(drop=True)
