"""The conformance problem: a cheap mixed, conditional problem with every capability.

``ToyProblem`` is not in the registry: the optimizer checks hand an instance of it to
``Cell.run(problem=…)``. Its space has a log float, a float, an int, a log int, a categorical
and a conditional float, and it declares every capability (fidelity, checkpoint,
hypergradient, vectorized), so optimizers that need fidelities, checkpoints or
hypergradients run on it too.
"""

from __future__ import annotations

import json
import math
import zlib

import numpy as np

from hpbench.problem import Evaluation, Fidelity, Optimum, Problem
from hpbench.space import Categorical, Float, Int, Space

__all__ = ["MIXED_SPACE", "ToyProblem", "best_true", "trajectory"]

MIXED_SPACE = Space(
    lr=Float(1e-4, 1.0, log=True),
    x=Float(-2.0, 2.0),
    layers=Int(1, 4),
    width=Int(8, 256, log=True),
    kind=Categorical(["a", "b", "c"]),
    extra=Float(0.0, 1.0, condition=("kind", ["b"])),
)


class ToyProblem(Problem):
    """A cheap mixed, conditional problem with every capability.

    value = (log10 lr + 2)^2 + x^2 + (layers - 2)^2 / 4 + (log2 width - 5)^2 / 10
            + {a: 0, b: 0.5 + extra, c: 1}, plus (1 - f) at fidelity f < 1.
    ``fail_rate`` makes that share of configs raise (half) or return NaN (half),
    deterministically per config.
    """

    capabilities = frozenset({"fidelity", "checkpoint", "hypergradient", "vectorized"})

    def __init__(self, seed: int | None = None, fail_rate: float = 0.0) -> None:
        super().__init__(MIXED_SPACE, seed=seed, name="toy",
                         optimum=Optimum(0.0, {"lr": 0.01, "x": 0.0, "layers": 2, "width": 32,
                                               "kind": "a"}, source="by construction"),
                         fidelity=Fidelity(1, 9, name="epochs", integer=True))
        self.fail_rate = fail_rate
        self.calls = 0

    def _evaluate(self, config, *, fidelity=None, ctx=None):
        self.calls += 1
        if self.fail_rate:
            u = (zlib.crc32(json.dumps(config, sort_keys=True).encode()) % 1000) / 1000
            if u < self.fail_rate / 2:
                raise RuntimeError("toy objective failed on purpose")
            if u < self.fail_rate:
                return Evaluation(value=math.nan)
        value = ((math.log10(config["lr"]) + 2) ** 2 + config["x"] ** 2
                 + (config["layers"] - 2) ** 2 / 4 + (math.log2(config["width"]) - 5) ** 2 / 10
                 + {"a": 0.0, "b": 0.5 + config.get("extra", 0.0), "c": 1.0}[config["kind"]])
        f = 9 if fidelity is None else fidelity
        value += (9 - f) / 9
        grad = None
        if ctx is not None and ctx.want_grad:
            # d value / d unit coordinate: lr spans 4 decades, x spans 4
            grad = {"lr": 2 * (math.log10(config["lr"]) + 2) * 4, "x": 2 * config["x"] * 4}
            if "extra" in config:
                grad["extra"] = 1.0
        return Evaluation(value=value, cost=f, grad=grad)


def trajectory(result) -> list[tuple]:
    """What a run suggested and how it went: (config, fidelity, resume_from, status) per
    trial of a ``CellResult``; two runs with the same seeds must give the same list."""
    cols = result.columns
    return list(zip(cols["config"], cols["fidelity"], cols["resume_from"], cols["status"]))


def best_true(result) -> float:
    """The best noise-free value a ``CellResult`` reached (inf when it has no trial)."""
    values = np.array(result.columns["true_value"], dtype=float)
    return float(np.nanmin(values)) if len(values) else math.inf
