"""Quasi-random search: scrambled Sobol and Latin hypercube designs from ``scipy.stats.qmc``.

Low-discrepancy designs cover the cube more evenly than independent draws (Bergstra &
Bengio 2012, section 5). Sobol points are drawn in blocks of powers of two to keep their
balance properties (Owen 2020 on scrambling); an LHS design is drawn for the whole budget
up front (McKay, Beckman & Conover 1979), then extended with fresh designs if the budget
allows more evaluations than the first design holds.
"""

from __future__ import annotations

import math

import numpy as np

from hpbench import Optimizer, register_optimizer


class _Design(Optimizer):
    settings = {"scramble": True}

    def __init__(self, space, **kwargs) -> None:
        super().__init__(space, **kwargs)
        self._queue: list[np.ndarray] = []

    def _more(self) -> np.ndarray:
        raise NotImplementedError

    def ask(self, n: int) -> list[dict]:
        while len(self._queue) < n:
            self._queue.extend(self._more())
        points, self._queue = self._queue[:n], self._queue[n:]
        return [self.space.from_unit(p) for p in points]

    def tell(self, observations) -> None:
        pass


@register_optimizer("sobol", tags=("baseline", "quasi-random"),
                    description="scrambled Sobol sequence (scipy.stats.qmc)")
class SobolSearch(_Design):
    """Scrambled Sobol points, in blocks of a power of two."""

    def __init__(self, space, **kwargs) -> None:
        super().__init__(space, **kwargs)
        from scipy.stats import qmc

        self._engine = qmc.Sobol(d=max(1, len(space)), scramble=self.config["scramble"],
                                 seed=self.rng)
        total = self.budget.evaluations or 64
        self._block = 2 ** max(0, math.ceil(math.log2(max(1, total))))

    def _more(self) -> np.ndarray:
        block = self._engine.random_base2(int(math.log2(self._block)))
        return block[:, : len(self.space)] if len(self.space) else block[:, :0]


@register_optimizer("lhs", tags=("baseline", "quasi-random"),
                    description="Latin hypercube sampling (scipy.stats.qmc)")
class LatinHypercube(_Design):
    """A Latin hypercube of the budget's size (optimized against centred discrepancy off)."""

    def __init__(self, space, **kwargs) -> None:
        super().__init__(space, **kwargs)
        from scipy.stats import qmc

        self._engine = qmc.LatinHypercube(d=max(1, len(space)), scramble=self.config["scramble"],
                                          seed=self.rng)
        self._size = int(self.budget.evaluations or 64)

    def _more(self) -> np.ndarray:
        return self._engine.random(self._size)[:, : len(self.space)]
