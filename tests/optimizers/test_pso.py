"""Behaviour of ``pso`` (optimizers/population/pso.py)."""

from __future__ import annotations

import numpy as np
import pytest

from hpbench import Budget, Observation, make_optimizer
from hpbench.optimizers.population.pso import CHI
from tests.optimizers.cube_problems import MixedSphere, ShiftedSphere, median_best, run


def test_constriction_coefficient_of_clerc_and_kennedy():
    assert abs(CHI - 0.72984) < 1e-5


def test_beats_random_on_a_sphere():
    ours = median_best("pso", lambda s: ShiftedSphere(5, seed=s), 200)
    rand = median_best("random", lambda s: ShiftedSphere(5, seed=s), 200)
    assert ours < rand / 3


def _fly(opt, problem, generations):
    """Run generations by hand; yield (positions, velocities) after each move."""
    for _ in range(generations):
        batch = opt.ask(opt.swarm_size)
        opt.tell([Observation(s, i, problem.evaluate(s.config).value, "ok")
                  for i, s in enumerate(batch)])
        yield opt.positions.copy(), opt.velocities.copy()


@pytest.mark.parametrize("bounds", ["reflect", "absorb"])
def test_bounds_keep_particles_in_the_cube(bounds):
    # a corner optimum and velocities allowed to be huge: particles hit the faces hard
    problem = ShiftedSphere(4, seed=None)
    problem.centre = np.full(4, 5.0)
    opt = make_optimizer("pso", problem.space, seed=0, budget=Budget(10_000), bounds=bounds,
                         vmax=10.0, variant="inertia", w_start=1.2, w_end=1.2)
    hit_face = False
    for X, V in _fly(opt, problem, 30):
        assert np.all((X >= 0.0) & (X <= 1.0))
        on_face = (X == 0.0) | (X == 1.0)
        hit_face |= bool(on_face.any())
        if bounds == "absorb":
            # a particle stopped on a face has lost that velocity component
            assert np.all(V[on_face] == 0.0)
    if bounds == "absorb":
        assert hit_face


def test_reflection_reverses_velocity():
    problem = ShiftedSphere(2)
    opt = make_optimizer("pso", problem.space, seed=0, budget=Budget(100), bounds="reflect")
    X = np.array([[1.3, 0.5], [-0.2, 2.4]])
    V = np.array([[0.4, 0.1], [-0.3, 0.9]])
    Xb, Vb = opt._bound(X, V)
    assert np.allclose(Xb, [[0.7, 0.5], [0.2, 0.4]])
    # crossed one face: reversed; crossed two (2.4 = 1 + 1 + 0.4): direction kept
    assert np.allclose(Vb, [[-0.4, 0.1], [0.3, 0.9]])


def test_ring_and_global_topologies_differ():
    pbest = np.array([[0.1], [0.2], [0.3], [0.4], [0.5]])
    values = np.array([5.0, 1.0, 4.0, 3.0, 0.5])
    problem = ShiftedSphere(1)
    glob = make_optimizer("pso", problem.space, seed=0, budget=Budget(10))
    ring = make_optimizer("pso", problem.space, seed=0, budget=Budget(10), topology="ring")
    assert glob._neighbourhood_best(pbest, values).ravel().tolist() == [0.5] * 5
    # neighbours i-1, i, i+1 (wrapping): 0 -> {4, 0, 1}, 2 -> {1, 2, 3}, ...
    assert ring._neighbourhood_best(pbest, values).ravel().tolist() == [0.5, 0.2, 0.2, 0.5,
                                                                         0.5]


def test_categorical_coordinates_stay_valid_and_follow_the_bests():
    result, opt = run("pso", MixedSphere(), 300, seed=2)
    assert set(result.columns["param.colour"]) <= set(MixedSphere.COLOURS)
    assert all(isinstance(k, int) and 0 <= k <= 9 for k in result.columns["param.k"])
    # the swarm converges on the right category: most of the last generation is "green"
    last = result.columns["param.colour"][-opt.swarm_size:]
    assert last.count("green") > len(last) / 2


def test_inertia_weight_falls_over_the_budget():
    problem = ShiftedSphere(2)
    opt = make_optimizer("pso", problem.space, seed=0, budget=Budget(120), variant="inertia")
    weights = []
    for _ in _fly(opt, problem, 10):
        weights.append(opt._coefficients()[0])
    assert weights == sorted(weights, reverse=True)
    assert weights[-1] == pytest.approx(0.4)


@pytest.mark.parametrize(("key", "value"), [("topology", "star"), ("bounds", "wrap"),
                                            ("swarm_size", 1), ("vmax", 0)])
def test_bad_settings_are_refused(key, value):
    with pytest.raises(ValueError, match=key):
        make_optimizer("pso", ShiftedSphere(2).space, seed=0, budget=Budget(10),
                       **{key: value})


def test_budget_smaller_than_the_swarm_ends_cleanly():
    result, _ = run("pso", ShiftedSphere(3), 5)
    assert result.n_trials == 5 and result.reason == "budget"


def test_mixed_space_progress():
    assert median_best("pso", lambda s: MixedSphere(seed=s), 200) < 2.0
