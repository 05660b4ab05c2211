"""A torch cell (tagged "expensive", so it keeps a trial journal by default) killed mid-run
resumes by replaying its journaled trials — including Hyperband's resumes from checkpoints
that the killed run left in the scratch folder — and ends equal to an uninterrupted run."""

from __future__ import annotations

import json

from hpbench.store import ResultsDir
from tests.conftest import values_frame
from tests.hpbench.test_journal import _journals, _kill, _start, _wait_for

SUITE = """
name = "torch-journal"
problems = ["torch-mlp-digits"]
optimizers = ["hyperband"]
repeats = 1
budget = 8
seed = 0

[problem_settings."torch-mlp-digits"]
epochs = 3
"""


def _trials_journaled(out) -> int:
    return sum(len(p.read_text().splitlines()) - 1 for p in _journals(out))


def test_killed_torch_cell_replays_its_journal(cli, plugin_path, tmp_path):
    suite = tmp_path / "s.toml"
    suite.write_text(SUITE)
    clean, out = tmp_path / "clean", tmp_path / "killed"
    res = cli("run", suite, "--out", clean, "--no-progress")
    assert res.returncode == 0, res.stderr
    n_trials = len(values_frame(clean))
    assert n_trials >= 6, n_trials
    meta = next((m for _, m, _ in ResultsDir(clean).metas()))
    assert meta["execution"]["journal"]["replayed"] == 0, "journal is on by default for torch"

    proc = _start(plugin_path, suite, out, "--journal", "auto")
    assert _wait_for(lambda: _trials_journaled(out) >= 4, proc, "four journaled trials")
    _kill(proc)
    journaled = _trials_journaled(out)
    assert 4 <= journaled < n_trials

    res = cli("run", suite, "--out", out, "--no-progress")
    assert res.returncode == 0, res.stderr
    assert values_frame(out).equals(values_frame(clean))
    meta = next((m for _, m, _ in ResultsDir(out).metas()))
    assert meta["execution"]["journal"]["replayed"] >= 4, json.dumps(meta["execution"])
    assert not _journals(out)
