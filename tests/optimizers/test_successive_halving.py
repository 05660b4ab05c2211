"""Successive halving: repeated brackets of Jamieson & Talwalkar (2016) / Li et al. (2017)."""

from __future__ import annotations

import json
from itertools import pairwise

import pytest

import hpbench
from hpbench import Budget
from hpbench.runner import run_loop
from tests.optimizers.mf_toy import EpochProblem, runs


def _run(problem, budget, **settings):
    opt = hpbench.make_optimizer("successive-halving", problem.space, seed=3,
                                 budget=Budget(budget), fidelity=problem.fidelity, **settings)
    result = run_loop(problem, opt, Budget(budget))
    assert result.status == "done", result.error
    return opt, result


@pytest.mark.parametrize(("R", "bracket"), [
    (81, [(1, 81), (3, 27), (9, 9), (27, 3), (81, 1)]),
    (27, [(1, 27), (3, 9), (9, 3), (27, 1)]),
])
def test_rungs_shrink_by_eta_and_grow_fidelity_by_eta(R, bracket):
    _, result = _run(EpochProblem(R), 40)
    assert runs(result.columns["fidelity"])[:2 * len(bracket)] == bracket + bracket


def test_each_rung_keeps_the_best_third():
    problem = EpochProblem(27)
    _, result = _run(problem, 10)
    cols = result.columns
    values, configs = cols["value"], [json.loads(c) for c in cols["config"]]
    rungs = [range(0, 27), range(27, 36), range(36, 39), range(39, 40)]
    for lower, upper in pairwise(rungs):
        best = sorted(lower, key=lambda t: values[t])[:len(upper)]
        assert sorted(cols["resume_from"][t] for t in upper) == sorted(best)
        assert sorted(configs[t]["x"] for t in upper) == sorted(configs[t]["x"] for t in best)
    # with the checkpoints a bracket costs 3 full evaluations: 1 + 9·2/27 + 3·6/27 + 18/27
    assert cols["budget_used"][39] == pytest.approx(3.0)


def test_bracket_setting_picks_a_less_aggressive_bracket():
    _, result = _run(EpochProblem(81), 30, bracket=2)
    assert runs(result.columns["fidelity"])[:3] == [(9, 15), (27, 5), (81, 1)]
    with pytest.raises(ValueError, match="bracket must be an integer in"):
        _run(EpochProblem(81), 30, bracket=5)


def test_min_fidelity_and_eta_settings():
    _, result = _run(EpochProblem(81), 30, eta=9, min_fidelity=1)
    # η = 9: 81 configs at 1 epoch, 9 at 9 epochs, 1 at 81
    assert runs(result.columns["fidelity"])[:3] == [(1, 81), (9, 9), (81, 1)]
    _, result = _run(EpochProblem(81), 30, min_fidelity=9)
    assert runs(result.columns["fidelity"])[:3] == [(9, 9), (27, 3), (81, 1)]
