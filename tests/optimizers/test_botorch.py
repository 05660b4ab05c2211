"""``botorch-qlognei`` and ``ax-botorch`` (``optimizers/adapters/botorch_.py``, ``ax_.py``).

Parity: ``botorch-qlognei`` with seed s suggests exactly what BoTorch's closed-loop tutorial
suggests when written out by hand after ``torch.manual_seed(s)``, failed trials included.
Ax: the same seed gives the same trajectory, failures are marked failed in Ax, and the space
maps to Ax's parameters (conditions included) and back. Budgets are tiny (a model ask costs
about half a second of CPU).
"""

from __future__ import annotations

import json
import math

import pytest
import torch  # the botorch extra; `make install` installs every extra

import hpbench
from hpbench import Budget, Categorical, Evaluation, Float, Int, Problem, Space
from hpbench.optimizers.adapters._common import ThreadLimit
from hpbench.runner import run_loop

SEED = 7
#: the unit square: configs are the cube points themselves, so the by-hand loop needs no
#: mapping of its own
SQUARE = Space(x=Float(0.0, 1.0), y=Float(0.0, 1.0))


class Bowl(Problem):
    """(x - 0.7)^2 + (y - 0.2)^2; NaN (a failed trial) where x < ``fail_below``."""

    def __init__(self, space: Space = SQUARE, fail_below: float = -1.0) -> None:
        super().__init__(space, name="bowl")
        self.fail_below = fail_below

    def _evaluate(self, config, *, fidelity=None, ctx=None):
        if config["x"] < self.fail_below:
            return Evaluation(value=math.nan)
        return (config["x"] - 0.7) ** 2 + (config["y"] - 0.2) ** 2


def adapter_configs(name: str, n: int, problem: Problem, seed: int = SEED, **settings):
    opt = hpbench.make_optimizer(name, problem.space, seed=seed, budget=Budget(n), **settings)
    result = run_loop(problem, opt, Budget(n))
    assert result.status == "done", result.error
    assert result.n_trials == n
    return [json.loads(c) for c in result.columns["config"]], result, opt


def tutorial_loop(n: int, n_init: int, seed: int, problem: Bowl) -> list[dict]:
    """BoTorch's closed-loop tutorial (``closed_loop_botorch_only``: SingleTaskGP, qLogNEI
    with 256 Sobol QMC samples, ``optimize_acqf`` with 10 restarts, 512 raw samples,
    ``batch_limit`` 5, ``maxiter`` 200), one point per iteration, minimizing by negation,
    failed points left out of the model; a scrambled Sobol design of ``n_init`` points."""
    from botorch.acquisition import qLogNoisyExpectedImprovement
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.optim import optimize_acqf
    from botorch.sampling.normal import SobolQMCNormalSampler
    from botorch.utils.sampling import draw_sobol_samples
    from gpytorch.mlls import ExactMarginalLogLikelihood

    bounds = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.double)
    # one thread, as the adapter: spinning OpenMP threads cost 4x the CPU on a shared machine
    with ThreadLimit(1)(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        points = list(draw_sobol_samples(bounds=bounds, n=n_init, q=1).squeeze(1))
        X, Y, configs = [], [], []

        def observe(x):
            config = {"x": float(x[0]), "y": float(x[1])}
            configs.append(config)
            value = problem.evaluate(config).value
            if math.isfinite(value):
                X.append(x)
                Y.append(-value)

        for x in points:
            observe(x)
        while len(configs) < n:
            train_x = torch.stack(X)
            train_y = torch.tensor(Y, dtype=torch.double).unsqueeze(-1)
            model = SingleTaskGP(train_x, train_y)
            fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
            acqf = qLogNoisyExpectedImprovement(
                model=model, X_baseline=train_x,
                sampler=SobolQMCNormalSampler(sample_shape=torch.Size([256])))
            candidates, _ = optimize_acqf(acq_function=acqf, bounds=bounds, q=1,
                                          num_restarts=10, raw_samples=512,
                                          options={"batch_limit": 5, "maxiter": 200})
            observe(candidates.detach()[0])
    return configs


def test_botorch_qlognei_matches_the_tutorial_loop_run_by_hand():
    problem = Bowl(fail_below=0.25)
    ours, result, _ = adapter_configs("botorch-qlognei", 8, problem, n_init=4)
    assert "failed" in result.columns["status"], "the run should meet a failing config"
    theirs = tutorial_loop(8, 4, SEED, Bowl(fail_below=0.25))
    assert ours == theirs


def test_botorch_qlognei_default_design_and_batches():
    """2(d + 1) Sobol points, at most half the budget; a batch ask is one joint q-batch of
    distinct points, the pending ones kept out of the way."""
    from hpbench.optimizers.adapters.botorch_ import default_n_init

    assert default_n_init(2, 100) == 6
    assert default_n_init(6, 10) == 5
    assert default_n_init(6, None) == 14
    opt = hpbench.make_optimizer("botorch-qlognei", SQUARE, seed=SEED, budget=Budget(12))
    assert opt.n_init == 6
    problem = Bowl()
    design = opt.ask(6)
    opt.tell([hpbench.Observation(s, i, problem.evaluate(s.config).value, "ok")
              for i, s in enumerate(design)])
    batch = opt.ask(3)
    points = {(s.config["x"], s.config["y"]) for s in batch}
    assert len(points) == 3
    assert all(SQUARE.validate(s.config) for s in batch)


def test_botorch_qlognei_refuses_bad_settings():
    with pytest.raises(ValueError, match="n_init must be an int >= 1 or None, got 0"):
        hpbench.make_optimizer("botorch-qlognei", SQUARE, seed=0, budget=Budget(5), n_init=0)
    with pytest.raises(ValueError, match="raw_samples must be an int >= 1, got 0.5"):
        hpbench.make_optimizer("botorch-qlognei", SQUARE, seed=0, budget=Budget(5),
                               raw_samples=0.5)


# --------------------------------------------------------------------------------------- Ax

MIXED = Space(lr=Float(1e-4, 1.0, log=True), n=Int(1, 8),
              kind=Categorical(["a", "b"]),
              extra=Float(0.0, 1.0, condition=("kind", ["b"])),
              depth=Int(1, 3, condition=("n", [1, 2, 3])))


def test_ax_space_maps_conditions_and_labels_both_ways():
    from ax import ChoiceParameterConfig, RangeParameterConfig

    from hpbench.optimizers.adapters.ax_ import from_ax, to_ax_parameters

    params = {p.name: p for p in to_ax_parameters(MIXED)}
    assert params["lr"] == RangeParameterConfig("lr", (1e-4, 1.0), "float", scaling="log")
    assert params["n"] == RangeParameterConfig("n", (1, 8), "int", scaling="linear")
    # a categorical parent: Ax's hierarchical space; an integer parent cannot be one
    assert params["kind"] == ChoiceParameterConfig("kind", ["a", "b"], "str", is_ordered=False,
                                                   dependent_parameters={"b": ["extra"]})
    assert isinstance(params["depth"], RangeParameterConfig)
    # inactive parameters Ax suggests anyway (depth, under n = 5) are left out
    config = from_ax(MIXED, {"lr": 0.01, "n": 5, "kind": "a", "depth": 2})
    assert config == {"lr": 0.01, "n": 5, "kind": "a"}
    assert MIXED.validate(config)
    clash = Space(c=Categorical([1, "1", None]))
    labels = to_ax_parameters(clash)[0].values
    assert len(set(labels)) == 3
    assert from_ax(clash, {"c": labels[1]}) == {"c": "1"}


def test_ax_same_seed_same_trajectory_and_failures_marked_failed():
    problem = Bowl(Space(x=Float(0.0, 1.0), y=Float(0.0, 1.0)), fail_below=0.3)
    a, result, opt = adapter_configs("ax-botorch", 7, problem)
    b, _, _ = adapter_configs("ax-botorch", 7, Bowl(fail_below=0.3))
    c, _, _ = adapter_configs("ax-botorch", 7, Bowl(fail_below=0.3), seed=SEED + 1)
    assert a == b
    assert a != c
    statuses = result.columns["status"]
    assert "failed" in statuses, "the run should meet a failing config"
    summary = opt.client.summarize()
    ax_status = [str(s).upper() for s in summary.sort_values("trial_index")["trial_status"]]
    assert [s == "failed" for s in statuses] == [s == "FAILED" for s in ax_status]


def test_ax_runs_a_conditional_mixed_space():
    def value(config):
        return ((math.log10(config["lr"]) + 2) ** 2 + (config["n"] - 3) ** 2 / 8
                + (0.3 + config.get("extra", 0.0) if config["kind"] == "b" else 0.0)
                + 0.1 * config.get("depth", 0))

    class Mixed(Problem):
        def __init__(self):
            super().__init__(MIXED, name="mixed")

        def _evaluate(self, config, *, fidelity=None, ctx=None):
            return value(config)

    configs, _, _ = adapter_configs("ax-botorch", 7, Mixed(), initialization_budget=5)
    for config in configs:  # the runner validated each; inactive ones are absent
        assert ("extra" in config) == (config["kind"] == "b")
        assert ("depth" in config) == (config["n"] <= 3)
