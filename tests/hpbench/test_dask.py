"""The Dask backend when cells crash their workers: only the guilty cells are charged, the
run ends in bounded time, and a cluster whose workers are gone for good stops the run.

Every run is a ``hpbench run`` subprocess with a ``timeout=``: a hang fails the test instead of
blocking the suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from hpbench.store import ResultsDir
from tests.conftest import tree, values_frame

#: healthy cells (slow-quadratic, branin) between cells that kill their worker (SIGKILL) or
#: end it (os._exit); the healthy sobol cells come from a group
SUITE = """
name = "crash"
problems = ["slow-quadratic", "faulty-quadratic", "branin", "faulty-expensive"]
optimizers = ["random"]
repeats = 1
budget = 8
seed = 3

[problem_settings.faulty-quadratic]
mode = "kill"
at = 2

[problem_settings.faulty-expensive]
mode = "exit"
at = 1

[[groups]]
problems = ["slow-quadratic", "branin"]
optimizers = ["sobol"]
"""
HEALTHY = """
name = "crash"
problems = ["slow-quadratic", "branin"]
optimizers = ["random", "sobol"]
repeats = 1
budget = 8
seed = 3
"""
GUILTY = {"faulty-quadratic/random/repeat-0", "faulty-expensive/random/repeat-0"}
ENV = {"HPBENCH_TEST_DELAY": "0.05"}
BOUND = 120  # seconds: generous; a run takes 10-40 s on two cores


def _metas(out) -> dict[str, dict]:
    return {f"{m['problem']}/{m['optimizer']}/repeat-{m['repeat']}": m
            for _, m, _ in ResultsDir(out).metas()}


@pytest.fixture(scope="module")
def serial(plugin_path, tmp_path_factory):
    """The healthy cells alone, run serially."""
    tmp = tmp_path_factory.mktemp("serial")
    (tmp / "healthy.toml").write_text(HEALTHY)
    env = {**os.environ, "PYTHONPATH": str(plugin_path), **ENV}
    res = subprocess.run([sys.executable, "-m", "hpbench.cli", "run", str(tmp / "healthy.toml"),
                          "--out", str(tmp / "out"), "--no-progress"], env=env,
                         capture_output=True, text=True, timeout=BOUND)
    assert res.returncode == 0, res.stderr
    return tmp / "out"


@pytest.mark.parametrize("retries", [0, 1])
def test_crashing_cells_fail_alone_and_the_run_ends(cli, tmp_path, serial, retries):
    suite, out = tmp_path / "crash.toml", tmp_path / "out"
    suite.write_text(SUITE)
    t0 = time.monotonic()
    res = cli("run", suite, "--out", out, "--backend", "dask", "--workers", "2", "--retries",
              str(retries), "--no-progress", env=ENV, timeout=BOUND)
    assert time.monotonic() - t0 < BOUND
    assert res.returncode == 3, res.stdout + res.stderr  # 3: finished, some cells failed
    assert "6 cells (4 done, 2 failed)" in res.stdout, res.stdout + res.stderr
    deaths = retries + 1
    for key, meta in _metas(out).items():
        if key in GUILTY:
            assert meta["status"] == "failed", key
            assert meta["reason"].startswith(
                f"worker died {deaths} time{'s' if deaths > 1 else ''}: the Dask worker "
                "running it died"), meta["reason"]
            assert meta["execution"]["attempts"] == deaths
        else:
            assert meta["status"] == "done", (key, meta["reason"])
    # every healthy cell is there, bit for bit as in a serial run
    def cells(folder):
        return [p for p in tree(folder) if p.split("/")[0] in ("slow-quadratic", "branin")]

    assert cells(out) == cells(serial) and len(cells(serial)) == 4
    got = values_frame(out)
    got = got[got.problem.isin(["slow-quadratic", "branin"])].reset_index(drop=True)
    assert got.equals(values_frame(serial))


def test_workers_gone_for_good_end_the_run_with_the_reason(cli, plugin_path, tmp_path):
    """Workers without a nanny (as Slurm jobs that ended): each crashing cell takes one with
    it, none comes back, and the run stops after the worker timeout, naming the cause."""
    from distributed import LocalCluster

    suite = tmp_path / "all.toml"
    suite.write_text('name = "all"\nproblems = ["faulty-quadratic"]\noptimizers = ["random"]\n'
                     "repeats = 3\nbudget = 5\nseed = 1\n"
                     '[problem_settings.faulty-quadratic]\nmode = "kill"\nat = 0\n')
    env = {**os.environ, "PYTHONPATH": str(plugin_path), "HPBENCH_TEST_DELAY": "0"}
    with LocalCluster(n_workers=0, dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        workers = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker",
                                     address, "--no-nanny", "--nthreads", "1",
                                     "--no-dashboard"], env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL) for _ in range(2)]
        try:
            cluster.wait_for_workers(2, timeout=60)
            t0 = time.monotonic()
            res = cli("run", suite, "--out", tmp_path / "out", "--scheduler", address,
                      "--retries", "3", "--no-progress", timeout=BOUND,
                      env={"HPBENCH_DASK_WORKER_TIMEOUT": "3", "HPBENCH_TEST_DELAY": "0"})
            elapsed = time.monotonic() - t0
        finally:
            for proc in workers:
                proc.kill()
                proc.wait()
    assert res.returncode != 0 and elapsed < 60, (elapsed, res.stdout + res.stderr)
    assert (f"no Dask worker alive for 3 s (scheduler {address}); 3 of 3 cells not finished"
            in res.stderr), res.stderr
    assert all(proc.returncode is not None for proc in workers)


#: runs a suite on Dask with every cell taken as cheap from the start, so that cells share
#: tasks at once; prints each cell's outcome and the cells per task
BATCH_DRIVER = """
import json, sys
import hpbench.dask_backend as db
from hpbench.api import run
from hpbench.backends import CostModel

CostModel.expected = lambda self, cell: 0.01
sizes, submit = [], db._DaskRun.submit
def counting(self, worker, kind, idx):
    sizes.append([self.cells[i].key for i in idx])
    return submit(self, worker, kind, idx)
db._DaskRun.submit = counting
if __name__ == "__main__":
    s = run(sys.argv[1], out=sys.argv[2], backend="dask", workers=1, retries=0)
    print(json.dumps({"tasks": sizes, "outcomes": [[o.key, o.status, o.attempts, o.reason]
                                                   for o in s.outcomes]}))
"""


def test_a_cell_that_kills_its_worker_inside_a_batch_is_charged_alone(plugin_path, tmp_path):
    """Cheap cells share a Dask task; when one of them kills the worker, the cells of its task
    that finished keep their outcome, it alone is charged (here with --retries 0: recorded
    failed after one death), and the cells behind it run again uncharged: the same accounting
    as one cell per task."""
    import json

    (tmp_path / "driver.py").write_text(BATCH_DRIVER)
    suite = tmp_path / "mixed.toml"
    suite.write_text('name = "mixed"\nproblems = ["branin"]\noptimizers = ["random"]\n'
                     'repeats = 4\nbudget = 6\nseed = 2\n'
                     '[problem_settings.faulty-quadratic]\nmode = "kill"\nat = 2\n'
                     '[[groups]]\nproblems = ["faulty-quadratic"]\noptimizers = ["random"]\n'
                     'repeats = 1\n')
    env = {**os.environ, "PYTHONPATH": str(plugin_path), "HPBENCH_TEST_DELAY": "0"}
    res = subprocess.run([sys.executable, str(tmp_path / "driver.py"), str(suite),
                          str(tmp_path / "out")], env=env, capture_output=True, text=True,
                         timeout=BOUND, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout.strip().splitlines()[-1])
    shared = [t for t in got["tasks"] if len(t) > 1]
    assert any(any(k.startswith("faulty") for k in t[:-1]) for t in shared), got["tasks"]
    outcomes = {key: (status, attempts, reason) for key, status, attempts, reason
                in got["outcomes"]}
    assert len(outcomes) == 5
    for key, (status, attempts, reason) in outcomes.items():
        if key.startswith("faulty"):
            assert (status, attempts) == ("failed", 1), (key, outcomes[key])
            assert reason.startswith("worker died 1 time: the Dask worker running it died")
        else:
            assert (status, attempts) == ("done", 1), (key, outcomes[key])
    metas = _metas(tmp_path / "out")
    assert sorted(metas) == sorted(outcomes)
    assert all(m["status"] == ("failed" if k.startswith("faulty") else "done")
               for k, m in metas.items())
