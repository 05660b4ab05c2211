"""Random search draws its unit-cube rows in blocks: the configs must be exactly those of
one-at-a-time sampling from the same generator, whatever sizes the asks have."""

import numpy as np
import pytest

from hpbench import make_optimizer, make_problem
from hpbench.optimizers.baselines.random_search import BLOCK


@pytest.mark.parametrize("problem", ["branin", "hartmann6", "mixed-ackley-5d",
                                     "sklearn-svc-breast_cancer-error"])
def test_block_draws_give_the_configs_of_one_at_a_time_sampling(problem):
    space = make_problem(problem).space
    opt = make_optimizer("random", space, seed=11, budget=3 * BLOCK)
    sizes = [1, 3, BLOCK - 5, 1, BLOCK + 7, 2, 1]  # crosses block edges, one ask > BLOCK
    got = [c for n in sizes for c in opt.ask(n)]
    rng = np.random.default_rng(11)
    want = [space.sample(rng) for _ in range(len(got))]
    assert got == want
    assert all(type(a) is type(b) for g, w in zip(got, want) for a, b in
               zip(g.values(), w.values()))
