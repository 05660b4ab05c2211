"""REINFORCE controller: batched updates, the policy concentrating on good choices, the
Gaussian variant, entropy, conditional parameters."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hpbench import Budget, Categorical, Float, Int, Observation, Space
from hpbench.optimizers.rl.reinforce import Reinforce


def _loop(opt: Reinforce, f, n_batches: int) -> list[float]:
    values = []
    for _ in range(n_batches):
        suggestions = opt.ask(opt.batch_size)
        obs = []
        for i, s in enumerate(suggestions):
            v = f(s.config)
            values.append(v)
            obs.append(Observation(s, len(values) + i, v, "ok" if math.isfinite(v)
                                   else "failed", 1.0))
        opt.tell(obs)
    return values


SPACE = Space(kind=Categorical(["a", "b", "c", "d"]), n=Int(1, 5), x=Float(0.0, 1.0))


def f_mixed(c):
    return {"a": 1.0, "b": 0.0, "c": 1.5, "d": 2.0}[c["kind"]] + abs(c["n"] - 4) * 0.5 \
        + abs(c["x"] - 0.83) * 2


def test_policy_concentrates_on_the_best_choices():
    opt = Reinforce(SPACE, seed=0, budget=Budget(400))
    assert opt.probabilities("kind") == pytest.approx([0.25] * 4)  # starts uniform
    values = _loop(opt, f_mixed, 50)
    assert opt.probabilities("kind")[1] > 0.8  # "b"
    assert opt.probabilities("n")[3] > 0.6  # n = 4
    bins = opt.probabilities("x")
    assert int(np.argmax(bins)) == 8 and bins[8] > 0.4  # the bin [0.8, 0.9)
    assert np.mean(values[-40:]) < np.mean(values[:40]) / 2


def test_updates_happen_once_per_batch():
    opt = Reinforce(SPACE, seed=1, budget=Budget(100), batch_size=6)
    theta = opt.theta.copy()
    s = opt.ask(5)
    opt.tell([Observation(x, i, f_mixed(x.config), "ok", 1.0) for i, x in enumerate(s)])
    assert np.array_equal(opt.theta, theta)  # five of six: no update yet
    s = opt.ask(1)
    opt.tell([Observation(s[0], 5, f_mixed(s[0].config), "ok", 1.0)])
    assert not np.array_equal(opt.theta, theta)
    assert opt.batch_size == 6


def test_gaussian_policy_moves_its_mean_to_the_optimum():
    space = Space(x=Float(0.0, 1.0), y=Float(-3.0, 3.0))
    opt = Reinforce(space, seed=2, budget=Budget(600), continuous="gaussian")
    mu, sd = opt.probabilities("x")
    assert (mu, sd) == pytest.approx((0.5, 0.25))
    _loop(opt, lambda c: (c["x"] - 0.2) ** 2 + (c["y"] - 2.1) ** 2 / 9, 60)
    mu_x, sd_x = opt.probabilities("x")
    mu_y, _ = opt.probabilities("y")
    assert abs(mu_x - 0.2) < 0.08 and sd_x < 0.2
    assert abs(mu_y - 0.85) < 0.08  # 2.1 is 0.85 of the way from -3 to 3


def test_entropy_bonus_keeps_the_policy_from_collapsing():
    def run(entropy):
        opt = Reinforce(SPACE, seed=3, budget=Budget(400), entropy=entropy)
        _loop(opt, f_mixed, 40)
        p = opt.probabilities("kind")
        return -(p * np.log(p)).sum()
    assert run(2.0) > run(0.0) + 0.2


def test_failures_get_the_worst_reward_and_inactive_parameters_no_gradient():
    space = Space(kind=Categorical(["a", "b"]), extra=Float(0.0, 1.0, condition=("kind", ["b"])))

    def f(c):
        return math.nan if c["kind"] == "a" else (c["extra"] - 0.5) ** 2

    opt = Reinforce(space, seed=4, budget=Budget(200))
    extra_before = opt.theta[opt.slices[1]].copy()
    s = opt.ask(8)
    grads = [opt._grad_logp(x.tag, dict(x.config)) for x in s]
    for x, g in zip(s, grads):
        if x.config["kind"] == "a":
            assert np.all(g[opt.slices[1]] == 0)  # extra inactive: no gradient
    _loop(opt, f, 30)
    assert opt.probabilities("kind")[1] > 0.8  # failures drive it away from "a"
    assert not np.array_equal(opt.theta[opt.slices[1]], extra_before)


def test_settings_are_validated():
    with pytest.raises(ValueError, match="continuous must be"):
        Reinforce(SPACE, seed=0, budget=Budget(10), continuous="beta")
    with pytest.raises(ValueError, match="batch_size must be an integer"):
        Reinforce(SPACE, seed=0, budget=Budget(10), batch_size=0)
