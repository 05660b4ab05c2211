"""Backends and in-run parallelism: identical values on every backend, concurrent batches,
the constant liar, progress lines per worker, and running/interrupted cells in the status."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from types import SimpleNamespace

import pytest

import hpbench
from hpbench import Budget, Float, Optimizer, Problem, Space
from hpbench.evaluators import ThreadEvaluator
from hpbench.progress import Progress
from hpbench.runner import run_loop
from hpbench.suite import load_suite
from tests.conftest import tree, values_frame

SUITE = """
name = "backends"
problems = ["branin", "hartmann6-noisy"]
optimizers = ["random", "tpe", "cma-es"]
repeats = 2
budget = 10
seed = 7
"""


def test_values_bit_identical_on_every_backend(tmp_path):
    """serial, processes with 1 and 2 workers, and Dask (a LocalCluster reached through its
    scheduler address, the code path of a real cluster) write the same files and values."""
    from distributed import LocalCluster

    suite = tmp_path / "s.toml"
    suite.write_text(SUITE)
    outs = {}
    for label, kw in (("serial", {}), ("proc1", {"backend": "processes", "workers": 1}),
                      ("proc2", {"backend": "processes", "workers": 2})):
        outs[label] = tmp_path / label
        summary = hpbench.run(str(suite), out=outs[label], **kw)
        assert summary.count("done") == 12, summary.outcomes
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        outs["dask"] = tmp_path / "dask"
        summary = hpbench.run(str(suite), out=outs["dask"], workers=2,
                              scheduler=cluster.scheduler_address)
    assert summary.count("done") == 12
    assert json.loads((outs["dask"] / "run.json").read_text())["backend"] == "dask"
    ref = values_frame(outs["serial"])
    assert len(ref) == 120 and ref["value"].notna().all()
    for label, out in outs.items():
        assert tree(out) == tree(outs["serial"]), label
        assert values_frame(out).equals(ref), label


def test_batch_is_evaluated_concurrently_in_processes(cli, tmp_path):
    """``--batch 3``: each round's three evaluations overlap in time, and each value belongs
    to its own config (results are not shuffled between the concurrent evaluations)."""
    suite = tmp_path / "b.toml"
    suite.write_text('name = "b"\nproblems = ["slow-quadratic"]\noptimizers = ["random"]\n'
                     "repeats = 1\nbudget = 7\nseed = 1\n")
    out = tmp_path / "out"
    res = cli("run", suite, "--out", out, "--batch", "3", env={"HPBENCH_TEST_DELAY": "0.4"})
    assert res.returncode == 0, res.stderr
    frame = hpbench.load_results(out)
    assert frame["round"].tolist() == [0, 0, 0, 1, 1, 1, 2]
    for _, rnd in frame[frame["round"] < 2].groupby("round"):
        assert rnd["t_start"].max() < rnd["t_end"].min(), "the round was not concurrent"
        assert (rnd["eval_s"] >= 0.4).all()
    for config, value in zip(frame["config"], frame["value"]):
        c = json.loads(config)
        assert value == (c["x0"] - 0.3) ** 2 + (c["x1"] - 0.3) ** 2
    meta = hpbench.store.read_meta(out / "slow-quadratic/random/repeat-0.parquet")
    assert meta["execution"]["evaluator"] == "processes(3)"
    assert meta["batch_strategy"] == "native"


class Sleepy(Problem):
    """Sleeps (releasing the GIL) and is safe to share between threads."""

    concurrency = "threads"

    def __init__(self, delay: float = 0.2) -> None:
        super().__init__(Space(x=Float(-1.0, 1.0)), name="sleepy")
        self.delay = delay
        self.threads: set[int] = set()

    def _evaluate(self, config, *, fidelity=None, ctx=None):
        self.threads.add(threading.get_ident())
        time.sleep(self.delay)
        return config["x"] ** 2


class Sampler(Optimizer):
    def ask(self, n):
        return self.space.sample(self.rng, n)

    def tell(self, observations):
        pass


def test_thread_evaluator_overlaps_and_keeps_order():
    problem = Sleepy()
    ev = ThreadEvaluator(4)
    try:
        t0 = time.perf_counter()
        result = run_loop(problem, Sampler(problem.space, seed=0, budget=8), Budget(8),
                          batch=4, evaluator=ev)
        wall = time.perf_counter() - t0
    finally:
        ev.close()
    cols = result.columns
    assert len(problem.threads) == 4 and wall < 8 * 0.2
    assert cols["round"] == [0, 0, 0, 0, 1, 1, 1, 1]
    assert cols["value"] == [json.loads(c)["x"] ** 2 for c in cols["config"]]
    reference = run_loop(Sleepy(0.0), Sampler(problem.space, seed=0, budget=8), Budget(8),
                         batch=4)
    assert reference.columns["value"] == cols["value"]


class Greedy(Optimizer):
    """A sequential method: proposes the midpoint between its best point and a random one,
    so asking it for n configs at once gives n copies of the same idea."""

    supports_batch = False

    def __init__(self, space, **kw):
        super().__init__(space, **kw)
        self.data: list[tuple[float, float]] = []
        self.told: list[int] = []

    def ask(self, n):
        good = [(v, x) for x, v in self.data if v == v]
        anchor = min(good)[1] if good else 0.0
        u = float(self.rng.uniform(-1, 1))
        return [{"x": (anchor + u) / 2}] * n

    def tell(self, observations):
        for obs in observations:
            self.data.append((obs.config["x"], obs.value))
            self.told.append(obs.trial)


def test_constant_liar_spreads_a_batch_and_tells_the_truth():
    problem = Sleepy(0.0)
    opt = Greedy(problem.space, seed=3, budget=12)
    result = run_loop(problem, opt, Budget(12), batch=4)
    assert result.extra["batch_strategy"] == "constant-liar"
    configs = [json.loads(c)["x"] for c in result.columns["config"]]
    for r in range(3):
        assert len(set(configs[4 * r:4 * r + 4])) == 4  # no repeated point within a round
    assert opt.told == list(range(12))  # the real optimizer saw the true results, no lie
    assert [x for x, _ in opt.data] == configs
    assert all(v == x * x for x, v in opt.data)
    # the same seed gives the same batches (lies are deterministic)
    again = run_loop(problem, Greedy(problem.space, seed=3, budget=12), Budget(12), batch=4)
    assert again.columns["config"] == result.columns["config"]


def test_sequential_fallback_and_uncopyable_optimizers():
    problem = Sleepy(0.0)

    class Sequential(Greedy):
        batch_fallback = "sequential"

    result = run_loop(problem, Sequential(problem.space, seed=3, budget=5), Budget(5), batch=4)
    assert result.extra["batch_strategy"] == "sequential"
    assert result.columns["round"] == [0, 1, 2, 3, 4]

    class Locked(Greedy):
        def __init__(self, space, **kw):
            super().__init__(space, **kw)
            self.lock = threading.Lock()  # deepcopy refuses locks

    result = run_loop(problem, Locked(problem.space, seed=3, budget=5), Budget(5), batch=4)
    assert result.extra["batch_strategy"].startswith("sequential")
    assert result.columns["round"] == [0, 1, 2, 3, 4]


def test_progress_has_one_line_per_worker(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    cells = load_suite("smoke", problems=["branin"], optimizers=["random"], repeats=2,
                       budget=4).cells()
    bar = Progress(cells, tty=True)  # worker lines only on a terminal
    bar.update(cells[0].key, 2.0, "tcp://10.0.0.1:1234")
    bar.update(cells[1].key, 1.0, "tcp://10.0.0.2:1234")
    bar.update(cells[0].key, 4.0, "tcp://10.0.0.1:1234")
    assert set(bar.workers) == {"tcp://10.0.0.1:1234", "tcp://10.0.0.2:1234"}
    worker_bar, state = bar.workers["tcp://10.0.0.1:1234"]
    assert state == [cells[0].key, 4.0] and worker_bar.total == 4.0
    assert bar.spent == 5.0
    bar.close()
    text = err.getvalue()
    assert "tcp://10.0.0.2:1234" in text and cells[1].key in text and "ETA" in text


def test_status_shows_running_then_interrupted(cli, plugin_path, tmp_path):
    suite = tmp_path / "st.toml"
    suite.write_text('name = "st"\nproblems = ["slow-quadratic"]\noptimizers = ["random"]\n'
                     "repeats = 2\nbudget = 400\nseed = 1\n")
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(plugin_path), "HPBENCH_TEST_DELAY": "0.01"}
    proc = subprocess.Popen([sys.executable, "-m", "hpbench.cli", "run", str(suite), "--out",
                             str(out), "--no-progress", "--journal", "on"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lock = out / ".running" / "slow-quadratic__random__repeat-0.lock"
    deadline = time.monotonic() + 120
    while not (lock.exists() and list((out / ".journal").glob("*.jsonl"))):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.01)
    time.sleep(0.2)
    status = cli("status", out).stdout
    assert "2 cells: 1 running, 1 missing" in status, status
    assert f"running         slow-quadratic/random/repeat-0: pid {proc.pid} on " in status
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    status = cli("status", out).stdout
    assert "2 cells: 2 missing" in status, status
    line = next(x for x in status.splitlines() if "repeat-0" in x)
    assert f"interrupted (pid {proc.pid} on" in line and "journal holds" in line
    res = cli("run", suite, "--out", out, env={"HPBENCH_TEST_DELAY": "0"})
    assert res.returncode == 0, res.stderr
    assert "2 cells: 2 done" in cli("status", out).stdout
    assert not list((out / ".running").iterdir())


@pytest.mark.parametrize("value, message", [
    ({"retries": -1}, "retries must be an integer >= 0, got -1"),
    ({"memory_limit": "lots"}, "memory limit must be a size like 512M or 2G, got 'lots'"),
])
def test_bad_execution_options_are_refused(tmp_path, value, message):
    with pytest.raises(ValueError, match=message):
        hpbench.run("smoke", problems=["branin"], optimizers=["random"], out=tmp_path / "x",
                    **value)
    assert not (tmp_path / "x").exists()


def test_progress_total_ends_exactly_at_the_budget(monkeypatch):
    """Fractional fidelity costs summed over many cells drift from the total in the last
    bits; the bar must never pass its total (tqdm warns, the ETA turns negative) and must end
    exactly on it."""
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    cells = load_suite("smoke", problems=["branin"], optimizers=["random"], repeats=40,
                       budget=10).cells()
    bar = Progress(cells, tty=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for cell in cells:
            spent = 0.0
            for _ in range(270):
                spent += 1 / 27
                bar.update(cell.key, spent)
                assert bar.spent <= bar.total_budget and bar.bar.n <= bar.bar.total
            bar.done(SimpleNamespace(key=cell.key))
        assert bar.spent == bar.total_budget == 400 and bar.bar.n == bar.bar.total == 100
        bar.close()
