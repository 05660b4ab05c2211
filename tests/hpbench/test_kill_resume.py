"""SIGKILL a run at random moments, resume it, and get exactly what an uninterrupted run writes.

On each backend (serial, processes, dask) the whole process group of ``hpbench run`` (the
driver, its workers, the Dask nannies and workers) is killed with SIGKILL at
HPBENCH_KILL_MOMENTS seeded random moments (default 1; ``make stress`` sets 10), drawn
uniformly over the first 80 % of the duration of an uninterrupted run measured in the same
test (the first run pays for cold imports and caches, so the killed runs are faster and a
moment in the last fifth mostly finds every cell written: a kill that tests nothing). Every other
moment the resume is killed too, at a second moment drawn the same way. Then a last resume
must finish, and the folder must equal the uninterrupted run's: the same files, identical
values, no temporary file, journal or lock left, every cell done for ``hpbench status``, and
the cells found finished are skipped, the others done. The serial backend is first killed,
deterministically, once three cells are written (a kill part-way, whatever the random draw).

The suite keeps a trial journal (``--journal on``) and its trials are slow, so kills land in
the middle of cells and of journal writes; a resumed cell replays its journal.

A failure message names the backend, the seed and the moment: the fractions of the
uninterrupted run and the seconds. HPBENCH_KILL_SEED=S replays a seed's fractions;
HPBENCH_KILL_AT=T1[,T2] (seconds after the start) replays one moment exactly, with a second
kill T2 seconds into the resume (pick the backend with ``-k``), e.g.::

    HPBENCH_KILL_AT=1.051,1.332 python -m pytest tests/hpbench/test_kill_resume.py -k serial
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import tree, values_frame

#: slow trials (HPBENCH_TEST_DELAY), fast ones, a population optimizer whose state the
#: journal replay must rebuild, and a crashing plugin cell: an optimizer (the test plugin's
#: fault-ask) that raises in its 6th ask, so its cells end "failed" with the traceback. (No
#: fault-injecting problem: its faults count the evaluations of its instance, which a replay
#: skips, so a resumed cell would fail other trials; see "Caveats" in docs/execution.md. The
#: optimizer's fault counts its asks, which a replay repeats.)
SUITE = """
name = "killstress"
problems = ["slow-quadratic", "branin"]
optimizers = ["random", "grid", "de"]
repeats = 2
budget = 16
seed = 11

[[groups]]
problems = ["slow-quadratic"]
optimizers = ["fault-ask"]

[settings.fault-ask]
at = 5
"""
N_DONE, N_FAILED = 12, 2
N_CELLS = N_DONE + N_FAILED
ENV = {"HPBENCH_TEST_DELAY": "0.008"}
BACKENDS = {
    "serial": [],
    "processes": ["--workers", "2"],
    "dask": ["--backend", "dask", "--workers", "2"],
}
#: seconds any one run may take before the test calls it a hang
BOUND = 180


def _group_alive(pgid: int) -> list[int]:
    """The processes of group ``pgid`` that still run (a zombie does not)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # state ppid pgrp ...
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            alive.append(int(stat.parent.name))
    return alive


def _cells(out: Path) -> int:
    return len(list(out.glob("*/*/repeat-*.parquet")))


class Runs:
    """``hpbench run`` of the suite on one backend, each run in a session of its own."""

    def __init__(self, suite: Path, backend: str, plugin_path: Path, logs: Path) -> None:
        self.suite, self.args, self.logs, self.n = suite, BACKENDS[backend], logs, 0
        self.env = {**os.environ, "PYTHONPATH": str(plugin_path), **ENV}

    def start(self, out: Path) -> tuple[subprocess.Popen, Path]:
        self.n += 1
        log = self.logs / f"run-{self.n}.log"
        with open(log, "w") as fh:
            proc = subprocess.Popen(
                [sys.executable, "-m", "hpbench.cli", "run", str(self.suite), "--out", str(out),
                 "--journal", "on", "--no-progress", *self.args],
                env=self.env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        return proc, log

    def complete(self, out: Path, moment: str = "") -> tuple[str, float]:
        """Run to the end: its output and wall time."""
        t0 = time.monotonic()
        proc, log = self.start(out)
        try:
            code = proc.wait(timeout=BOUND)
        except subprocess.TimeoutExpired:
            self.kill(proc)
            pytest.fail(f"{moment}: hpbench run hangs (not done in {BOUND} s):\n"
                        f"{log.read_text()}")
        text = log.read_text()
        assert code == 3, f"{moment}: hpbench run exited {code} (3: finished, the crashing " \
            f"cells failed):\n{text}"
        return text, time.monotonic() - t0

    def kill_at(self, out: Path, at: float) -> str:
        """Start a run and SIGKILL its process group ``at`` seconds later; what happened."""
        proc, _ = self.start(out)
        try:
            proc.wait(timeout=at)
            what = f"finished (exit {proc.returncode}) before its kill at {at:.3f} s"
        except subprocess.TimeoutExpired:
            what = f"killed at {at:.3f} s"
        self.kill(proc)
        return what

    def kill_when(self, out: Path, ready: Callable[[], bool]) -> str:
        """Start a run and SIGKILL its process group once ``ready()``."""
        proc, log = self.start(out)
        t0 = deadline = time.monotonic()
        deadline += BOUND
        while not ready() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        self.kill(proc)
        assert ready(), f"the run ended before it could be killed:\n{log.read_text()}"
        return f"killed at {time.monotonic() - t0:.3f} s"

    @staticmethod
    def kill(proc: subprocess.Popen) -> None:
        """SIGKILL the process group of ``proc`` and wait until nothing of it runs."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while (left := _group_alive(proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not left, f"processes {left} of a killed run survive SIGKILL of its group"


def _leftovers(out: Path) -> list[str]:
    """Temporary or set-aside files outside the hidden folders, and journals or cell locks in
    them (once every cell is done there must be none)."""
    bad = []
    for p in out.rglob("*"):
        rel = p.relative_to(out)
        if not p.is_file():
            continue
        if any(part.startswith(".") for part in rel.parts[:-1]):
            if p.suffix in (".jsonl", ".lock"):
                bad.append(str(rel))
        elif rel.name.startswith(".") or ".tmp-" in rel.name or ".bad-" in rel.name:
            bad.append(str(rel))
    return sorted(bad)


#: moments are drawn over this fraction of the uninterrupted run (see the module docstring)
LATEST = 0.8


def _plan(backend: str, n: int, duration: float) -> tuple[str, list[tuple[float, float | None]]]:
    """The seed, and per moment the fraction of the run at which it is killed and, every
    other moment, the fraction of ``duration`` into the resume at which that is killed."""
    seed = os.environ.get("HPBENCH_KILL_SEED", "27")
    if os.environ.get("HPBENCH_KILL_AT"):
        at = [float(x) / duration for x in os.environ["HPBENCH_KILL_AT"].split(",")]
        return seed, [(at[0], at[1] if len(at) > 1 else None)]
    rng = random.Random(f"{seed}-{backend}")
    offset = list(BACKENDS).index(backend)  # with one moment, one backend kills twice
    plan = []
    for k in range(n):
        first, second = LATEST * rng.random(), LATEST * rng.random()
        plan.append((first, second if (k + offset) % 2 == 1 else None))
    return seed, plan


def _differences(got, want) -> str:
    """Which cells and columns of ``got`` differ from ``want`` (a failure message)."""
    if got.shape != want.shape or list(got.columns) != list(want.columns):
        return f"shape {got.shape} != {want.shape} or other columns"
    keys = ["problem", "optimizer", "repeat"]
    cells: dict[str, set[str]] = {}
    for c in want.columns:
        same = (got[c] == want[c]) | (got[c].isna() & want[c].isna())
        for row in want.loc[~same, keys].itertuples(index=False):
            cells.setdefault("/".join(map(str, row)), set()).add(c)
    return "values differ in " + "; ".join(f"{k}: {sorted(v)}" for k, v in
                                           sorted(cells.items())) if cells else "dtypes differ"


def _check(out: Path, runs: Runs, moment: str, clean_tree: list[str],
           clean_values) -> tuple[int, int]:
    """Resume the run in ``out`` to the end and compare it with the uninterrupted run; the
    cells and the journals the kills had left."""
    held = _cells(out) if out.exists() else 0  # files are whole: each one is a finished cell
    failed_held = sum(1 for p in out.glob("*/fault-ask/repeat-*.parquet")) if held else 0
    journals = len(list(out.glob(".journal/*.jsonl")))
    moment += f"; {held} cells written, {journals} journals to replay"
    print(f"  {held} cells written, {journals} journals to replay")
    text, _ = runs.complete(out, moment)
    summary = next((line for line in text.splitlines() if line.startswith("suite ")), "")
    counts = ", ".join(f"{n} {what}" for n, what in (
        (N_CELLS - held - (N_FAILED - failed_held), "done"), (held, "skipped"),
        (N_FAILED - failed_held, "failed")) if n)
    assert f"{N_CELLS} cells ({counts})" in summary, f"{moment}\n{text}"
    assert tree(out) == clean_tree, moment
    values = values_frame(out)
    assert values.equals(clean_values), f"{moment}: {_differences(values, clean_values)}"
    assert not _leftovers(out), f"{moment}: left behind {_leftovers(out)}"
    status = subprocess.run([sys.executable, "-m", "hpbench.cli", "status", str(out)],
                            capture_output=True, text=True, env=runs.env, timeout=60)
    assert status.returncode == 0, f"{moment}\n{status.stderr}"
    head = status.stdout.strip().splitlines()[0]
    assert head == f"{out}: {N_CELLS} cells: {N_DONE} done, {N_FAILED} failed", \
        f"{moment}\n{status.stdout}"
    assert status.stdout.count("optimizer raised in ask") == N_FAILED, status.stdout
    return held, journals


@pytest.mark.slow
@pytest.mark.parametrize("backend", list(BACKENDS))
def test_kill_at_random_moments(backend, plugin_path, tmp_path):
    if backend == "dask":
        pytest.importorskip("distributed")
    suite = tmp_path / "killstress.toml"
    suite.write_text(SUITE)
    (tmp_path / "logs").mkdir()
    runs = Runs(suite, backend, plugin_path, tmp_path / "logs")

    clean = tmp_path / "clean"
    _, duration = runs.complete(clean, f"backend {backend}, uninterrupted")
    clean_tree, clean_values = tree(clean), values_frame(clean)
    assert _cells(clean) == N_CELLS

    if backend == "serial":  # a kill part-way: some cells written, some not
        out = tmp_path / "part-way"
        moment = f"backend {backend}, part-way: " + runs.kill_when(out, lambda: _cells(out) >= 3)
        print(moment)
        assert _cells(out) < N_CELLS, f"{moment}: killed too late"
        _check(out, runs, moment, clean_tree, clean_values)

    seed, plan = _plan(backend, int(os.environ.get("HPBENCH_KILL_MOMENTS", "1")), duration)
    print(f"backend {backend}: uninterrupted run {duration:.2f} s; HPBENCH_KILL_SEED={seed}, "
          f"{len(plan)} moments")
    part_way = replayed = 0
    for k, (first, second) in enumerate(plan):
        out = tmp_path / f"killed-{k}"
        replay = f"{first * duration:.3f}" + ("" if second is None else
                                              f",{second * duration:.3f}")
        moment = (f"backend {backend}, HPBENCH_KILL_SEED={seed}, moment {k + 1}/{len(plan)} "
                  f"(fractions {first:.4f}"
                  + ("" if second is None else f", {second:.4f}")
                  + f" of {duration:.2f} s; HPBENCH_KILL_AT={replay}): "
                  + runs.kill_at(out, first * duration))
        if second is not None:
            moment += "; resume " + runs.kill_at(out, second * duration)
        print(moment)
        held, journals = _check(out, runs, moment, clean_tree, clean_values)
        part_way += held < N_CELLS
        replayed += journals > 0
    # (moments late in the run find every cell written: a busy machine makes the
    # uninterrupted run, and so the moments, longer than the runs that are killed)
    print(f"backend {backend}: {part_way} of {len(plan)} moments left cells to do, "
          f"{replayed} left journals to replay")
