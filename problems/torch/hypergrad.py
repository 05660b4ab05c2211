"""Hypergradients of the validation loss with respect to training hyperparameters.

Two methods (``hypergrad`` setting of the torch problems):

``"unroll"`` (default) — truncated reverse-mode differentiation through training
    (Maclaurin, Duvenaud & Adams 2015, "Gradient-based hyperparameter optimization through
    reversible learning"; truncated to the last K steps as in Shaban, Cheng, Hatch & Boots
    2019, "Truncated back-propagation for bilevel optimization"). Training runs as usual up to
    step ``T - K``; the last ``K`` optimizer steps are recorded with ``create_graph=True``
    using hyperparameter tensors that require grad, and the validation loss is
    back-propagated to them. Weights and optimizer state at step ``T - K`` are treated as
    constants, so the result is the exact gradient of "train ``T - K`` steps with the
    current hyperparameters, then ``K`` steps with new ones" at the current ones (with
    ``K >= T`` it is the exact gradient of the whole training run). It covers the learning
    rate, the weight decay and the momentum / Adam beta1; truncation biases the learning-rate
    gradient towards smaller rates (Wu, Ren, Liao & Grosse 2018, "short-horizon bias").

``"ift"`` — the implicit-function theorem with a Neumann-series inverse Hessian
    (Lorraine, Vicol & Duvenaud 2020, "Optimizing millions of hyperparameters by implicit
    differentiation", Algorithm 3). At trained weights ``w*`` assumed stationary for the
    training loss ``L_T(w, wd) = CE_train(w) + wd / 2 |w|^2`` (coupled L2 weight decay, as the
    optimizers apply it), ``dL_V/dwd = -v^T H^-1 d(grad_w L_T)/dwd = -v^T H^-1 w*`` with
    ``v = grad_w L_V`` and ``H = hess_w L_T``. ``H^-1 v ~ alpha sum_{j=0..J} (I - alpha H)^j v``,
    with ``alpha = 1 / |lambda_max|`` from power iteration on ``H`` (the Rayleigh estimate is
    below the true ``|lambda_max|`` but above half of it after a few iterations, so
    ``|1 - alpha lambda| < 1`` on the positive part of the spectrum). Only the weight decay
    enters ``L_T``, so the learning rate and momentum, which do not, get the implicit
    gradient 0 (they change where training stops, not where the stationary point is). The
    Hessian is taken on the full training set (or a fixed random subset of ``ift_samples``
    examples) without dropout.

Costs are charged in sample-gradient passes: one forward + backward of ``b`` examples
is ``b`` passes (a training epoch is ``n_train``); a Hessian-vector product or a reverse pass
through one recorded training step costs two passes of its examples (Pearlmutter 1994; the
reverse of a gradient computation is about as expensive as the gradient itself, Griewank &
Walther 2008, ch. 4). ``extra_epochs`` is the total divided by ``n_train``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from hpbench.problems.torch.train import Hypers, Trainer, TrainState

METHODS = ("unroll", "ift")
#: the hyperparameters both methods report (``Hypers`` field names); dropout is left out:
#: the loss depends on it only through Bernoulli masks, a step function of it
DIFFERENTIABLE = ("lr", "weight_decay", "momentum")


@dataclass
class HyperGradient:
    """dL_V / d(raw hyperparameter value) per name, the validation loss, the extra cost."""

    grads: dict[str, float]
    val_loss: float
    extra_epochs: float
    info: dict


def unroll(trainer: Trainer, state: TrainState, hp: Hypers, epochs: int, steps: int,
           wrt: tuple[str, ...]) -> HyperGradient:
    """Train ``state`` in place for ``epochs`` epochs, recording the last ``steps`` steps,
    and return the gradient of the validation loss with respect to ``wrt``."""
    import torch

    total = int(epochs) * trainer.steps_per_epoch
    k = min(int(steps), total)
    leaves = {n: getattr(hp, n).detach().clone().requires_grad_(n in wrt) for n in Hypers.NAMES}
    late = Hypers(**leaves)
    train_loss = trainer.train(state, hp, epochs, switch_step=total - k, late=late)
    val = trainer.val_loss(state.theta)
    needs = [leaves[n] for n in wrt]
    if k > 0 and val.requires_grad:
        gs = torch.autograd.grad(val, needs, allow_unused=True)
    else:
        gs = [None] * len(needs)
    grads = {n: 0.0 if g is None else float(g) for n, g in zip(wrt, gs)}
    state.detach()
    recorded = sum((trainer.batch_sizes * int(epochs))[total - k:])
    n_val = int(trainer.data.y_val.shape[0])
    extra = (2 * recorded + n_val) / trainer.data.n_train
    return HyperGradient(grads, float(val.detach()), extra,
                         {"hypergrad": "unroll", "unrolled_steps": k,
                          "train_loss": train_loss})


def power_iteration(hvp: Callable, n: int, iters: int, generator, like) -> float:
    """Largest |eigenvalue| of the symmetric operator ``hvp`` (Rayleigh quotient estimate)."""
    import torch

    v = torch.randn(n, generator=generator, dtype=torch.float64).to(like)
    v = v / v.norm()
    lam = 0.0
    for _ in range(max(1, int(iters))):
        hv = hvp(v)
        lam = float(torch.dot(v, hv))
        norm = hv.norm()
        if not norm > 0:
            break
        v = hv / norm
    return abs(lam)


def neumann_inverse(hvp: Callable, v, alpha: float, terms: int):
    """``alpha * sum_{j=0..terms} (I - alpha H)^j v`` ~ ``H^-1 v`` (Lorraine et al. 2020)."""
    p = v.clone()
    acc = v.clone()
    for _ in range(int(terms)):
        p = p - alpha * hvp(p)
        acc = acc + p
    return alpha * acc


def implicit(train_loss: Callable, val_loss: Callable, theta, mixed: dict[str, object], *,
             terms: int, power_iters: int, generator) -> tuple[dict[str, float], float, dict]:
    """IFT hypergradient ``-v^T H^-1 m_lambda`` for each ``lambda`` in ``mixed``.

    ``train_loss(theta)`` and ``val_loss(theta)`` are scalar functions; ``mixed[name]`` is the
    flat vector ``d(grad_theta L_T) / d lambda``. Returns (grads, validation loss, info).
    """
    import torch

    w = theta.detach().requires_grad_(True)
    with torch.enable_grad():
        vl = val_loss(w)
        (v,) = torch.autograd.grad(vl, w)
        (gw,) = torch.autograd.grad(train_loss(w), w, create_graph=True)

    def hvp(p):
        with torch.enable_grad():
            (hp,) = torch.autograd.grad(gw, w, grad_outputs=p, retain_graph=True)
        return hp.detach()

    lam = power_iteration(hvp, w.numel(), power_iters, generator, w.detach())
    alpha = 1.0 / lam if lam > 0 else 1.0
    ihvp = neumann_inverse(hvp, v.detach(), alpha, terms)
    grads = {name: -float(torch.dot(ihvp, m)) for name, m in mixed.items()}
    return grads, float(vl.detach()), {"hypergrad": "ift", "neumann_terms": int(terms),
                                       "lambda_max": lam, "alpha": alpha}


def ift(trainer: Trainer, state: TrainState, hp: Hypers, wrt: tuple[str, ...], *,
        terms: int, power_iters: int, samples: int, seed: int) -> HyperGradient:
    """IFT hypergradient at the trained ``state`` (weight decay; 0 for ``lr``, momentum)."""
    import torch

    data = trainer.data
    gen = torch.Generator().manual_seed(seed)
    n = data.n_train
    if samples < n:
        idx = torch.randperm(n, generator=gen)[:samples].to(data.X_train.device)
        X, y = data.X_train[idx], data.y_train[idx]
    else:
        X, y = data.X_train, data.y_train
    m = int(y.shape[0])
    wd = hp.weight_decay.detach()

    def train_loss(w):
        return trainer.loss(trainer.spec.unflatten(w), X, y, None) + 0.5 * wd * (w * w).sum()

    def val_loss(w):
        return trainer.val_loss(w)

    theta = state.theta.detach()
    mixed = {"weight_decay": theta} if "weight_decay" in wrt else {}
    grads, val, info = implicit(train_loss, val_loss, theta, mixed, terms=terms,
                                power_iters=power_iters, generator=gen)
    for name in wrt:
        grads.setdefault(name, 0.0)  # lr and momentum do not enter L_T
    n_val = int(data.y_val.shape[0])
    passes = m * (1 + 2 * (int(power_iters) + int(terms))) + n_val
    info["hessian_samples"] = m
    return HyperGradient(grads, val, passes / n, info)


def to_unit_grad(grads: dict[str, float], values: dict[str, float], space) -> dict[str, float]:
    """Chain rule from raw values to unit-cube coordinates: ``dv/du = dv/dx * dx/du`` with
    ``dx/du = x (log high - log low)`` for a log ``Float`` and ``high - low`` otherwise."""
    out = {}
    for name, g in grads.items():
        p = space[name]
        if p.log:
            out[name] = g * values[name] * (math.log(p.high) - math.log(p.low))
        else:
            out[name] = g * (p.high - p.low)
    return out
