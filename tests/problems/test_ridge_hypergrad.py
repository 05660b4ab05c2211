"""Ridge / logistic regression with exact implicit hypergradients.

Finite differences use a central step of 1e-6 in the unit coordinate (float64, closed-form or
Newton-solved weights to |grad| < 1e-10): truncation ~1e-12 and round-off ~1e-10 relative, so
an exact gradient agrees to 1e-6 with a wide margin; a wrong chain-rule factor is off by O(1).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import hpbench
from hpbench import EvalContext

NAMES = ["ridge-hypergrad", "ridge-hypergrad-4g", "logreg-hypergrad"]


@pytest.mark.parametrize("name", NAMES)
def test_hypergradient_matches_finite_differences(name):
    problem = hpbench.make_problem(name, seed=5)
    for config in problem.space.sample(np.random.default_rng(1), 3):
        r = problem.evaluate(config, ctx=EvalContext(want_grad=True))
        assert set(r.grad) == set(problem.space.names)
        for n, g in r.grad.items():
            p, h = problem.space[n], 1e-6
            u = p.to_unit(config[n])
            v = [problem.evaluate({**config, n: p.from_unit(u + s * h)}).value for s in (1, -1)]
            fd = (v[0] - v[1]) / (2 * h)
            assert abs(g - fd) <= 1e-6 * abs(fd) + 1e-12, (n, g, fd)


def test_ridge_weights_solve_the_regularized_least_squares():
    for name, groups in (("ridge-hypergrad", 1), ("ridge-hypergrad-4g", 4)):
        problem = hpbench.make_problem(name, seed=2)
        alphas = np.geomspace(1e-3, 10, groups)
        w, _ = problem.weights(alphas)
        # |X w - y|^2 / n + sum alpha_g |w_g|^2  ==  an augmented least-squares problem
        n, d = problem.X_tr.shape
        A = np.vstack([problem.X_tr / math.sqrt(n), np.diag(np.sqrt(alphas[problem.group_of]))])
        b = np.concatenate([problem.y_tr / math.sqrt(n), np.zeros(d)])
        np.testing.assert_allclose(w, np.linalg.lstsq(A, b, rcond=None)[0], rtol=1e-9,
                                   atol=1e-11)


def test_logistic_weights_match_scikit_learn():
    from sklearn.linear_model import LogisticRegression

    problem = hpbench.make_problem("logreg-hypergrad", seed=3)
    alpha = 0.02
    w = problem.weights(alpha)
    n = len(problem.y_tr)
    # sklearn minimizes C * sum(log-loss) + |w|^2 / 2 with an unpenalized intercept
    ref = LogisticRegression(C=1 / (n * alpha), tol=1e-12, max_iter=10_000)
    ref.fit(problem.X_tr[:, :-1], problem.y_tr)
    np.testing.assert_allclose(w[:-1], ref.coef_[0], rtol=1e-5, atol=1e-7)
    assert w[-1] == pytest.approx(ref.intercept_[0], rel=1e-5, abs=1e-7)


@pytest.mark.parametrize("name", NAMES)
def test_best_known_optimum_is_not_beaten_and_is_stationary(name):
    problem = hpbench.make_problem(name, seed=4)
    opt = problem.optimum
    assert opt.kind == "best-known" and opt.source
    configs = problem.space.sample(np.random.default_rng(9), 2000)
    values = np.array([r.value for r in problem.evaluate_batch(configs)])
    assert values.min() >= opt.value - 1e-12
    at = problem.evaluate(opt.location, ctx=EvalContext(want_grad=True))
    assert at.value == pytest.approx(opt.value, abs=1e-12)
    for n, g in at.grad.items():  # zero gradient unless pinned at a bound of the box
        u = problem.space[n].to_unit(opt.location[n])
        assert abs(g) < 1e-4 or u in (0.0, 1.0), (n, g, u)


@pytest.mark.parametrize("name", NAMES)
def test_seeded_instances_and_batches(name):
    a, b, c = (hpbench.make_problem(name, seed=s) for s in (1, 1, 2))
    configs = a.space.sample(np.random.default_rng(0), 5)
    va = [a.evaluate(x).value for x in configs]
    assert va == [r.value for r in b.evaluate_batch(configs)]
    assert va != [c.evaluate(x).value for x in configs]
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()
    assert all(math.isfinite(r.test_value) for r in a.evaluate_batch(configs))
