"""Small problems for the multi-fidelity optimizer tests (not in the registry)."""

from __future__ import annotations

import math
from collections import Counter
from itertools import groupby

from hpbench import Categorical, Evaluation, Fidelity, Float, Optimum, Problem, Space


class EpochProblem(Problem):
    """``value = x + (1 − f/R)`` with ``f`` epochs in ``1 … R``: the ranking of configs is the
    ranking of ``x`` at every fidelity, so every correct promotion is checkable.

    ``checkpoint`` toggles the capability; ``kind`` adds a categorical (``b`` best);
    ``optimistic`` flips the fidelity term, so low fidelities look *better* than the truth
    (an incumbent taken from them would be wrong).
    """

    def __init__(self, R: int = 81, *, checkpoint: bool = True, kind: bool = False,
                 optimistic: bool = False, seed: int | None = None) -> None:
        params = {"x": Float(0.0, 1.0)}
        if kind:
            params["kind"] = Categorical(["a", "b", "c"])
        caps = {"fidelity"} | ({"checkpoint"} if checkpoint else set())
        self.capabilities = frozenset(caps)
        self.R = R
        self.sign = -1.0 if optimistic else 1.0
        super().__init__(Space(params), seed=seed, name=f"epochs-{R}",
                         optimum=Optimum(0.0, {"x": 0.0, **({"kind": "b"} if kind else {})},
                                         source="by construction"),
                         fidelity=Fidelity(1, R, name="epochs", integer=True))

    def _evaluate(self, config, *, fidelity=None, ctx=None):
        f = self.R if fidelity is None else fidelity
        extra = {"a": 0.3, "b": 0.0, "c": 0.6}[config["kind"]] if "kind" in config else 0.0
        return Evaluation(config["x"] + extra + self.sign * (1 - f / self.R), cost=f)


def runs(fidelities) -> list[tuple[float, int]]:
    """Run-length encoding of a fidelity column: [(fidelity, count), …]."""
    return [(f, len(list(g))) for f, g in groupby(fidelities)]


def hist(values) -> dict:
    return dict(Counter(values))


def finite(values) -> list[float]:
    return [v for v in values if math.isfinite(v)]
