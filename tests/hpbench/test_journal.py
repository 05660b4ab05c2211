"""The trial journal: torn lines, replay instead of recomputation, fallback when an optimizer
does not ask the same again, and SIGKILL at random moments (one of them in the middle of a
file write) with a resume that equals the uninterrupted run."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import hpbench
from hpbench import Budget, Optimizer
from hpbench.journal import Journal
from hpbench.runner import run_loop
from hpbench.store import ResultsDir
from tests.conftest import tree, values_frame
from tests.toy import ToyProblem

HEADER = {"cell": "toy/x/repeat-0", "fingerprint": "abc", "budget": {"amount": 12.0}}
VALUE_COLUMNS = ("trial", "round", "config", "fidelity", "resume_from", "value", "true_value",
                 "test_value", "status", "error", "cost", "cost_fe", "cum_cost", "budget_used",
                 "info")


def _run(name: str, journal: Journal | None, budget: int = 12, fail_rate: float = 0.0):
    problem = ToyProblem(seed=0, fail_rate=fail_rate)
    opt = hpbench.make_optimizer(name, problem.space, seed=3, budget=Budget(budget),
                                 fidelity=problem.fidelity)
    return run_loop(problem, opt, Budget(budget), journal=journal), problem.calls


def _interrupt(src, dst, keep: int) -> None:
    """``dst``: the header and ``keep`` trials of ``src``, then half of the next line (a
    write torn by SIGKILL)."""
    lines = src.read_bytes().split(b"\n")
    dst.write_bytes(b"\n".join(lines[:1 + keep]) + b"\n" + lines[1 + keep][:25])


def _same_values(a, b) -> None:
    def norm(values):  # NaN != NaN, but a NaN in the same place is the same record
        return ["NaN" if isinstance(v, float) and math.isnan(v) else v for v in values]

    for col in VALUE_COLUMNS:
        assert norm(a.columns[col]) == norm(b.columns[col]), col


def test_append_read_back_torn_tail_and_header_mismatch(tmp_path):
    path = tmp_path / "j.jsonl"
    j = Journal.open(path, HEADER)
    assert j.replay == []
    for t in range(3):
        j.append({"trial": t, "x": t / 3})
    j.close()
    with open(path, "ab") as fh:
        fh.write(b'{"trial": 3, "x"')  # killed mid-line
    j = Journal.open(path, HEADER)
    assert [r["trial"] for r in j.replay] == [0, 1, 2]
    assert path.read_bytes().endswith(b"\n")  # the torn line is gone from the file too
    j.append({"trial": 3, "x": 1.0})
    j.close()
    assert [r["trial"] for r in Journal.open(path, HEADER).replay] == [0, 1, 2, 3]
    other = Journal.open(path, {**HEADER, "fingerprint": "changed"})
    assert other.replay == [] and "header does not match" in other.discarded
    assert len(path.read_bytes().splitlines()) == 1


@pytest.mark.parametrize("name", ["random", "sobol", "tpe", "cma-es", "hyperband"])
def test_resumed_cell_replays_instead_of_recomputing(tmp_path, name):
    full_path, cut_path = tmp_path / "full.jsonl", tmp_path / "cut.jsonl"
    full, calls_full = _run(name, Journal.open(full_path, HEADER), fail_rate=0.2)
    assert "failed" in full.columns["status"]  # failed trials are journaled and replayed too
    keep = full.n_trials // 2
    _interrupt(full_path, cut_path, keep)
    journal = Journal.open(cut_path, HEADER)
    resumed, calls = _run(name, journal, fail_rate=0.2)
    assert journal.replayed == keep and journal.mismatch_at is None
    assert calls == calls_full - keep  # the replayed trials were not evaluated again
    _same_values(resumed, full)
    # evaluation times of replayed trials are the original ones (wall-time curves stay true)
    assert resumed.columns["eval_s"][:keep] == full.columns["eval_s"][:keep]
    assert resumed.columns["t_start"][:keep] == full.columns["t_start"][:keep]
    # the journal now holds the whole cell, as an uninterrupted run leaves it
    assert len(Journal.open(cut_path, HEADER).replay) == full.n_trials


class Clocky(Optimizer):
    """Deterministic for its first ``honest`` asks, then seeded from entropy: not replayable."""

    settings = {"honest": 3}

    def ask(self, n):
        self.asks = getattr(self, "asks", 0) + 1
        rng = self.rng if self.asks <= self.config["honest"] else np.random.default_rng()
        return self.space.sample(rng, n)

    def tell(self, observations):
        pass


def test_replay_falls_back_to_recomputing_at_the_first_mismatch(tmp_path):
    problem = ToyProblem(seed=0)
    first = run_loop(problem, Clocky(problem.space, seed=1, budget=10), Budget(10),
                     journal=Journal.open(tmp_path / "a.jsonl", HEADER))
    _interrupt(tmp_path / "a.jsonl", tmp_path / "b.jsonl", 7)
    journal = Journal.open(tmp_path / "b.jsonl", HEADER)
    problem = ToyProblem(seed=0)
    again = run_loop(problem, Clocky(problem.space, seed=1, budget=10), Budget(10),
                     journal=journal)
    assert journal.replayed == 3 and journal.mismatch_at == 3
    assert problem.calls == 7  # trials 3..9 evaluated, not taken from the journal
    assert again.columns["config"][:3] == first.columns["config"][:3]
    assert again.columns["config"][3:] != first.columns["config"][3:]
    # every value belongs to its own config: nothing from the stale journal leaked in
    check = ToyProblem(seed=0)
    for config, value in zip(again.columns["config"], again.columns["value"]):
        assert value == check.evaluate(json.loads(config)).value
    assert len(Journal.open(tmp_path / "b.jsonl", HEADER).replay) == 10


# -- SIGKILL at random moments -------------------------------------------------------------

SUITE = """
name = "journal-kill"
problems = ["slow-quadratic"]
optimizers = ["random", "tpe", "sobol"]
repeats = 2
budget = 40
seed = 4
"""


def _start(plugin_path, suite, out, *extra, env=None):
    full = {**os.environ, "PYTHONPATH": str(plugin_path), "HPBENCH_TEST_DELAY": "0.004",
            **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "hpbench.cli", "run", str(suite), "--out",
                             str(out), "--no-progress", "--journal", "on", *extra], env=full,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_for(predicate, proc, what: str, limit: float = 120) -> bool:
    """True once ``predicate`` holds; False if the run finished first."""
    deadline = time.monotonic() + limit
    while not predicate():
        if proc.poll() is not None:
            return False
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)
    return True


def _kill(proc) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def _journals(out):
    return list((out / ".journal").glob("*.jsonl"))


def test_sigkill_at_random_moments_then_resume_equals_uninterrupted(cli, plugin_path,
                                                                    tmp_path):
    suite = tmp_path / "s.toml"
    suite.write_text(SUITE)
    clean, out = tmp_path / "clean", tmp_path / "killed"
    res = cli("run", suite, "--out", clean, env={"HPBENCH_TEST_DELAY": "0.004"})
    assert res.returncode == 0, res.stderr

    # 1. in the middle of writing the second cell file: half its bytes are on disk
    mark = tmp_path / "stalled"
    proc = _start(plugin_path, suite, out, env={"HPBENCH_TEST_STALL_WRITE": "2",
                                                "HPBENCH_TEST_STALL_MARK": str(mark)})
    assert _wait_for(mark.exists, proc, "the stalled write")
    _kill(proc)
    partial = list(out.glob("*/*/.repeat-*.parquet.tmp-*"))
    assert len(partial) == 1 and partial[0].stat().st_size > 0
    assert len(list(out.glob("*/*/repeat-*.parquet"))) == 1  # the torn file is not a cell

    # 2-4. at random moments while trials run (one run with two worker processes)
    rng = np.random.default_rng(20240917)
    killed = 0
    for k, delay in enumerate(rng.uniform(0.0, 0.4, size=3)):
        extra = ("--workers", "2") if k == 1 else ()
        proc = _start(plugin_path, suite, out, *extra)
        before = {p: p.stat().st_size for p in _journals(out)}
        if not _wait_for(lambda b=before: any(p not in b or p.stat().st_size > b[p]
                                              for p in _journals(out)), proc, "a new trial"):
            break  # the run finished before this kill: later kills have nothing to hit
        time.sleep(delay)
        killed += proc.poll() is None
        _kill(proc)
        if extra:  # the workers die with the run: nothing writes after the kill
            sizes = {p: p.stat().st_size for p in _journals(out)}
            time.sleep(1.0)
            assert sizes == {p: p.stat().st_size for p in _journals(out)}
    assert killed >= 2, "the random kills should have hit running trials"
    # a random kill can land between two cells (the finished one has removed its journal, the
    # next has not written one): then kill once more right after a trial is journaled
    for _ in range(5):
        if _journals(out):
            break
        proc = _start(plugin_path, suite, out)
        if not _wait_for(lambda: bool(_journals(out)), proc, "a journaled trial"):
            break
        _kill(proc)
    assert _journals(out), "the kills should have left a journal to replay"

    res = cli("run", suite, "--out", out, "--journal", "on",
              env={"HPBENCH_TEST_DELAY": "0.004"})
    assert res.returncode == 0, res.stderr
    assert tree(out) == tree(clean)
    assert values_frame(out).equals(values_frame(clean))
    replayed = [m["execution"]["journal"]["replayed"] for _, m, _ in ResultsDir(out).metas()
                if "journal" in m.get("execution", {})]
    assert max(replayed) > 0, "a resumed cell should have replayed its journal"
    assert not _journals(out) and not list((out / ".running").iterdir())
    assert not list(out.glob("*/*/.repeat-*.tmp-*"))  # the torn temporary file was removed
