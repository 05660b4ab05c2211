"""Behaviour of ``cma-es`` (optimizers/population/cma_es.py), the adapter to the ``cma`` package."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hpbench import Budget, Float, Int, Optimum, Problem, Space, make_optimizer
from hpbench.optimizers.population.cma_es import _finite_for_ranking
from tests.optimizers.cube_problems import MixedSphere, ShiftedSphere, median_best, run
from tests.toy import trajectory


def test_solves_a_sphere_far_better_than_random():
    ours = median_best("cma-es", lambda s: ShiftedSphere(5, seed=s), 200, seeds=range(3))
    rand = median_best("random", lambda s: ShiftedSphere(5, seed=s), 200, seeds=range(3))
    assert ours < rand / 10


def test_restarts_with_doubled_population_after_convergence():
    # loose tolerances so the first run converges early in the budget
    result, opt = run("cma-es", ShiftedSphere(2, seed=1), 600, seed=0,
                      options={"tolfun": 1e-6, "tolx": 1e-6})
    assert len(opt.runs) >= 2
    assert opt.runs[0]["stop"], "the first run should have stopped on its own"
    sizes = [r["popsize"] for r in opt.runs]
    assert sizes[:3] == [6, 12, 24][: len(sizes[:3])]  # 4 + 3 ln 2 = 6, then IPOP doubling
    # completed generations only: the last one may be cut by the budget
    assert 600 - sizes[-1] <= sum(r["evaluations"] for r in opt.runs) <= 600
    assert opt.batch_size == sizes[-1]
    assert result.n_trials == 600


def test_without_ipop_the_population_stays():
    _, opt = run("cma-es", ShiftedSphere(2, seed=1), 600, seed=0, restarts="none",
                 options={"tolfun": 1e-6, "tolx": 1e-6})
    assert len(opt.runs) >= 2
    assert {r["popsize"] for r in opt.runs} == {6}


def test_leaves_numpy_global_random_state_alone_and_ignores_it():
    np.random.seed(12345)
    before = np.random.get_state()
    first, _ = run("cma-es", ShiftedSphere(3, seed=0), 40, seed=9)
    after = np.random.get_state()
    assert before[0] == after[0] and np.array_equal(before[1], after[1])
    assert before[2:] == after[2:]
    np.random.seed(999)  # another global state must not change the trajectory
    second, _ = run("cma-es", ShiftedSphere(3, seed=0), 40, seed=9)
    assert trajectory(first) == trajectory(second)


class IntegerBowl(Problem):
    def __init__(self):
        super().__init__(Space(a=Int(0, 20), b=Int(-50, 50), x=Float(0.0, 1.0)), name="bowl",
                         optimum=Optimum(0.0, source="by construction"))

    def _evaluate(self, config, *, fidelity=None, ctx=None):
        return float((config["a"] - 7) ** 2 + (config["b"] + 12) ** 2 / 10
                     + (config["x"] - 0.3) ** 2)


def test_integer_variables_are_levels_handled_by_cma():
    problem = IntegerBowl()
    opt = make_optimizer("cma-es", problem.space, seed=0, budget=Budget(300))
    es = opt._new_strategy(opt.popsize)
    assert list(es.opts["integer_variables"]) == [0, 1]
    result, _ = run("cma-es", problem, 300, seed=0)
    assert all(isinstance(a, int) for a in result.columns["param.a"])
    # the integer margin keeps sampling alive: the optimum integers are found
    best = int(np.nanargmin(result.columns["value"]))
    assert (result.columns["param.a"][best], result.columns["param.b"][best]) == (7, -12)


def test_mixed_space_with_categories_runs_and_improves():
    result, _ = run("cma-es", MixedSphere(), 200, seed=1)
    assert set(result.columns["param.colour"]) <= set(MixedSphere.COLOURS)
    assert median_best("cma-es", lambda s: MixedSphere(seed=s), 200, seeds=range(3)) < 2.0


def test_one_dimensional_space():

    class Line(Problem):
        def __init__(self):
            super().__init__(Space(x=Float(-1.0, 1.0)), name="line",
                             optimum=Optimum(0.0, source="by construction"))

        def _evaluate(self, config, *, fidelity=None, ctx=None):
            return (config["x"] - 0.4) ** 2

    result, _ = run("cma-es", Line(), 60, seed=0)
    assert min(result.columns["value"]) < 1e-4


def test_failed_values_rank_worst_and_stay_finite():
    out = _finite_for_ranking(np.array([1.0, math.nan, 3.0]))
    assert np.isfinite(out).all() and out[1] > 3.0
    assert _finite_for_ranking(np.array([math.nan, math.nan])).tolist() == [0.0, 0.0]


def test_budget_smaller_than_the_population_ends_cleanly():
    result, _ = run("cma-es", ShiftedSphere(5), 3)
    assert result.n_trials == 3 and result.reason == "budget"


@pytest.mark.parametrize(("key", "value"), [("restarts", "bipop"), ("sigma0", 0.0),
                                            ("x0", "corner"), ("popsize", 1)])
def test_bad_settings_are_refused(key, value):
    with pytest.raises(ValueError, match=key):
        make_optimizer("cma-es", ShiftedSphere(2).space, seed=0, budget=Budget(10),
                       **{key: value})


# cma-es-short (optimizers/population/cma_es_short.py) -------------------------------------
def _branin_regrets(optimizer: str, repeats: range) -> list[float]:
    """Final regret of ``optimizer`` after 100 evaluations on the seeded branin instances."""
    from hpbench.cell import Cell

    out = []
    for r in repeats:
        cell = Cell("branin", optimizer, Budget(100), repeat=r)
        problem = cell.build_problem()
        result = cell.run(problem=problem)
        assert result.status == "done" and result.n_trials == 100, result.reason
        out.append(float(np.nanmin(result.columns["true_value"])) - problem.optimum.value)
    return out


def test_short_variant_is_nevergrads_bounded_set_up():
    two, six = ShiftedSphere(2).space, ShiftedSphere(6).space
    short = make_optimizer("cma-es-short", two, seed=0, budget=Budget(100))
    assert short.popsize == 4  # 4 + floor(ln 2): Nevergrad's popsize_factor 1
    assert make_optimizer("cma-es-short", six, seed=0, budget=Budget(100)).popsize == 5
    assert make_optimizer("cma-es", six, seed=0, budget=Budget(100)).popsize == 9
    es = short._new_strategy(short.popsize)
    assert es.opts["CMA_elitist"] is True and es.opts["CMA_diagonal"] is True
    assert es.sigma0 == pytest.approx(0.3 * 1.5884 / 6, abs=1e-4)
    # the textbook entry stays non-elitist with a full covariance
    plain = make_optimizer("cma-es", two, seed=0, budget=Budget(100))
    es = plain._new_strategy(plain.popsize)
    assert not es.opts["CMA_elitist"] and es.opts["CMA_diagonal"] in (False, 0)
    # the user's options go over the variant's
    mixed = make_optimizer("cma-es-short", two, seed=0, budget=Budget(100),
                           options={"CMA_diagonal": False})
    es = mixed._new_strategy(mixed.popsize)
    assert es.opts["CMA_elitist"] is True and es.opts["CMA_diagonal"] is False


def test_short_variant_converges_on_branin_in_100_evaluations():
    # issue 33: the textbook cma-es has run ~16 generations of 6 by then and is still
    # converging (regret ~1e-2); the short-budget set-up reaches ~1e-5, as Nevergrad's CMA
    short = _branin_regrets("cma-es-short", range(5))
    plain = _branin_regrets("cma-es", range(5))
    assert np.median(short) < 1e-3
    assert np.median(short) < np.median(plain) / 10
