"""tpe: the good/bad split, the Parzen estimators (hand-computed bandwidths and
probabilities, normalization), log/int/categorical parameters, conditional parameters,
failed trials, and a short optimization run."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hpbench import Budget, Categorical, Float, Int, Space
from hpbench.optimizer import Observation, Suggestion
from hpbench.optimizers.model_based.tpe import (
    TPE,
    CategoricalParzen,
    NumericParzen,
    n_good,
    recency_weights,
)


def tell(opt, configs, values):
    opt.tell([Observation(Suggestion(c), i, v, "ok" if math.isfinite(v) else "failed")
              for i, (c, v) in enumerate(zip(configs, values))])


def run(opt, f, n):
    configs, values = [], []
    for t in range(n):
        c = opt.ask(1)[0]
        configs.append(c)
        values.append(f(c))
        opt.tell([Observation(Suggestion(c), t, values[-1],
                              "ok" if math.isfinite(values[-1]) else "failed")])
    return configs, values


# -- the split -------------------------------------------------------------------------------

@pytest.mark.parametrize(("gamma", "n", "want"), [(0.25, 40, 10), (0.1, 40, 4), (0.1, 41, 5),
                                                  (0.5, 200, 25), (1.0, 7, 7)])
def test_split_honours_gamma_and_its_cap(gamma, n, want):
    space = Space(x=Float(0.0, 1.0))
    opt = TPE(space, seed=0, budget=Budget(300), gamma=gamma, max_good=25)
    rng = np.random.default_rng(n)
    values = rng.permutation(n).astype(float)
    tell(opt, space.sample(rng, n), list(values))
    good, bad = opt.split()
    assert len(good) == want == n_good(n, gamma, 25)
    assert len(bad) == n - want
    assert set(good) == set(np.argsort(values)[:want])  # the lowest values are the good ones


def test_failed_trials_rank_last():
    space = Space(x=Float(0.0, 1.0))
    opt = TPE(space, seed=0, budget=Budget(30), gamma=0.5)
    tell(opt, space.sample(np.random.default_rng(1), 4), [math.nan, 3.0, math.nan, 1.0])
    good, bad = opt.split()
    assert list(good) == [1, 3] and list(bad) == [0, 2]


# -- the estimators --------------------------------------------------------------------------

def test_bandwidths_hand_computed():
    # sorted gaps with the ends 0, 1: left (0.2, 0.3, 0.1), right (0.3, 0.1, 0.4); the larger
    # of each (0.3, 0.3, 0.4), the outer points take their inner gap (0.3, ., 0.1), then the
    # floor 1 / min(100, n + 2) = 0.2
    sig = NumericParzen.bandwidths(np.array([0.6, 0.2, 0.5]))
    np.testing.assert_allclose(sig, [0.2, 0.3, 0.3])
    np.testing.assert_allclose(NumericParzen.bandwidths(np.array([0.6, 0.2, 0.5]), False),
                               [0.1, 0.3, 0.3])


def test_numeric_parzen_is_a_density_on_the_unit_interval():
    est = NumericParzen(np.array([0.05, 0.3, 0.32, 0.9]), np.array([1.0, 1.0, 2.0, 1.0]))
    x = np.linspace(0.0, 1.0, 20001)
    pdf = np.exp(est.log_pdf(x))
    assert np.trapezoid(pdf, x) == pytest.approx(1.0, abs=1e-6)
    edges = np.linspace(0.0, 1.0, 8)
    mass = np.exp(est.log_mass(edges[:-1], edges[1:]))
    assert mass.sum() == pytest.approx(1.0, abs=1e-9)
    samples = est.sample(np.random.default_rng(2), 40000)
    assert samples.min() >= 0.0 and samples.max() <= 1.0
    hist = np.histogram(samples, bins=edges)[0] / len(samples)
    np.testing.assert_allclose(hist, mass, atol=0.01)


def test_categorical_parzen_hand_computed():
    # two observations of level 0 and one of level 2 among k = 3, prior weight 1: each row is
    # 1 + 1/4 on its level and 1/4 (prior weight over n + 1 = 4 kernels) elsewhere, over 1.75;
    # the prior row is uniform
    est = CategoricalParzen(np.array([0, 0, 2]), np.ones(3), 3, prior_weight=1.0)
    row0 = np.array([1.25, 0.25, 0.25]) / 1.75
    row2 = np.array([0.25, 0.25, 1.25]) / 1.75
    want = (2 * row0 + row2 + np.full(3, 1 / 3)) / 4
    np.testing.assert_allclose(np.exp(est.log_prob(np.arange(3))), want)


def test_recency_weights_ramp_older_trials():
    w = recency_weights(30, flat=25)
    assert np.all(w[-25:] == 1.0)
    assert w[0] == pytest.approx(1 / 30) and np.all(np.diff(w) >= 0)
    np.testing.assert_array_equal(recency_weights(10), np.ones(10))


# -- parameter kinds and conditions ----------------------------------------------------------

def test_log_int_and_categorical_parameters_concentrate_on_the_good_values():
    space = Space(lr=Float(1e-5, 1.0, log=True), layers=Int(1, 8),
                  width=Int(4, 1024, log=True), act=Categorical(["relu", "tanh", "gelu"]))

    def f(c):
        return ((math.log10(c["lr"]) + 3) ** 2 + 0.5 * (c["layers"] - 3) ** 2
                + (math.log2(c["width"]) - 6) ** 2 / 4
                + {"relu": 1, "tanh": 2, "gelu": 0}[c["act"]])

    configs, _ = run(TPE(space, seed=1, budget=Budget(80)), f, 80)
    assert all(space.contains(c) for c in configs)
    assert all(isinstance(c["layers"], int) and isinstance(c["width"], int) for c in configs)
    early, late = configs[:10], configs[40:]

    def spread(cs, key):
        return np.median([key(c) for c in cs])

    lr = lambda c: abs(math.log10(c["lr"]) + 3)  # noqa: E731
    assert spread(late, lr) < spread(early, lr) / 2
    assert sum(c["act"] == "gelu" for c in late) > 0.6 * len(late)
    assert sum(c["layers"] == 3 for c in late) > 0.4 * len(late)
    assert spread(late, lambda c: abs(math.log2(c["width"]) - 6)) <= 1.5


def test_conditional_parameter_uses_only_trials_where_it_was_active():
    space = Space(kind=Categorical(["a", "b"]), extra=Float(0.0, 1.0, condition=("kind", ["b"])))
    opt = TPE(space, seed=2, budget=Budget(40), n_startup=0, gamma=0.5)
    configs = [{"kind": "a"}, {"kind": "b", "extra": 0.25}, {"kind": "a"},
               {"kind": "b", "extra": 0.75}, {"kind": "b", "extra": 0.5}, {"kind": "a"}]
    tell(opt, configs, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    good, bad = opt.split()
    assert list(good) == [0, 1, 2]
    l_est, g_est = opt._estimator(1, good), opt._estimator(1, bad)
    # one kernel per active trial plus the prior: good has trial 1, bad has trials 3 and 4
    np.testing.assert_allclose(l_est.mu, [0.25, 0.5])
    np.testing.assert_allclose(g_est.mu, [0.75, 0.5, 0.5])
    for c in opt.ask(20):
        assert space.contains(c)
        assert ("extra" in c) == (c["kind"] == "b")


def test_conditional_space_is_optimized():
    space = Space(kind=Categorical(["a", "b", "c"]), x=Float(0.0, 1.0),
                  extra=Float(0.0, 1.0, condition=("kind", ["b"])))

    def f(c):
        return {"a": 1.0, "b": 0.0, "c": 2.0}[c["kind"]] + (c["x"] - 0.4) ** 2 \
            + (c.get("extra", 0.0) - 0.8) ** 2

    configs, values = run(TPE(space, seed=3, budget=Budget(60)), f, 60)
    assert sum(c["kind"] == "b" for c in configs[30:]) > 18
    assert min(values) < 0.05


def test_finds_the_optimum_region_of_a_2d_function_quickly():
    space = Space(x=Float(-2.0, 2.0), y=Float(-2.0, 2.0))

    def f(c):
        return (c["x"] - 0.5) ** 2 + 3 * (c["y"] + 0.75) ** 2

    tpe = [min(run(TPE(space, seed=s, budget=Budget(60)), f, 60)[1]) for s in range(4)]
    rand = [min(f(c) for c in space.sample(np.random.default_rng(s), 60)) for s in range(4)]
    assert max(tpe) < 0.05, tpe
    assert np.median(tpe) < np.median(rand) / 3, (tpe, rand)


def test_survives_failed_trials_and_avoids_them():
    space = Space(x=Float(0.0, 1.0))

    def f(c):
        return math.nan if c["x"] < 0.5 else (c["x"] - 0.7) ** 2

    _, values = run(TPE(space, seed=4, budget=Budget(60)), f, 60)
    assert sum(math.isnan(v) for v in values[30:]) < sum(math.isnan(v) for v in values[:30])


def test_same_seed_same_suggestions_different_seed_different():
    space = Space(x=Float(0.0, 1.0), k=Int(1, 9), kind=Categorical(["a", "b"]))

    def f(c):
        return c["x"] + c["k"] / 9 + (c["kind"] == "a")

    assert run(TPE(space, seed=5, budget=Budget(30)), f, 30)[0] == \
        run(TPE(space, seed=5, budget=Budget(30)), f, 30)[0]
    assert run(TPE(space, seed=5, budget=Budget(30)), f, 30)[0] != \
        run(TPE(space, seed=6, budget=Budget(30)), f, 30)[0]


def test_settings_are_validated():
    with pytest.raises(ValueError, match="gamma must be in"):
        TPE(Space(x=Float(0, 1)), seed=0, budget=10, gamma=0.0)
