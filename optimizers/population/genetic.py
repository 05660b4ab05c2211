"""A real-coded genetic algorithm with category-aware operators.

Operators and defaults from Deb 2001, "Multi-Objective Optimization using Evolutionary
Algorithms" (Wiley), ch. 4, as used in NSGA-II (Deb, Pratap, Agarwal & Meyarivan 2002):

* binary tournament selection (Goldberg & Deb 1991, "A comparative analysis of selection
  schemes used in genetic algorithms");
* simulated binary crossover, SBX, with distribution index ``eta_c`` and the bounded
  spread of Deb & Agrawal 1995 ("Simulated binary crossover for continuous search
  space", Complex Systems 9), applied per coordinate with probability 1/2;
  ``crossover="blend"`` uses BLX-alpha instead (Eshelman & Schaffer 1993, alpha = 0.5);
* polynomial mutation with index ``eta_m`` and probability ``1/d`` per coordinate (Deb &
  Goyal 1996, "A combined genetic adaptive search (GeneAS)", in its bounded form of Deb &
  Deb 2014); ``mutation="gaussian"`` uses a Gaussian step of ``sigma`` instead;
* elitism: ``survival="plus"`` keeps the best ``pop_size`` of parents and offspring (the
  (mu + lambda) survival of NSGA-II); ``survival="generational"`` replaces the parents by
  the offspring except for the ``elite`` best parents (De Jong 1975).

Discrete coordinates stay at bin centres. A categorical gene is never blended: crossover
hands each child one parent's category (uniform crossover) and mutation draws another
category. An integer gene is crossed and mutated as a real number and snapped to its bin;
a mutation that rounds back to the same integer moves it one level instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hpbench import Space, register_optimizer
from hpbench.optimizers._stepped import Search, SteppedOptimizer, worst_as_inf


@register_optimizer("genetic", tags=("population", "evolutionary"),
                    description="real-coded GA: tournament, SBX, polynomial mutation, "
                                "elitism; category-aware (Deb 2001)")
class GeneticAlgorithm(SteppedOptimizer):
    """Real-coded GA (see the module docstring).

    Settings: ``pop_size`` (None: ``clip(4 + 2 d, 10, 30)`` — small enough for tens of
    generations in a few hundred evaluations), ``crossover`` ("sbx" or "blend"),
    ``crossover_prob`` (0.9, Deb 2001), ``eta_c`` (SBX index, 15), ``mutation``
    ("polynomial" or "gaussian"), ``mutation_prob`` (per coordinate; None: ``1/d``),
    ``eta_m`` (polynomial index, 20), ``sigma`` (Gaussian mutation scale, cube units),
    ``survival`` ("plus" or "generational"), ``elite`` (parents kept by "generational"),
    ``tournament`` (tournament size).
    """

    label = "genetic"
    settings = {"pop_size": None, "crossover": "sbx", "crossover_prob": 0.9, "eta_c": 15.0,
                "mutation": "polynomial", "mutation_prob": None, "eta_m": 20.0,
                "sigma": 0.1, "survival": "plus", "elite": 1, "tournament": 2}
    choices = {"crossover": ("sbx", "blend"), "mutation": ("polynomial", "gaussian"),
               "survival": ("plus", "generational")}

    def __init__(self, space: Space, **kwargs: Any) -> None:
        super().__init__(space, **kwargs)
        cfg = self.config
        pop = cfg["pop_size"]
        if pop is None:
            pop = int(np.clip(4 + 2 * self.cube.d, 10, 30))
        if int(pop) < 2:
            raise ValueError(f"genetic: pop_size must be >= 2, got {pop!r}")
        self.pop_size = int(pop)
        self.batch_size = self.pop_size
        pm = cfg["mutation_prob"]
        self.mutation_prob = 1.0 / max(1, self.cube.d) if pm is None else float(pm)
        self.generation = 0
        self.population: np.ndarray | None = None  # current parents, for tests

    def _search(self) -> Search:
        cube, cfg, rng = self.cube, self.config, self.rng
        P = cube.snap(rng.random((self.pop_size, cube.d)))
        F = worst_as_inf((yield P))
        self.population = P
        while True:
            C = self._offspring(P, F)
            FC = worst_as_inf((yield C))
            if cfg["survival"] == "plus":
                allX, allF = np.vstack([P, C]), np.concatenate([F, FC])
                # stable sort: on ties the parent (earlier) survives
                keep = np.argsort(allF, kind="stable")[: self.pop_size]
                P, F = allX[keep], allF[keep]
            else:
                elite = min(int(cfg["elite"]), self.pop_size)
                best = np.argsort(F, kind="stable")[:elite]
                worst = np.argsort(-FC, kind="stable")[:elite]
                P_new, F_new = C.copy(), FC.copy()
                P_new[worst], F_new[worst] = P[best], F[best]
                P, F = P_new, F_new
            self.population = P
            self.generation += 1

    # operators ---------------------------------------------------------------------------
    def _tournament(self, F: np.ndarray) -> int:
        k = max(1, int(self.config["tournament"]))
        idx = self.rng.integers(len(F), size=k)
        return int(idx[np.argmin(F[idx])])

    def _offspring(self, P: np.ndarray, F: np.ndarray) -> np.ndarray:
        cube, cfg, rng = self.cube, self.config, self.rng
        children = []
        while len(children) < self.pop_size:
            a, b = P[self._tournament(F)], P[self._tournament(F)]
            if rng.random() < float(cfg["crossover_prob"]):
                c1, c2 = self._crossover(a, b)
            else:
                c1, c2 = a.copy(), b.copy()
            children += [self._mutate(c1), self._mutate(c2)]
        return cube.snap(np.array(children[: self.pop_size]))

    def _crossover(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cube, rng = self.cube, self.rng
        c1, c2 = a.copy(), b.copy()
        real = ~cube.is_cat
        if self.config["crossover"] == "sbx":
            y1, y2 = _sbx(a, b, float(self.config["eta_c"]), rng)
        else:
            # BLX-0.5: uniform in the parents' interval widened by half its length each side
            lo, hi = np.minimum(a, b), np.maximum(a, b)
            span = hi - lo
            y1 = rng.uniform(lo - 0.5 * span, hi + 0.5 * span)
            y2 = rng.uniform(lo - 0.5 * span, hi + 0.5 * span)
        c1[real], c2[real] = np.clip(y1, 0, 1)[real], np.clip(y2, 0, 1)[real]
        # categories are swapped whole, never blended
        swap = cube.is_cat & (rng.random(cube.d) < 0.5)
        c1[swap], c2[swap] = b[swap], a[swap]
        return c1, c2

    def _mutate(self, x: np.ndarray) -> np.ndarray:
        cube, cfg, rng = self.cube, self.config, self.rng
        y = x.copy()
        hit = rng.random(cube.d) < self.mutation_prob
        for i in np.flatnonzero(hit):
            if cube.is_cat[i]:
                y[i] = cube.resample_category(i, y[i], rng)
                continue
            if cfg["mutation"] == "polynomial":
                t = _polynomial(float(y[i]), float(cfg["eta_m"]), rng)
            else:
                t = float(np.clip(y[i] + float(cfg["sigma"]) * rng.standard_normal(), 0, 1))
            if cube.is_int[i]:
                k = cube.level(i, y[i])
                j = cube.level(i, t)
                if j == k and cube.levels[i] >= 2:
                    # a mutation must change the gene: the nearer neighbour level
                    j = k + (1 if t >= y[i] else -1)
                    if not 0 <= j < cube.levels[i]:
                        j = 2 * k - j
                t = cube.centre(i, j)
            y[i] = t
        return y


def _sbx(a: np.ndarray, b: np.ndarray, eta: float,
         rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Bounded simulated binary crossover on ``[0, 1]`` (Deb & Agrawal 1995; the bounded
    spread factors of Deb's NSGA-II reference code), each coordinate with probability 1/2."""
    c1, c2 = a.astype(float).copy(), b.astype(float).copy()
    for i in range(len(a)):
        if rng.random() > 0.5 or abs(a[i] - b[i]) < 1e-14:
            continue
        y1, y2 = min(a[i], b[i]), max(a[i], b[i])
        r = rng.random()
        children = []
        for bound_gap in (y1, 1.0 - y2):
            beta = 1.0 + 2.0 * bound_gap / (y2 - y1)
            alpha = 2.0 - beta ** (-(eta + 1.0))
            if r <= 1.0 / alpha:
                betaq = (r * alpha) ** (1.0 / (eta + 1.0))
            else:
                betaq = (1.0 / (2.0 - r * alpha)) ** (1.0 / (eta + 1.0))
            children.append(betaq)
        lo = 0.5 * ((y1 + y2) - children[0] * (y2 - y1))
        hi = 0.5 * ((y1 + y2) + children[1] * (y2 - y1))
        lo, hi = min(max(lo, 0.0), 1.0), min(max(hi, 0.0), 1.0)
        if rng.random() < 0.5:
            lo, hi = hi, lo
        c1[i], c2[i] = lo, hi
    return c1, c2


def _polynomial(y: float, eta: float, rng: np.random.Generator) -> float:
    """Bounded polynomial mutation on ``[0, 1]`` (Deb & Goyal 1996; Deb & Deb 2014)."""
    d1, d2 = y, 1.0 - y
    r = rng.random()
    power = 1.0 / (eta + 1.0)
    if r < 0.5:
        xy = 1.0 - d1
        val = 2.0 * r + (1.0 - 2.0 * r) * xy ** (eta + 1.0)
        dq = val ** power - 1.0
    else:
        xy = 1.0 - d2
        val = 2.0 * (1.0 - r) + 2.0 * (r - 0.5) * xy ** (eta + 1.0)
        dq = 1.0 - val ** power
    return float(min(1.0, max(0.0, y + dq)))
