"""Behaviour of ``coordinate-descent`` (optimizers/local/coordinate_descent.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hpbench import (
    Budget,
    Categorical,
    Float,
    Int,
    Observation,
    Optimum,
    Problem,
    Space,
    make_optimizer,
)
from hpbench.optimizers.local.coordinate_descent import _parabola_vertex
from tests.optimizers.cube_problems import MixedSphere, ShiftedSphere, best, median_best, run


def test_solves_a_sphere_far_better_than_random():
    ours = median_best("coordinate-descent", lambda s: ShiftedSphere(5, seed=s), 200)
    rand = median_best("random", lambda s: ShiftedSphere(5, seed=s), 200)
    assert ours < 1e-6 < 0.5 < rand


def test_enumerates_a_small_categorical_coordinate_in_one_batch():
    space = Space(c=Categorical(["a", "b", "c", "d"]), x=Float(0.0, 1.0))
    opt = make_optimizer("coordinate-descent", space, seed=3, budget=Budget(50))
    (first,) = opt.ask(1)
    opt.tell([Observation(first, 0, 1.0, "ok")])
    batch = opt.ask(10)
    # every other category, the rest of the incumbent unchanged
    assert sorted(s.config["c"] for s in batch) == sorted(set("abcd") - {first.config["c"]})
    assert all(s.config["x"] == first.config["x"] for s in batch)


def test_random_order_visits_coordinates_in_fresh_permutations():
    orders = {}
    for order in ("cyclic", "random"):
        problem = ShiftedSphere(4, seed=1)
        opt = make_optimizer("coordinate-descent", problem.space, seed=5, budget=Budget(160),
                             order=order)
        visited = []
        line_search = opt._line_search

        def record(x, fx, i, step, line_search=line_search, visited=visited):
            visited.append(int(i))
            return (yield from line_search(x, fx, i, step))

        opt._line_search = record
        from hpbench.runner import run_loop

        run_loop(problem, opt, Budget(160))
        sweeps = [tuple(visited[j:j + 4]) for j in range(0, len(visited) - 3, 4)]
        assert all(sorted(s) == [0, 1, 2, 3] for s in sweeps)
        orders[order] = set(sweeps)
    assert orders["cyclic"] == {(0, 1, 2, 3)}
    assert len(orders["random"]) > 1


def test_restarts_when_a_sweep_makes_no_progress():
    class Grid(Problem):
        def __init__(self):
            super().__init__(Space(k=Int(0, 3), c=Categorical(["p", "q", "r"])), name="grid",
                             optimum=Optimum(0.0, source="by construction"))

        def _evaluate(self, config, *, fidelity=None, ctx=None):
            return float((config["k"] - 2) ** 2 + (config["c"] != "q"))

    result, opt = run("coordinate-descent", Grid(), 40, seed=0)
    assert opt.restarts >= 1
    assert best(result) == 0.0
    # the first descent: start, the 3 other levels of k, the 2 other categories, then a
    # second sweep that finds everything in the cache and so restarts: 6 distinct configs
    configs = result.columns["config"]
    assert len(set(configs[:6])) == 6
    # restarts explore what the cache does not hold: all 12 configs are seen in 40 trials
    assert len(set(configs)) == 12


def test_line_search_on_a_wide_integer_lands_on_the_right_integer():
    class Wide(Problem):
        def __init__(self):
            super().__init__(Space(k=Int(0, 1000), x=Float(0.0, 1.0)), name="wide",
                             optimum=Optimum(0.0, source="by construction"))

        def _evaluate(self, config, *, fidelity=None, ctx=None):
            return float((config["k"] - 637) ** 2 + (config["x"] - 0.25) ** 2)

    result, _ = run("coordinate-descent", Wide(), 120, seed=2)
    assert best(result) < 4.0  # within 2 of 637 out of 1001 levels
    assert all(isinstance(k, int) for k in result.columns["param.k"])


def test_mixed_space_reaches_the_optimum_region():
    assert median_best("coordinate-descent", lambda s: MixedSphere(seed=s), 200) < 0.05


def test_parabola_vertex():
    ts, fs = [0.0, 1.0, 3.0], [4.0, 1.0, 1.0]  # (t - 2)^2 through t=0,1,3
    assert _parabola_vertex(ts, fs) == pytest.approx(2.0)
    assert _parabola_vertex([0.0, 1.0, 2.0], [0.0, 1.0, 0.0]) is None  # concave
    assert _parabola_vertex([0.0, 1.0], [1.0, 0.0]) is None
    assert _parabola_vertex([0.0, 1.0, 2.0], [1.0, math.inf, 0.0]) is None


@pytest.mark.parametrize(("key", "value"), [("order", "spiral"), ("line_evals", 1),
                                            ("shrink", 1.5), ("step0", 0.0)])
def test_bad_settings_are_refused(key, value):
    with pytest.raises(ValueError, match=key):
        make_optimizer("coordinate-descent", ShiftedSphere(2).space, seed=0, budget=Budget(10),
                       **{key: value})


def test_ends_cleanly_on_a_budget_of_one():
    result, _ = run("coordinate-descent", ShiftedSphere(3), 1)
    assert result.n_trials == 1 and result.reason == "budget"
    assert np.isfinite(best(result))
