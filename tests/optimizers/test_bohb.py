"""BOHB (Falkner et al. 2018): the KDE, its bandwidths, good-region proposals, discrete
dimensions, the model's fidelity, and a run on a multi-fidelity problem."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad

import hpbench
from hpbench import Budget, Categorical, Fidelity, Float, Int, Observation, Space, Suggestion
from hpbench.optimizers.multifidelity.bohb import BOHB, ProductKDE
from hpbench.runner import run_loop
from tests.optimizers.mf_toy import EpochProblem

FID = Fidelity(1, 27, integer=True)


def _bohb(space, **settings):
    return BOHB(space, seed=0, budget=Budget(100), fidelity=FID, **settings)


def _feed(opt, configs, values, fidelity):
    obs = [Observation(Suggestion(c, fidelity=fidelity), i, v, "ok", 0.0)
           for i, (c, v) in enumerate(zip(configs, values))]
    opt._observe(obs)


def test_kde_bandwidth_is_the_normal_reference_rule_and_density_integrates_to_one():
    rng = np.random.default_rng(0)
    data = rng.random((30, 2))
    kde = ProductKDE(data, np.array([0, 0]), 1e-3)
    expected = 1.06 * data.std(axis=0) * 30 ** (-1 / 6)
    np.testing.assert_allclose(kde.bw, expected)
    one = ProductKDE(data[:, :1], np.array([0]), 1e-3)
    total, _ = quad(lambda x: math.exp(one.logpdf(np.array([[x]]))[0]), -3, 4, limit=200)
    assert total == pytest.approx(1.0, abs=1e-6)
    # a category's probabilities sum to one (Aitchison–Aitken kernel)
    cat = ProductKDE(np.array([[0.0]] * 9 + [[2.0]]), np.array([3]), 1e-3)
    assert cat.bw[0] < 2 / 3  # below the uniform kernel
    probs = np.exp(cat.logpdf(np.array([[0.0], [1.0], [2.0]])))
    assert probs.sum() == pytest.approx(1.0)
    assert probs[0] > probs[2] > probs[1]


def test_min_bandwidth_keeps_identical_points_from_collapsing():
    kde = ProductKDE(np.full((5, 1), 0.4), np.array([0]), 1e-3)
    assert kde.bw[0] == pytest.approx(1e-3)
    assert np.all(np.isfinite(kde.logpdf(np.array([[0.4], [0.9]]))))


def test_proposals_concentrate_in_the_good_region():
    space = Space(x=Float(0.0, 1.0), y=Float(-5.0, 5.0))
    opt = _bohb(space)
    rng = np.random.default_rng(1)
    configs = space.sample(rng, 60)
    target = np.array([0.2, 0.8])  # unit-cube location of the good region
    values = [float(np.sum((space.to_unit(c) - target) ** 2)) for c in configs]
    _feed(opt, configs, values, 27)
    good, bad = opt.model()
    proposals = np.array([space.to_unit(opt.propose(good, bad)) for _ in range(40)])
    randoms = np.array([space.to_unit(c) for c in space.sample(rng, 40)])
    d_prop = np.median(np.linalg.norm(proposals - target, axis=1))
    d_rand = np.median(np.linalg.norm(randoms - target, axis=1))
    assert d_prop < d_rand / 2


def test_discrete_dimensions_are_modelled():
    space = Space(kind=Categorical(["a", "b", "c", "d"]), n=Int(1, 10), x=Float(0.0, 1.0))
    opt = _bohb(space)
    rng = np.random.default_rng(2)
    configs = space.sample(rng, 150)
    values = [(0.0 if c["kind"] == "c" else 1.0) + abs(c["n"] - 7) / 3 + c["x"] / 10
              for c in configs]
    _feed(opt, configs, values, 27)
    kdes = opt.model()
    assert kdes is not None
    proposals = [opt.propose(*kdes) for _ in range(60)]
    for p in proposals:
        space.validate(p)
    assert np.mean([p["kind"] == "c" for p in proposals]) > 0.7
    # uniform integers are 2.7 away from 7 on average; BOHB's widened bandwidth
    # (bandwidth_factor 3) keeps its proposals spread, but closer
    assert np.mean([abs(p["n"] - 7) for p in proposals]) < 2.0


def test_model_uses_the_largest_fidelity_with_enough_points():
    space = Space(x=Float(0.0, 1.0))
    opt = _bohb(space)
    rng = np.random.default_rng(3)
    low = space.sample(rng, 30)
    # at the low fidelity the good region is near 0.1, at the high one near 0.9
    _feed(opt, low, [abs(c["x"] - 0.1) for c in low], 1)
    assert opt.model() is not None
    near = np.mean([opt.propose(*opt.model())["x"] < 0.3 for _ in range(30)])
    assert near > 0.8
    high = space.sample(rng, 3)
    _feed(opt, high, [abs(c["x"] - 0.9) for c in high], 9)
    # 3 results at fidelity 9 are not enough (the bad set needs more than d rows): the
    # model still comes from fidelity 1
    assert np.all(opt.model()[0].data[:, 0] < 0.3)
    assert np.mean([opt.propose(*opt.model())["x"] < 0.3 for _ in range(30)]) > 0.8
    high = space.sample(rng, 20)
    _feed(opt, high, [abs(c["x"] - 0.9) for c in high], 9)
    assert np.mean([opt.propose(*opt.model())["x"] > 0.7 for _ in range(30)]) > 0.8


def test_conditional_parameters_are_imputed():
    space = Space(kind=Categorical(["a", "b"]), extra=Float(0.0, 1.0, condition=("kind", ["b"])))
    opt = _bohb(space)
    rng = np.random.default_rng(4)
    configs = space.sample(rng, 40)
    values = [0.0 if c["kind"] == "b" and c["extra"] > 0.8 else 1.0 for c in configs]
    _feed(opt, configs, values, 27)
    proposals = [opt.propose(*opt.model()) for _ in range(30)]
    for p in proposals:
        space.validate(p)
    assert np.mean([p.get("extra", 0) > 0.7 for p in proposals]) > 0.5


def test_bohb_finds_the_good_category_on_a_multi_fidelity_problem():
    problem = EpochProblem(27, kind=True)
    wins = []
    for seed in range(3):
        scores = {}
        for name in ("bohb", "hyperband"):
            opt = hpbench.make_optimizer(name, problem.space, seed=seed, budget=Budget(40),
                                         fidelity=problem.fidelity)
            run_loop(problem, opt, Budget(40))
            full = [o for o in [opt.incumbent] if o is not None]
            scores[name] = full[0].value
            if name == "bohb":
                assert opt.model() is not None
        wins.append(scores["bohb"] <= scores["hyperband"])
    assert sum(wins) >= 2
