"""Small problems for engine and conformance tests (not in the registry).

The conformance problem and its helpers live in ``hpbench.testing.toy`` (plugins use them
too); they are re-exported here for the repository's tests.
"""

from __future__ import annotations

from hpbench import Float, Optimum, Problem, Space
from hpbench.testing.toy import MIXED_SPACE, ToyProblem, best_true, trajectory

__all__ = ["MIXED_SPACE", "Quadratic", "ToyProblem", "best_true", "trajectory"]


class Quadratic(Problem):
    """sum(x^2) on [-1, 1]^d: the fastest problem there is, for engine tests."""

    def __init__(self, d: int = 2, seed: int | None = None) -> None:
        super().__init__(Space({f"x{i}": Float(-1.0, 1.0) for i in range(d)}), seed=seed,
                         name=f"quadratic-{d}d",
                         optimum=Optimum(0.0, {f"x{i}": 0.0 for i in range(d)}, source="x=0"))

    def _evaluate(self, config, *, fidelity=None, ctx=None):
        return float(sum(v * v for v in config.values()))
