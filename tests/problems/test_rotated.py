"""Rotated synthetic variants (``<function>-<d>d-rot``): optimum value and location, no value
below the optimum, evaluation only on the published domain, seeded rotations, tags, and the
point of them — coordinate descent loses its edge. Batch = single evaluations and the
hypergradients of every ``-rot`` problem are checked with the other synthetic problems in
``test_synthetic.py`` (it parametrizes over every problem ``surfaces`` registers)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

import hpbench
from hpbench import Budget
from hpbench.cell import Cell
from hpbench.problems.synthetic import functions as sf
from hpbench.problems.synthetic.surfaces import SEPARABLE, SyntheticProblem
from hpbench.registry import entries

ROTATED = [(spec, f"{name}-rot", d) for spec in sf.SPECS.values() if spec.dims
           for name, d in sf.instance_names(spec)]
IDS = [name for _, name, _ in ROTATED]
SEEDS = (None, 1, 2, 3)


def _bounds(problem):
    return (np.array([p.low for p in problem.space.values()]),
            np.array([p.high for p in problem.space.values()]))


def _row(problem, config):
    return np.array([config[n] for n in problem.space.names])


def _recording(problem):
    """Make ``problem`` record every input its formula sees; return the list of inputs."""
    seen: list[np.ndarray] = []

    def formula(X, xp, inner=problem._formula):
        seen.append(np.array(X))
        return inner(X, xp)

    problem._formula = formula
    return seen


def test_every_scalable_function_has_a_rotated_variant_with_its_tags():
    table = entries("problem")
    assert len(ROTATED) == 21
    for spec, name, d in ROTATED:
        base = name.removesuffix("-rot")
        tags, base_tags = table[name].tags, table[base].tags
        assert {"rotated", "scalable", "multimodal", f"{d}d"} <= set(tags), name
        assert "separable" not in tags and "axis-aligned" not in tags, name
        assert "rotated" not in base_tags and "axis-aligned" in base_tags, base
        assert ("separable" in base_tags) == (spec.key in SEPARABLE), base
        assert "rotated" in table[name].description
    # separable means f(x) = Σ fᵢ(xᵢ): Rosenbrock chains its coordinates, Rastrigin does not
    assert "separable" in table["rastrigin-5d"].tags
    assert "separable" not in table["rosenbrock-5d"].tags


@pytest.mark.parametrize(("spec", "name", "d"), ROTATED, ids=IDS)
def test_optimum_value_at_the_recorded_location_inside_the_domain(spec, name, d):
    for seed in SEEDS:
        problem = hpbench.make_problem(name, seed=seed)
        unrotated = hpbench.make_problem(name.removesuffix("-rot"), seed=seed)
        opt = problem.optimum
        # the same value and place as the unrotated instance: it turns about its optimum
        assert opt.value == unrotated.optimum.value == spec.f_opt(d)
        assert opt.location == unrotated.optimum.location
        assert problem.space.contains(opt.location)
        assert abs(problem.evaluate(opt.location).true_value - opt.value) <= 1e-9
        assert abs(problem.evaluate_batch([opt.location])[0].true_value - opt.value) <= 1e-9


@pytest.mark.parametrize(("spec", "name", "d"), ROTATED, ids=IDS)
def test_no_value_falls_below_the_optimum_and_the_formula_stays_in_its_box(spec, name, d):
    for seed in SEEDS:
        problem = hpbench.make_problem(name, seed=seed)
        seen = _recording(problem)
        low, high = _bounds(problem)
        rng = np.random.default_rng(0 if seed is None else seed)
        centre = (_row(problem, problem.optimum.location) - low) / (high - low)
        U = rng.random((20_000, d))
        near = np.clip(centre + rng.normal(0, 1, (2000, d)) * rng.choice(
            [1e-6, 1e-3, 1e-2, 0.1], (2000, 1)), 0, 1)
        faces = rng.random((4000, d))
        faces[np.arange(4000), rng.integers(0, d, 4000)] = rng.integers(0, 2, 4000)
        faces[:500] = rng.integers(0, 2, (500, d))  # corners
        X = low + (high - low) * np.concatenate([U, near, faces])
        # the true values in one array pass (what evaluate_batch computes, without making
        # 26,000 configs), and a slice of them through the public path
        values = problem._values(X, np)
        configs = [dict(zip(problem.space.names, row)) for row in X[::26].tolist()]
        assert [r.true_value for r in problem.evaluate_batch(configs)] == \
            values[::26].tolist()
        assert values.min() >= problem.optimum.value - 1e-9, (name, seed)
        inputs = np.concatenate(seen)
        assert np.all(inputs >= low) and np.all(inputs <= high), (name, seed)

        # a local search from the best sampled point cannot go below the optimum either
        def f(x, p=problem, lo=low, hi=high):
            return p.evaluate(dict(zip(p.space.names, np.clip(x, lo, hi).tolist()))).true_value

        res = minimize(f, X[int(values.argmin())], method="Nelder-Mead",
                       options={"maxfev": 200 * d})
        assert res.fun >= problem.optimum.value - 1e-9, (name, seed)


def test_rotation_is_seeded_orthogonal_and_reproducible():
    name = "rastrigin-5d-rot"
    rotations = []
    for seed in SEEDS:
        problem = hpbench.make_problem(name, seed=seed)
        R = problem.rotation
        np.testing.assert_allclose(R @ R.T, np.eye(5), atol=1e-12)
        assert np.linalg.det(R) == pytest.approx(1.0)
        assert not np.allclose(np.abs(R), np.eye(5), atol=0.05)  # not a near-permutation
        rotations.append(R)
        # same seed, same instance: same rotation and the same values
        twin = hpbench.make_problem(name, seed=seed)
        configs = problem.space.sample(np.random.default_rng(7), 50)
        np.testing.assert_array_equal(twin.rotation, R)
        assert [r.true_value for r in twin.evaluate_batch(configs)] == \
            [r.true_value for r in problem.evaluate_batch(configs)]
        assert twin.fingerprint() == problem.fingerprint()
        # and a different function from the unrotated instance of that seed
        flat = hpbench.make_problem(name.removesuffix("-rot"), seed=seed)
        assert problem.fingerprint() != flat.fingerprint()
    for i in range(len(rotations)):
        for j in range(i):
            assert not np.allclose(rotations[i], rotations[j]), (SEEDS[i], SEEDS[j])


@pytest.mark.parametrize("name", ["ackley-5d-rot", "michalewicz-10d-rot", "levy-2d-rot"])
def test_near_its_optimum_the_instance_is_the_formula_turned_about_it(name):
    """Where no fold is involved, f_rot(c + v) = f(x* + R v): the rotation is about c."""
    for seed in (None, 4):
        problem = hpbench.make_problem(name, seed=seed)
        spec, d = problem.spec, problem.d
        low, high = _bounds(problem)
        c = _row(problem, problem.optimum.location)
        x_opt = np.array(spec.x_opt(d))
        rng = np.random.default_rng(1)
        radius = 0.9 * min(np.min(x_opt - low), np.min(high - x_opt), np.min(c - low),
                           np.min(high - c))
        V = rng.normal(size=(200, d))
        V *= radius * rng.random((200, 1)) / np.linalg.norm(V, axis=1, keepdims=True)
        got = [r.true_value for r in problem.evaluate_batch(
            [dict(zip(problem.space.names, row.tolist())) for row in c + V])]
        want = spec.formula(x_opt + V @ problem.rotation.T, np)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_rotation_needs_continuous_coordinates():
    with pytest.raises(ValueError, match="rotated instance needs every coordinate continuous"):
        SyntheticProblem(sf.SPECS["ackley"], 5, rotate=True, integer=(3,))


def test_coordinate_descent_loses_its_edge_on_rotated_rastrigin():
    """Rotation is why the -rot variants exist: coordinate descent finds the axis-aligned
    Rastrigin's valleys one coordinate at a time, and cannot once they are turned."""
    def median_regret(problem: str) -> float:
        regrets = []
        for repeat in range(5):
            cell = Cell(problem, "coordinate-descent", Budget(80), repeat=repeat)
            result = cell.run()
            optimum = hpbench.make_problem(problem, seed=cell.problem_seed).optimum.value
            regrets.append(min(result.columns["true_value"]) - optimum)
        return float(np.median(regrets))

    flat, rotated = median_regret("rastrigin-5d"), median_regret("rastrigin-5d-rot")
    assert rotated > 1.3 * flat, (flat, rotated)
