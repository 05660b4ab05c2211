"""The cell in memory: its seeds, build and run, and nothing written to disk."""

from __future__ import annotations

import os

import hpbench
from hpbench import Budget, Optimizer, register_optimizer, registry, seeds
from hpbench.cell import Cell, Seeds
from hpbench.execute import execute_cell
from hpbench.store import load_results
from hpbench.trials import CellStatus, TrialStatus


def test_seeds_derive_from_the_master_seed_the_names_and_the_repeat():
    cell = Cell("branin", "random", Budget(5), repeat=3, master_seed=11)
    assert cell.problem_seed == seeds.problem_seed(11, "branin", 3)
    assert cell.optimizer_seed == seeds.optimizer_seed(11, "branin", "random", 3)
    other = Cell("branin", "sobol", Budget(5), repeat=3, master_seed=11)
    assert other.problem_seed == cell.problem_seed  # every optimizer meets the same instance
    assert other.optimizer_seed != cell.optimizer_seed
    pinned = Cell("branin", "random", Budget(5), seeds=Seeds(problem=None, optimizer=4))
    assert (pinned.problem_seed, pinned.optimizer_seed) == (None, 4)


def test_run_is_in_memory_and_equals_what_execute_cell_stores(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cell = Cell("hartmann3", "tpe", Budget(12), repeat=1, master_seed=5, suite="s")
    result = cell.run()
    assert os.listdir(tmp_path) == []  # nothing touched the disk
    assert result.status == CellStatus.DONE and result.n_trials == 12
    assert set(result.columns["status"]) == {TrialStatus.OK}
    outcome = execute_cell(cell, tmp_path / "out")
    stored = load_results(tmp_path / "out")
    assert outcome.status == "done"
    assert stored["value"].tolist() == result.columns["value"]
    assert stored["config"].tolist() == result.columns["config"]


def test_build_gives_the_problem_instance_and_the_seeded_optimizer():
    cell = Cell("branin", "random", Budget(5), repeat=2)
    built = cell.build()
    assert built.problem.seed == cell.problem_seed
    assert built.optimizer.seed == cell.optimizer_seed and built.missing == ()


def test_a_cell_the_problem_cannot_serve_is_not_applicable():
    cell = Cell("branin", "hyperband", Budget(5))
    assert cell.build().optimizer is None and cell.build().missing == ("fidelity",)
    result = cell.run()
    assert result.status == CellStatus.NOT_APPLICABLE
    assert result.reason == "problem branin lacks fidelity" and result.n_trials == 0


def test_run_on_a_given_instance_uses_it():
    problem = hpbench.make_problem("branin", seed=None)
    a = Cell("branin", "random", Budget(6), seeds=Seeds(None, 1)).run(problem=problem)
    b = Cell("branin", "random", Budget(6), seeds=Seeds(None, 1)).run()
    assert a.columns["value"] == b.columns["value"]


class _Unbuildable(Optimizer):
    def __init__(self, space, **kwargs):
        raise RuntimeError("no optimizer today")


def test_an_optimizer_that_cannot_be_built_fails_the_cell_with_the_reason(monkeypatch):
    # registered for this test only: the conformance suite runs every registered optimizer
    monkeypatch.setattr(registry, "_ENTRIES", {k: registry.entries(k)
                                               for k in ("problem", "optimizer")})
    register_optimizer("test-cell-unbuildable", tags=("test",))(_Unbuildable)
    result = Cell("branin", "test-cell-unbuildable", Budget(5)).run()
    assert result.status == CellStatus.FAILED
    assert result.reason == "RuntimeError: no optimizer today"
    assert "no optimizer today" in result.error and result.n_trials == 0


def test_a_timeout_evaluates_in_a_child_and_says_so():
    result = Cell("branin", "random", Budget(3), timeout=30).run()
    assert result.extra["execution"] == {"evaluator": "processes(1)"}
    assert result.n_trials == 3
