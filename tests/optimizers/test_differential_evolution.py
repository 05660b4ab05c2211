"""Behaviour of ``de`` (optimizers/population/differential_evolution.py)."""

from __future__ import annotations

import numpy as np
import pytest

from hpbench import Budget, Observation, make_optimizer
from tests.optimizers.cube_problems import MixedSphere, ShiftedSphere, median_best, run


def test_beats_random_on_a_sphere():
    ours = median_best("de", lambda s: ShiftedSphere(3, seed=s), 200)
    rand = median_best("random", lambda s: ShiftedSphere(3, seed=s), 200)
    assert ours < rand / 3


def test_strategies_differ_and_current_to_best_is_greedier():
    problem = ShiftedSphere(4, seed=0)
    a, opt = run("de", problem, 60, seed=1, strategy="rand/1/bin")
    b, _ = run("de", problem, 60, seed=1, strategy="current-to-best/1")
    n = opt.pop_size
    assert a.columns["config"][:n] == b.columns["config"][:n]  # same initial population
    assert a.columns["config"][n:] != b.columns["config"][n:]
    # pulled towards the best member, current-to-best converges faster on a sphere
    greedy = median_best("de", lambda s: ShiftedSphere(4, seed=s), 300,
                         strategy="current-to-best/1")
    plain = median_best("de", lambda s: ShiftedSphere(4, seed=s), 300, strategy="rand/1/bin")
    assert greedy < plain


def test_selection_is_greedy_per_member():
    problem = ShiftedSphere(3, seed=2)
    opt = make_optimizer("de", problem.space, seed=0, budget=Budget(1000))
    previous = None
    for _ in range(8):
        batch = opt.ask(opt.pop_size)
        opt.tell([Observation(s, i, problem.evaluate(s.config).value, "ok")
                  for i, s in enumerate(batch)])
        values = np.array([problem.evaluate(c).value
                           for c in problem.space.from_unit_array(opt.population)])
        if previous is not None:
            assert np.all(values <= previous + 1e-12)
        previous = values


def test_binomial_crossover_rate():
    problem = ShiftedSphere(10, seed=0)
    changed = {}
    for cr in (0.1, 0.9):
        opt = make_optimizer("de", problem.space, seed=0, budget=Budget(100), CR=cr)
        first = opt.ask(opt.pop_size)
        opt.tell([Observation(s, i, problem.evaluate(s.config).value, "ok")
                  for i, s in enumerate(first)])
        parents = opt.population.copy()
        trials = problem.space.to_unit_array([s.config for s in opt.ask(opt.pop_size)])
        changed[cr] = float(np.mean(~np.isclose(trials, parents)))
    # about CR of the coordinates come from the mutant (at least one always does)
    assert changed[0.1] < 0.3 < 0.7 < changed[0.9]


def test_mixed_space_stays_valid_and_improves():
    result, _ = run("de", MixedSphere(), 200, seed=0)
    assert set(result.columns["param.act"]) <= set(MixedSphere.ACTS)
    assert all(isinstance(n, int) and 1 <= n <= 1000 for n in result.columns["param.n"])
    assert median_best("de", lambda s: MixedSphere(seed=s), 300) < 2.0


@pytest.mark.parametrize(("key", "value"), [("strategy", "best/2/exp"), ("F", 0.0),
                                            ("CR", 1.5), ("pop_size", 3)])
def test_bad_settings_are_refused(key, value):
    with pytest.raises(ValueError, match=key):
        make_optimizer("de", ShiftedSphere(2).space, seed=0, budget=Budget(10),
                       **{key: value})


def test_budget_smaller_than_the_population_ends_cleanly():
    result, _ = run("de", ShiftedSphere(3), 7)
    assert result.n_trials == 7 and result.reason == "budget"
