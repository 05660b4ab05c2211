"""gp-bo and the shared acquisition module: hand-computed acquisitions, gradients, the
encoding of mixed spaces, output warping, batches, and a short optimization run."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hpbench import Budget, Categorical, Float, Int, Space
from hpbench.cube import UnitCube
from hpbench.optimizer import Observation, Suggestion
from hpbench.optimizers.model_based import _acquisition as acq
from hpbench.optimizers.model_based.gp_bo import GPBO, MaternGP, WarpedMaternGP

# Φ and φ at ±0.5 and 1, from tables (Abramowitz & Stegun 26.1)
PHI_M05, PDF_05, PHI_05, PHI_1 = 0.3085375387259869, 0.3520653267642995, 0.6914624612740131, \
    0.8413447460685429


def tell(opt, configs, values):
    opt.tell([Observation(Suggestion(c), i, v, "ok" if math.isfinite(v) else "failed")
              for i, (c, v) in enumerate(zip(configs, values))])


# -- acquisition functions -------------------------------------------------------------------

def test_expected_improvement_hand_computed():
    ei = lambda mu, sd, best, xi=0.0: float(acq.expected_improvement(  # noqa: E731
        np.array([mu]), np.array([sd]), best, xi)[0][0])
    assert ei(0.0, 1.0, 0.0) == pytest.approx(1 / math.sqrt(2 * math.pi), rel=1e-12)
    # z = -0.5: 2 (-0.5 Φ(-0.5) + φ(-0.5))
    assert ei(1.0, 2.0, 0.0) == pytest.approx(2 * (-0.5 * PHI_M05 + PDF_05), rel=1e-12)
    # the margin xi shifts the target: z = (1 - 0.5 - 0) / 1 = 0.5
    assert ei(0.0, 1.0, 1.0, 0.5) == pytest.approx(0.5 * PHI_05 + PDF_05, rel=1e-12)


def test_pi_and_ucb_hand_computed():
    pi = acq.probability_of_improvement(np.array([0.0]), np.array([1.0]), 1.0)[0][0]
    assert pi == pytest.approx(PHI_1, rel=1e-12)
    ucb = acq.lower_confidence_bound(np.array([1.0, -2.0]), np.array([0.5, 3.0]), kappa=2.0)[0]
    np.testing.assert_allclose(ucb, [2 * 0.5 - 1.0, 2 * 3.0 + 2.0])


def test_log_ei_is_log_of_ei_and_stays_finite_where_ei_underflows():
    mu = np.linspace(-4.0, 6.0, 41)
    sigma = np.full_like(mu, 0.7)
    ei = acq.expected_improvement(mu, sigma, 0.0)[0]
    log_ei = acq.log_expected_improvement(mu, sigma, 0.0)[0]
    np.testing.assert_allclose(log_ei, np.log(ei), rtol=1e-9)
    # z = -50 and -1000: EI underflows to 0, log EI follows the asymptotic series
    # log φ(z) + log(1/z² - 3/z⁴ + 15/z⁶ - 105/z⁸)
    for z in (-50.0, -1000.0):
        assert acq.expected_improvement(np.array([-z]), np.array([1.0]), 0.0)[0][0] == 0.0
        got = acq.log_expected_improvement(np.array([-z]), np.array([1.0]), 0.0)[0][0]
        want = (-0.5 * z * z - 0.5 * math.log(2 * math.pi)
                + math.log(1 / z**2 - 3 / z**4 + 15 / z**6 - 105 / z**8))
        assert got == pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize("name", acq.ACQUISITIONS)
def test_acquisition_derivatives_match_finite_differences(name):
    mu = np.array([-1.0, 0.2, 0.9, 3.0, 30.0])
    sigma = np.array([0.3, 1.0, 0.5, 1.5, 0.5])
    _, dmu, dsd = acq.acquisition(name, mu, sigma, 0.1, xi=0.01, kappa=1.5)
    h = 1e-6
    f = lambda m, s: acq.acquisition(name, m, s, 0.1, xi=0.01, kappa=1.5)[0]  # noqa: E731
    np.testing.assert_allclose(dmu, (f(mu + h, sigma) - f(mu - h, sigma)) / (2 * h),
                               rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(dsd, (f(mu, sigma + h) - f(mu, sigma - h)) / (2 * h),
                               rtol=1e-5, atol=1e-9)


def test_unknown_acquisition_is_refused_by_name():
    with pytest.raises(ValueError, match="'eii'"):
        acq.acquisition("eii", np.zeros(1), np.ones(1), 0.0)
    with pytest.raises(ValueError, match="acquisition must be one of"):
        GPBO(Space(x=Float(0, 1)), seed=0, budget=10, acquisition="eii")


# -- the GP ----------------------------------------------------------------------------------

def _gp(rng, n=12, d=3):
    X = rng.random((n, d))
    y = np.sin(6 * X[:, 0]) + X[:, 1] ** 2 - X[:, 2]
    gp = MaternGP(np.arange(d), d)
    gp.fit(X, (y - y.mean()) / y.std(), [gp.default_theta()])
    return gp, X


def test_marginal_likelihood_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    gp, X = _gp(rng)
    D = gp._sqdist(X)
    y = rng.standard_normal(len(X))
    theta = np.array([0.3, -1.0, 0.2, -0.5, -4.0])
    _, grad = gp._neg_log_posterior(theta, D, y)
    h = 1e-6
    for i in range(len(theta)):
        e = np.zeros_like(theta)
        e[i] = h
        fd = (gp._neg_log_posterior(theta + e, D, y)[0]
              - gp._neg_log_posterior(theta - e, D, y)[0]) / (2 * h)
        assert grad[i] == pytest.approx(fd, rel=1e-4, abs=1e-6)


def test_predictive_gradients_match_finite_differences():
    rng = np.random.default_rng(1)
    gp, _ = _gp(rng)
    Xs = rng.random((4, 3))
    _, _, dmu, dsd = gp.predict(Xs, grad=True)
    h = 1e-6
    for c in range(3):
        e = np.zeros(3)
        e[c] = h
        mp, sp = gp.predict(Xs + e)
        mm, sm = gp.predict(Xs - e)
        np.testing.assert_allclose(dmu[:, c], (mp - mm) / (2 * h), rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(dsd[:, c], (sp - sm) / (2 * h), rtol=1e-4, atol=1e-7)


def test_gp_interpolates_and_is_uncertain_far_away():
    rng = np.random.default_rng(2)
    gp, X = _gp(rng, n=20)
    mu, sd = gp.predict(X)
    np.testing.assert_allclose(mu, gp.y, atol=0.1)
    assert sd.max() < 0.2
    assert gp.predict(np.array([[3.0, 3.0, 3.0]]))[1][0] > 0.8 * math.exp(gp.theta[0] / 2)


# -- mixed spaces ----------------------------------------------------------------------------

MIXED = Space(
    x=Float(0.0, 1.0),
    lr=Float(1e-4, 1.0, log=True),
    n=Int(1, 5),
    width=Int(1, 300, log=True),
    kind=Categorical(["a", "b", "c"]),
    extra=Float(0.0, 1.0, condition=("kind", ["b", "c"])),
)


def test_canonical_points_agree_with_the_space_and_are_idempotent():
    cube = UnitCube(MIXED)
    U = np.random.default_rng(3).random((500, len(MIXED)))
    S = cube.canonical(U)
    for u, s in zip(U, S):
        assert MIXED.from_unit(u) == MIXED.from_unit(s)  # same config
        np.testing.assert_allclose(MIXED.to_unit(MIXED.from_unit(u)), s)  # canonical row
    np.testing.assert_array_equal(cube.canonical(S), S)


def test_categoricals_are_one_hot_and_share_one_lengthscale():
    cube = UnitCube(MIXED)
    configs = [{"x": 0.5, "lr": 0.01, "n": 2, "width": 10, "kind": k, **extra}
               for k, extra in (("a", {}), ("b", {"extra": 0.2}), ("c", {"extra": 0.7}))]
    X = cube.encode(cube.from_configs(configs))
    assert X.shape == (3, 4 + 3 + 1)  # 4 numbers, 3 one-hot columns, extra
    onehot = X[:, cube.feature_dim == 4]
    np.testing.assert_array_equal(onehot, np.eye(3))
    # inactive 'extra' (kind a) sits at the neutral value, active ones keep their coordinate
    np.testing.assert_allclose(X[:, cube.feature_dim == 5].ravel(), [0.5, 0.2, 0.7])
    gp = MaternGP(cube.feature_dim, cube.d)
    assert len(gp.theta) == len(MIXED) + 2  # one lengthscale per parameter, not per column


def test_finds_the_best_category_and_snaps_integers():
    space = Space(x=Float(-1.0, 1.0), k=Int(0, 6), kind=Categorical(["a", "b", "c", "d"]))

    def f(c):
        return (c["x"] - 0.3) ** 2 + 0.1 * (c["k"] - 4) ** 2 + {"a": 1, "b": 0, "c": 2,
                                                               "d": 1.5}[c["kind"]]

    opt = GPBO(space, seed=0, budget=Budget(30))
    seen = []
    for t in range(30):
        c = opt.ask(1)[0]
        assert space.contains(c) and isinstance(c["k"], int)
        seen.append((f(c), c))
        opt.tell([Observation(Suggestion(c), t, seen[-1][0], "ok")])
    best = min(seen, key=lambda s: s[0])[1]
    assert best["kind"] == "b" and best["k"] == 4 and abs(best["x"] - 0.3) < 0.1


# -- outputs ---------------------------------------------------------------------------------

def test_log_warp_triggers_only_for_positive_heavy_tailed_outputs():
    rng = np.random.default_rng(4)
    heavy = np.exp(rng.normal(0.0, 2.0, 50))
    assert acq.is_heavy_tailed(heavy)
    assert not acq.is_heavy_tailed(heavy - heavy.mean())  # has negatives
    assert not acq.is_heavy_tailed(rng.normal(10.0, 1.0, 50))  # symmetric
    # right-skewed (skewness 0.75), but the warp skews it the other way more (-1.31)
    assert not acq.is_heavy_tailed(np.array([1.0, 2.0, 2.1, 2.2, 2.3, 4.0]))
    y, warped = acq.model_outputs(heavy)
    assert warped
    # log(y - min + δ), δ a tenth of (median - min), then standardized
    w = np.log(heavy - heavy.min() + 0.1 * (np.median(heavy) - heavy.min()))
    np.testing.assert_allclose(y, (w - w.mean()) / w.std())
    assert not acq.model_outputs(heavy, warp=False)[1]


def test_log_warp_keeps_a_zero_minimum_smooth():
    # a plain log maps a quadratic bowl r² to 2 log r, a cusp at r = 0; the shifted warp
    # stays finite and flat at the bottom
    r = np.linspace(-1.0, 1.0, 201)
    w = acq.log_warp(r**2)
    assert np.all(np.isfinite(w))
    assert w[100] == pytest.approx(math.log(0.1 * np.median(r**2)))
    # flatter at the bottom than in the tail (a plain log would be steepest at the bottom)
    assert abs(w[101] - w[100]) < abs(w[200] - w[199])


def test_gp_bo_warps_branin_like_outputs():
    space = Space(x=Float(-5.0, 10.0), y=Float(0.0, 15.0))

    def branin(c):
        x1, x2 = c["x"], c["y"]
        return ((x2 - 5.1 / (4 * math.pi**2) * x1**2 + 5 / math.pi * x1 - 6) ** 2
                + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10)

    opt = GPBO(space, seed=1, budget=Budget(20), n_init=12)
    configs = opt.ask(12)
    values = [branin(c) for c in configs]
    tell(opt, configs, values)
    assert not opt.warped
    opt.ask(1)  # the first model fit decides
    assert acq.is_heavy_tailed(np.array(values)) and opt.warped
    # the same optimizer on the shifted, symmetric-ish -branin does not warp
    opt = GPBO(space, seed=1, budget=Budget(20), n_init=12)
    configs = opt.ask(12)
    tell(opt, configs, [-branin(c) for c in configs])
    opt.ask(1)
    assert not opt.warped


def test_failed_trials_take_the_worst_value():
    y, _ = acq.model_outputs(np.array([1.0, math.nan, 3.0, 2.0]), warp=False)
    assert y[1] == y[2] == y.max()
    assert np.all(acq.model_outputs(np.array([math.nan, math.nan]))[0] == 0.0)


def test_survives_only_failures_with_random_points():
    space = Space(x=Float(0.0, 1.0), y=Float(0.0, 1.0))
    opt = GPBO(space, seed=2, budget=Budget(20), n_init=2)
    configs = opt.ask(2)
    tell(opt, configs, [math.nan, math.nan])
    more = opt.ask(3)
    assert len(more) == 3 and all(space.contains(c) for c in more)


# -- batches and the search ------------------------------------------------------------------

@pytest.mark.parametrize("strategy", ["kriging-believer", "cl-min", "cl-max", "cl-mean"])
def test_batch_suggestions_are_distinct_and_new(strategy):
    space = Space(x=Float(0.0, 1.0), y=Float(0.0, 1.0))
    opt = GPBO(space, seed=3, budget=Budget(30), n_init=6, batch_strategy=strategy)
    configs = opt.ask(6)
    tell(opt, configs, [(c["x"] - 0.2) ** 2 + (c["y"] - 0.7) ** 2 for c in configs])
    batch = opt.ask(5)
    keys = {tuple(sorted(c.items())) for c in batch}
    assert len(keys) == 5
    assert not keys & {tuple(sorted(c.items())) for c in configs}
    # the believed points spread the batch out instead of stacking it on one maximum
    U = np.array([[c["x"], c["y"]] for c in batch])
    gaps = np.sqrt(((U[:, None] - U[None]) ** 2).sum(-1))[np.triu_indices(5, 1)]
    assert gaps.min() > 1e-3


def test_batch_on_a_tiny_discrete_space_does_not_repeat_while_it_can():
    space = Space(k=Int(0, 3), kind=Categorical(["a", "b"]))
    opt = GPBO(space, seed=4, budget=Budget(8), n_init=3)
    first = opt.ask(3)
    tell(opt, first, [float(c["k"]) for c in first])
    rest = opt.ask(5)
    keys = [tuple(sorted(c.items())) for c in first + rest]
    assert len(set(keys)) == 8  # exactly the whole space


def test_finds_the_optimum_region_of_a_2d_function_quickly():
    space = Space(x=Float(-2.0, 2.0), y=Float(-2.0, 2.0))

    def f(c):  # a rotated, stretched bowl with its minimum 0 at (0.5, -0.75)
        dx, dy = c["x"] - 0.5, c["y"] + 0.75
        return dx**2 + 3 * dy**2 + 1.5 * dx * dy

    best = []
    for seed in range(3):
        opt = GPBO(space, seed=seed, budget=Budget(25))
        values = []
        for t in range(25):
            c = opt.ask(1)[0]
            values.append(f(c))
            opt.tell([Observation(Suggestion(c), t, values[-1], "ok")])
        best.append(min(values))
    assert max(best) < 5e-3, best


def test_same_seed_same_suggestions_different_seed_different():
    space = Space(x=Float(0.0, 1.0), k=Int(1, 9), kind=Categorical(["a", "b"]))

    def run(seed):
        opt = GPBO(space, seed=seed, budget=Budget(12))
        out = []
        for t in range(12):
            c = opt.ask(1)[0]
            out.append(c)
            opt.tell([Observation(Suggestion(c), t, c["x"] + c["k"] / 9, "ok")])
        return out

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_maximize_finds_the_peak_of_a_smooth_function():
    cube = UnitCube(Space(a=Float(0, 1), b=Float(0, 1), c=Categorical(["p", "q", "r"])))
    peak = np.array([0.37, 0.81])

    def f(U):
        return -((U[:, :2] - peak) ** 2).sum(1) - (cube.bin_of(2, U[:, 2]) != 1)

    def fg(U):
        g = np.zeros_like(U)
        g[:, :2] = -2 * (U[:, :2] - peak)
        return f(U), g

    rng = np.random.default_rng(6)
    U, scores = acq.maximize(f, cube, rng, incumbents=np.empty((0, 3)), known=np.empty((0, 3)),
                             fg=fg, n_candidates=64, n_starts=4)
    np.testing.assert_allclose(U[0, :2], peak, atol=1e-5)
    assert cube.bin_of(2, U[:1, 2])[0] == 1
    assert np.all(np.diff(scores) <= 0)


def test_warm_started_fits_cost_fewer_likelihood_evaluations(monkeypatch):
    """Issue 33: refitting the hyperparameters from the previous fit (and from the prior's
    median only every ``restart_every``-th fit) needs far fewer likelihood evaluations than
    two starts on every ask, and still finds the minimum of a smooth function."""
    calls = []
    original = MaternGP._neg_log_posterior

    def counted(self, theta, D, y):
        calls.append(len(y))
        return original(self, theta, D, y)

    monkeypatch.setattr(MaternGP, "_neg_log_posterior", counted)
    space = Space(a=Float(0, 1), b=Float(0, 1), c=Float(0, 1))

    def run(**settings):
        calls.clear()
        opt = GPBO(space, seed=3, budget=Budget(40), **settings)
        best = math.inf
        for t in range(40):
            c = opt.ask(1)[0]
            v = (c["a"] - 0.3) ** 2 + (c["b"] - 0.6) ** 2 + 0.5 * (c["c"] - 0.2) ** 2
            best = min(best, v)
            opt.tell([Observation(Suggestion(c), t, v, "ok")])
        return len(calls), best

    every_ask, best_every = run(restart_every=1)
    warm, best_warm = run()
    assert warm < 0.6 * every_ask, (warm, every_ask)
    assert best_warm < 1e-3 and best_every < 1e-3, (best_warm, best_every)


# -- trust region (TuRBO-1) and ε-greedy settings (issue 33) --------------------------------

def _run(space, f, n, **settings):
    opt = GPBO(space, seed=3, budget=Budget(n), **settings)
    out = []
    for t in range(n):
        c = opt.ask(1)[0]
        out.append(c)
        opt.tell([Observation(Suggestion(c), t, f(c), "ok")])
    return opt, out


@pytest.mark.parametrize("settings", [{"trust_region": True}, {"epsilon": 0.3},
                                      {"input_warp": True}])
def test_trust_region_and_epsilon_keep_the_seed_contract(settings):
    space = Space(x=Float(0.0, 1.0), k=Int(1, 9), kind=Categorical(["a", "b"]))

    def f(c):
        return (c["x"] - 0.3) ** 2 + c["k"] / 9 + (c["kind"] == "b")

    assert _run(space, f, 14, **settings)[1] == _run(space, f, 14, **settings)[1]
    assert _run(space, f, 14, **settings)[1] != _run(space, f, 14)[1]


def test_trust_region_shrinks_around_the_incumbent_then_restarts():
    # nothing ever improves on the first point: the region halves after every 4 failures
    # (max(4, d)) from 0.8 to below 0.5**7, 28 failures, then restarts with a Sobol design
    space = Space(x=Float(0.0, 1.0), y=Float(0.0, 1.0))
    first = {}

    def f(c):
        first.setdefault("c", c)
        return 0.0 if c == first["c"] else 1.0 + c["x"]

    opt, out = _run(space, f, 40, trust_region=True, n_init=5)
    centre = np.array([first["c"]["x"], first["c"]["y"]])
    step = [float(np.max(np.abs(np.array([c["x"], c["y"]]) - centre))) for c in out]
    assert max(step[26:33]) < 0.05, step  # region of side <= 0.8 / 2**5 (weighted)
    assert opt._tr_from == 33 and max(step[33:38]) > 0.2, step  # fresh design, data forgotten


def test_epsilon_outside_unit_interval_is_refused_by_name():
    with pytest.raises(ValueError, match="epsilon must be in \\[0, 1\\]"):
        GPBO(Space(x=Float(0.0, 1.0)), seed=0, budget=Budget(10), epsilon=1.5)


def test_input_warping_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    X = rng.random((15, 3))
    y = np.sin(3 * X).sum(axis=1)
    y = (y - y.mean()) / y.std()
    gp = WarpedMaternGP(np.arange(3), 3, np.array([0, 2]))  # column 1 is not warped
    v = np.concatenate([[0.2], np.log([0.3, 0.5, 0.7]), [math.log(1e-2)], [0.3, -0.4, 0.5, 0.2]])
    g = gp._warped_nlp(v, X, y)[1]
    num = [(gp._warped_nlp(v + h, X, y)[0] - gp._warped_nlp(v - h, X, y)[0]) / 2e-6
           for h in np.eye(len(v)) * 1e-6]
    np.testing.assert_allclose(g, num, atol=1e-5)
    gp.fit(X, y, [gp.default_theta()])
    assert np.any(gp.kw != 0.0)  # the warping was fitted, not left at the identity
    Xs = rng.random((4, 3))
    _, _, dmu, dsd = gp.predict(Xs, grad=True)
    for c in range(3):
        h = 1e-6 * np.eye(3)[c]
        up, down = gp.predict(Xs + h), gp.predict(Xs - h)
        np.testing.assert_allclose(dmu[:, c], (up[0] - down[0]) / 2e-6, atol=1e-5)
        np.testing.assert_allclose(dsd[:, c], (up[1] - down[1]) / 2e-6, atol=1e-5)
