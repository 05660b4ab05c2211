"""The simulated parallel clock (``--sim-workers K``, ``hpbench.simclock``): workers kept
busy by asynchronous methods and idled by synchronous ones, completion order, determinism,
the budget, the virtual times in the Parquet file and in the analysis, the suite key and the
command-line option, and its cost.

That one simulated worker reproduces the usual loop exactly is a conformance check run on
every registered optimizer (``hpbench.testing.optimizers.check_simulated_one_worker``,
tests/optimizers/test_conformance.py); here it is shown to catch a divergence.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import time
import zlib

import numpy as np
import pytest

import hpbench
from hpbench import Budget, Optimizer, registry
from hpbench.cell import Cell, Seeds
from hpbench.journal import Journal
from hpbench.problem import Evaluation
from hpbench.runner import run_loop
from hpbench.simclock import sim_loop
from hpbench.suite import SuiteError, load_suite
from hpbench.testing.optimizers import check_simulated_one_worker
from hpbench.testing.toy import ToyProblem


class TimedToy(ToyProblem):
    """The conformance toy, whose evaluations report a modelled duration: 10 s to 20 s per
    full-fidelity evaluation (by a hash of the config), in proportion to the fidelity."""

    def _evaluate(self, config, *, fidelity=None, ctx=None):
        ev = super()._evaluate(config, fidelity=fidelity, ctx=ctx)
        if isinstance(ev, Evaluation) and math.isfinite(ev.value):
            u = zlib.crc32(json.dumps(config, sort_keys=True).encode()) % 1000 / 1000
            ev.seconds = (10.0 + 10.0 * u) * (9 if fidelity is None else fidelity) / 9
        return ev


def simulate(name: str, workers: int, budget: float = 24, seed: int = 5, problem=None,
             **kw):
    problem = problem or TimedToy(seed=0)
    opt = registry.make_optimizer(name, problem.space, seed=seed, budget=Budget(budget),
                                  fidelity=problem.fidelity)
    told: list[list] = []
    tell = opt.tell
    opt.tell = lambda observations: (told.append([(o.trial, o.value) for o in observations]),
                                     tell(observations))[1]
    result = run_loop(problem, opt, Budget(budget), loop=sim_loop(workers), **kw)
    result.told = told
    return result


def busy_workers(cols, t: float) -> int:
    return sum(s <= t < e for s, e in zip(cols["v_start"], cols["v_end"]))


def test_an_asynchronous_method_keeps_every_worker_busy():
    result = simulate("random", 4, budget=40)
    cols, sim = result.columns, result.extra["sim"]
    assert result.reason == "budget" and result.n_trials == 40 and sim["clock"] == "modelled"
    durations = np.subtract(cols["v_end"], cols["v_start"])
    assert np.all((durations >= 10) & (durations <= 20))
    # all four busy from 0 until the last trial started; the makespan is the work / 4 plus
    # at most the tail of the last trials
    last_start = max(cols["v_start"])
    assert all(busy_workers(cols, t) == 4 for t in np.linspace(0, last_start, 50))
    assert durations.sum() / 4 <= sim["makespan"] <= durations.sum() / 4 + durations.max()
    assert sim["makespan"] == max(cols["v_end"]) and sim["utilization"] > 0.85
    assert max(busy_workers(cols, t) for t in cols["v_start"]) == 4  # never more than K


def test_synchronous_successive_halving_idles_workers_where_asha_does_not():
    sh, asha = simulate("successive-halving", 4), simulate("asha", 4)
    assert registry.get_entry("optimizer", "successive-halving").factory.synchronous
    assert not registry.get_entry("optimizer", "asha").factory.synchronous
    # the same budget of work (full-fidelity equivalents, durations in proportion) ...
    work = [np.subtract(r.columns["v_end"], r.columns["v_start"]).sum() for r in (sh, asha)]
    assert work[0] == pytest.approx(work[1], rel=0.25)
    # ... takes SH longer: at each rung's end its free workers wait for the slowest trial
    assert sh.extra["sim"]["makespan"] > 1.1 * asha.extra["sim"]["makespan"]
    assert sh.extra["sim"]["utilization"] < asha.extra["sim"]["utilization"] - 0.1
    # a barrier at each rung: no trial of a round (one ask: a rung) starts before every
    # trial of the round before ended; ASHA starts trials while others run
    for result, barrier in ((sh, True), (asha, False)):
        cols = result.columns
        rounds = np.array(cols["round"])
        starts, ends = np.array(cols["v_start"]), np.array(cols["v_end"])
        waits = [starts[rounds == r].min() >= ends[rounds == r - 1].max() - 1e-9
                 for r in range(1, rounds.max() + 1)]
        assert all(waits) if barrier else not all(waits)
    assert len(set(sh.columns["round"])) > 3


@pytest.mark.parametrize("name", ["random", "asha", "successive-halving", "genetic"])
def test_results_are_told_and_recorded_in_completion_order(name):
    result = simulate(name, 3)
    cols = result.columns
    assert cols["trial"] == list(range(result.n_trials))
    v_end = cols["v_end"]
    assert all(a <= b for a, b in itertools.pairwise(v_end))
    # every trial told once, in the order of the rows (the optimizer knows trials by the
    # order they started in)
    told = [t for batch in result.told for t in batch]
    assert sorted(i for i, _ in told) == list(range(result.n_trials))
    assert [v for _, v in told] == cols["value"]
    assert [i for i, _ in told] != list(range(result.n_trials))  # not the start order
    # rows told together ended at the same virtual time
    row = 0
    for batch in result.told:
        ends = v_end[row:row + len(batch)]
        assert len(set(ends)) == 1
        row += len(batch)
    # later rounds never start before the trials that informed them ended
    assert all(s <= e for s, e in zip(cols["v_start"], v_end))


def test_same_seed_same_virtual_times_and_another_seed_others():
    a, b = simulate("asha", 4, seed=11), simulate("asha", 4, seed=11)
    for col in ("config", "fidelity", "v_start", "v_end", "value", "resume_from", "round"):
        assert a.columns[col] == b.columns[col], col
    assert simulate("asha", 4, seed=12).columns["v_end"] != a.columns["v_end"]


def test_resume_from_and_the_incumbent_name_rows():
    result = simulate("asha", 4)
    cols = result.columns
    resumed = [(row, src) for row, src in enumerate(cols["resume_from"]) if src is not None]
    assert resumed  # the toy problem checkpoints: ASHA continues promoted trials
    for row, src in resumed:
        # the trial continued is a row that ended before this one started, at a lower
        # fidelity, with the same config
        assert src < row and cols["v_end"][src] <= cols["v_start"][row]
        assert cols["config"][src] == cols["config"][row] or cols["config"][src] is None
        assert cols["fidelity"][src] < cols["fidelity"][row]


def test_the_budget_is_exact_and_pending_trials_finish():
    result = simulate("random", 4, budget=10)
    cols = result.columns
    assert result.n_trials == 10 and cols["budget_used"][-1] == 10
    assert cols["budget_used"] == sorted(cols["budget_used"])  # completed work, in order
    assert result.extra["sim"]["makespan"] == max(cols["v_end"])


def test_failed_evaluations_take_their_measured_seconds():
    result = simulate("random", 2, problem=TimedToy(seed=0, fail_rate=0.5))
    cols = result.columns
    failed = [i for i, s in enumerate(cols["status"]) if s != "ok"]
    assert failed and result.extra["sim"]["clock"] == "mixed"
    for i in failed:
        assert cols["v_end"][i] - cols["v_start"][i] == pytest.approx(cols["eval_s"][i])
        assert cols["v_end"][i] - cols["v_start"][i] < 1.0


def test_without_modelled_seconds_the_measured_ones_are_used():
    result = simulate("random", 2, problem=ToyProblem(seed=0))
    cols = result.columns
    assert result.extra["sim"]["clock"] == "measured"
    assert np.subtract(cols["v_end"], cols["v_start"]) == pytest.approx(cols["eval_s"])


def test_a_journal_replays_a_simulated_cell(tmp_path):
    header = {"cell": "toy/asha@3w/repeat-0", "fingerprint": "abc"}
    full = simulate("asha", 3, journal=Journal.open(tmp_path / "full.jsonl", header))
    lines = (tmp_path / "full.jsonl").read_bytes().split(b"\n")
    keep = full.n_trials // 2
    (tmp_path / "cut.jsonl").write_bytes(b"\n".join(lines[:1 + keep]) + b"\n")
    journal = Journal.open(tmp_path / "cut.jsonl", header)
    problem = TimedToy(seed=0)
    resumed = simulate("asha", 3, journal=journal, problem=problem)
    assert journal.replayed == keep and journal.mismatch_at is None
    assert problem.calls == full.n_trials - keep
    for col in ("config", "fidelity", "resume_from", "value", "v_start", "v_end"):
        assert resumed.columns[col] == full.columns[col], col


class Reversed(Optimizer):
    """Asynchronous, but its ``ask(n)`` hands n samples out last first: one simulated
    worker (asked for one at a time) makes other trials than its rounds of 4."""

    batch_size = 4

    def ask(self, n):
        return self.space.sample(self.rng, n)[::-1]

    def tell(self, observations):
        pass


def test_the_one_worker_check_catches_a_divergence():
    registry.register_optimizer("sim-reversed")(Reversed)
    try:
        with pytest.raises(AssertionError, match="runs differently on one simulated worker"):
            check_simulated_one_worker("sim-reversed")
        check_simulated_one_worker("random")  # and passes where there is none
    finally:
        registry.unregister("optimizer", "sim-reversed")


def test_a_simulated_cell_is_another_cell_with_the_same_seeds():
    cell = Cell(problem="branin", optimizer="asha", budget=Budget(10))
    eight = dataclasses.replace(cell, sim_workers=8)
    assert (cell.key, eight.key) == ("branin/asha/repeat-0", "branin/asha@8w/repeat-0")
    assert eight.optimizer_seed == cell.optimizer_seed
    assert "sim_workers" not in cell.identity("fp")  # stored identities still hold
    assert eight.identity("fp")["sim_workers"] == 8
    one = dataclasses.replace(cell, sim_workers=1)
    assert one.key != cell.key and one.identity("fp") != cell.identity("fp")


def test_the_suite_key_multiplies_cells_and_is_validated(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('name = "s"\nproblems = ["branin"]\noptimizers = ["random", "asha"]\n'
                    'repeats = 2\nsim_workers = [1, 8]\n')
    suite = load_suite(str(path))
    assert suite.n_cells() == len(suite.cells()) == 8
    assert {c.key.split("/")[1] for c in suite.cells()} == {
        "random@1w", "random@8w", "asha@1w", "asha@8w"}
    again = tmp_path / "again.toml"
    again.write_text(suite.to_toml())
    assert load_suite(str(again)).cells() == suite.cells()
    assert load_suite(str(path), sim_workers=4).sim_workers == (4,)
    for bad in ("0", "-2", '"4"', "[]", "[2, 0]", "true", "2.5"):
        path.write_text(f'problems = ["branin"]\noptimizers = ["random"]\nsim_workers = {bad}\n')
        with pytest.raises(SuiteError, match="sim_workers must be a positive integer") as exc:
            load_suite(str(path))
        assert "\n" not in str(exc.value)
    path.write_text('problems = ["branin"]\noptimizers = ["random"]\nsim_workers = 2\n'
                    'batch = 2\n')
    with pytest.raises(SuiteError, match="cannot be combined"):
        load_suite(str(path))


def test_the_command_line_refuses_a_bad_worker_count(capsys):
    from hpbench.cli import main

    assert main(["run", "smoke", "--sim-workers", "0"]) == 2
    err = capsys.readouterr().err
    assert "--sim-workers: must be an integer > 0, got '0'" in err


@pytest.fixture
def timed_toy():
    registry.register_problem("sim-timed-toy", lambda seed=None: TimedToy(seed=seed))
    yield "sim-timed-toy"
    registry.unregister("problem", "sim-timed-toy")


def test_virtual_times_are_stored_loaded_and_drawn_against(tmp_path, timed_toy):
    from hpbench.analysis import load
    from hpbench.analysis.regret import _x_label

    out = tmp_path / "out"
    hpbench.run("smoke", problems=[timed_toy], optimizers=["random", "asha"], repeats=1,
                budget=12, sim_workers=4, out=out)
    assert (out / timed_toy / "asha@4w" / "repeat-0.parquet").is_file()
    frame, metas = hpbench.load_results(out, with_meta=True)
    assert {m["sim_workers"] for m in metas} == {4}
    assert {m["sim"]["clock"] for m in metas} == {"modelled"}
    assert set(frame["optimizer"]) == {"random@4w", "asha@4w"}
    assert frame["v_start"].dtype == np.float64 and frame["v_end"].notna().all()
    results = load.load(out)
    t = results.trials
    assert np.allclose(t["wall"], t["v_end"])
    assert _x_label(results, timed_toy, "wall") == \
        "virtual wall time (s), 4 simulated workers"
    # a cell that was not simulated keeps NaN virtual times and the measured wall axis
    plain = tmp_path / "plain"
    hpbench.run("smoke", problems=[timed_toy], optimizers=["random"], repeats=1, budget=5,
                out=plain)
    frame = hpbench.load_results(plain)
    assert frame["v_start"].isna().all() and frame["v_end"].isna().all()
    assert _x_label(load.load(plain), timed_toy, "wall") == "wall time (s)"


def test_sixteen_workers_two_hundred_evaluations_cost_well_under_ten_cpu_seconds():
    t0 = time.process_time()
    for name in ("random", "asha"):
        result = simulate(name, 16, budget=200)
        assert result.reason == "budget" and result.extra["sim"]["makespan"] > 100
    cpu = time.process_time() - t0
    assert cpu < 10, f"{cpu:.2f} s of CPU"


def test_a_stalled_optimizer_ends_the_cell_as_in_the_usual_loop():
    class Empty(Optimizer):
        def ask(self, n):
            return []

        def tell(self, observations):
            pass

    problem = TimedToy(seed=0)
    result = run_loop(problem, Empty(problem.space, seed=0, budget=5), Budget(5),
                      loop=sim_loop(4))
    assert result.reason == "optimizer-exhausted" and result.n_trials == 0


def test_seeds_are_the_cells(tmp_path):
    # the cell's optimizer is built with the same seeds whatever K: K = 1 runs like the
    # usual loop (tests/optimizers: the simulated_one_worker check)
    cell = Cell(problem="toy", optimizer="tpe", budget=Budget(8), seeds=Seeds(0, 3))
    usual = cell.run(problem=TimedToy(seed=0))
    one = dataclasses.replace(cell, sim_workers=1).run(problem=TimedToy(seed=0))
    assert usual.columns["config"] == one.columns["config"]
    assert math.isnan(usual.columns["v_end"][0]) and one.columns["v_end"][-1] > 0


def test_one_folder_holds_the_usual_cells_and_their_simulated_twins(tmp_path):
    out = tmp_path / "out"
    common = dict(problems=["branin"], optimizers=["random"], repeats=1, budget=4, out=out)
    hpbench.run("smoke", **common)
    hpbench.run("smoke", sim_workers=[1, 4], **common)
    hpbench.run("smoke", sim_workers=[1, 4], **common)  # a re-run: every cell is skipped
    frame = hpbench.load_results(out)
    assert sorted(frame["optimizer"].unique()) == ["random", "random@1w", "random@4w"]
    one, usual = (frame[frame["optimizer"] == o] for o in ("random@1w", "random"))
    assert one["value"].tolist() == usual["value"].tolist()
