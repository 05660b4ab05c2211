"""Hyperband: the bracket table of Li et al. (2017), rung promotions, checkpoints, the
budget-aware tail."""

from __future__ import annotations

import json

import pytest

import hpbench
from hpbench import Budget, Fidelity
from hpbench.optimizers.multifidelity._common import (
    bracket_cost,
    fidelity_ladder,
    hyperband_brackets,
)
from hpbench.runner import run_loop
from tests.optimizers.mf_toy import EpochProblem, runs

# Li et al. (2017), Table 1 (R = 81, η = 3): per bracket s, (n_i, r_i) for each rung i
TABLE_R81 = {
    4: [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
    3: [(34, 3), (11, 9), (3, 27), (1, 81)],
    2: [(15, 9), (5, 27), (1, 81)],
    1: [(8, 27), (2, 81)],
    0: [(5, 81)],
}
# the same algorithm for R = 27 (s_max = 3)
TABLE_R27 = {
    3: [(27, 1), (9, 3), (3, 9), (1, 27)],
    2: [(12, 3), (4, 9), (1, 27)],
    1: [(6, 9), (2, 27)],
    0: [(4, 27)],
}


def _table(R: int) -> dict[int, list[tuple[int, float]]]:
    ladder = fidelity_ladder(Fidelity(1, R, integer=True), 3)
    s_max = len(ladder) - 1
    return {b.s: [(n, ladder[r]) for n, r in zip(b.sizes, b.rungs)]
            for b in hyperband_brackets(s_max, 3)}


@pytest.mark.parametrize(("R", "table"), [(81, TABLE_R81), (27, TABLE_R27)])
def test_bracket_table_matches_li_et_al(R, table):
    assert _table(R) == table


def _merged(sequence):
    out = []
    for f, n in sequence:
        if out and out[-1][0] == f:
            out[-1] = (f, out[-1][1] + n)
        else:
            out.append((f, n))
    return out


def _run(name, problem, budget, **settings):
    opt = hpbench.make_optimizer(name, problem.space, seed=0, budget=Budget(budget),
                                 fidelity=problem.fidelity, **settings)
    result = run_loop(problem, opt, Budget(budget))
    assert result.status == "done", result.error
    return opt, result


@pytest.mark.parametrize(("R", "table"), [(81, TABLE_R81), (27, TABLE_R27)])
def test_a_run_follows_the_table(R, table):
    """One full cycle of brackets s_max … 0, then the next cycle starts over."""
    _, result = _run("hyperband", EpochProblem(R), 1000)
    cycle = [(r, n) for s in sorted(table, reverse=True) for n, r in table[s]]
    expected = _merged(cycle + cycle[:2])
    assert runs(result.columns["fidelity"])[:len(expected)] == expected


def test_promotions_are_the_best_and_resume_their_checkpoint():
    problem = EpochProblem(81)
    _, result = _run("hyperband", problem, 200)
    cols = result.columns
    configs = [json.loads(c) for c in cols["config"]]
    by_trial = {t: (c, f, v) for t, c, f, v in zip(cols["trial"], configs, cols["fidelity"],
                                                    cols["value"])}
    # walk the rungs of the first cycle: each rung's configs are the top ⌊n/η⌋ of the last
    position = 0
    for s in sorted(TABLE_R81, reverse=True):
        previous = None
        for n, f in TABLE_R81[s]:
            rung = list(range(position, position + n))
            position += n
            assert all(by_trial[t][1] == f for t in rung)
            if previous is not None:
                best = sorted(previous, key=lambda t: by_trial[t][2])[:n]
                resumed = [cols["resume_from"][t] for t in rung]
                assert sorted(resumed) == sorted(best)  # the top n, each from its checkpoint
                for t, r in zip(rung, resumed):
                    assert by_trial[t][0] == by_trial[r][0]  # same config continues
            previous = rung
    # resuming pays only the increment
    for t, r in enumerate(cols["resume_from"]):
        if r is not None:
            assert cols["cost_fe"][t] == pytest.approx((cols["fidelity"][t]
                                                        - cols["fidelity"][r]) / 81)


def test_without_checkpoints_it_retrains_from_scratch():
    problem = EpochProblem(27, checkpoint=False)
    _, result = _run("hyperband", problem, 30)
    cols = result.columns
    assert all(r is None for r in cols["resume_from"])
    assert cols["cost_fe"] == pytest.approx([f / 27 for f in cols["fidelity"]])
    assert runs(cols["fidelity"])[:4] == [(1, 27), (3, 9), (9, 3), (27, 1)]


def test_budget_aware_tail_finishes_what_it_starts():
    problem = EpochProblem(27)
    opt, result = _run("hyperband", problem, 20)
    cols = result.columns
    assert cols["budget_used"][-1] <= 20 + 1e-9
    assert cols["budget_used"][-1] > 19 - 1e-9
    # the last evaluations are full-fidelity ones: no started bracket is left half-run
    assert cols["fidelity"][-1] == 27
    last_full = max(i for i, f in enumerate(cols["fidelity"]) if f == 27)
    assert last_full == len(cols["fidelity"]) - 1
    cycle_cost = sum(bracket_cost(b, opt.ladder, True) for b in opt.brackets)
    assert cycle_cost == pytest.approx(3 + 26 / 9 + 10 / 3 + 4)
    # without the tail rule, the run ends inside a bracket at a low fidelity
    _, plain = _run("hyperband", EpochProblem(27), 20, budget_aware=False)
    assert plain.columns["fidelity"][-1] < 27


def test_incumbent_is_a_full_fidelity_result():
    # low fidelities look better than the truth here, so a wrong incumbent would show
    problem = EpochProblem(27, optimistic=True)
    opt, result = _run("hyperband", problem, 30)
    cols = result.columns
    full = [v for v, f in zip(cols["value"], cols["fidelity"]) if f == 27]
    assert opt.incumbent is not None and opt.incumbent.suggestion.fidelity is None
    assert opt.incumbent.value == min(full)
    assert min(cols["value"]) < opt.incumbent.value - 0.5


def test_settings_are_validated():
    problem = EpochProblem(27)
    with pytest.raises(ValueError, match="eta must be a number > 1"):
        hpbench.make_optimizer("hyperband", problem.space, seed=0, budget=10,
                               fidelity=problem.fidelity, eta=1)
    with pytest.raises(ValueError, match="min_fidelity must be in"):
        hpbench.make_optimizer("hyperband", problem.space, seed=0, budget=10,
                               fidelity=problem.fidelity, min_fidelity=27)
    # a larger minimum fidelity means fewer brackets
    opt = hpbench.make_optimizer("hyperband", problem.space, seed=0, budget=10,
                                 fidelity=problem.fidelity, min_fidelity=3)
    assert opt.ladder == [3, 9, 27] and len(opt.brackets) == 3
