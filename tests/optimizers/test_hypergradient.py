"""Gradient-based HPO: Adam with projection converges on a quadratic, holds discrete
parameters, restarts, respects hypergradient costs; online learning-rate adaptation."""

from __future__ import annotations

import json
import math
from itertools import pairwise

import numpy as np
import pytest

import hpbench
from hpbench import (
    Budget,
    Categorical,
    Evaluation,
    Fidelity,
    Float,
    Optimum,
    Problem,
    Space,
)
from hpbench.runner import run_loop
from tests.toy import ToyProblem

X_OPT = 0.7


class QuadraticHG(Problem):
    """(log10 lr + 2)² + (x − 0.7)² + {a: 0.5, b: 0, c: 1}[kind], with its exact gradient in
    unit-cube coordinates; ``cost_fe`` charges a hypergradient evaluation that much."""

    capabilities = frozenset({"hypergradient"})

    def __init__(self, cost_fe: float | None = None, edge: bool = False,
                 kind: bool = True) -> None:
        # ``edge`` puts x's optimum outside the box: the projection must hold it at the face
        high = 0.5 if edge else 2.0
        params = {"lr": Float(1e-4, 1.0, log=True), "x": Float(-2.0, high)}
        if kind:
            params["kind"] = Categorical(["a", "b", "c"])
        super().__init__(Space(params), name="quadratic-hg",
                         optimum=Optimum(0.0, {"lr": 0.01, "x": min(X_OPT, high),
                                               **({"kind": "b"} if kind else {})},
                                         source="by construction"))
        self.cost_fe = cost_fe
        self.width_x = high + 2.0

    def _evaluate(self, config, *, fidelity=None, ctx=None):
        lr, x = config["lr"], config["x"]
        value = (math.log10(lr) + 2) ** 2 + (x - X_OPT) ** 2 \
            + {"a": 0.5, "b": 0.0, "c": 1.0}[config.get("kind", "b")]
        grad = None
        if ctx is not None and ctx.want_grad:
            grad = {"lr": 2 * (math.log10(lr) + 2) * 4, "x": 2 * (x - X_OPT) * self.width_x}
        return Evaluation(value, grad=grad, cost_fe=self.cost_fe if grad else None)


def _run(name, problem, budget, **settings):
    opt = hpbench.make_optimizer(name, problem.space, seed=3, budget=Budget(budget),
                                 fidelity=problem.fidelity, **settings)
    result = run_loop(problem, opt, Budget(budget))
    assert result.status == "done", result.error
    return opt, result


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_adam_converges_on_a_quadratic(seed):
    problem = QuadraticHG(kind=False)
    opt = hpbench.make_optimizer("hypergradient", problem.space, seed=seed, budget=Budget(40))
    result = run_loop(problem, opt, Budget(40))
    best = opt.incumbent.config
    assert abs(math.log10(best["lr"]) + 2) < 1e-3
    assert abs(best["x"] - X_OPT) < 1e-3
    assert opt.incumbent.value < 1e-5
    # the first steps descend
    values = result.columns["value"]
    assert values[5] < values[0] / 2


def test_projection_keeps_the_descent_in_the_box():
    problem = QuadraticHG(edge=True)  # the optimum of x lies beyond its upper bound 0.5
    opt, result = _run("hypergradient", problem, 40)
    assert opt.incumbent.config["x"] == pytest.approx(0.5)
    for c in result.columns["config"]:
        problem.space.validate(json.loads(c))


def test_discrete_parameters_are_held_during_a_descent_and_change_on_restart():
    problem = QuadraticHG()
    opt, result = _run("hypergradient", problem, 120, max_steps=10)
    kinds = [json.loads(c)["kind"] for c in result.columns["config"]]
    bounds = [*opt.descent_starts, len(kinds)]
    descents = [kinds[a:b] for a, b in pairwise(bounds) if b > a]
    assert len(descents) >= 8
    assert all(len(set(d)) == 1 and len(d) <= 11 for d in descents)
    # "alternate": odd restarts hold the best config's category, even ones draw at random
    best_so_far = None
    values = result.columns["value"]
    for i, (a, b) in enumerate(pairwise(bounds)):
        if b <= a:
            continue
        if i % 2 == 1 and best_so_far is not None:
            assert kinds[a] == best_so_far
        best_so_far = kinds[min(range(b), key=lambda t: values[t])]
    assert {d[0] for d in descents} == {"a", "b", "c"}


def test_budget_is_never_overrun_when_hypergradients_cost_more():
    problem = QuadraticHG(cost_fe=1.5)
    _, result = _run("hypergradient", problem, 10)
    used = result.columns["budget_used"]
    assert used[-1] <= 10 + 1e-9
    assert used[-1] == pytest.approx(9.0)  # six evaluations at 1.5; a seventh would overrun
    assert result.reason == "optimizer-exhausted"


def test_online_learning_rate_moves_towards_the_best_during_a_run():
    problem = ToyProblem(seed=0)  # value has (log10 lr + 2)²: the best lr is 1e-2
    opt, result = _run("hypergradient-online", problem, 20)
    cols = result.columns
    assert opt.param == "lr"
    runs = [p for p in opt.lr_path if len(p) == 9]
    assert len(runs) >= 10
    improved = [abs(math.log10(p[-1]) + 2) < abs(math.log10(p[0]) + 2) for p in runs]
    assert np.mean(improved) > 0.8
    # each interval continues the last one's checkpoint and pays one epoch
    for t, r in enumerate(cols["resume_from"]):
        if r is not None:
            assert cols["fidelity"][t] == cols["fidelity"][r] + 1
            assert cols["cost_fe"][t] == pytest.approx(1 / 9)
    # only the learning rate changes within a run
    configs = [json.loads(c) for c in cols["config"]]
    for t, r in enumerate(cols["resume_from"]):
        if r is not None:
            a, b = dict(configs[t]), dict(configs[r])
            a.pop("lr"), b.pop("lr")
            assert a == b


def test_online_finds_the_learning_rate_parameter():
    space = Space(learning_rate=Float(1e-4, 1.0, log=True), momentum=Float(0.0, 1.0))
    fid = Fidelity(1, 9, integer=True)
    opt = hpbench.make_optimizer("hypergradient-online", space, seed=0, budget=5, fidelity=fid)
    assert opt.param == "learning_rate"
    space = Space(alpha=Float(0.0, 1.0), decay=Float(1e-5, 1e-1, log=True))
    opt = hpbench.make_optimizer("hypergradient-online", space, seed=0, budget=5, fidelity=fid)
    assert opt.param == "decay"  # the first log-scale float
    with pytest.raises(ValueError, match="param must name a Float parameter"):
        hpbench.make_optimizer("hypergradient-online", space, seed=0, budget=5, fidelity=fid,
                               param="nope")
