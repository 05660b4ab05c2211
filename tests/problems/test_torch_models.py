"""Functional nets and optimizers against their torch.nn / torch.optim counterparts."""

from __future__ import annotations

import math

import pytest
import torch

from hpbench.problems.torch.models import CNNSpec, MLPSpec, NASSpec
from hpbench.problems.torch.train import (
    Hypers,
    deterministic_torch,
    init_opt_state,
    keep_masks,
    opt_step,
)


@pytest.fixture(autouse=True)
def _one_thread():
    """Computations outside the problems run like the problems do: one thread,
    deterministic kernels (oversubscribed OpenMP threads are very slow on a busy machine)."""
    with deterministic_torch():
        yield


def _theta(spec, seed=0, dtype=torch.float64):
    return spec.init(torch.Generator().manual_seed(seed), dtype, torch.device("cpu"))


def test_mlp_matches_nn_sequential():
    spec = MLPSpec(64, 10, width=32, depth=2, act="tanh")
    theta = _theta(spec)
    net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(), torch.nn.Linear(32, 32),
                              torch.nn.Tanh(), torch.nn.Linear(32, 10)).double()
    with torch.no_grad():
        for p, v in zip(net.parameters(), spec.unflatten(theta)):
            p.copy_(v)
    x = torch.randn(7, 64, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    torch.testing.assert_close(spec.forward(spec.unflatten(theta), x, None), net(x),
                               rtol=1e-12, atol=1e-12)
    assert spec.n_params == sum(p.numel() for p in net.parameters())


def test_cnn_matches_nn_modules():
    spec = CNNSpec((1, 8, 8), 10, channels=4, kernel_size=5)
    theta = _theta(spec)
    conv1, conv2 = torch.nn.Conv2d(1, 4, 5, padding=2), torch.nn.Conv2d(4, 8, 5, padding=2)
    head = torch.nn.Linear(8 * 2 * 2, 10)
    mods = torch.nn.ModuleList([conv1, conv2, head]).double()
    with torch.no_grad():
        for p, v in zip(mods.parameters(), spec.unflatten(theta)):
            p.copy_(v)
    x = torch.randn(5, 64, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    pool = torch.nn.functional.max_pool2d
    h = pool(torch.relu(conv1(x.view(-1, 1, 8, 8))), 2)
    h = pool(torch.relu(conv2(h)), 2)
    torch.testing.assert_close(spec.forward(spec.unflatten(theta), x, None),
                               head(h.flatten(1)), rtol=1e-12, atol=1e-12)


def test_nas_layout_follows_the_choices():
    plain = NASSpec(64, 10, [32, 32], ["relu", "gelu"], skip=False, norm="none")
    skip = NASSpec(64, 10, [32, 32], ["relu", "gelu"], skip=True, norm="none")
    normed = NASSpec(64, 10, [32, 32], ["relu", "gelu"], skip=True, norm="layernorm")
    # skip: a projection for 64 -> 32, the identity for 32 -> 32
    assert skip.n_params - plain.n_params == 32 * 64
    assert normed.n_params - skip.n_params == 2 * 2 * 32
    theta = _theta(normed)
    names = [n for n, _, _ in normed.layout]
    gains = normed.unflatten(theta)[names.index("layer0.ln_gain")]
    assert torch.equal(gains, torch.ones(32, dtype=torch.float64))
    x = torch.randn(3, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert normed.forward(normed.unflatten(theta), x, None).shape == (3, 10)
    with pytest.raises(ValueError, match="norm"):
        NASSpec(64, 10, [8], ["relu"], skip=False, norm="batch")


def test_init_is_pytorch_default_seeded_and_leaves_global_rng_alone():
    spec = MLPSpec(64, 10, width=16, depth=1)
    before = torch.get_rng_state()
    a, b, c = _theta(spec, 3), _theta(spec, 3), _theta(spec, 4)
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(a, b) and not torch.equal(a, c)
    w0, b0, w1, _ = spec.unflatten(a)
    assert float(w0.abs().max()) <= 1 / math.sqrt(64) and float(w1.abs().max()) <= 1 / 4
    # uniform on ±1/sqrt(fan_in): the sd is bound / sqrt(3)
    assert abs(float(w0.std()) - 1 / math.sqrt(64) / math.sqrt(3)) < 0.005
    assert float(b0.abs().max()) <= 1 / math.sqrt(64)


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_functional_optimizers_match_torch_optim(kind):
    gen = torch.Generator().manual_seed(0)
    A = torch.randn(20, 20, generator=gen, dtype=torch.float64)
    A = A @ A.T / 20 + torch.eye(20, dtype=torch.float64)
    w0 = torch.randn(20, generator=gen, dtype=torch.float64)
    lr, wd, mom = 0.05, 0.01, 0.8
    ref = w0.clone().requires_grad_(True)
    if kind == "sgd":
        opt = torch.optim.SGD([ref], lr=lr, momentum=mom, weight_decay=wd)
    else:
        opt = torch.optim.Adam([ref], lr=lr, betas=(mom, 0.999), eps=1e-8, weight_decay=wd)
    theta, state = w0.clone(), init_opt_state(kind, w0)
    hp = Hypers.make({"lr": lr, "weight_decay": wd, "momentum": mom, "dropout": 0.0},
                     "cpu", torch.float64)
    for _ in range(30):
        opt.zero_grad()
        (0.5 * ref @ A @ ref).backward()
        opt.step()
        theta, state = opt_step(kind, theta, A @ theta, state, hp)
    torch.testing.assert_close(theta, ref.detach(), rtol=1e-12, atol=1e-12)


def test_population_step_equals_member_steps():
    gen = torch.Generator().manual_seed(1)
    P, n = 4, 30
    theta = torch.randn(P, n, generator=gen, dtype=torch.float64)
    grad = torch.randn(P, n, generator=gen, dtype=torch.float64)
    values = [{"lr": 0.01 * (i + 1), "weight_decay": 1e-3 * i, "momentum": 0.2 * i,
               "dropout": 0.1} for i in range(P)]
    hp = Hypers.stack([Hypers.make(v, "cpu", torch.float64) for v in values])
    assert hp.lr.shape == (P, 1)
    new, _ = opt_step("adam", theta, grad, init_opt_state("adam", theta), hp)
    for i in range(P):
        one, _ = opt_step("adam", theta[i], grad[i], init_opt_state("adam", theta[i]),
                          Hypers.make(values[i], "cpu", torch.float64))
        torch.testing.assert_close(new[i], one, rtol=0, atol=0)


def test_dropout_masks_are_inverted_and_independent_of_p_draws():
    u = torch.rand(1000, 50, generator=torch.Generator().manual_seed(0))
    (m,) = keep_masks([u], torch.tensor(0.25), stacked=False)
    kept = m > 0
    assert abs(float(kept.float().mean()) - 0.75) < 0.01
    assert torch.allclose(m[kept], torch.tensor(1 / 0.75))
    (m0,) = keep_masks([u], torch.tensor(0.0), stacked=False)
    assert torch.equal(m0, torch.ones_like(u))
    (pop,) = keep_masks([u], torch.tensor([[0.0], [0.25]]), stacked=True)
    assert torch.equal(pop[1], m) and torch.equal(pop[0], m0)
