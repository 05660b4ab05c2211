"""A results folder you can trust (issue 27): nothing stale, nothing clobbered, nothing hung.

Each test runs what a user runs — ``hpbench run`` in a fresh process with the test plugin
(``tests/plugin/hpbench_testplugin.py``), or ``execute_cell`` on a ``Cell`` — and checks the
files it leaves: a cell redone when anything that shapes its trials changed, a corrupt file
reported and redone, two drivers computing each cell once, a claim freed by kill -9, bad costs
and runaway cells, a hung or exiting plugin, a problem that cannot be fingerprinted, shadowing
modules in the current folder, the memory limit of the serial backend, suite plugins in every
process, and the message of an invalid config.
"""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

import hpbench
from hpbench import registry
from hpbench.budget import Budget
from hpbench.cell import Cell
from hpbench.execute import execute_cell
from hpbench.runner import MAX_TRIALS_PER_UNIT
from hpbench.space import InvalidConfig
from hpbench.store import CorruptCell, ResultsDir, read_cell, read_meta
from tests.plugin import hpbench_testplugin

FAST = {"HPBENCH_TEST_DELAY": "0"}


def _suite(path: Path, problems: list[str], optimizers: list[str], *, budget: int = 6,
           repeats: int = 1, extra: str = "") -> Path:
    path.write_text(f'name = "{path.stem}"\nproblems = {problems!r}\n'
                    f"optimizers = {optimizers!r}\nrepeats = {repeats}\nbudget = {budget}\n"
                    f"seed = 7\n{extra}".replace("'", '"'))
    return path


def _metas(out: Path) -> dict[str, dict]:
    """Every cell file's metadata by cell key; a file that cannot be read fails the test."""
    found = {}
    for _, meta, error in ResultsDir(out).metas():
        assert meta is not None, error
        found[f"{meta['problem']}/{meta['optimizer']}/repeat-{meta['repeat']}"] = meta
    return found


def _rows(out: Path, key: str) -> list[dict]:
    table, _ = read_cell(ResultsDir(out).cell_file(key))
    return table.to_pylist()


def _counts(stdout: str) -> dict[str, int]:
    """The outcome counts of the summary line ``suite s: 6 cells (3 done, 2 skipped) …``."""
    match = re.search(r"(\d+) cells \(([^)]*)\)", stdout)
    assert match, stdout
    counts = {status: int(n) for n, status in re.findall(r"(\d+) ([a-z-]+)", match.group(2))}
    return {"cells": int(match.group(1)), **counts}


@pytest.fixture
def testplugin(monkeypatch):
    """The test plugin's fault-injecting problem, registered in this process for this test."""
    table = registry._ENTRIES["problem"]
    registry.entries("problem")  # discovery first, so it cannot run after the undo
    factory = hpbench_testplugin.FaultyQuadratic
    monkeypatch.setitem(table, "faulty-quadratic", registry.Entry(
        kind="problem", name="faulty-quadratic", factory=factory, tags=("test",),
        origin=registry._origin(factory)))


# -- 1. cell identity -------------------------------------------------------------------------


def test_a_cell_made_under_other_settings_is_redone_and_an_unchanged_one_skipped(tmp_path):
    out = ResultsDir(tmp_path / "out")
    base = {"problem": "branin-noisy", "optimizer": "sobol", "budget": Budget(6),
            "suite": "identity", "master_seed": 3}

    def run(**changes):
        cells = [Cell(**{**base, **changes}, repeat=r) for r in (0, 1)]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            statuses = [execute_cell(c, out).status for c in cells]
        return cells, statuses, [str(w.message) for w in caught]

    assert run()[1] == ["done", "done"]
    assert run()[1] == ["skipped", "skipped"]
    changes: dict = {}
    steps = [({"settings": {"scramble": False}}, "settings", {"scramble": False}),
             ({"problem_settings": {"noise": 0.05}}, "problem_settings", {"noise": 0.05}),
             ({"batch": 2}, "batch", 2),
             ({"timeout": 30.0}, "timeout", 30.0)]
    for k, (change, key, stored) in enumerate(steps, 1):
        changes.update(change)
        cells, statuses, messages = run(**changes)
        assert statuses == ["done", "done"], key
        for cell in cells:
            assert read_meta(out.cell_file(cell.key))["identity"][key] == stored, key
            # the old file is set aside (never silently dropped), named with the difference
            assert len(list(out.cell_file(cell.key).parent.glob("repeat-*.parquet.bad-*"))) \
                == 2 * k
        assert sum(f"{key} differs" in m and "set aside" in m for m in messages) == 2, messages
    assert run(**changes)[1] == ["skipped", "skipped"]


# -- 2. checksums -----------------------------------------------------------------------------


def test_a_flipped_byte_is_reported_corrupt_left_out_of_the_results_and_redone(tmp_path):
    out = ResultsDir(tmp_path)
    cells = [Cell("branin", "random", Budget(20), suite="crc", repeat=r) for r in (0, 1)]
    assert [execute_cell(c, out).status for c in cells] == ["done", "done"]
    path = out.cell_file(cells[0].key)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit: text stays text, a digit another digit
    path.write_bytes(bytes(data))

    with pytest.raises(CorruptCell):
        out.read()
    tables, metas, corrupt = out.read(skip_corrupt=True)
    assert [m["repeat"] for m in metas] == [1] and len(tables) == 1
    assert len(corrupt) == 1 and str(path) in corrupt[0]
    with pytest.warns(UserWarning, match="corrupt cell is left out"):
        frame = hpbench.load_results(tmp_path)
    assert set(frame["repeat"]) == {1} and len(frame) == 20

    with pytest.warns(UserWarning, match="set aside"):
        outcome = execute_cell(cells[0], out)
    assert outcome.status == "done" and outcome.n_trials == 20
    assert path.with_name(path.name + ".bad-0").exists()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(hpbench.load_results(tmp_path)) == 40


# -- 3. claims --------------------------------------------------------------------------------


def _driver(plugin_path: Path, *args, cwd: Path | None = None, env: dict | None = None):
    """``hpbench ARGS`` started as a user starts it (the console script, which puts no
    current folder on the path), not waited for."""
    script = Path(sys.executable).with_name("hpbench")
    command = [str(script)] if script.exists() else [sys.executable, "-P", "-m", "hpbench.cli"]
    return subprocess.Popen([*command, *map(str, args)], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(plugin_path), **(env or {})})


def test_two_drivers_on_one_folder_compute_each_cell_once(plugin_path, tmp_path):
    suite = _suite(tmp_path / "twice.toml", ["slow-quadratic"], ["random", "sobol"],
                   repeats=3, budget=8)
    out = tmp_path / "out"
    env = {"HPBENCH_TEST_DELAY": "0.03"}  # 0.25 s a cell: the two drivers overlap
    drivers = [_driver(plugin_path, "run", suite, "--out", out, "--no-progress", env=env)
               for _ in range(2)]
    results = [d.communicate(timeout=120) for d in drivers]
    for d, (_, stderr) in zip(drivers, results):
        assert d.returncode == 0, stderr
    counts = [_counts(stdout) for stdout, _ in results]
    assert all(c["cells"] == 6 and not c.get("failed") for c in counts), counts
    assert sum(c.get("done", 0) for c in counts) == 6, counts  # each cell computed once
    metas = _metas(out)
    assert len(metas) == 6 and {m["status"] for m in metas.values()} == {"done"}
    assert not list(out.rglob("*.bad-*"))


HOLD = """
import sys, time
from hpbench.store import ResultsDir
claim = ResultsDir(sys.argv[1]).claim(sys.argv[2])
assert claim.__enter__()
print("held", flush=True)
time.sleep(120)
"""


def test_a_claim_held_by_a_process_killed_with_sigkill_is_free_again(tmp_path):
    results = ResultsDir(tmp_path)
    cell = Cell("branin", "random", Budget(3), suite="claims")
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path), cell.key],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with results.claim(cell.key) as mine:
            assert mine is False
        info = results.lock_info(cell.key)
        assert info["pid"] == holder.pid and info["stale"] is False
        assert execute_cell(cell, results).status == "claimed"
        assert not results.cell_file(cell.key).exists()
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
        holder.stdout.close()
    assert results.lock_info(cell.key)["stale"] is True  # the lock file is left, not held
    assert execute_cell(cell, results).status == "done"
    assert results.lock_info(cell.key) is None


def test_a_killed_writers_temporary_is_removed_even_when_its_pid_is_reused(tmp_path):
    """kill -9 between writing a cell's temporary and renaming it leaves ``.<file>.tmp-<pid>``;
    by the time the run is resumed that pid may be a live, unrelated process. The claim of
    the cell proves no one is writing it, so the next run removes the temporary, whether it
    then runs the cell or skips it (found by ``make stress``)."""
    results = ResultsDir(tmp_path)
    cell = Cell("branin", "random", Budget(3), suite="temps")
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        path = results.cell_file(cell.key)
        path.parent.mkdir(parents=True)
        tmp = path.with_name(f".{path.name}.tmp-{other.pid}")  # a live pid
        tmp.write_bytes(b"half a parquet file")
        assert execute_cell(cell, results).status == "done"  # run: the temporary goes
        assert not tmp.exists()
        tmp.write_bytes(b"half a parquet file")
        assert execute_cell(cell, results).status == "skipped"  # skipped: it goes too
        assert not tmp.exists()
    finally:
        other.kill()
        other.wait(timeout=30)


# -- 4, 8. costs and runaway cells ------------------------------------------------------------


@pytest.mark.parametrize("cost", [-1.0, math.nan, math.inf, -math.inf])
def test_a_bad_cost_fails_its_trial_and_gives_no_budget_back(testplugin, tmp_path, cost):
    cell = Cell("faulty-quadratic", "random", Budget(5, "cost"),
                problem_settings={"mode": "cost", "cost": cost, "at": 2})
    outcome = execute_cell(cell, tmp_path)
    assert outcome.status == "done" and outcome.n_trials == 5, outcome
    rows = _rows(tmp_path, cell.key)
    assert rows[2]["status"] == "failed"
    assert rows[2]["error"] == (f"the problem reported cost={cost!r} "
                                "(must be a finite number >= 0)")
    assert [r["status"] for i, r in enumerate(rows) if i != 2] == ["ok"] * 4
    # charged as planned (one unit), so it neither gives budget back nor breaks the sum
    assert [r["budget_used"] for r in rows] == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_a_zero_cost_trial_is_valid_and_free(testplugin, tmp_path):
    cell = Cell("faulty-quadratic", "random", Budget(5, "cost"),
                problem_settings={"mode": "cost", "cost": 0.0, "at": 2})
    outcome = execute_cell(cell, tmp_path)
    assert outcome.status == "done" and outcome.n_trials == 6
    rows = _rows(tmp_path, cell.key)
    assert [r["status"] for r in rows] == ["ok"] * 6
    assert rows[2]["cost"] == 0.0 and rows[2]["budget_used"] == 2.0


def test_trials_that_never_spend_the_budget_end_the_cell_with_no_progress(cli, tmp_path):
    suite = _suite(tmp_path / "free.toml", ["faulty-quadratic", "slow-quadratic"], ["random"],
                   budget=2, extra='[problem_settings.faulty-quadratic]\nmode = "cost"\n'
                                   "cost = 0.0\nevery = 1\n")
    out = tmp_path / "out"
    # (a subprocess, so a cell that never ends fails the test instead of hanging it)
    res = cli("run", suite, "--out", out, "--budget-unit", "cost", "--no-progress", env=FAST,
              timeout=60)
    assert res.returncode == 3, res.stderr  # finished, some cells failed
    metas = _metas(out)
    assert metas["slow-quadratic/random/repeat-0"]["status"] == "done"
    free = metas["faulty-quadratic/random/repeat-0"]
    assert free["status"] == "failed" and free["reason"].startswith("no progress:"), free
    assert free["n_trials"] == 2 * MAX_TRIALS_PER_UNIT and free["spent"] == 0.0
    rows = _rows(out, "faulty-quadratic/random/repeat-0")  # the trials are kept
    assert len(rows) == 2 * MAX_TRIALS_PER_UNIT and {r["status"] for r in rows} == {"ok"}


# -- 5, 6, 7. hung, exiting and unfingerprintable plugins ------------------------------------


def test_a_hung_ask_fails_its_cell_after_the_timeout_and_the_run_completes(cli, tmp_path):
    suite = _suite(tmp_path / "hang.toml", ["slow-quadratic"], ["random", "hang-ask"],
                   extra="[settings.hang-ask]\nat = 2\n")
    out = tmp_path / "out"
    t0 = time.perf_counter()
    res = cli("run", suite, "--out", out, "--timeout", "1", "--no-progress", env=FAST,
              timeout=60)
    assert time.perf_counter() - t0 < 20
    assert res.returncode == 3, res.stderr  # finished, some cells failed
    metas = _metas(out)
    assert metas["slow-quadratic/random/repeat-0"]["status"] == "done"
    hung = metas["slow-quadratic/hang-ask/repeat-0"]
    assert hung["status"] == "failed" and hung["n_trials"] == 2  # the trials before are kept
    assert hung["reason"].startswith("optimizer raised in ask:")
    assert "ran past the timeout of 1 s" in hung["reason"]
    assert (out / "run.json").exists()


def test_system_exit_in_plugin_code_is_recorded_and_the_run_goes_on(cli, tmp_path):
    suite = _suite(tmp_path / "sysexit.toml", ["faulty-quadratic", "slow-quadratic"],
                   ["random", "exit-ask", "exit-tell"],
                   extra='[problem_settings.faulty-quadratic]\nmode = "sysexit"\nat = 2\n')
    out = tmp_path / "out"
    res = cli("run", suite, "--out", out, "--no-progress", env=FAST, timeout=120)
    assert res.returncode == 3, res.stderr  # finished, some cells failed
    assert _counts(res.stdout) == {"cells": 6, "done": 2, "failed": 4}
    metas = _metas(out)
    assert len(metas) == 6
    rows = _rows(out, "faulty-quadratic/random/repeat-0")
    assert rows[2]["status"] == "failed" and rows[2]["error"] == "SystemExit: 4"
    assert [r["status"] for i, r in enumerate(rows) if i != 2] == ["ok"] * 5
    assert metas["slow-quadratic/random/repeat-0"]["status"] == "done"
    for problem in ("faulty-quadratic", "slow-quadratic"):
        for where in ("ask", "tell"):
            meta = metas[f"{problem}/exit-{where}/repeat-0"]
            assert meta["status"] == "failed"
            assert meta["reason"] == (f"optimizer raised in {where}: SystemExit: optimizer "
                                      f"exits in {where} on purpose")
    assert (out / "run.json").exists()


def test_a_problem_whose_fingerprint_raises_is_recorded_failed(cli, tmp_path):
    suite = _suite(tmp_path / "fingerprint.toml", ["faulty-quadratic", "slow-quadratic"],
                   ["random"],
                   extra='[problem_settings.faulty-quadratic]\nmode = "fingerprint"\n')
    out = tmp_path / "out"
    res = cli("run", suite, "--out", out, "--no-progress", env=FAST, timeout=120)
    assert res.returncode == 3, res.stderr  # finished, some cells failed
    metas = _metas(out)
    assert metas["slow-quadratic/random/repeat-0"]["status"] == "done"
    broken = metas["faulty-quadratic/random/repeat-0"]
    assert broken["status"] == "failed" and broken["n_trials"] == 0
    assert "RuntimeError: faulty fingerprint raised on purpose" in broken["reason"]
    assert "faulty fingerprint raised on purpose" in res.stderr


# -- 9. the current folder is not on a child's path -------------------------------------------


@pytest.mark.parametrize("options", [("--timeout", "5"), ("--workers", "2")])
def test_modules_in_the_current_folder_do_not_shadow_the_real_ones(plugin_path, tmp_path,
                                                                   options):
    """Evaluation children (``--timeout``; started with ``-P``) and worker processes
    (``--workers``; started with PYTHONSAFEPATH, which their own children inherit) run from a
    folder holding a ``pickle.py`` and a ``numpy.py``."""
    here = tmp_path / "here"
    here.mkdir()
    marker = tmp_path / "imported"
    for name in ("pickle", "numpy"):
        (here / f"{name}.py").write_text(
            f"with open({str(marker)!r}, 'a') as fh:\n    fh.write(__file__ + '\\n')\n"
            f"raise ImportError('{name}.py in the current folder was imported')\n")
    suite = _suite(tmp_path / "shadow.toml", ["slow-quadratic"], ["random"], repeats=2,
                   budget=4)
    out = tmp_path / "out"
    driver = _driver(plugin_path, "run", suite, "--out", out, "--no-progress", *options,
                     cwd=here, env=FAST)
    stdout, stderr = driver.communicate(timeout=120)
    assert driver.returncode == 0, stderr
    assert not marker.exists(), marker.read_text()
    assert _counts(stdout) == {"cells": 2, "done": 2}
    for key in ("slow-quadratic/random/repeat-0", "slow-quadratic/random/repeat-1"):
        assert [r["status"] for r in _rows(out, key)] == ["ok"] * 4


# -- 10. the memory limit on the serial backend -----------------------------------------------


def test_the_memory_limit_holds_on_the_serial_backend(cli, tmp_path):
    suite = _suite(tmp_path / "memory.toml", ["faulty-quadratic", "slow-quadratic"],
                   ["random"], budget=5,
                   extra='[problem_settings.faulty-quadratic]\nmode = "oom"\nat = 1\n')
    out = tmp_path / "out"
    res = cli("run", suite, "--out", out, "--memory-limit", "300M", "--no-progress",
              env=FAST, timeout=120)
    assert res.returncode == 0, res.stderr
    metas = _metas(out)
    assert {m["status"] for m in metas.values()} == {"done"}
    rows = _rows(out, "faulty-quadratic/random/repeat-0")
    # a real MemoryError (without a limit the plugin refuses with a RuntimeError)
    assert rows[1]["status"] == "failed" and rows[1]["error"].startswith("MemoryError"), rows[1]
    assert [r["status"] for i, r in enumerate(rows) if i != 1] == ["ok"] * 4
    assert metas["faulty-quadratic/random/repeat-0"]["execution"]["evaluator"] != "inline"


# -- 11. plugins named in a suite -------------------------------------------------------------

EXTRA_PLUGIN = '''
from hpbench import Float, Problem, Space, register_problem


class ExtraBowl(Problem):
    def __init__(self, seed=None):
        super().__init__(Space(x=Float(-1, 1), y=Float(-1, 1)), seed=seed, name="extra-bowl")

    def _evaluate(self, config, *, fidelity=None, ctx=None):
        return (config["x"] - 0.2) ** 2 + config["y"] ** 2


register_problem("extra-bowl", ExtraBowl, tags=("test",))
'''


@pytest.mark.parametrize("options", [("--timeout", "5"), ("--batch", "2", "--workers", "2")])
def test_a_suite_plugin_file_is_loaded_in_every_worker_and_child(cli, tmp_path, options):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "extra.py").write_text(EXTRA_PLUGIN)
    suite = _suite(tmp_path / "extra.toml", ["extra-bowl"], ["random"], repeats=2, budget=4,
                   extra='plugins = ["plugins/extra.py"]\n')  # relative to the suite file
    out = tmp_path / "out"
    res = cli("run", suite, "--out", out, "--no-progress", *options, timeout=120)
    assert res.returncode == 0, res.stderr
    assert _counts(res.stdout) == {"cells": 2, "done": 2}
    for key, meta in _metas(out).items():
        assert meta["status"] == "done"
        assert meta["execution"]["evaluator"].startswith("processes"), meta["execution"]
        assert [r["status"] for r in _rows(out, key)] == ["ok"] * 4


# -- 12. an invalid config -------------------------------------------------------------------


@pytest.mark.parametrize("problem, config, message", [
    ("branin", {"x0": 50.0, "x1": 1.0}, "x0 must be in [-5.0, 10.0], got 50.0"),
    ("branin", {"x0": math.nan, "x1": 1.0}, "x0 must be in [-5.0, 10.0], got nan"),
    ("branin", {"x0": 1.0}, "x1 is missing: a number in [0.0, 15.0]"),
    ("branin", {"x0": 1.0, "x1": 1.0, "x2": 0.0}, "unknown parameter(s) ['x2']"),
    ("mixed-branin-camel-cond", {"b0": 0.0, "b1": 1.0},
     "model is missing: one of ['branin', 'camel']"),
])
def test_evaluate_outside_the_space_names_the_parameter_and_its_range(problem, config,
                                                                      message):
    with pytest.raises(InvalidConfig) as info:
        hpbench.make_problem(problem).evaluate(config)
    assert isinstance(info.value, ValueError)
    assert message in str(info.value)
