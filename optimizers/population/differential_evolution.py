"""Differential evolution, one generation per batch.

Storn & Price 1997, "Differential evolution — a simple and efficient heuristic for global
optimization over continuous spaces", J. Global Optim. 11: every member ``x_i`` of the
population gets a trial vector, mutant ``v`` crossed with ``x_i`` (binomial crossover with
rate ``CR`` and one coordinate always from ``v``); the trial replaces ``x_i`` when it is no
worse. All trials of a generation come from the same population (the original, synchronous
DE), so a generation is one batch. Strategies:

* ``"rand/1/bin"``: ``v = x_r1 + F (x_r2 - x_r3)`` (Storn & Price 1997);
* ``"current-to-best/1"``: ``v = x_i + F (x_best - x_i) + F (x_r1 - x_r2)`` with binomial
  crossover (Price, Storn & Lampinen 2005, "Differential Evolution: A Practical Approach",
  ch. 2; the p = 1 case of JADE's current-to-pbest, Zhang & Sanderson 2009).

Defaults ``F = 0.5`` and ``CR = 0.9`` are Storn & Price's recommendation. Their population
of ``10 d`` suits budgets of thousands; short budgets favour small populations (Piotrowski
2017, "Review of differential evolution population size", Swarm Evol. Comput. 32), so it is
``clip(3 d, 10, 30)`` here (``pop_size`` overrides). The default strategy is the greedier
current-to-best/1, which converges faster than rand/1/bin (Das & Suganthan 2011,
"Differential evolution: a survey of the state-of-the-art", IEEE TEC 15(1)) and won on the
synthetic suite at 200 evaluations (benchmarks/test_population.py). A mutant coordinate
outside ``[0, 1]`` is set halfway between the parent and the violated bound (Zhang &
Sanderson 2009).

Integer coordinates are mutated as real numbers and snapped to their bin. Categorical ones
have no differences to scale: a mutant keeps the base vector's category, except that where
the difference pair disagrees (a non-zero "difference") it jumps to another category with
probability ``min(1, F)``, and current-to-best first takes the best member's category with
probability ``min(1, F)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hpbench import Space, register_optimizer
from hpbench.optimizers._stepped import Search, SteppedOptimizer, worst_as_inf

STRATEGIES = ("rand/1/bin", "current-to-best/1")


@register_optimizer("de", tags=("population", "evolutionary"),
                    description="differential evolution (Storn & Price 1997), rand/1/bin or "
                                "current-to-best/1")
class DifferentialEvolution(SteppedOptimizer):
    """Differential evolution (see the module docstring).

    Settings: ``strategy`` ("current-to-best/1" or "rand/1/bin"), ``F`` (differential
    weight), ``CR`` (crossover rate), ``pop_size`` (None: ``clip(3 d, 10, 30)``).
    """

    label = "de"
    settings = {"strategy": "current-to-best/1", "F": 0.5, "CR": 0.9, "pop_size": None}
    choices = {"strategy": STRATEGIES}

    def __init__(self, space: Space, **kwargs: Any) -> None:
        super().__init__(space, **kwargs)
        cfg = self.config
        if not 0.0 < float(cfg["F"]) <= 2.0:
            raise ValueError(f"de: F must be in (0, 2], got {cfg['F']!r}")
        if not 0.0 <= float(cfg["CR"]) <= 1.0:
            raise ValueError(f"de: CR must be in [0, 1], got {cfg['CR']!r}")
        pop = cfg["pop_size"]
        if pop is None:
            pop = int(np.clip(3 * self.cube.d, 10, 30))
        if int(pop) < 4:
            raise ValueError(f"de: pop_size must be >= 4 (a member and three others), "
                             f"got {pop!r}")
        self.pop_size = int(pop)
        self.batch_size = self.pop_size
        self.population: np.ndarray | None = None
        self.generation = 0

    def _search(self) -> Search:
        cube, rng = self.cube, self.rng
        P = cube.snap(rng.random((self.pop_size, cube.d)))
        fit = worst_as_inf((yield P))
        self.population = P
        while True:
            T = self._trials(P, fit)
            ft = worst_as_inf((yield T))
            # "no worse" replaces, so the population drifts on plateaus (Storn & Price 1997)
            keep = ft <= fit
            P, fit = P.copy(), fit.copy()
            P[keep], fit[keep] = T[keep], ft[keep]
            self.population = P
            self.generation += 1

    def _trials(self, P: np.ndarray, fit: np.ndarray) -> np.ndarray:
        cube, rng = self.cube, self.rng
        F, CR = float(self.config["F"]), float(self.config["CR"])
        n, d = P.shape
        best = int(np.argmin(fit))
        current_to_best = self.config["strategy"] == "current-to-best/1"
        T = np.empty_like(P)
        for i in range(n):
            others = rng.choice(np.delete(np.arange(n), i), size=3, replace=False)
            r1, r2, r3 = (int(r) for r in others)
            if current_to_best:
                base = P[i]
                v = P[i] + F * (P[best] - P[i]) + F * (P[r1] - P[r2])
                diff_a, diff_b = P[r1], P[r2]
            else:
                base = P[r1]
                v = P[r1] + F * (P[r2] - P[r3])
                diff_a, diff_b = P[r2], P[r3]
            # bounce halfway back towards the parent (Zhang & Sanderson 2009)
            v = np.where(v < 0.0, P[i] / 2.0, v)
            v = np.where(v > 1.0, (P[i] + 1.0) / 2.0, v)
            for j in cube.cat_idx:
                c = base[j]
                if current_to_best and P[best, j] != c and rng.random() < min(1.0, F):
                    c = P[best, j]
                if diff_a[j] != diff_b[j] and rng.random() < min(1.0, F):
                    c = cube.resample_category(j, c, rng)
                v[j] = c
            cross = rng.random(d) < CR
            cross[rng.integers(d)] = True
            T[i] = np.where(cross, v, P[i])
        return cube.snap(T)
