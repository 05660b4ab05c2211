"""Behaviour of ``genetic`` (optimizers/population/genetic.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hpbench import Budget, Observation, make_optimizer
from hpbench.optimizers.population.genetic import _polynomial, _sbx
from tests.optimizers.cube_problems import MixedSphere, ShiftedSphere, median_best, run


def test_beats_random_on_a_sphere():
    ours = median_best("genetic", lambda s: ShiftedSphere(5, seed=s), 200)
    rand = median_best("random", lambda s: ShiftedSphere(5, seed=s), 200)
    assert ours < rand / 3


def test_asks_whole_generations():
    problem = ShiftedSphere(4)
    opt = make_optimizer("genetic", problem.space, seed=0, budget=Budget(100))
    assert opt.batch_size == opt.pop_size == 12  # 4 + 2 d
    assert len(opt.ask(100)) == 12


def _generations(opt, problem, n):
    """Run ``n`` generations by hand; returns the categorical values of parents and
    children of each generation."""
    history = []
    for _ in range(n):
        parents = None if opt.population is None else opt.population.copy()
        batch = opt.ask(opt.pop_size)
        values = [problem.evaluate(s.config).value for s in batch]
        opt.tell([Observation(s, i, v, "ok") for i, (s, v) in enumerate(zip(batch, values))])
        history.append((parents, batch))
    return history


def test_categories_are_only_inherited_without_mutation():
    problem = MixedSphere()
    # a wide SBX spread on every pair: blending category indices would invent new ones
    opt = make_optimizer("genetic", problem.space, seed=4, budget=Budget(400),
                         mutation_prob=0.0, crossover_prob=1.0, eta_c=0.5)
    cube = opt.cube
    names = list(problem.space.names)
    for parents, children in _generations(opt, problem, 8)[1:]:
        for j in cube.cat_idx:
            name = names[j]
            allowed = {problem.space[name].from_unit(u) for u in parents[:, j]}
            got = {s.config[name] for s in children}
            assert got <= allowed, f"{name}: children invented {got - allowed}"


def test_mutation_keeps_categories_valid_and_introduces_new_ones():
    result, opt = run("genetic", MixedSphere(), 300, seed=1, mutation_prob=0.5)
    assert set(result.columns["param.colour"]) == set(MixedSphere.COLOURS)
    assert set(result.columns["param.act"]) == set(MixedSphere.ACTS)
    assert all(isinstance(n, int) and 1 <= n <= 1000 for n in result.columns["param.n"])
    # genomes hold bin centres: the stored population is exactly what was evaluated
    assert np.array_equal(opt.cube.snap(opt.population), opt.population)


def test_plus_survival_never_loses_the_best():
    problem = ShiftedSphere(3, seed=1)
    opt = make_optimizer("genetic", problem.space, seed=2, budget=Budget(500))
    bests = []
    for _ in range(10):
        batch = opt.ask(opt.pop_size)
        opt.tell([Observation(s, i, problem.evaluate(s.config).value, "ok")
                  for i, s in enumerate(batch)])
        bests.append(opt.best_value)
        pop_values = [problem.evaluate(c).value for c in problem.space.from_unit_array(
            opt.population)]
        assert min(pop_values) == pytest.approx(opt.best_value)
    assert bests == sorted(bests, reverse=True)


def test_sbx_children_are_symmetric_about_the_parents():
    rng = np.random.default_rng(0)
    a, b = np.full(6, 0.4), np.full(6, 0.6)
    c1, c2 = _sbx(a, b, 15.0, rng)
    assert np.allclose(c1 + c2, a + b)  # far from the bounds, SBX preserves the mean
    assert np.all((c1 >= 0) & (c1 <= 1) & (c2 >= 0) & (c2 <= 1))
    spread = []
    for eta in (2.0, 50.0):
        r = np.random.default_rng(1)
        spread.append(np.mean([abs(_sbx(a, b, eta, r)[0] - 0.5).mean() for _ in range(200)]))
    assert spread[0] > spread[1]  # a larger index keeps children closer to the parents


def test_polynomial_mutation_stays_in_bounds_and_is_local_for_large_index():
    rng = np.random.default_rng(0)
    ys = [_polynomial(y, 20.0, rng) for y in np.linspace(0, 1, 101) for _ in range(10)]
    assert all(0.0 <= y <= 1.0 for y in ys)
    steps = [abs(_polynomial(0.5, 100.0, rng) - 0.5) for _ in range(500)]
    assert np.mean(steps) < 0.02


def test_failed_individuals_are_ranked_worst():
    problem = ShiftedSphere(2)
    opt = make_optimizer("genetic", problem.space, seed=0, budget=Budget(100), pop_size=10)
    batch = opt.ask(10)
    opt.tell([Observation(s, i, math.nan if i % 2 else float(i), "failed" if i % 2 else "ok")
              for i, s in enumerate(batch)])
    batch2 = opt.ask(10)
    opt.tell([Observation(s, i, math.nan, "failed") for i, s in enumerate(batch2)])
    # (mu + lambda): the five finite parents survive ahead of every failure
    kept = {tuple(u) for u in opt.population[:5]}
    finite = {tuple(opt.space.to_unit(s.config)) for i, s in enumerate(batch) if i % 2 == 0}
    assert {tuple(np.round(k, 9)) for k in kept} == {tuple(np.round(f, 9)) for f in finite}


@pytest.mark.parametrize(("key", "value"), [("crossover", "two-point"), ("pop_size", 1),
                                            ("survival", "steady"), ("mutation", "cauchy")])
def test_bad_settings_are_refused(key, value):
    with pytest.raises(ValueError, match=key):
        make_optimizer("genetic", ShiftedSphere(2).space, seed=0, budget=Budget(10),
                       **{key: value})


@pytest.mark.parametrize("survival", ["plus", "generational"])
def test_budget_smaller_than_the_population_ends_cleanly(survival):
    result, _ = run("genetic", ShiftedSphere(3), 4, survival=survival)
    assert result.n_trials == 4 and result.reason == "budget"
