"""rf-smbo: the forest's mean and spread, SMAC's local search, interleaving, batches, mixed
and conditional spaces, failed trials, and a short optimization run."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hpbench import Budget, Categorical, Float, Int, Space
from hpbench.cube import UnitCube
from hpbench.optimizer import Observation, Suggestion
from hpbench.optimizers.model_based import _acquisition as acq
from hpbench.optimizers.model_based.rf_smbo import RFSMBO


def run(opt, f, n):
    values, configs = [], []
    for t in range(n):
        c = opt.ask(1)[0]
        v = f(c)
        configs.append(c)
        values.append(v)
        opt.tell([Observation(Suggestion(c), t, v, "ok" if math.isfinite(v) else "failed")])
    return configs, values


def test_local_search_climbs_to_the_peak():
    space = Space(a=Float(0, 1), b=Float(0, 1), k=Int(0, 9), c=Categorical(["p", "q", "r"]))
    cube = UnitCube(space)
    target = cube.canonical(np.array([[0.3, 0.6, 0.75, 0.9]]))[0]

    def f(U):
        return -np.abs(U[:, :3] - target[:3]).sum(1) - (cube.bin_of(3, U[:, 3]) != 2)

    rng = np.random.default_rng(0)
    starts = cube.canonical(rng.random((3, 4)))
    U, s = acq.local_search(f, cube, rng, starts, sd=0.2, max_steps=200)
    best = U[np.argmax(s)]
    assert cube.bin_of(3, best[3]) == 2  # the categorical was exchanged to the best level
    assert cube.bin_of(2, best[2]) == 7  # the integer found its level
    np.testing.assert_allclose(best[:2], target[:2], atol=0.05)
    assert s.max() > f(starts).max()


def test_local_search_moves_only_active_coordinates():
    space = Space(kind=Categorical(["a", "b"]), extra=Float(0, 1, condition=("kind", ["b"])))
    cube = UnitCube(space)
    start = cube.from_configs([{"kind": "a"}])
    U, _ = acq.local_search(lambda U: U[:, 1], cube, np.random.default_rng(1), start,
                            max_steps=1)
    inactive = cube.bin_of(0, U[:, 0]) == 0
    assert np.all(U[inactive, 1] == 0.5)  # 'extra' never moves while it does not exist


def test_finds_the_optimum_region_of_a_2d_function_quickly():
    space = Space(x=Float(-2.0, 2.0), y=Float(-2.0, 2.0))

    def f(c):
        return (c["x"] - 0.5) ** 2 + 3 * (c["y"] + 0.75) ** 2

    rand = [min(f(c) for c in space.sample(np.random.default_rng(s), 40)) for s in range(3)]
    smbo = [min(run(RFSMBO(space, seed=s, budget=Budget(40), n_random=2000), f, 40)[1])
            for s in range(3)]
    assert max(smbo) < 0.1, smbo
    assert np.median(smbo) < np.median(rand) / 3, (smbo, rand)


def test_mixed_conditional_space_finds_the_best_branch():
    space = Space(kind=Categorical(["a", "b", "c"]), x=Float(0.0, 1.0),
                  n=Int(1, 20, log=True), extra=Float(0.0, 1.0, condition=("kind", ["b"])))

    def f(c):
        base = {"a": 1.0, "b": 0.0, "c": 2.0}[c["kind"]] + (c["x"] - 0.4) ** 2
        return base + (c.get("extra", 0.0) - 0.8) ** 2 + 0.01 * abs(c["n"] - 5)

    configs, values = run(RFSMBO(space, seed=3, budget=Budget(40), n_random=2000), f, 40)
    assert all(space.contains(c) for c in configs)
    late = configs[20:]
    assert sum(c["kind"] == "b" for c in late) >= 12  # exploits the best branch
    assert min(values) < 0.1


def test_batch_takes_distinct_new_configs():
    space = Space(x=Float(0.0, 1.0), k=Int(0, 4))
    opt = RFSMBO(space, seed=4, budget=Budget(40), n_init=8, random_fraction=0.0)
    first = opt.ask(8)
    opt.tell([Observation(Suggestion(c), i, c["x"] + c["k"], "ok") for i, c in enumerate(first)])
    batch = opt.ask(6)
    keys = [tuple(sorted(c.items())) for c in first + batch]
    assert len(set(keys)) == len(keys)


def test_random_interleaving_follows_its_probability():
    space = Space(x=Float(0.0, 1.0))
    opt = RFSMBO(space, seed=5, budget=Budget(100), n_init=4, random_fraction=1.0)
    first = opt.ask(4)
    opt.tell([Observation(Suggestion(c), i, (c["x"] - 0.5) ** 2, "ok")
              for i, c in enumerate(first)])
    # with probability 1 every suggestion is uniform: the model would never go near the edges
    xs = np.array([c["x"] for c in opt.ask(200)])
    assert xs.min() < 0.05 and xs.max() > 0.95
    model = RFSMBO(space, seed=5, budget=Budget(100), n_init=4, random_fraction=0.0)
    model.tell([Observation(Suggestion(c), i, (c["x"] - 0.5) ** 2, "ok")
                for i, c in enumerate(model.ask(4))])
    xs = np.array([c["x"] for c in model.ask(20)])
    assert np.median(np.abs(xs - 0.5)) < 0.2


def test_failed_trials_are_survived_and_avoided():
    space = Space(x=Float(0.0, 1.0), y=Float(0.0, 1.0))

    def f(c):  # fails on the left half
        return math.nan if c["x"] < 0.5 else (c["x"] - 0.7) ** 2 + (c["y"] - 0.3) ** 2

    _, values = run(RFSMBO(space, seed=6, budget=Budget(40), n_random=2000), f, 40)
    assert sum(math.isnan(v) for v in values[20:]) <= 6  # learns to stay away
    assert np.nanmin(values) < 0.02


def test_settings_are_validated():
    with pytest.raises(ValueError, match="random_fraction must be in"):
        RFSMBO(Space(x=Float(0, 1)), seed=0, budget=10, random_fraction=1.5)
