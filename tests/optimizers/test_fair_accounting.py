"""Fair accounting of the bandit, multi-fidelity, population, gradient and RL optimizers: on the
multi-fidelity problems the summed cost never exceeds the budget, resumes pay only the
increment, and the incumbent (best full-fidelity true value) only ever comes from a
full-fidelity result — in the optimizer's own bookkeeping and in the analysis of the stored
cells."""

from __future__ import annotations

import math

import numpy as np
import pytest

import hpbench
from hpbench import Budget
from hpbench.analysis.load import load
from hpbench.cell import Cell
from hpbench.execute import execute_cell
from hpbench.runner import run_loop
from tests.optimizers.mf_toy import EpochProblem
from tests.optimizers.test_hypergradient import QuadraticHG

OPTIMIZERS = ["successive-halving", "hyperband", "asha", "bohb", "optuna-tpe-sha",
              "optuna-tpe-hyperband", "pbt", "hypergradient", "hypergradient-online",
              "reinforce"]
PROBLEMS = ["forrester-mf", "augmented-branin", "augmented-hartmann6"]
BUDGET = 20


def _check_costs(cols, budget, f_max):
    cost_fe = np.array(cols["cost_fe"], dtype=float)
    used = np.array(cols["budget_used"], dtype=float)
    assert used[-1] <= budget + 1e-9, used[-1]
    np.testing.assert_allclose(np.cumsum(cost_fe), used, rtol=1e-9, atol=1e-9)
    fid = np.array(cols["fidelity"], dtype=float)
    by_trial = dict(zip(cols["trial"], fid))
    for t, r, c, s in zip(cols["trial"], cols["resume_from"], cost_fe, cols["status"]):
        start = 0.0 if r is None else by_trial[r]
        if s == "ok":  # a resume pays the increment, a fresh evaluation its fidelity
            assert c == pytest.approx(max(0.0, by_trial[t] - start) / f_max), (t, r)


@pytest.mark.parametrize("problem_name", PROBLEMS)
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_cost_and_incumbent_in_memory(name, problem_name):
    problem = hpbench.make_problem(problem_name, seed=1)
    entry = hpbench.registry.get_entry("optimizer", name)
    if not entry.requires <= problem.capabilities:
        assert "hypergradient" in entry.requires  # only those lack what they need here
        return
    opt = hpbench.make_optimizer(name, problem.space, seed=2, budget=Budget(BUDGET),
                                 fidelity=problem.fidelity)
    result = run_loop(problem, opt, Budget(BUDGET))
    assert result.status == "done", result.error
    cols = result.columns
    _check_costs(cols, BUDGET, problem.fidelity.high)
    full = [v for v, f, s in zip(cols["true_value"], cols["fidelity"], cols["status"])
            if s == "ok" and f >= problem.fidelity.high]
    inc = getattr(opt, "incumbent", None)
    if full:
        assert inc is not None and inc.suggestion.fidelity in (None, problem.fidelity.high)
        assert inc.value == min(full)
    else:
        assert inc is None


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_stored_cells_and_analysis(name, tmp_path):
    for problem_name in PROBLEMS:
        cell = Cell(problem_name, name, Budget(BUDGET), repeat=0, master_seed=7, suite="fair")
        outcome = execute_cell(cell, tmp_path)
        entry = hpbench.registry.get_entry("optimizer", name)
        if "hypergradient" in entry.requires:
            assert outcome.status == "not-applicable", outcome
        else:
            assert outcome.status == "done", outcome
    if "hypergradient" in hpbench.registry.get_entry("optimizer", name).requires:
        return
    results = load(tmp_path)
    trials = results.trials
    for _, cell in trials.groupby("cell", sort=False):
        assert cell["budget_used"].iloc[-1] <= BUDGET + 1e-9
        best = cell["best"].to_numpy()
        full = cell["full"].to_numpy()
        tv = cell["true_value"].to_numpy()
        prev = math.inf
        for i, b in enumerate(best):
            if math.isnan(b):
                continue
            if b < prev:  # the incumbent changed here: a full-fidelity result set it
                assert full[i] and tv[i] == b
                assert cell["fidelity"].iloc[i] == pytest.approx(1.0)
                prev = b
        reached = tv[full]
        if len(reached):
            assert best[-1] == reached.min()


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimistic_low_fidelities_never_become_the_incumbent(name):
    """Low fidelities that look better than the truth (``optimistic``) must not leak."""
    entry = hpbench.registry.get_entry("optimizer", name)
    problem = EpochProblem(27, optimistic=True)
    if "hypergradient" in entry.requires:
        return
    opt = hpbench.make_optimizer(name, problem.space, seed=0, budget=Budget(BUDGET),
                                 fidelity=problem.fidelity)
    result = run_loop(problem, opt, Budget(BUDGET))
    cols = result.columns
    _check_costs(cols, BUDGET, 27)
    full = [v for v, f in zip(cols["value"], cols["fidelity"]) if f == 27]
    assert opt.incumbent.value == min(full)


@pytest.mark.parametrize("name", ["hypergradient", "hypergradient-online"])
def test_hypergradient_costs_are_charged_and_never_overrun(name):
    """Where a hypergradient costs more than a plain evaluation (``cost_fe``), the runner
    charges it and the optimizer stops before it would overrun the budget."""
    if name == "hypergradient":
        problem = QuadraticHG(cost_fe=1.7)
    else:
        from tests.toy import ToyProblem

        class Costly(ToyProblem):
            def _evaluate(self, config, *, fidelity=None, ctx=None):
                rec = super()._evaluate(config, fidelity=fidelity, ctx=ctx)
                rec.cost_fe = 1.7 * rec.cost / 9  # 1.7 times a fresh evaluation
                return rec

        problem = Costly(seed=0)
    opt = hpbench.make_optimizer(name, problem.space, seed=1, budget=Budget(BUDGET),
                                 fidelity=problem.fidelity)
    result = run_loop(problem, opt, Budget(BUDGET))
    used = result.columns["budget_used"]
    assert used[-1] <= BUDGET + 1e-9
    assert used[-1] > BUDGET - 1.7 - 1e-9  # and stops only when the next would not fit
