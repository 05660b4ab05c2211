"""Synthetic problems: formulas, published optima, seeded shifts, noise, mixed variants,
hypergradients and the cost of one evaluation."""

from __future__ import annotations

import math
import time
import timeit

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

import hpbench
from hpbench import EvalContext, Float, Int
from hpbench.problems.synthetic import functions as sf
from hpbench.problems.synthetic.mixed import MixedHartmann6Cat
from hpbench.problems.synthetic.surfaces import MAX_SHIFT, Fold, SyntheticProblem, draw_shift
from hpbench.registry import entries
from hpbench.seeds import child_seed

SYNTHETIC = [n for n, e in entries("problem").items()
             if e.origin.startswith(("hpbench.problems.synthetic.surfaces.",
                                     "hpbench.problems.synthetic.mixed."))]
CONTINUOUS = [(spec, name, d) for spec in sf.SPECS.values()
              for name, d in sf.instance_names(spec)]


# ----------------------------------------------------------------- reference formulas
# Scalar, loop-based transcriptions of the published definitions, written independently of
# the vectorized formulas under test.

def ref_branin(x):
    b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (x[1] - b * x[0] ** 2 + c * x[0] - 6) ** 2 + 10 * (1 - t) * math.cos(x[0]) + 10


def ref_hartmann(x, A, P):
    alpha = [1.0, 1.2, 3.0, 3.2]
    return -sum(alpha[i] * math.exp(-sum(A[i][j] * (x[j] - P[i][j]) ** 2
                                         for j in range(len(x)))) for i in range(4))


H3_A = [[3, 10, 30], [0.1, 10, 35], [3, 10, 30], [0.1, 10, 35]]
H3_P = [[0.3689, 0.1170, 0.2673], [0.4699, 0.4387, 0.7470], [0.1091, 0.8732, 0.5547],
        [0.0381, 0.5743, 0.8828]]
H6_A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14]]
H6_P = [[0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
        [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
        [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
        [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381]]


def ref_rosenbrock(x):
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (x[i] - 1) ** 2 for i in range(len(x) - 1))


def ref_ackley(x):
    d = len(x)
    return (-20 * math.exp(-0.2 * math.sqrt(sum(v * v for v in x) / d))
            - math.exp(sum(math.cos(2 * math.pi * v) for v in x) / d) + 20 + math.e)


def ref_rastrigin(x):
    return 10 * len(x) + sum(v * v - 10 * math.cos(2 * math.pi * v) for v in x)


def ref_levy(x):
    w = [1 + (v - 1) / 4 for v in x]
    mid = sum((wi - 1) ** 2 * (1 + 10 * math.sin(math.pi * wi + 1) ** 2) for wi in w[:-1])
    return (math.sin(math.pi * w[0]) ** 2 + mid
            + (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2))


def ref_griewank(x):
    return (sum(v * v for v in x) / 4000
            - math.prod(math.cos(v / math.sqrt(i + 1)) for i, v in enumerate(x)) + 1)


def ref_styblinski_tang(x):
    return sum(v ** 4 - 16 * v ** 2 + 5 * v for v in x) / 2


def ref_camel(x):
    a, b = x
    return (4 - 2.1 * a ** 2 + a ** 4 / 3) * a ** 2 + a * b + (-4 + 4 * b ** 2) * b ** 2


def ref_goldstein_price(x):
    a, b = x
    return ((1 + (a + b + 1) ** 2 * (19 - 14 * a + 3 * a ** 2 - 14 * b + 6 * a * b + 3 * b ** 2))
            * (30 + (2 * a - 3 * b) ** 2 * (18 - 32 * a + 12 * a ** 2 + 48 * b - 36 * a * b
                                             + 27 * b ** 2)))


def ref_michalewicz(x):
    return -sum(math.sin(v) * math.sin((i + 1) * v * v / math.pi) ** 20 for i, v in enumerate(x))


REFERENCE = {
    "branin": ref_branin, "hartmann3": lambda x: ref_hartmann(x, H3_A, H3_P),
    "hartmann6": lambda x: ref_hartmann(x, H6_A, H6_P), "rosenbrock": ref_rosenbrock,
    "ackley": ref_ackley, "rastrigin": ref_rastrigin, "levy": ref_levy,
    "griewank": ref_griewank, "styblinski-tang": ref_styblinski_tang,
    "six-hump-camel": ref_camel, "goldstein-price": ref_goldstein_price,
    "michalewicz": ref_michalewicz,
}

# published optimum values (rounded as published) by registry name
PUBLISHED = {
    "branin": 0.397887, "hartmann3": -3.86278, "hartmann6": -3.32237,
    "six-hump-camel": -1.0316, "goldstein-price": 3.0, "michalewicz-2d": -1.8013,
    "michalewicz-5d": -4.687658, "michalewicz-10d": -9.66015,
    **{f"styblinski-tang-{d}d": -39.16599 * d for d in (2, 5, 10)},
    **{f"{k}-{d}d": 0.0 for k in ("rosenbrock", "ackley", "rastrigin", "levy", "griewank")
       for d in (2, 5, 10)},
}


def _f(key, x):
    return float(sf.SPECS[key].formula(np.array([x], dtype=float), np)[0])


# ----------------------------------------------------------------- formulas

@pytest.mark.parametrize(("key", "x", "expected"), [
    # 36 + 10 (1 - 1/(8π)) + 10
    ("branin", [0.0, 0.0], 56 - 10 / (8 * math.pi)),
    ("rosenbrock", [0.0, 0.0], 1.0),
    ("rosenbrock", [1.0, 2.0, 3.0], 100 * 1 + 0 + 100 * 1 + 1),
    # r = 1, mean cos = 1: 20 (1 - e^-0.2)
    ("ackley", [1.0, -1.0], 20 * (1 - math.exp(-0.2))),
    ("rastrigin", [1.0, 1.0], 20 + 2 * (1 - 10)),
    ("rastrigin", [0.5, 0.0], 20 + 0.25 + 10 - 10),
    # w = (0, 2): 0 + 1 (1 + 10 sin²1) + 1 (1 + sin²4π)
    ("levy", [-3.0, 5.0], 2 + 10 * math.sin(1) ** 2),
    ("griewank", [10.0, 0.0], 0.025 - math.cos(10) + 1),
    ("styblinski-tang", [1.0, 1.0], -10.0),
    ("six-hump-camel", [1.0, 1.0], 4 - 2.1 + 1 / 3 + 1),
    ("goldstein-price", [0.0, 0.0], 20 * 30),
    # i=1: sin(π/4)^20 = 2^-10, i=2: sin(π/2)^20 = 1
    ("michalewicz", [math.pi / 2, math.pi / 2], -(1 + 2 ** -10)),
    ("hartmann3", [0.114614, 0.555649, 0.852547], -3.86278),
    ("hartmann6", [0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573], -3.32237),
])
def test_formula_hand_computed(key, x, expected):
    assert _f(key, x) == pytest.approx(expected, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize(("spec", "name", "d"), CONTINUOUS, ids=[c[1] for c in CONTINUOUS])
def test_canonical_instance_is_the_published_function(spec, name, d):
    problem = hpbench.make_problem(name)
    configs = problem.space.sample(np.random.default_rng(4), 50)
    X = np.array([[c[f"x{i}"] for i in range(d)] for c in configs])
    direct = spec.formula(X, np)
    for config, row, v in zip(configs, X, direct):
        got = problem.evaluate(config).value
        assert got == v  # no shift, no fold: the formula itself, bit for bit
        assert got == pytest.approx(REFERENCE[spec.key](list(row)), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize(("spec", "name", "d"), CONTINUOUS, ids=[c[1] for c in CONTINUOUS])
def test_published_domain_and_optimum(spec, name, d):
    problem = hpbench.make_problem(name)
    assert list(problem.space) == [f"x{i}" for i in range(d)]
    assert all(isinstance(p, Float) for p in problem.space.values())
    assert [p.low for p in problem.space.values()] == spec.lower(d)
    assert [p.high for p in problem.space.values()] == spec.upper(d)
    opt = problem.optimum
    assert opt.kind == "exact" and opt.source
    published = PUBLISHED[name]
    assert abs(opt.value - published) <= max(1e-4, 1e-4 * abs(published))
    x_opt = [opt.location[f"x{i}"] for i in range(d)]
    assert _f(spec.key, x_opt) == pytest.approx(opt.value, rel=1e-12, abs=1e-12)
    # a local search from the stated location cannot improve on the stated value
    res = minimize(lambda x: _f(spec.key, x), x_opt, method="L-BFGS-B",
                   bounds=list(zip(spec.lower(d), spec.upper(d))))
    assert res.fun >= opt.value - 1e-9


def test_tags_names_and_descriptions():
    table = entries("problem")
    expected = {"branin", "hartmann3", "hartmann6", "six-hump-camel", "goldstein-price",
                "branin-noisy", "hartmann6-noisy", "ackley-5d-noisy", "rosenbrock-5d-noisy",
                "mixed-ackley-5d", "mixed-hartmann6-cat", "mixed-branin-camel-cond"}
    expected |= {f"{k}-{d}d" for k in ("rosenbrock", "ackley", "rastrigin", "levy", "griewank",
                                       "styblinski-tang", "michalewicz") for d in (2, 5, 10)}
    assert expected <= set(SYNTHETIC)
    for name in SYNTHETIC:
        tags = table[name].tags
        assert "synthetic" in tags and ("multimodal" in tags) != ("unimodal" in tags), tags
        assert "\n" not in table[name].description
        assert hpbench.make_problem(name).tags == tags
    assert "scalable" in table["ackley-5d"].tags and "5d" in table["ackley-5d"].tags
    assert "unimodal" in table["rosenbrock-2d"].tags
    assert "noisy" in table["branin-noisy"].tags


def test_scales_match_a_fresh_estimate():
    rng = np.random.default_rng(99)
    for spec, name, d in CONTINUOUS:
        low, high = np.array(spec.lower(d)), np.array(spec.upper(d))
        values = spec.formula(low + (high - low) * rng.random((20_000, d)), np)
        gap = np.median(values) - spec.f_opt(d)
        assert sf.SCALES[name] == pytest.approx(gap, rel=0.15), name


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="dimension"):
        SyntheticProblem(sf.SPECS["branin"], 3)
    with pytest.raises(ValueError, match="noise"):
        SyntheticProblem(sf.SPECS["branin"], 2, noise=-0.1)
    with pytest.raises(ValueError, match="integer optimum"):
        SyntheticProblem(sf.SPECS["michalewicz"], 2, integer=(0,))
    with pytest.raises(ValueError, match="no fidelity"):
        hpbench.make_problem("branin").evaluate({"x0": 0.0, "x1": 0.0}, fidelity=0.5)


@pytest.mark.parametrize("name", SYNTHETIC)
def test_batch_equals_single_evaluations_bit_for_bit(name):
    problem = hpbench.make_problem(name, seed=9)
    configs = problem.space.sample(np.random.default_rng(5), 25)
    batch = [r.true_value for r in problem.evaluate_batch(configs)]
    assert batch == [problem.evaluate(c).true_value for c in configs]


# ----------------------------------------------------------------- reflect and shift

def test_fold_maps_everything_into_the_box_and_is_the_identity_on_the_shifted_box():
    rng = np.random.default_rng(0)
    low = rng.uniform(-10, 0, 4)
    high = low + rng.uniform(0.5, 20, 4)
    width = high - low
    shift = rng.uniform(-0.2, 0.2, 4) * width
    fold = Fold(low, high, shift)
    X = rng.uniform(-5, 5, (5000, 4)) * width + low  # far outside too
    folded = fold(X, np)
    assert np.all(folded >= low) and np.all(folded <= high)
    inside = low + shift + rng.random((1000, 4)) * width
    np.testing.assert_allclose(fold(inside, np), inside - shift, atol=1e-12)
    # mirrored at the boundary: continuous, a step out comes back in by the same step
    for delta in (1e-3, 0.1):
        np.testing.assert_allclose(fold((low + shift - delta)[None], np)[0], low + delta,
                                   atol=1e-12)
        np.testing.assert_allclose(fold((high + shift + delta)[None], np)[0], high - delta,
                                   atol=1e-12)
    # the torch path is the same map, and the scalar fast path is the same bit for bit
    np.testing.assert_allclose(fold(torch.as_tensor(X), torch).numpy(), folded, atol=1e-12)
    assert [fold.row(x) for x in X.tolist()] == folded.tolist()


def test_fold_keeps_integers_integer():
    fold = Fold([-32.0], [32.0], [13.0])
    z = fold(np.arange(-32.0, 33.0)[:, None], np)[:, 0]
    assert np.all(z == np.round(z)) and z.min() >= -32 and z.max() <= 32
    # a bijection of the grid except where the fold overlaps itself
    assert len(set(z.tolist())) >= 65 - 13


def test_shift_is_bounded_and_keeps_the_optimum_inside():
    for seed in range(50):
        rng = np.random.default_rng(seed)
        low, high = np.array([-5.0, 0.0, -32.0]), np.array([10.0, 1.0, 32.0])
        x_opt = np.array([9.9, 0.05, 0.0])
        s = draw_shift(rng, x_opt, low, high, [False, False, True])
        assert np.all(np.abs(s) <= MAX_SHIFT * (high - low) + 1e-12)
        assert np.all(x_opt + s >= low) and np.all(x_opt + s <= high)
        assert s[2] == round(s[2])


@pytest.mark.parametrize("name", SYNTHETIC)
def test_seeded_instances_move_the_optimum_and_keep_its_value(name):
    canonical = hpbench.make_problem(name)
    locations = []
    for seed in (1, 2, 3):
        problem = hpbench.make_problem(name, seed=seed)
        opt = problem.optimum
        assert opt.value == canonical.optimum.value
        assert problem.evaluate(opt.location).true_value == pytest.approx(
            opt.value, rel=1e-9, abs=1e-9)
        locations.append(opt.location)
        assert opt.location != canonical.optimum.location
        # the seeded instance really is a different function
        config = problem.space.sample(np.random.default_rng(8))
        assert problem.evaluate(config).true_value != canonical.evaluate(config).true_value
    assert locations[0] != locations[1] != locations[2]


@pytest.mark.parametrize("name", ["michalewicz-5d", "styblinski-tang-2d", "branin",
                                  "mixed-ackley-5d"])
def test_seeded_instance_evaluates_the_formula_only_inside_its_box(name):
    """The shift must never take the published formula outside its published domain (where
    e.g. Michalewicz has lower values): points on and near the boundary are folded back."""
    for seed in range(1, 6):
        problem = hpbench.make_problem(name, seed=seed)
        seen = []

        def recording(X, xp, formula=problem._formula, seen=seen):
            seen.append(np.array(X))
            return formula(X, xp)

        problem._formula = recording
        d = len(problem.space)
        rng = np.random.default_rng(seed)
        U = rng.random((2000, d))
        U[:, :2] = rng.choice([0.0, 1.0, 1e-3, 1 - 1e-3], (2000, 2))
        configs = problem.space.from_unit_array(U)
        values = [r.true_value for r in problem.evaluate_batch(configs)]
        values += [problem.evaluate(c).true_value for c in configs[:200]]
        assert min(values) >= problem.optimum.value - 1e-9
        low = np.array([p.low for p in problem.space.values()])
        high = np.array([p.high for p in problem.space.values()])
        inputs = np.concatenate(seen)
        assert len(inputs) == 2200
        assert np.all(inputs >= low) and np.all(inputs <= high)


# ----------------------------------------------------------------- noise

@pytest.mark.parametrize("name", ["branin", "hartmann6", "ackley-5d", "rosenbrock-5d"])
def test_noisy_variant(name):
    noisy = hpbench.make_problem(f"{name}-noisy", seed=4)
    clean = hpbench.make_problem(name, seed=4)
    assert noisy.optimum == clean.optimum
    configs = noisy.space.sample(np.random.default_rng(0), 20)
    results = [noisy.evaluate(c) for c in configs]
    for config, r in zip(configs, results):
        assert r.true_value == clean.evaluate(config).value
        assert r.value != r.true_value
    # the same seed gives the same noise stream, another seed another one
    replay = hpbench.make_problem(f"{name}-noisy", seed=4)
    assert [replay.evaluate(c).value for c in configs] == [r.value for r in results]
    noise = [r.value - r.true_value for r in results]
    other = hpbench.make_problem(f"{name}-noisy", seed=5)
    assert [(r.value - r.true_value) for r in map(other.evaluate, configs)] != noise
    # the canonical instance (seed None) has noise too, from the stream of seed 0
    first = hpbench.make_problem(f"{name}-noisy").evaluate(configs[0])
    assert first.value != first.true_value


def test_noise_level_batch_stream_and_fingerprint():
    name, fraction = "hartmann6-noisy", 0.05
    problem = hpbench.make_problem(name, seed=1, noise=fraction)
    config = problem.space.sample(np.random.default_rng(0))
    draws = np.array([r.value - r.true_value for r in problem.evaluate_batch([config] * 4000)])
    expected = fraction * sf.SCALES["hartmann6"]
    assert problem.noise_std == pytest.approx(expected)
    assert draws.std() == pytest.approx(expected, rel=0.06)
    assert abs(draws.mean()) < 4 * expected / math.sqrt(len(draws))
    # a batch draws the same stream as one evaluation after another
    a, b = (hpbench.make_problem(name, seed=2) for _ in range(2))
    configs = a.space.sample(np.random.default_rng(1), 6)
    assert [r.value for r in a.evaluate_batch(configs)] == [b.evaluate(c).value for c in configs]
    # computing the fingerprint does not consume noise
    c, d = (hpbench.make_problem(name, seed=2) for _ in range(2))
    c.fingerprint()
    assert c.evaluate(configs[0]).value == d.evaluate(configs[0]).value
    # noise=0 is the clean problem
    quiet = hpbench.make_problem(name, seed=2, noise=0.0)
    assert quiet.evaluate(configs[0]).value == quiet.evaluate(configs[0]).true_value
    # the noise level is part of the fingerprint
    assert quiet.fingerprint() != hpbench.make_problem(name, seed=2).fingerprint()


# ----------------------------------------------------------------- mixed variants

def test_mixed_ackley_integer_grid_and_optimum():
    for seed in (None, 1, 2, 3, 4):
        problem = hpbench.make_problem("mixed-ackley-5d", seed=seed)
        space = problem.space
        assert [type(space[f"x{i}"]) for i in range(5)] == [Float] * 3 + [Int] * 2
        loc = problem.optimum.location
        assert isinstance(loc["x3"], int) and isinstance(loc["x4"], int)
        assert problem.optimum.value == 0.0
        assert problem.evaluate(loc).true_value == pytest.approx(0.0, abs=1e-12)
        # a neighbouring grid point is worse
        for step in (-1, 1):
            near = {**loc, "x3": loc["x3"] + step}
            if space.contains(near):
                assert problem.evaluate(near).true_value > 0.5
    shifted = {hpbench.make_problem("mixed-ackley-5d", seed=s).optimum.location["x3"]
               for s in range(1, 9)}
    assert len(shifted) > 2  # the seed moves the integer coordinates by whole steps


def test_mixed_hartmann6_cat_choices_and_optimum():
    f_star = sf.SPECS["hartmann6"].f_opt(6)
    bests = set()
    for seed in (None, *range(1, 9)):
        problem = MixedHartmann6Cat(seed=seed)
        loc = problem.optimum.location
        bests.add(loc["variant"])
        assert problem.evaluate(loc).true_value == pytest.approx(f_star, abs=1e-9)
        # every other choice at its own best point is exactly its offset worse
        k_best = MixedHartmann6Cat.CHOICES.index(loc["variant"])
        for k, choice in enumerate(MixedHartmann6Cat.CHOICES):
            # mirror the best choice's location into choice k's frame
            mirror = MixedHartmann6Cat.MIRRORS[k] != MixedHartmann6Cat.MIRRORS[k_best]
            y = np.array([loc[f"x{i}"] for i in range(6)])
            shift = np.zeros(6) if problem.shift is None else problem.shift
            inner = y - shift
            inner = np.where(mirror, 1 - inner, inner) + shift
            config = {**{f"x{i}": float(v) for i, v in enumerate(inner)}, "variant": choice}
            if problem.space.contains(config):
                assert problem.evaluate(config).true_value == pytest.approx(
                    f_star + problem.offsets[k], abs=1e-9)
            else:  # outside the box its image folds back; it can only be worse
                assert problem.offsets[k] > 0
    assert MixedHartmann6Cat().optimum.location["variant"] == "a"
    assert len(bests) > 1  # the seed permutes which choice is best


def test_mixed_branin_camel_conditional():
    camel = sf.SPECS["six-hump-camel"]
    for seed in (None, 1, 2):
        problem = hpbench.make_problem("mixed-branin-camel-cond", seed=seed)
        assert problem.space.is_conditional
        loc = problem.optimum.location
        assert set(loc) == {"model", "b0", "b1"}
        assert problem.evaluate(loc).true_value == pytest.approx(5 / (4 * math.pi), abs=1e-12)
        # the camel branch's best is its minimum plus the offset, above Branin's
        shift = np.zeros(4) if problem.shift is None else problem.shift
        c = np.array(camel.x_opt(2)) + shift[2:]
        best_camel = problem.evaluate({"model": "camel", "c0": c[0], "c1": c[1]}).true_value
        assert best_camel == pytest.approx(camel.f_opt(2) + 1.5, abs=1e-9)
        assert best_camel > problem.optimum.value
        # inactive parameters do not matter, whatever their placeholder
        config = {"model": "camel", "c0": 0.3, "c1": -0.2}
        batch = problem.evaluate_batch([config, {"model": "branin", "b0": 1.0, "b1": 2.0}])
        assert batch[0].true_value == problem.evaluate(config).true_value
        assert problem.evaluate(config, ctx=EvalContext(want_grad=True)).grad.keys() == \
            {"c0", "c1"}


# ----------------------------------------------------------------- hypergradient

@pytest.mark.parametrize("name", SYNTHETIC)
@pytest.mark.parametrize("seed", [None, 6])
def test_hypergradient_matches_central_differences(name, seed):
    problem = hpbench.make_problem(name, seed=seed)
    assert "hypergradient" in problem.capabilities
    space = problem.space
    rng = np.random.default_rng(0)
    h = 1e-6
    for _ in range(3):
        u = rng.uniform(0.05, 0.95, len(space))
        config = space.from_unit(u)
        grad = problem.evaluate(config, ctx=EvalContext(want_grad=True)).grad
        floats = [i for i, n in enumerate(space) if n in config
                  and isinstance(space[n], Float)]
        assert sorted(grad) == sorted(space.names[i] for i in floats)
        for i in floats:
            up, down = u.copy(), u.copy()
            up[i] += h
            down[i] -= h
            fd = (problem.evaluate(space.from_unit(up)).true_value
                  - problem.evaluate(space.from_unit(down)).true_value) / (2 * h)
            # truncation error ~h², round-off ~eps |f| / h: both far below these bounds
            scale = abs(problem.evaluate(config).true_value) + 1.0
            assert grad[space.names[i]] == pytest.approx(fd, rel=2e-5, abs=2e-7 * scale), \
                (name, space.names[i])


def test_hypergradient_is_finite_at_the_canonical_cube_centre():
    """Gradient methods often start at the centre, which is Ackley's optimum (sqrt at 0)."""
    problem = hpbench.make_problem("ackley-5d")
    centre = problem.space.from_unit(np.full(5, 0.5))
    grad = problem.evaluate(centre, ctx=EvalContext(want_grad=True)).grad
    assert all(math.isfinite(g) for g in grad.values())


def test_torch_and_numpy_formulas_agree():
    rng = np.random.default_rng(3)
    for spec, _, d in CONTINUOUS:
        low, high = np.array(spec.lower(d)), np.array(spec.upper(d))
        X = low + (high - low) * rng.random((64, d))
        np.testing.assert_allclose(spec.formula(torch.as_tensor(X), torch).numpy(),
                                   spec.formula(X, np), rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------- cost

def test_single_evaluation_is_cheap():
    """A loose guard against per-call object churn: the targets are 10 µs for branin and
    15 µs for hartmann6 (both measure ~6-9 µs); allow 3x for slower machines. CPU time of
    this thread, not wall time, so other processes on a shared machine do not count."""
    for name, limit_us in (("branin", 30), ("hartmann6", 45)):
        problem = hpbench.make_problem(name, seed=child_seed(0, name))
        config = problem.space.sample(np.random.default_rng(0))
        timer = timeit.Timer(lambda p=problem, c=config: p.evaluate(c), timer=time.thread_time)
        per_call = min(timer.repeat(number=2000, repeat=5)) / 2000
        assert per_call * 1e6 < limit_us, f"{name}: {per_call * 1e6:.1f} µs per evaluation"
