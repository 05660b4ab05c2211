"""Small problems and a runner for the behaviour tests of the cube optimizers (issue 3)."""

from __future__ import annotations

import math

import numpy as np

from hpbench import Budget, Categorical, Float, Int, Optimum, Problem, Space, make_optimizer
from hpbench.runner import CellResult, run_loop


class ShiftedSphere(Problem):
    """sum((x - c)^2) on [-5, 5]^d, centre ``c`` drawn from the seed (0.3 * ones for None)."""

    def __init__(self, d: int = 5, seed: int | None = None, scale: float = 1.0) -> None:
        super().__init__(Space({f"x{i}": Float(-5.0, 5.0) for i in range(d)}), seed=seed,
                         name=f"sphere-{d}d", optimum=Optimum(0.0, source="by construction"))
        rng = np.random.default_rng(seed)
        self.centre = rng.uniform(-3, 3, d) if seed is not None else np.full(d, 0.3)
        self.scale = scale

    def _evaluate(self, config, *, fidelity=None, ctx=None):
        x = np.array([config[n] for n in self.space.names])
        return self.scale * float(((x - self.centre) ** 2).sum())


class MixedSphere(Problem):
    """Two floats, a log integer, a linear integer and two categoricals; optimum 0 at
    x = 0.5, y = -1, n = 37, k = 3, colour = "green", act = "tanh"."""

    COLOURS = ("red", "green", "blue", "cyan", "pink")
    ACTS = ("relu", "tanh", "gelu")

    def __init__(self, seed: int | None = None) -> None:
        space = Space(x=Float(-2.0, 2.0), y=Float(-3.0, 3.0), n=Int(1, 1000, log=True),
                      k=Int(0, 9), colour=Categorical(self.COLOURS),
                      act=Categorical(self.ACTS))
        super().__init__(space, seed=seed, name="mixed-sphere",
                         optimum=Optimum(0.0, source="by construction"))

    def _evaluate(self, config, *, fidelity=None, ctx=None):
        return float((config["x"] - 0.5) ** 2 + (config["y"] + 1) ** 2
                     + (math.log(config["n"]) - math.log(37)) ** 2
                     + 0.3 * (config["k"] - 3) ** 2
                     + (0.0 if config["colour"] == "green" else 2.0)
                     + (0.0 if config["act"] == "tanh" else 1.0))


def run(name: str, problem: Problem, budget: int, seed: int = 0, batch: int | None = None,
        **settings) -> tuple[CellResult, object]:
    """Run optimizer ``name`` on ``problem``; returns (result, optimizer)."""
    opt = make_optimizer(name, problem.space, seed=seed, budget=Budget(budget), **settings)
    result = run_loop(problem, opt, Budget(budget), batch=batch)
    assert result.status == "done", f"{name}: {result.reason}\n{result.error}"
    return result, opt


def best(result: CellResult) -> float:
    values = np.array(result.columns["value"], dtype=float)
    return float(np.nanmin(values))


def median_best(name: str, make_problem, budget: int, seeds=range(5), **settings) -> float:
    """Median over ``seeds`` of the best value found (problem instance = seed)."""
    return float(np.median([best(run(name, make_problem(s), budget, seed=s, **settings)[0])
                            for s in seeds]))
