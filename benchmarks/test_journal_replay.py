"""Which optimizers a resumed cell can replay from its trial journal (docs/execution.md).

Every registered optimizer runs a cell (``hpbench.cell.Cell``, problem seed 0, optimizer
seed 5) on the mixed toy problem with a journal; the journal is
then cut half-way (as a SIGKILL leaves it) and the cell resumed. An optimizer qualifies when
the resumed cell re-asks exactly the journaled configs (nothing re-evaluated); either way the
resumed cell must equal the uninterrupted one. Writes results/perf/journal_replay.md.
HPBENCH_PERF_REPLAY_BUDGET sets the budget per cell (default 16).
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
from pathlib import Path

import hpbench
from benchmarks.conftest import write_table
from hpbench import Budget
from hpbench.cell import Cell, Seeds
from hpbench.journal import Journal
from tests.toy import ToyProblem

BUDGET = int(os.environ.get("HPBENCH_PERF_REPLAY_BUDGET", "16"))
HEADER = {"cell": "replay-check"}
COLUMNS = ("config", "fidelity", "resume_from", "status", "value")


def _norm(values):
    return ["NaN" if isinstance(v, float) and math.isnan(v) else v for v in values]


def replay_check(name: str, folder: Path) -> tuple[str, str]:
    cell = Cell("toy", name, Budget(BUDGET), seeds=Seeds(problem=0, optimizer=5))

    def run(journal):
        problem = ToyProblem(seed=0, fail_rate=0.1)  # not in the registry: the cell runs on it
        result = cell.run(problem=problem, journal=journal)
        # the cell reports an optimizer it could not build as a failed cell without trials
        assert result.n_trials or result.status == "done", f"{name}: {result.reason}"
        return result, problem.calls

    full, calls_full = run(Journal.open(folder / "full.jsonl", HEADER))
    keep = full.n_trials // 2
    lines = (folder / "full.jsonl").read_bytes().split(b"\n")
    (folder / "cut.jsonl").write_bytes(b"\n".join(lines[:1 + keep]) + b"\n")
    journal = Journal.open(folder / "cut.jsonl", HEADER)
    resumed, calls = run(journal)
    same = all(_norm(full.columns[c]) == _norm(resumed.columns[c]) for c in COLUMNS)
    if journal.mismatch_at is None and journal.replayed == keep and calls == calls_full - keep:
        verdict = "yes"
    else:
        verdict = f"no (re-asked a different config at trial {journal.mismatch_at})"
    return verdict, "equal" if same else "DIFFERENT"


def test_which_optimizers_replay():
    rows, wrong = [], []
    # (an external optimizer whose environment `make peers` has not built cannot run)
    for name in [n for n in hpbench.list_optimizers()
                 if hpbench.registry.get_entry("optimizer", n).available]:
        with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            verdict, same = replay_check(name, Path(tmp))
        rows.append(f"| {name} | {verdict} | {same} |")
        if same != "equal":
            wrong.append(name)
    table = ("| optimizer | replays its journal | resumed cell vs uninterrupted |\n"
             "|---|---|---|\n" + "\n".join(rows)
             + f"\n\nToy mixed problem with 10% failing trials, budget {BUDGET}, journal cut "
             "half-way.\n")
    write_table("journal_replay", table)
    assert not wrong, f"resumed cells differ from uninterrupted ones: {wrong}"
