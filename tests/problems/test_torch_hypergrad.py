"""Hypergradients against finite differences and exact implicit gradients.

Tolerances: the checks run in float64. A central difference with step ``h`` in a unit-cube
or log coordinate has truncation error ``O(h^2 f''')`` (~1e-10 relative for ``h = 1e-5`` on
these smooth losses: tanh nets, no ReLU kinks) and round-off ``~eps |f| / h`` (~1e-11), so
an exact gradient agrees to far better than the ``1e-6`` relative asserted; a wrong
derivative (a missing chain-rule factor, a dropped momentum term) is off by O(1). The IFT
checks use weights solved to a gradient norm ~1e-15 by Newton's method, so the implicit
derivative is exact there; the Neumann series is checked against its own error bound.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import hpbench
from hpbench import EvalContext
from hpbench.problems.hypergradient.ridge import LogRegProblem
from hpbench.problems.torch import data as torch_data
from hpbench.problems.torch.hypergrad import implicit, neumann_inverse, power_iteration, unroll
from hpbench.problems.torch.models import MLPSpec
from hpbench.problems.torch.train import Hypers, TensorData, Trainer, deterministic_torch

F = torch.nn.functional


@pytest.fixture(autouse=True)
def _one_thread():
    """Computations outside the problems run like the problems do: one thread,
    deterministic kernels (oversubscribed OpenMP threads are very slow on a busy machine)."""
    with deterministic_torch():
        yield
H_STEP = 1e-5
RTOL = 1e-6


def fd_unit(problem, config, name, fidelity, h=H_STEP):
    """Central difference of the value in ``name``'s unit-cube coordinate."""
    param = problem.space[name]
    u = param.to_unit(config[name])
    vals = [problem.evaluate({**config, name: param.from_unit(u + s * h)}, fidelity=fidelity)
            .value for s in (1, -1)]
    return (vals[0] - vals[1]) / (2 * h)


@pytest.mark.parametrize("optimizer, lr", [("sgd", 0.02), ("adam", 0.003)])
def test_full_unroll_matches_finite_differences(optimizer, lr):
    problem = hpbench.make_problem("torch-mlp-digits", seed=3, epochs=4, dtype="float64",
                                   unroll_steps=10_000)
    cfg = dict(lr=lr, weight_decay=1e-3, momentum=0.8, dropout=0.2, batch_size=128, width=16,
               depth=2, activation="tanh", optimizer=optimizer)
    r = problem.evaluate(cfg, fidelity=2, ctx=EvalContext(want_grad=True))
    assert set(r.grad) == {"lr", "weight_decay", "momentum"}
    assert r.info["unrolled_steps"] == 2 * 9  # all of the 2 epochs x ceil(1078 / 128) steps
    for name, g in r.grad.items():
        fd = fd_unit(problem, cfg, name, 2)
        assert abs(g - fd) <= RTOL * abs(fd), (name, g, fd)


def _digits_trainer(batch_size=128, width=16):
    data = TensorData.from_dataset(torch_data.digits(0), torch.device("cpu"), torch.float64)
    return Trainer(MLPSpec(64, 10, width, 1, "tanh"), data, batch_size)


def _hypers(**kw):
    values = {"lr": 0.05, "weight_decay": 1e-3, "momentum": 0.7, "dropout": 0.1, **kw}
    return Hypers.make(values, "cpu", torch.float64)


def test_truncated_unroll_is_the_gradient_of_the_truncated_objective():
    """With K < T recorded steps the result is d/d lambda of "T - K steps at lambda_0, then K
    steps at lambda" — checked by finite differences of exactly that procedure."""
    trainer, epochs, k = _digits_trainer(), 3, 5
    total = epochs * trainer.steps_per_epoch
    wrt = ("lr", "weight_decay", "momentum")
    with deterministic_torch():
        hg = unroll(trainer, trainer.fresh_state("sgd", 1, 2), _hypers(), epochs, k, wrt)
        full = unroll(trainer, trainer.fresh_state("sgd", 1, 2), _hypers(), epochs, total, wrt)
        for name in wrt:
            base = float(getattr(_hypers(), name))
            vals = []
            for s in (1, -1):
                st = trainer.fresh_state("sgd", 1, 2)
                late = _hypers(**{name: base * math.exp(s * H_STEP)})
                trainer.train(st, _hypers(), epochs, switch_step=total - k, late=late)
                vals.append(float(trainer.val_loss(st.theta)))
            fd_log = (vals[0] - vals[1]) / (2 * H_STEP)
            assert abs(hg.grads[name] * base - fd_log) <= RTOL * abs(fd_log), name
    assert hg.info["unrolled_steps"] == k
    # truncation matters: the full-horizon learning-rate gradient is a different number
    assert abs(full.grads["lr"] - hg.grads["lr"]) > 0.1 * abs(full.grads["lr"])


def test_hypergradient_evaluation_keeps_the_value_and_costs_more():
    for method in ("unroll", "ift"):
        problem = hpbench.make_problem("torch-mlp-digits", seed=1, epochs=6, hypergrad=method)
        cfg = dict(lr=0.01, weight_decay=1e-3, momentum=0.9, dropout=0.1, batch_size=64,
                   width=32, depth=2, activation="relu", optimizer="adam")
        plain = problem.evaluate(cfg)
        grad = problem.evaluate(cfg, ctx=EvalContext(want_grad=True))
        assert grad.value == plain.value and grad.test_value == plain.test_value
        assert plain.cost == 6.0 and plain.cost_fe is None  # the runner derives 6 / 6
        assert grad.cost > plain.cost and grad.cost_fe == grad.cost / 6
        assert grad.info["hypergrad"] == method
        assert all(math.isfinite(g) for g in grad.grad.values())
        if method == "ift":
            assert grad.grad["lr"] == grad.grad["momentum"] == 0.0
            assert grad.grad["weight_decay"] != 0.0


def test_cnn_reports_only_its_continuous_training_hyperparameters():
    problem = hpbench.make_problem("torch-cnn-digits", seed=0)
    cfg = dict(channels=4, kernel_size=3, lr=3e-3, weight_decay=1e-4, dropout=0.2)
    r = problem.evaluate(cfg, fidelity=1, ctx=EvalContext(want_grad=True))
    assert set(r.grad) == {"lr", "weight_decay"}  # dropout: a step function through masks


def _logreg_torch(problem: LogRegProblem, alpha: float):
    Xt, yt = torch.tensor(problem.X_tr), torch.tensor(problem.y_tr)
    Xv, yv = torch.tensor(problem.X_va), torch.tensor(problem.y_va)
    pen = torch.tensor(problem.penalized)

    def train_loss(w):
        return F.binary_cross_entropy_with_logits(Xt @ w, yt) + 0.5 * alpha * (pen * w * w).sum()

    def val_loss(w):
        return F.binary_cross_entropy_with_logits(Xv @ w, yv)

    w = torch.tensor(problem.weights(alpha))
    return train_loss, val_loss, w, pen * w


def test_neumann_ift_equals_exact_logistic_regression_hypergradient():
    problem = hpbench.make_problem("logreg-hypergrad", seed=2)
    alpha = 0.05
    exact = problem.losses(np.array([alpha]), True)[2][0]
    train_loss, val_loss, w, mixed = _logreg_torch(problem, alpha)
    errors = []
    for terms in (5, 40, 400):
        grads, val, info = implicit(train_loss, val_loss, w, {"alpha": mixed}, terms=terms,
                                    power_iters=50, generator=torch.Generator().manual_seed(0))
        errors.append(abs(grads["alpha"] - exact) / abs(exact))
    assert val == pytest.approx(problem.losses(np.array([alpha]), False)[0], rel=1e-12)
    H = problem.hessian(w.numpy(), alpha)
    assert info["lambda_max"] == pytest.approx(np.linalg.eigvalsh(H)[-1], rel=1e-3)
    assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-8, errors


def _hessian(loss, w):
    return torch.autograd.functional.hessian(loss, w, vectorize=True)


def _newton_polish(loss, w, steps=6):
    """Newton steps from an L-BFGS solution: quadratic convergence to round-off."""
    for _ in range(steps):
        g = torch.func.grad(loss)(w)
        if float(g.norm()) < 1e-14:
            break
        w = w - torch.linalg.solve(_hessian(loss, w), g)
    return w


def test_ift_on_a_converged_net_matches_finite_differences_and_its_neumann_bound():
    """A 64-6-10 tanh net solved to |grad| ~ 1e-15 (L-BFGS, then Newton): the implicit
    derivative with the exact inverse matches finite differences of re-solved weights, and
    the Neumann series stays within its geometric tail bound."""
    d = torch_data.digits(0)
    X, y = torch.tensor(d.X_train[:200], dtype=torch.float64), torch.tensor(d.y_train[:200])
    Xv, yv = torch.tensor(d.X_val, dtype=torch.float64), torch.tensor(d.y_val)
    spec = MLPSpec(64, 10, 6, 1, "tanh")

    def solve(wd, w0):
        def loss(w):
            return F.cross_entropy(spec.forward(spec.unflatten(w), X, None), y) + \
                0.5 * wd * (w * w).sum()
        w = w0.clone().requires_grad_(True)
        opt = torch.optim.LBFGS([w], max_iter=2000, tolerance_grad=1e-7,
                                line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            value = loss(w)
            value.backward()
            return value
        opt.step(closure)
        w = _newton_polish(loss, w.detach())
        assert float(torch.func.grad(loss)(w).norm()) < 1e-12
        return w, loss

    def val_loss(w):
        return F.cross_entropy(spec.forward(spec.unflatten(w), Xv, None), yv)

    wd = 1.0
    w, train_loss = solve(wd, spec.init(torch.Generator().manual_seed(0), torch.float64, "cpu"))
    H = _hessian(train_loss, w)
    v = torch.func.grad(val_loss)(w)
    exact = -float(v @ torch.linalg.solve(H, w))  # d L_V / d wd
    vals = [float(val_loss(solve(wd * math.exp(s * H_STEP), w)[0])) for s in (1, -1)]
    fd_log = (vals[0] - vals[1]) / (2 * H_STEP)
    assert abs(exact * wd - fd_log) <= 1e-5 * abs(fd_log) and abs(fd_log) > 1e-5
    eig = torch.linalg.eigvalsh(H)
    assert eig[0] > 0  # a strict local minimum: the IFT applies
    for terms in (10, 50):
        grads, _, info = implicit(train_loss, val_loss, w, {"wd": w}, terms=terms,
                                  power_iters=30, generator=torch.Generator().manual_seed(1))
        a = info["alpha"]
        rho = float(torch.maximum((1 - a * eig[0]).abs(), (1 - a * eig[-1]).abs()))
        bound = float(w.norm() * v.norm()) * a * rho ** (terms + 1) / (1 - rho)
        assert abs(grads["wd"] - exact) <= bound * (1 + 1e-6) + 1e-15, (terms, bound)


def test_power_iteration_and_neumann_on_a_known_matrix():
    eig = torch.tensor([0.5, 1.0, 2.0, 4.0], dtype=torch.float64)
    Q, _ = torch.linalg.qr(torch.randn(4, 4, dtype=torch.float64,
                                       generator=torch.Generator().manual_seed(0)))
    A = Q @ torch.diag(eig) @ Q.T
    lam = power_iteration(lambda p: A @ p, 4, 200, torch.Generator().manual_seed(1),
                          torch.zeros(4, dtype=torch.float64))
    assert lam == pytest.approx(4.0, rel=1e-8)
    v = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)
    approx = neumann_inverse(lambda p: A @ p, v, 1 / lam, 200)
    torch.testing.assert_close(approx, torch.linalg.solve(A, v), rtol=1e-10, atol=1e-10)
